"""Revocations that survive an outage: the app keeps each control event until a live server took it.

A `revoke` on the `control` channel (logout, password change, a stopped link, a lost role) is
written to `live_control_outbox` in the transaction that makes the change (`keep`), so it is as
durable as the change itself. After the commit it goes out on the publisher's queue like any event
(in order with the events before it, e.g. a link's share.changed); the publisher's receipt says
whether a live server took it. Taken: the row is deleted. Not taken (live server or its Redis
down): the row stays and this process's `Courier` thread posts it again, every 0.5 s doubling to
2 s, until a live server takes it or it is older than a ticket can live (then nothing is left
for it to refuse). With Redis, the courier first writes the revocation straight into the live
servers' Redis keys (the same keys and script as the live server), so a live server that starts
while it still waits refuses the old tickets from its first `hello` (docs/live.md).

Each event carries `at`, the time of the change: delivered late, it still refuses only the
tickets issued before the change, not those rightly issued since.

The courier also looks for rows left by a process that died before they were taken: at its
start and every IDLE_CHECK seconds (one indexed query). Two processes may post the same row; a
revocation applied twice is the same revocation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session

from maestro_web.channels import CONTROL
from maestro_web.extensions import db
from maestro_web.live_publish import LivePublisher
from maestro_web.live_server.revocations import (
    KEEP_REVOCATIONS,
    REMEMBER_LATEST_SCRIPT,
    REVOKE,
    Revocations,
    parse_revoke,
)
from maestro_web.metrics import app as app_metrics
from maestro_web.models import ControlOutbox
from maestro_web.models.base import utcnow

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MOST = 0.5, 2.0  # seconds between attempts while a live server does not take them
IDLE_CHECK = 30.0  # seconds: look for rows another (dead) process left
IN_FLIGHT_GRACE = 2.0  # seconds: a younger row is on its way through some process's publisher queue
BATCH = 100


def keep(session: Session, data: dict[str, Any]) -> int:
    """Write one revocation into the outbox in `session`'s transaction; its row id."""
    result = session.connection().execute(
        insert(ControlOutbox).values(data=json.dumps(data, separators=(",", ":")), created_at=utcnow())
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class Courier:
    """Posts the outbox's revocations until a live server takes them (one daemon thread per process)."""

    def __init__(self, app: Flask, publisher: LivePublisher) -> None:
        self.app = app
        self.publisher = publisher
        self.redis_url: str | None = app.config.get("REDIS_URL") or None
        self.redis_prefix: str = app.config.get("MAESTRO_LIVE_REDIS_PREFIX", "maestro:live:")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._in_flight: set[int] = set()  # on this process's publisher queue now
        self._taken: set[int] = set()  # accepted by a live server, row not deleted yet
        self._refused: set[int] = set()  # not taken by the live server: retry at once, however young
        self._thread: threading.Thread | None = None
        self._away = False  # the live server did not take the last attempt (logged once per outage)
        self._redis: Any = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"Courier({self.publisher!r})"

    def send(self, row_id: int, data: dict[str, Any]) -> None:
        """After the commit: post the kept revocation `row_id` on the publisher's queue."""
        with self._lock:
            self._in_flight.add(row_id)
        self.ensure_started()
        self.publisher.publish(CONTROL, REVOKE, data, receipt=lambda taken: self._receipt(row_id, taken))

    def _receipt(self, row_id: int, taken: bool) -> None:
        with self._lock:
            self._in_flight.discard(row_id)
            (self._taken if taken else self._refused).add(row_id)
        self._wake.set()

    def ensure_started(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-outbox", daemon=True)
                self._thread.start()

    def _stop(self, *_args: Any) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        with self.app.app_context():
            # The courier ends with the app's engine (a worker's shutdown, a test's teardown).
            event.listen(db.engine, "engine_disposed", self._stop)
        delay = RETRY_FIRST
        while not self._stopped:
            try:
                with self.app.app_context():
                    waiting = self.deliver()
            except Exception as exc:  # the database is away too: try again later
                log.warning("Live outbox not read: %s", type(exc).__name__)
                waiting = True
            if waiting:
                self._wake.wait(delay)
                delay = min(delay * 2, RETRY_MOST)
            else:
                self._wake.wait(IDLE_CHECK)
                delay = RETRY_FIRST
            self._wake.clear()

    def deliver(self) -> bool:
        """One round: forget what was taken, post what was not; True while something still waits."""
        with self._lock:
            taken, self._taken = self._taken, set()
            refused, self._refused = self._refused, set()
            in_flight = set(self._in_flight)
        now = utcnow()
        if taken:
            db.session.execute(delete(ControlOutbox).where(ControlOutbox.id.in_(taken)))
        db.session.execute(
            delete(ControlOutbox).where(ControlOutbox.created_at < now - timedelta(seconds=KEEP_REVOCATIONS))
        )
        db.session.commit()
        rows = db.session.execute(
            select(ControlOutbox.id, ControlOutbox.data, ControlOutbox.created_at)
            .order_by(ControlOutbox.id)
            .limit(BATCH)
        ).all()
        db.session.rollback()
        grace = now - timedelta(seconds=IN_FLIGHT_GRACE)
        due = [
            (row_id, json.loads(data))
            for row_id, data, created_at in rows
            if row_id not in in_flight and (row_id in refused or created_at < grace)
        ]
        if not due:
            if self._away and not rows:
                log.info("Live server reachable again; every kept revocation was taken")
                self._away = False
            return bool(rows)
        self._remember_in_redis([data for _, data in due])
        for row_id, data in due:
            if not self.publisher.publish_sync(CONTROL, REVOKE, data, quiet=True):
                if not self._away:
                    log.warning("Live server did not take %d kept revocation(s); retrying until it does", len(due))
                    self._away = True
                return True
            db.session.execute(delete(ControlOutbox).where(ControlOutbox.id == row_id))
            db.session.commit()
        return len(rows) > len(due)

    def _remember_in_redis(self, revocations: list[dict[str, Any]]) -> None:
        """Write the revocations into the live servers' Redis keys, as a live server taking them would,
        so one that starts before it takes them refuses the old tickets from the first hello."""
        if not self.redis_url:
            return
        try:
            if self._redis is None:
                import redis

                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
                self._redis = client.register_script(REMEMBER_LATEST_SCRIPT)
            for data in revocations:
                user, channel, at = parse_revoke(REVOKE, data)
                key = f"{self.redis_prefix}{Revocations.storage_key(user, channel)}"
                self._redis(keys=[key], args=[repr(at if at is not None else time.time()), KEEP_REVOCATIONS])
        except Exception as exc:  # Redis away too: the live servers learn it when it is posted
            log.warning("Kept revocations not written to Redis: %s", type(exc).__name__)
            app_metrics.redis_error("live_outbox")

"""A revocation, and the events of open pages, survive an outage of the live server or of its Redis
(docs/live.md).

Real processes only: the app publishes to a real live server (`flask live serve`) that the test
stops and starts again on the same port; the Redis tests start their own `redis-server` on a free
port (the shared one on 6379 is never stopped) and stop it under a running live server. A ticket
taken before a logout must be refused (4401) once the live server is back, and a connection that
stayed open through a Redis outage must end (4403) once Redis is back.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from live_support import LiveClient, LiveProcess, free_port, start_live_server
from process_support import wait_for
from sqlalchemy import func, select

from maestro_web import live_events
from maestro_web.extensions import db
from maestro_web.models import ControlOutbox
from maestro_web.security.live_tickets import issue_ticket
from maestro_web.security.signing import KeyRing
from maestro_web.security.socket_tokens import issue_socket_token

pytestmark = pytest.mark.timeout(180)
WAIT = 60.0  # seconds: a loaded machine is slow, never this slow


class RedisServer:
    """A throwaway redis-server on a free loopback port, without persistence."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def publish_to(app, port: int, redis_url: str | None = None) -> None:
    """Let the app publish to the live server that listens (or will listen again) on `port`."""
    app.config.update(
        MAESTRO_LIVE_PUBLISH=True,
        MAESTRO_LIVE_URL=f"ws://127.0.0.1:{port}/live",
        MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{port}/publish",
        REDIS_URL=redis_url,
        MAESTRO_LIVE_REDIS_PREFIX="maestro-test:outage:",
    )
    live_events.init_app(app)


def take_ticket(client) -> str:
    response = client.get("/live/ticket")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["ticket"]


def kept(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ControlOutbox))
        db.session.rollback()
        return int(count or 0)


def refused_close_code(live: LiveProcess, ticket: str) -> int | None:
    with LiveClient(live.ws_url) as conn:
        conn.send({"type": "hello", "ticket": ticket})
        return conn.close_code(timeout=10)


def test_a_logout_while_the_live_server_is_down_refuses_the_old_ticket_when_it_is_back(
    app, auth, client, owner, caplog
):
    port = free_port()
    publish_to(app, port)
    live = start_live_server(app.config, port=port)
    try:
        auth.login(owner.email)
        ticket = take_ticket(client)
        with LiveClient(live.ws_url) as conn:
            assert conn.hello(ticket)["type"] == "welcome"
        live.stop()

        caplog.set_level(logging.WARNING)
        assert auth.logout().status_code == 302  # the logout itself never waits for the live server
        wait_for(lambda: "Live publish of revoke on control failed" in caplog.text, "the failed publish logged")
        assert kept(app) == 1  # kept in the database, not dropped

        live = start_live_server(app.config, port=port)
        wait_for(lambda: kept(app) == 0, "the kept revocation taken by the live server")
        assert refused_close_code(live, ticket) == 4401
        assert "eyJ" not in caplog.text  # no ticket nor token in a log line
    finally:
        live.stop()


def test_a_revocation_taken_late_refuses_only_tickets_issued_before_it(app, auth, client, owner):
    """The revocation counts from the logout, not from its late delivery: a ticket of the next
    session, issued while the live server was down, is welcomed."""
    port = free_port()
    publish_to(app, port)
    auth.login(owner.email)
    before = take_ticket(client)
    time.sleep(1.1)  # tickets carry whole seconds: the next session's ticket must be a second later
    auth.logout()
    time.sleep(1.1)
    auth.login(owner.email)
    after = take_ticket(client)
    assert kept(app) == 1
    time.sleep(1.1)  # the revocation is taken at least a second after `after` was issued
    live = start_live_server(app.config, port=port)
    try:
        wait_for(lambda: kept(app) == 0, "the kept revocation taken by the live server")
        assert refused_close_code(live, before) == 4401
        with LiveClient(live.ws_url) as conn:
            assert conn.hello(after)["type"] == "welcome"
    finally:
        live.stop()


def test_with_redis_a_live_server_started_after_the_logout_refuses_from_its_first_hello(
    app, auth, client, owner, own_redis
):
    """The app writes what it revoked into the live servers' Redis itself when no live server takes
    it, so a live server that starts later knows it before any redelivery."""
    port = free_port()
    publish_to(app, port, own_redis.url)
    auth.login(owner.email)
    ticket = take_ticket(client)
    auth.logout()  # no live server at all
    store = redis.Redis.from_url(own_redis.url)
    wait_for(
        lambda: store.exists(f"maestro-test:outage:revoked:user:{owner.public_id}"),
        "the revocation written to Redis by the app",
    )
    live = start_live_server(app.config, port=port, redis_url=own_redis.url, redis_prefix="maestro-test:outage:")
    try:
        assert refused_close_code(live, ticket) == 4401
    finally:
        live.stop()
        store.close()


def test_a_connection_kept_open_through_a_redis_outage_ends_when_redis_is_back(app, auth, client, owner, own_redis):
    port = free_port()
    publish_to(app, port, own_redis.url)
    live = start_live_server(app.config, port=port, redis_url=own_redis.url, redis_prefix="maestro-test:outage:")
    try:
        auth.login(owner.email)
        ticket = take_ticket(client)
        with LiveClient(live.ws_url) as conn:
            assert conn.hello(ticket)["type"] == "welcome"
            assert conn.subscribe(f"user:{owner.public_id}")["type"] == "subscribed"
            own_redis.stop()
            assert auth.logout().status_code == 302  # the live server answers 503: Redis is down
            wait_for(lambda: kept(app) == 1, "the revocation kept")
            own_redis.start()  # empty: a Redis restart without persistence forgets every key
            assert conn.close_code(timeout=WAIT) == 4403  # the open connection ends once Redis is back
        wait_for(lambda: kept(app) == 0, "the kept revocation taken")
        assert refused_close_code(live, ticket) == 4401
    finally:
        live.stop()


def test_events_kept_while_a_live_server_was_not_listening_reach_its_open_subscriptions(own_redis):
    """Found by bench/soak.py: after a Redis restart, events that other live servers took while this
    one's pub/sub connection was coming back were in Redis's history but never reached the pages
    that stayed connected here. Now the live server sends each open subscription what it missed.

    Deterministic: the missed events are written to Redis's history alone (no PUBLISH, as if taken by
    a live server this one could not hear), then the live server's pub/sub connection is cut."""
    session, socket_ring = KeyRing("session", secrets.token_urlsafe(48)), KeyRing("socket", secrets.token_urlsafe(48))
    prefix = "maestro-test:catch-up:"
    live = start_live_server(
        session_secret=session.current, socket_secret=socket_ring.current, redis_url=own_redis.url, redis_prefix=prefix
    )
    store = redis.Redis.from_url(own_redis.url, decode_responses=True)
    publisher = issue_socket_token(socket_ring, issuer="maestro-server", ttl=300)

    def publish(channel: str, event: str) -> str:
        response = requests.post(
            live.publish_url,
            json={"channel": channel, "event": event, "data": {}},
            headers={"Authorization": f"JWT {publisher}"},
            timeout=5,
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def unheard(channel: str, event: str) -> str:
        payload = json.dumps({"channel": channel, "event": event, "data": {}})
        return store.xadd(f"{prefix}stream:{channel}", {"p": payload})

    try:
        ticket, _ = issue_ticket(session, sub="u1", channels=["graph:g1", "graph:g2"], ttl=600)
        with LiveClient(live.ws_url) as conn:
            assert conn.hello(ticket)["type"] == "welcome"
            assert conn.subscribe("graph:g1")["type"] == "subscribed"
            assert conn.subscribe("graph:g2")["type"] == "subscribed"
            heard = publish("graph:g1", "run.claimed")
            assert conn.recv()["id"] == heard
            missed = [unheard("graph:g1", "run.progress"), unheard("graph:g2", "run.finished")]

            assert store.client_kill_filter(_type="pubsub") == 1  # the live server's fan-out connection
            caught = conn.events(2, timeout=WAIT)
            assert sorted(event["id"] for event in caught) == sorted(missed)
            assert {(event["channel"], event["event"]) for event in caught} == {
                ("graph:g1", "run.progress"),
                ("graph:g2", "run.finished"),
            }

            after = publish("graph:g1", "run.finished")  # delivered once, nothing sent twice
            assert conn.recv()["id"] == after
    finally:
        store.close()
        live.stop()

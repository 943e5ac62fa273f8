"""Publishing events on the live server (SPEC §8), for the app and the analytics worker alike.

No Flask here, so the worker (a plain HTTP client of the app) can use it too. `publish()` only
puts the event on a small bounded queue; one daemon thread posts it to `POST /publish`.
`publish_latest()` queues an event whose data the thread reads when it gets to it, once for all the
calls made with the same key meanwhile: a link viewed 1,000 times a second costs its owner's page one
event per post, with the newest count, not 1,000 posts. When the
queue is full or the live server is down the event is dropped and logged (never the token): live
updates are a convenience, and a publish failure must never fail or slow the caller's request.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any, Callable, Union

import requests

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000

Event = tuple[str, str, dict[str, Any]]  # channel, event name, data
Queued = Union[Event, str]  # an event, or the key of a `publish_latest` waiting in `_latest`


class LivePublisher:
    def __init__(self, publish_url: str, token_factory: Callable[[], str], timeout: float = 2.0,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.publish_url = publish_url
        self.token_factory = token_factory
        self.timeout = timeout
        self._queue: queue.Queue[Queued] = queue.Queue(maxsize=queue_size)
        self._latest: dict[str, Callable[[], Event | None]] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._local = threading.local()  # one requests.Session per thread: sessions are not thread-safe

    def __repr__(self) -> str:
        return f"LivePublisher({self.publish_url!r})"

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None:
        """Queue one event for the background thread; never raises, never waits."""
        try:
            self._ensure_thread()
            self._queue.put_nowait((channel, event, data))
        except queue.Full:
            log.warning("Live publish queue full; dropped %s on %s", event, channel)
        except Exception as exc:  # a convenience must never break the caller
            log.warning("Live publish of %s on %s not queued: %s", event, channel, type(exc).__name__)

    def publish_latest(self, key: str, produce: Callable[[], Event | None]) -> None:
        """Queue the event `produce()` returns when the background thread gets to it (None: nothing to
        send). Calls with the same `key` before then are one event, read then: the newest data. Never
        raises, never waits; `produce` runs on the thread, its errors are logged."""
        with self._lock:
            if key in self._latest:
                return
            self._latest[key] = produce
        try:
            self._ensure_thread()
            self._queue.put_nowait(key)
        except queue.Full:
            with self._lock:
                self._latest.pop(key, None)
            log.warning("Live publish queue full; dropped a coalesced event")
        except Exception as exc:  # a convenience must never break the caller
            with self._lock:
                self._latest.pop(key, None)
            log.warning("Live publish not queued: %s", type(exc).__name__)

    def publish_sync(self, channel: str, event: str, data: dict[str, Any]) -> bool:
        """Post one event now; True when the live server accepted it (202)."""
        try:
            body = json.dumps({"channel": channel, "event": event, "data": data})
            response = self._session().post(
                self.publish_url,
                data=body.encode(),
                headers={"Authorization": f"JWT {self.token_factory()}", "Content-Type": "application/json"},
                timeout=self.timeout,
            )
        except Exception as exc:  # requests' messages name the URL, never the headers
            log.warning("Live publish of %s on %s failed: %s", event, channel, type(exc).__name__)
            return False
        if response.status_code != 202:
            log.warning("Live server refused %s on %s: HTTP %s", event, channel, response.status_code)
            return False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was posted (or dropped); True when the queue emptied in time."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if isinstance(item, str):
                    with self._lock:
                        produce = self._latest.pop(item)
                    try:
                        produced = produce()
                    except Exception as exc:
                        log.warning("Live event not produced: %s", type(exc).__name__)
                        produced = None
                    if produced is not None:
                        self.publish_sync(*produced)
                else:
                    self.publish_sync(*item)
            finally:
                self._queue.task_done()

"""Publishing events on the live server (SPEC §8), for the app and the analytics worker alike.

No Flask here, so the worker (a plain HTTP client of the app) can use it too. `publish()` only
puts the event on a small bounded queue; one daemon thread posts it to `POST /publish`.
`publish_latest()` is for events that say how something is now (a link's view count): a second
daemon thread reads and posts them at most every LATEST_INTERVAL, once for all the calls made with
the same key meanwhile, so a link viewed 1,000 times a second costs one read and one post a second
with the newest count, not 1,000, and never delays the ordered events of the queue. When the
queue is full or the live server is down the event is dropped and logged (never the token): live
updates are a convenience, and a publish failure must never fail or slow the caller's request.
Each post carries the `X-Request-ID` of the action that caused the event (taken when it is queued),
so the live server's log line of the publish names the same id as the app's or the worker's.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from maestro_web.logs import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
LATEST_INTERVAL = 1.0  # seconds between two rounds of `publish_latest` events (docs/scale.md)

Event = tuple[str, str, dict[str, Any]]  # channel, event name, data
Receipt = Callable[[bool], None]  # told on the sender thread whether the live server accepted the event


class LivePublisher:
    def __init__(
        self, publish_url: str, token_factory: Callable[[], str], timeout: float = 2.0, queue_size: int = QUEUE_SIZE
    ) -> None:
        self.publish_url = publish_url
        self.token_factory = token_factory
        self.timeout = timeout
        self._queue: queue.Queue[tuple[str, str, dict[str, Any], Receipt | None, str | None]] = queue.Queue(
            maxsize=queue_size
        )
        self._threads: dict[str, threading.Thread] = {}  # the two daemon threads, started on first use
        self._lock = threading.Lock()
        # Waiting for the next round, with the request id of the newest call.
        self._latest: dict[str, tuple[Callable[[], Event | None], str | None]] = {}
        self._latest_changed = threading.Condition()
        self._latest_ready = threading.Event()
        self._latest_running = False
        self._local = threading.local()  # one requests.Session per thread: sessions are not thread-safe

    def __repr__(self) -> str:
        return f"LivePublisher({self.publish_url!r})"

    def publish(self, channel: str, event: str, data: dict[str, Any], receipt: Receipt | None = None) -> None:
        """Queue one event for the background thread; never raises, never waits. `receipt`, if given,
        is called on that thread with whether the live server accepted the event (False when it was
        dropped), so a caller that keeps the event (the app's outbox of revocations) can let go of it
        or try again later."""
        try:
            self._ensure_thread("live-publisher", self._run)
            self._queue.put_nowait((channel, event, data, receipt, current_request_id()))
        except queue.Full:
            log.warning("Live publish queue full; dropped %s on %s", event, channel)
            self._tell(receipt, False)
        except Exception as exc:  # a convenience must never break the caller
            log.warning("Live publish of %s on %s not queued: %s", event, channel, type(exc).__name__)
            self._tell(receipt, False)

    @staticmethod
    def _tell(receipt: Receipt | None, accepted: bool) -> None:
        if receipt is None:
            return
        try:
            receipt(accepted)
        except Exception as exc:
            log.warning("Live publish receipt failed: %s", type(exc).__name__)

    def publish_latest(self, key: str, produce: Callable[[], Event | None]) -> None:
        """Have the event `produce()` returns (None: nothing to send) read and posted in the next round
        of the second thread; calls with the same `key` until then are one event, read then: the
        newest data. Never raises, never waits; `produce` runs on that thread, its errors are logged."""
        try:
            with self._latest_changed:
                self._latest[key] = (produce, current_request_id())
                self._latest_ready.set()
            self._ensure_thread("live-publisher-latest", self._run_latest)
        except Exception as exc:  # a convenience must never break the caller
            log.warning("Live publish not queued: %s", type(exc).__name__)

    def publish_sync(
        self, channel: str, event: str, data: dict[str, Any], quiet: bool = False, request_id: str | None = None
    ) -> bool:
        """Post one event now; True when the live server accepted it (202). `quiet`: a failure is not
        logged (a caller retrying every second says once that the live server is away). `request_id`
        (default: the current one) goes in `X-Request-ID`."""
        try:
            body = json.dumps({"channel": channel, "event": event, "data": data})
            headers = {"Authorization": f"JWT {self.token_factory()}", "Content-Type": "application/json"}
            request_id = request_id or current_request_id()
            if request_id:
                headers[REQUEST_ID_HEADER] = request_id
            response = self._session().post(self.publish_url, data=body.encode(), headers=headers, timeout=self.timeout)
        except Exception as exc:  # requests' messages name the URL, never the headers
            if not quiet:
                log.warning("Live publish of %s on %s failed: %s", event, channel, type(exc).__name__)
            return False
        if response.status_code != 202:
            if not quiet:
                log.warning("Live server refused %s on %s: HTTP %s", event, channel, response.status_code)
            return False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was posted (or dropped); True when the queue emptied in time."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            with self._latest_changed:
                self._latest_changed.wait_for(lambda: not self._latest and not self._latest_running)
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _ensure_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = self._threads.get(name)
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                thread = self._threads[name] = threading.Thread(target=target, name=name, daemon=True)
                thread.start()

    def _run(self) -> None:
        while True:
            channel, event, data, receipt, request_id = self._queue.get()
            try:
                self._tell(receipt, self.publish_sync(channel, event, data, request_id=request_id))
            finally:
                self._queue.task_done()

    def _run_latest(self) -> None:
        while True:
            self._latest_ready.wait()
            with self._latest_changed:
                self._latest_ready.clear()
                batch, self._latest = self._latest, {}
                self._latest_running = True
            try:
                for produce, request_id in batch.values():
                    try:
                        produced = produce()
                    except Exception as exc:
                        log.warning("Live event not produced: %s", type(exc).__name__)
                        continue
                    if produced is not None:
                        self.publish_sync(*produced, request_id=request_id)
            finally:
                with self._latest_changed:
                    self._latest_running = False
                    self._latest_changed.notify_all()
            time.sleep(LATEST_INTERVAL)  # the throttle: what arrives meanwhile waits for the next round

"""A request whose database connection the administrator ended is dispatched once more.

`pg_terminate_backend` (or a fast shutdown) ends a connection that `pool_pre_ping` had just passed:
the request's next statement fails, and everything its open transaction did is rolled back by the
server. It fails in one of two ways. Usually with SQLSTATE 57P01 (admin_shutdown), the server's
goodbye. Or, when the backend had already gone before the statement was sent, with the driver's
"server closed the connection unexpectedly" and no SQLSTATE: the statement's bytes met a closed
socket, whose reset dropped the goodbye unread (the soak met it in about 1 in 60 terminated requests).
Either way nothing of the transaction is left. When the request committed nothing before (no commit
on the app's session, no view counted), it is as if it never ran: `Redispatch` runs the whole request
again, before_request and after_request hooks included, on a new connection (SQLAlchemy has thrown
the terminated pool's connections away), and the client never sees the 503. Once only.

Any other error keeps its answer, because the work may have been done: a connection lost at COMMIT
(the server may have committed before it broke), unless that COMMIT carried the request's receipt
(behind nginx, receipts.py: the second dispatch then answers from the receipt if it is there), and
a lost connection while a write outside the session's transaction was in flight (a view's count,
which commits by itself: models/counting.py), unless it is 57P01, which PostgreSQL acts on only when
the statement has not finished.

The request's body is kept as the app reads it (`Recording`, bounded by MAX_CONTENT_LENGTH), never
read ahead: a route that refuses a body by its announced length (the worker's 413) answers without
waiting for bytes the client has not sent. The second dispatch reads the same bytes, then whatever the
first left unread; receipts.py keys its fingerprint on the kept copy (`kept_body`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from maestro_web.logs import accept_request_id

log = logging.getLogger(__name__)

BODY_KEY = "maestro.request_body"  # the request's body as read once (bytes)
AGAIN_KEY = "maestro.dispatch_again"  # set by errors.py's 503 when a second dispatch is safe
ADMIN_SHUTDOWN = "57P01"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def init_app(app: Flask) -> None:
    from maestro_web.extensions import AppSession

    event.listen(AppSession, "after_commit", _note_commit)


def _note_commit(_session: Any) -> None:
    if has_request_context():
        note_committed()


def note_committed() -> None:
    """This request committed something (or counted a view): a second dispatch would do it twice."""
    g.request_committed = True


def note_write_outside_the_session() -> None:
    """A write that commits by itself is about to run (a view's count): from here on, only 57P01 says
    that a lost connection undid it."""
    g.wrote_outside_the_session = True


def note_commit_with_receipt() -> None:
    """The COMMIT about to be answered carried the request's receipt (receipts.py): if it went through,
    a second dispatch finds the receipt and answers from it instead of doing the work again."""
    g.commit_with_receipt = True


def ask_again_if_terminated(exc: DBAPIError) -> bool:
    """Called by the 503 handler: ask for a second dispatch when `exc` is a terminated connection and
    this request committed nothing; True if asked."""
    environ = request.environ
    if (BODY_KEY + ".max") not in environ or environ.get(AGAIN_KEY) is not None:
        return False  # not under Redispatch, or this is the second dispatch already
    if g.get("request_committed") or not _undone(exc):
        return False
    environ[AGAIN_KEY] = True
    return True


def _undone(exc: DBAPIError) -> bool:
    """Whether `exc` proves the request's work undone on the server (the module's docstring)."""
    if getattr(exc.orig, "sqlstate", None) == ADMIN_SHUTDOWN:
        return True
    if not exc.connection_invalidated or g.get("wrote_outside_the_session"):
        return False
    at_commit = exc.statement is None  # the connection broke at COMMIT (or before any statement)
    return not at_commit or bool(g.get("commit_with_receipt"))


def kept_body(environ: dict[str, Any]) -> bytes | None:
    """The request's whole body as the app read it; None when it was not all read or not all kept
    (chunked, over the bound, or read by nothing yet)."""
    recording = environ.get(BODY_KEY)
    if not isinstance(recording, Recording):
        return None
    length = environ.get("CONTENT_LENGTH")
    if not length or length == "0":
        return b""
    try:
        size = int(length)
    except ValueError:
        return None
    return bytes(recording.kept) if recording.complete and len(recording.kept) == size else None


class Recording:
    """`wsgi.input` as the app reads it, keeping a copy of what it read (up to `limit` bytes)."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.kept = bytearray()
        self.complete = True  # False once more was read than `limit`

    def _keep(self, data: bytes) -> bytes:
        if self.complete and len(self.kept) + len(data) <= self.limit:
            self.kept += data
        else:
            self.complete = False
            self.kept.clear()
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._keep(self.stream.read() if size is None or size < 0 else self.stream.read(size))

    def readline(self, size: int | None = -1) -> bytes:
        return self._keep(self.stream.readline() if size is None or size < 0 else self.stream.readline(size))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return [self._keep(line) for line in self.stream.readlines(*(() if hint is None or hint < 0 else (hint,)))]

    def __iter__(self) -> Iterator[bytes]:
        return (self._keep(line) for line in self.stream)

    def replay(self) -> Any:
        """A stream giving what was read, then what the first dispatch left unread."""
        return _Chained(bytes(self.kept), self.stream) if self.complete else self.stream


class _Chained:
    def __init__(self, head: bytes, rest: Any) -> None:
        self.head = io.BytesIO(head)
        self.rest = rest

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.head.read() + self.rest.read()
        data = self.head.read(size)
        return data if data or size == 0 else self.rest.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        line = self.head.readline(-1 if size is None else size)
        return line if line else self.rest.readline(*(() if size is None or size < 0 else (size,)))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class Redispatch:
    """WSGI middleware: keep the body, and dispatch once more when the app asks (AGAIN_KEY)."""

    def __init__(self, app: WSGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[BODY_KEY + ".max"] = self.max_body
        recording = Recording(environ["wsgi.input"], self.max_body)
        environ["wsgi.input"] = environ[BODY_KEY] = recording
        first = dict(environ)
        held: list[Any] = []

        def hold_if_asked(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if environ.get(AGAIN_KEY):
                held.append(status)
                return lambda _data: None
            return start_response(status, headers, exc_info)

        answer = self.app(environ, hold_if_asked)
        if not held:
            return answer
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        incoming = environ.get("HTTP_X_REQUEST_ID")  # the request's own id (outside its context here)
        log.warning(
            "%s %s: its database connection was terminated before it committed anything; dispatched again",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            extra={"request_id": incoming if incoming and accept_request_id(incoming) == incoming else None},
        )
        again = dict(first)
        again[AGAIN_KEY] = False  # present: never a third time
        again["wsgi.input"] = recording.replay()
        return self.app(again, start_response)

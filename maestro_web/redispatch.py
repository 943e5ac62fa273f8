"""A request whose database connection the administrator ended is dispatched once more.

`pg_terminate_backend` (or a fast shutdown) ends a connection that `pool_pre_ping` had just passed:
the request's next statement fails with SQLSTATE 57P01 (admin_shutdown), and everything its open
transaction did is rolled back by the server. When the request committed nothing before (no commit
on the app's session, no view counted), it is as if it never ran: `Redispatch` runs the whole request
again, before_request and after_request hooks included, on a new connection (SQLAlchemy has thrown
the terminated pool's connections away), and the client never sees the 503. Once only; any other
error keeps its answer (a lost connection may have committed before it broke).

The request's body is read into memory before the first dispatch (bounded by MAX_CONTENT_LENGTH,
nginx's own limit being smaller), so the second one reads the same bytes; receipts.py keys its
fingerprint on the same copy.
"""
from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable

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


def ask_again_if_terminated(exc: DBAPIError) -> bool:
    """Called by the 503 handler: ask for a second dispatch when `exc` is a terminated connection and
    this request committed nothing; True if asked."""
    environ = request.environ
    if (BODY_KEY + ".max") not in environ or environ.get(AGAIN_KEY) is not None:
        return False  # not under Redispatch, or this is the second dispatch already
    if getattr(exc.orig, "sqlstate", None) != ADMIN_SHUTDOWN or g.get("request_committed"):
        return False
    environ[AGAIN_KEY] = True
    return True


class Redispatch:
    """WSGI middleware: keep the body, and dispatch once more when the app asks (AGAIN_KEY)."""

    def __init__(self, app: WSGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[BODY_KEY + ".max"] = self.max_body
        length = environ.get("CONTENT_LENGTH")
        if length and length != "0":
            try:
                size = int(length)
            except ValueError:
                size = -1
            if 0 < size <= self.max_body:
                body = environ["wsgi.input"].read(size)
                environ[BODY_KEY] = body
                environ["wsgi.input"] = io.BytesIO(body)
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
        log.warning("%s %s: its database connection was terminated before it committed anything; "
                    "dispatched again", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                    extra={"request_id": incoming if incoming and accept_request_id(incoming) == incoming else None})
        again = dict(first)
        again[AGAIN_KEY] = False  # present: never a third time
        if BODY_KEY in again:
            again["wsgi.input"] = io.BytesIO(again[BODY_KEY])
        return self.app(again, start_response)

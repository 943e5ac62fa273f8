"""Writes nginx may send twice: a receipt per committed request id, so a retried write is done once.

nginx sends a request whose upstream failed (connection refused or cut: a gunicorn killed with -9,
a crash) to the next gunicorn, with the same `X-Request-ID` (`$request_id`; deploy/nginx asks it to
retry writes too: `proxy_next_upstream ... non_idempotent`). The first instance may have committed
the write before it died. So, behind a trusted proxy (MAESTRO_TRUSTED_PROXIES > 0: nginx replaces
whatever id a client sent), a write request (POST, PUT, PATCH, DELETE):

- whose request id has a receipt is answered from it (status, Location, cookies, body) and does
  nothing: the work was committed once;
- otherwise runs with its commits deferred (`AppSession.commit` flushes): once its answer is made
  (the session cookie included), the answer is encrypted into a receipt, and the receipt and the work
  are committed in ONE transaction. A request id therefore has a receipt exactly when its work was
  committed. Two attempts at once (nginx's timeout) cannot both commit: the second's receipt collides
  on the primary key, its transaction is rolled back, and it answers from the first's receipt.
- A request that hands its work to another process before it answers (a report or a crawl: the
  service reads the row) commits for real through `commit_for_other_processes()`, which writes the
  receipt "answer pending" in that commit; the answer is added at the end. A repeat that finds it
  still pending waits for it, then answers 409 (the work is done; its answer was lost with the process).

A receipt's answer is encrypted with a key made from the request itself (method, path, query,
Authorization, Cookie, body): answers hold new tokens, and the table alone reveals none. A digest of
the same material (`fingerprint`) must match for a receipt to be replayed, so an id reused by another
request (or another person) is refused (409), never answered with someone else's answer.

Without a trusted proxy the request id is whatever the client sent: nothing here applies.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, Response, g, request
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from maestro_web.errors import json_error
from maestro_web.extensions import SESSION_RECEIPT, db
from maestro_web.models.receipt import RequestReceipt
from maestro_web.redispatch import kept_body, note_commit_with_receipt
from maestro_web.request_ids import trusted_request_id

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PENDING = 0  # a receipt's status while the answer is not written yet (commit_for_other_processes)
# The headers an answer is given again with; the rest (request id, security headers) the hooks add again.
KEPT_HEADERS = (
    "Location",
    "Content-Type",
    "Set-Cookie",
    "Cache-Control",
    "Content-Disposition",
    "Retry-After",
    "Vary",
    "ETag",
    "Last-Modified",
)
VIEWS_PER_PRUNE = 500  # counted views with a receipt between two prunes in one process (note_counted_view)
PENDING_WAIT_SECONDS = 10.0  # how long a repeat waits for a pending receipt's answer (gunicorn's timeout is 30 s)


@dataclass
class Armed:
    """The receipt a write request will leave when it commits."""

    request_id: str
    fingerprint: str
    key: bytes
    deferred: bool = False  # the view committed (a flush until the end)
    visible: bool = False  # committed for real already (commit_for_other_processes), receipt pending
    # What waits for the work to be committed (when_committed): each action, and what to do instead
    # when the work is undone.
    waiting: list[tuple[Callable[[], object], Callable[[], object] | None]] = field(default_factory=list)

    def settled(self, committed: bool) -> None:
        """The work was committed (run what waited for it) or undone (drop it); once."""
        waiting, self.waiting = self.waiting, []
        for action, dropped in waiting:
            try:
                if committed:
                    action()
                elif dropped is not None:
                    dropped()
            except Exception:
                log.exception("An action waiting for request %s's commit failed", self.request_id)


def init_app(app: Flask) -> None:
    if not app.config["MAESTRO_TRUSTED_PROXIES"]:
        return  # no proxy: a request id is the client's word, nothing to key receipts on
    app.before_request(_replay_or_arm)
    app.teardown_request(_disarm)
    finish_answer = app.process_response

    def process_response(response: Response) -> Response:
        # After every after_request hook AND the session cookie: the receipt keeps the answer as sent.
        response = finish_answer(response)
        armed: Armed | None = g.pop("receipt", None)
        if armed is None:
            return response
        return _settle(app, finish_answer, armed, response)

    app.process_response = process_response  # type: ignore[method-assign]


def _material() -> bytes | None:
    """The request as nginx would send it again; None when its body was not kept (chunked, too large)."""
    environ = request.environ
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", ""):
        return None
    body = kept_body(environ)
    if body is None:
        # Behind the proxy the body is all there (nginx buffers it): read it now, through the app's own
        # limits (werkzeug's 413 over MAX_CONTENT_LENGTH); the view then reads werkzeug's cached copy.
        request.get_data(cache=True)
        body = kept_body(environ)
    if body is None:
        return None
    head = "\0".join(
        (
            request.method,
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_AUTHORIZATION", ""),
            environ.get("HTTP_COOKIE", ""),
        )
    )
    return head.encode("utf-8", "surrogateescape") + b"\0" + body


def _replay_or_arm() -> Response | None:
    if request.method not in WRITE_METHODS:
        return None
    request_id = trusted_request_id()
    if request_id is None:
        return None
    material = _material()
    if material is None:
        return None
    fingerprint = hashlib.sha256(b"maestro receipt fingerprint\0" + material).hexdigest()
    key = hashlib.sha256(b"maestro receipt key\0" + material).digest()
    receipt = RequestReceipt.get_by_request_id(request_id)
    if receipt is not None:
        return _answer_from(receipt, fingerprint, key)
    armed = g.receipt = Armed(request_id, fingerprint, key)
    db.session.info[SESSION_RECEIPT] = armed
    return None


def _disarm(_error: BaseException | None) -> None:
    armed: Armed | None = g.pop("receipt", None)
    db.session.info.pop(SESSION_RECEIPT, None)
    if armed is not None:
        armed.settled(committed=False)  # never reached _settle: nothing of it was committed


_counted_views = itertools.count(1)


def note_counted_view() -> None:
    """A view was counted with its receipt (behind nginx every counted view writes one): every
    VIEWS_PER_PRUNE of them in this process, drop a batch of the expired receipts, in a transaction of
    its own. Twice as many as they came, so a link viewed all day with no write anywhere keeps the
    table at about a day of views. A failure only waits for the next turn."""
    if next(_counted_views) % VIEWS_PER_PRUNE:
        return
    try:
        with db.engine.begin() as connection:
            RequestReceipt.prune(limit=2 * VIEWS_PER_PRUNE, connection=connection)
    except SQLAlchemyError as exc:
        log.warning("Expired request receipts not pruned this time (%s)", type(exc).__name__)


def when_committed(action: Callable[[], object], dropped: Callable[[], object] | None = None) -> None:
    """Run `action` (a mail, say) once this request's work is committed for real: at once, unless a
    receipt is armed. Then the view's commits are flushes until the receipt's commit at the very end
    (`_settle`): `action` runs after that commit, and never when the work is undone instead (another
    attempt of the request committed first, a database error, an error answer); `dropped` runs then."""
    armed: Armed | None = db.session.info.get(SESSION_RECEIPT)
    if armed is None:
        action()
    else:
        armed.waiting.append((action, dropped))


def commit_for_other_processes() -> None:
    """Commit now, for real, with the request's receipt marked "answer pending": another process (the
    report or discovery service) is about to read what this request wrote. A plain commit otherwise."""
    session = db.session
    armed: Armed | None = session.info.pop(SESSION_RECEIPT, None)
    try:
        if armed is not None and not armed.visible:
            session.add(RequestReceipt(request_id=armed.request_id, status=PENDING, fingerprint=armed.fingerprint))
        session.commit()
        if armed is not None:
            armed.visible = True
    finally:
        if armed is not None:
            session.info[SESSION_RECEIPT] = armed


def _answer_from(receipt: RequestReceipt, fingerprint: str, key: bytes) -> Response:
    if receipt.fingerprint != fingerprint:
        log.warning("request id %s reused by a different request: refused", receipt.request_id)
        return json_error(409, "This request id belongs to another request.")
    deadline = time.monotonic() + PENDING_WAIT_SECONDS
    while receipt.status == PENDING and time.monotonic() < deadline:
        db.session.rollback()  # a new snapshot: the first attempt may finish meanwhile
        time.sleep(0.2)
        receipt = RequestReceipt.get_by_request_id(receipt.request_id) or receipt
    db.session.rollback()
    if receipt.status == PENDING or receipt.answer is None:
        return json_error(409, "This request was done, but its answer was lost. Reload to see the result.")
    g.receipt_replayed = True
    log.info("request id %s answered again from its receipt (status %s)", receipt.request_id, receipt.status)
    return _decode(receipt, key)


def _encode(response: Response, key: bytes, request_id: str) -> bytes:
    body = b"" if response.is_streamed else response.get_data()
    headers = [(name, value) for name, value in response.headers.items() if name in KEPT_HEADERS]
    plain = json.dumps({"headers": headers, "body": base64.b64encode(body).decode("ascii")}).encode("utf-8")
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, request_id.encode("ascii"))


def _decode(receipt: RequestReceipt, key: bytes) -> Response:
    assert receipt.answer is not None
    nonce, sealed = receipt.answer[:12], receipt.answer[12:]
    answer = json.loads(AESGCM(key).decrypt(nonce, sealed, receipt.request_id.encode("ascii")))
    response = Response(base64.b64decode(answer["body"]), status=receipt.status)
    response.headers.remove("Content-Type")
    for name, value in answer["headers"]:
        response.headers.add(name, value)
    return response


def _settle(app: Flask, finish_answer: Callable[[Response], Response], armed: Armed, response: Response) -> Response:
    """Commit the request's deferred work with its receipt (the answer just made), in one transaction."""
    session = db.session
    session.info.pop(SESSION_RECEIPT, None)  # from here on, a commit is a commit
    if not (armed.deferred or armed.visible):
        armed.settled(committed=True)  # nothing to wait for
        return response  # nothing was written: nothing to remember (nginx may do it again)
    if response.status_code >= 500 and not armed.visible:
        session.rollback()  # the error handlers rolled back already: nothing of it was committed
        armed.settled(committed=False)
        return response
    try:
        receipt = session.get(RequestReceipt, armed.request_id) if armed.visible else None
        if receipt is None:
            receipt = RequestReceipt(request_id=armed.request_id, fingerprint=armed.fingerprint)
            session.add(receipt)
        receipt.status = response.status_code
        receipt.answer = _encode(response, armed.key, armed.request_id)
        RequestReceipt.prune()
        session.commit()
    except IntegrityError:
        # Another attempt of this very request committed first (nginx gave up waiting on it): its
        # work stands (and its mail went), this one's is undone, and its answer is this one's too.
        session.rollback()
        armed.settled(committed=False)
        first = RequestReceipt.get_by_request_id(armed.request_id)
        if first is None:
            raise
        return finish_answer(_answer_from(first, armed.fingerprint, armed.key))
    except OperationalError as exc:
        session.rollback()
        armed.settled(committed=False)  # a second dispatch, if any, asks again
        note_commit_with_receipt()
        # errors.py's answer (503, or a second dispatch when the connection was terminated).
        failed: Any = app.handle_user_exception(exc)
        return finish_answer(app.make_response(failed))
    armed.settled(committed=True)
    return response

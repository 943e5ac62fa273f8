"""Outgoing e-mail over SMTP, sent off the request path (SPEC §3.4).

`send_mail()` builds a plain-text + HTML message and hands it to a small thread pool, so a request
takes the same time whether or not a message goes out, and a slow or broken SMTP server never
shows in a response. Failures are logged (subject and error, never the body: it holds a token).

Configured by the MAIL_* settings. Without MAIL_SERVER, messages are written to the instance
folder's `outbox/` as .eml files (development, tests of the pages) and the log names the file.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from maestro_web.models.base import utcnow
from maestro_web.receipts import when_committed

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="maestro-mail")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


@dataclass(frozen=True)
class Attachment:
    filename: str
    mimetype: str  # "application/pdf"
    data: bytes


def build_message(
    settings: dict[str, Any],
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
    attachment: Attachment | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Message-ID"] = make_msgid(domain="maestro-web")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        maintype, _, subtype = attachment.mimetype.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


def _deliver_smtp(settings: dict[str, Any], message: EmailMessage) -> None:
    host, port, timeout = settings["MAIL_SERVER"], settings["MAIL_PORT"], settings["MAIL_TIMEOUT"]
    if settings["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if settings["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if settings["MAIL_USERNAME"]:
            smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"] or "")
        smtp.send_message(message)


def _write_outbox(outbox: Path, message: EmailMessage) -> Path:
    outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(bytes(message))
    path.chmod(0o600)  # it holds a live reset link
    return path


def _deliver(
    settings: dict[str, Any],
    outbox: Path,
    to: str,
    subject: str,
    text: str,
    html: str,
    discard: bool,
    headers: dict[str, str] | None = None,
    attachment: Attachment | None = None,
) -> None:
    try:
        message = build_message(settings, to, subject, text, html, headers, attachment)
        if discard:
            return
        if settings["MAIL_SERVER"]:
            _deliver_smtp(settings, message)
            log.info("mail: sent %r", subject)
        else:
            path = _write_outbox(outbox, message)
            log.warning("mail: MAIL_SERVER is not set; %r written to %s (open it for the link)", subject, path)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        # The error's type and SMTP code only: the text of a refusal names the recipient.
        code = getattr(exc, "smtp_code", None) or getattr(exc, "errno", None)
        log.error("mail: could not send %r: %s%s", subject, type(exc).__name__, f" ({code})" if code else "")
    except Exception:  # never let a mail failure kill the pool thread silently
        log.exception("mail: unexpected failure sending %r", subject)


def _settings(app: Flask) -> dict[str, Any]:
    keys = (
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_USE_TLS",
        "MAIL_USE_SSL",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_DEFAULT_SENDER",
        "MAIL_TIMEOUT",
    )
    return {key: app.config[key] for key in keys}


def send_mail(
    to: str,
    subject: str,
    text: str,
    html: str,
    discard: bool = False,
    headers: dict[str, str] | None = None,
    attachment: Attachment | None = None,
) -> Future:
    """Queue one message; returns at once. The returned future completes when it was handled.

    `discard=True` does all the same work except the delivery: a caller that must not reveal
    whether it sent anything (the forgot-password form) queues a message either way. `headers` adds
    headers (List-Unsubscribe), `attachment` one file (the weekly report).
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's target, for the thread
    settings = _settings(app)
    future: Future = Future()  # done once delivered, or cancelled with the work it was about
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)

    def deliver() -> None:
        if future.set_running_or_notify_cancel():
            sent = _executor.submit(
                _deliver,
                settings,
                Path(app.instance_path) / "outbox",
                to,
                subject,
                text,
                html,
                discard,
                headers,
                attachment,
            )
            sent.add_done_callback(lambda done: _copy_outcome(done, future))

    # Behind nginx a request's work is committed at its very end (receipts.py): the mail waits for
    # that commit, and is never sent for work that was undone.
    when_committed(deliver, dropped=future.cancel)
    return future


def _copy_outcome(done: Future, future: Future) -> None:
    error = done.exception()
    if error is None:
        future.set_result(done.result())
    else:
        future.set_exception(error)


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)


def wait_for_pending(timeout: float = 10.0) -> bool:
    """Block until every queued message was handled (tests, shutdown); False on timeout."""
    with _pending_lock:
        pending = set(_pending)
    if not pending:
        return True
    _, not_done = wait(pending, timeout=timeout)
    return not not_done

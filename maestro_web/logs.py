"""Logging set-up, with a filter that keeps tokens and e-mail addresses out of every log line
(SPEC §5), and the request id that follows one action across processes.

Two formats (`MAESTRO_LOG_FORMAT`): `text`, one readable line, and `json`, one JSON object a line
with time, level, logger, message, request id and, for a request's own line, route, status and
duration. JSON lines also cut client addresses to their network (docs/operations.md, "Logs").
No Flask here: the live server, the worker and the discovery service log through it too.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# `?token=...`, `access_token=...` and the like in URLs and bodies, and any bare JWT.
# Also URL-encoded inside another parameter: `?next=%2Fauth%2Finvitation%3Ftoken%3D...` (the login
# page's way back to an invitation link).
_PARAM = re.compile(r"((?:^|[?&;\s\"']|%3F|%26)(?:token|access_token|refresh_token|jwt)(?:=|%3D))[^&\s\"';]+", re.I)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_SHORT_LINK = re.compile(r"(/s/)[A-Za-z0-9_-]{23,}")  # a short link's code is a credential too: it opens the link
_BEARER = re.compile(r"((?:Bearer|JWT)\s+)[A-Za-z0-9_.\-]+", re.I)
# Personal data: an address typed into a form must not reach a log line through any library.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED = "[redacted]"
EMAIL_REDACTED = "[e-mail]"


def redact(text: str) -> str:
    """The text with every token-looking value replaced by [redacted], every e-mail address by [e-mail]."""
    if not _may_hold_secret(text):
        return text
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _SHORT_LINK.sub(lambda m: m.group(1) + REDACTED, text)
    return _EMAIL.sub(EMAIL_REDACTED, text)


def _may_hold_secret(text: str) -> bool:
    """False only when none of the patterns above can match: each needs one of these pieces (`token`,
    `jwt` or `bearer` in any case, `eyJ`, `/s/`, `@`). Most lines have none, and five regular
    expressions over every line were a tenth of the CPU of a cached public view (two passes a request
    line). `str.lower` folds at least what `re.IGNORECASE` folds for these letters (the Kelvin sign K
    is `k` to both); tests/test_json_logs.py holds the shortcut to the full answer."""
    if "@" in text or "eyJ" in text or "/s/" in text:
        return True
    lowered = text.lower()
    return "token" in lowered or "jwt" in lowered or "bearer" in lowered


# --- request ids ---------------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits; a UUID has 36 characters. Anything else an outsider sends
# (a newline, a quote, a megabyte) would end up in every log line of the action: a new id instead.
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{8,64}")

# The id of the action this thread or task is working for, and its route template (the app sets
# both per request; the worker per claimed job; the live server per publish). None: no action.
request_id_var: ContextVar[str | None] = ContextVar("maestro_request_id", default=None)
route_var: ContextVar[str | None] = ContextVar("maestro_route", default=None)


def new_request_id() -> str:
    """A fresh id: 32 hex digits, the shape of nginx's $request_id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """`value` when it is a well-formed id (8 to 64 of letters, digits, `.`, `_`, `:`, `-`), else a new one."""
    if value and _REQUEST_ID_SHAPE.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


class RedactTokens(logging.Filter):
    """Rewrites a record's message so that no token or e-mail address survives into any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Stamped when the line is written, while the action's context is still the current one.
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "route", None) is None:
            record.route = route_var.get()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not our business here
            return True
        # The message is formatted once: the handlers' formatters read it back as it is.
        record.msg, record.args = redact(message), ()
        return True


_FILTER = RedactTokens()

# --- JSON lines ----------------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def _ipv6_network(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:  # 12:30:45 and the like
        return text
    return str(ipaddress.ip_network(f"{address}/48", strict=False).network_address)


def cut_addresses(text: str) -> str:
    """Every IPv4 address cut to its /24 (203.0.113.7 → 203.0.113.0), IPv6 to its /48, as the
    access logs do: a client's address is personal data, its network is enough to read a burst."""
    if "." in text:
        text = _IPV4.sub(lambda m: m.group(1) + ".0", text)
    if "::" in text or text.count(":") >= 2:
        text = _IPV6.sub(_ipv6_network, text)
    return text


# Fields a caller may add with `extra=` and that a JSON line carries (the request line's own).
EXTRA_FIELDS = ("route", "method", "status", "duration_ms")


_JSON_LINE = json.JSONEncoder(ensure_ascii=False, default=str)  # made once: json.dumps makes one a call


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, route and,
    when the record carries them, method, status and duration_ms; an exception as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": cut_addresses(redact(record.getMessage())),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "route": getattr(record, "route", None) or route_var.get(),
        }
        for name in EXTRA_FIELDS[1:]:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = cut_addresses(redact(self.formatException(record.exc_info)))
        return _JSON_LINE.encode(line)


LOG_FORMATS = ("text", "json")
_TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
_JSON = JsonFormatter()
_HANDLER = logging.StreamHandler()  # the one handler this module adds to the root logger


def configure_logging(level: str, log_format: str = "text") -> None:
    """Give the root logger one handler (if it has none) in `log_format`, and put the token filter everywhere."""
    root = logging.getLogger()
    _HANDLER.setFormatter(_JSON if log_format == "json" else _TEXT)
    if not root.handlers:
        root.addHandler(_HANDLER)
    root.setLevel(level)
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    # The development server logs request lines (with query strings) on its own logger.
    # Flask-Limiter logs the key of a breached limit (a client address, or a hashed account key).
    for name in ("werkzeug", "gunicorn.error", "gunicorn.access", "maestro_web", "flask-limiter"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

"""Logging set-up, with a filter that keeps tokens and e-mail addresses out of every log line
(SPEC §5, issue 10 §5)."""
from __future__ import annotations

import logging
import re

# `?token=...`, `access_token=...` and the like in URLs and bodies, and any bare JWT.
# Also URL-encoded inside another parameter: `?next=%2Fauth%2Finvitation%3Ftoken%3D...` (the login
# page's way back to an invitation link).
_PARAM = re.compile(r"((?:^|[?&;\s\"']|%3F|%26)(?:token|access_token|refresh_token|jwt)(?:=|%3D))[^&\s\"';]+", re.I)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_SHORT_LINK = re.compile(r"(/s/)[A-Za-z0-9_-]{23,}")  # a short link's code is a credential too (issue 14)
_BEARER = re.compile(r"((?:Bearer|JWT)\s+)[A-Za-z0-9_.\-]+", re.I)
# Personal data: an address typed into a form must not reach a log line through any library.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED = "[redacted]"
EMAIL_REDACTED = "[e-mail]"


def redact(text: str) -> str:
    """The text with every token-looking value replaced by [redacted], every e-mail address by [e-mail]."""
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _SHORT_LINK.sub(lambda m: m.group(1) + REDACTED, text)
    return _EMAIL.sub(EMAIL_REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message so that no token or e-mail address survives into any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not our business here
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = RedactTokens()


def configure_logging(level: str) -> None:
    """Give the root logger one handler (if it has none) and put the token filter everywhere."""
    root = logging.getLogger()
    if not root.handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream)
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

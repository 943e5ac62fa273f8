"""Plain words for pages: the one home of how a status and a time read, so every page says them alike.

Templates use the filters `status_word` and `relative_time` (through the macros in
templates/_status.html); static/live.js and static/time.js read the same words from the JSON map
that base.html renders once (`STATUS_WORDS`), so a live update never shows an internal word.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

from maestro_web import limits
from maestro_web.models.share_rules import OWNER_STATUSES

# Internal status (graph or share link) -> the word a person reads. Anything unknown reads "Unknown":
# an internal word never reaches a page.
STATUS_WORDS: dict[str, str] = {
    # graphs (GRAPH_STATUSES) and runs (GraphRun.state)
    "process": "Queued",
    "queued": "Queued",
    "claimed": "Drawing",
    "drawing": "Drawing",
    "finished": "Ready",
    "warning": "Ready with warnings",
    "error": "Failed",
    "failed": "Failed",
    "superseded": "Replaced by a newer run",
    # share links: their words are their states' (share_rules.Outcome.word), "stopped" included
    **{status.value: status.word for status in OWNER_STATUSES},
}


def status_word(status: object) -> str:
    """The plain word of an internal status: `process` -> "Queued", `warning` -> "Ready with warnings"."""
    return STATUS_WORDS.get(str(status), "Unknown")


def status_key(status: object) -> str:
    """The CSS-safe key of a status (`used up` -> `used_up`), for the badge's colour class."""
    return str(status).replace(" ", "_") if str(status) in STATUS_WORDS else "unknown"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Up to this many days a time reads as a count ("in 7 days"); further away it reads as its date.
FAR_DAYS = 30
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _nearest(value: float) -> int:
    """Half up, as static/time.js's Math.floor(x + 0.5) (Python's round() rounds half to even)."""
    return int(value + 0.5)


def day_text(value: datetime) -> str:
    """A UTC date as people write it: "4 Mar 2027"."""
    value = _utc(value)
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def relative_time(value: datetime, now: datetime | None = None) -> str:
    """How far `value` is from now, as a person says it: "in 7 days", "3 minutes ago", "just now";
    beyond FAR_DAYS days, the date itself ("4 Mar 2027"), so "until …" and "expires …" both read.

    Each unit is rounded to the nearest whole one and a unit that rounds up to the next becomes it
    (59 min 40 s reads "1 hour"), so a link made just now for 7 days says "in 7 days" and one for an
    hour "in 1 hour". static/time.js is the same function, word for word (tests/test_time_words.py).
    """
    seconds = (_utc(value) - _utc(now or datetime.now(UTC))).total_seconds()
    ahead, span = seconds > 0, abs(seconds)
    if span < 45:
        return "in a few seconds" if ahead else "just now"
    count, unit = max(1, _nearest(span / 60)), "minute"
    if count >= 60:
        count, unit = _nearest(span / 3600), "hour"
        if count >= 24:
            count, unit = _nearest(span / 86400), "day"
            if count > FAR_DAYS:
                return day_text(value)
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {words}" if ahead else f"{words} ago"


def utc_text(value: datetime) -> str:
    """The exact time shown on hover: "2026-11-30 03:12 UTC"."""
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso_utc(value: datetime) -> str:
    return _utc(value).isoformat()


def init_app(app: Flask) -> None:
    """Register the filters and the word map once for every template."""
    app.add_template_filter(status_word, "status_word")
    app.add_template_filter(status_key, "status_key")
    app.add_template_filter(relative_time, "relative_time")
    app.add_template_filter(utc_text, "utc_text")
    app.add_template_filter(iso_utc, "iso_utc")

    @app.context_processor
    def status_words() -> dict[str, Any]:
        # `limits`: a form's maxlength and its hint read the number the server checks (maestro_web/limits.py).
        return {"STATUS_WORDS": STATUS_WORDS, "limits": limits}

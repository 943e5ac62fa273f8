"""Share links: the rules of creating and changing them (SPEC §3.2), for the pages and the JSON API.

What is here: the input rules of a new link (label, expiry within the configured cap, max views,
embedding origins) and the workflows that need the app's configuration or announce a change that
no ORM hook sees (`create_link`, `extend_link`, `revoke_links`). What a single row does to itself is
on the model (`ShareLink.pause/resume/revoke/extend`, models/share.py); whether a link may be
viewed is models/share_rules.py. The rest of this package, one job a module:

- queries.py: the lists of links (a graph's, a user's, with filters and pages);
- snippets.py: what the owner copies: the iframe snippet, the QR code (SVG and PNG);
- forms.py, routes.py: the pages.

Elsewhere: the link's public URLs, built from configuration, are domain/link_urls.py (the API's
answers carry them too); a link as JSON is serializers/links.py.

The callers commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import ColumnElement, func, select

from maestro_web import live_events
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphVersion, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.models.graph import GraphResult
from maestro_web.models.share import (
    LABEL_MAX_LENGTH,
    ShareRefused,
    check_passcode,
    expiry_within_cap,
)
from maestro_web.models.share_rules import LIVE, MODES, SNAPSHOT
from maestro_web.refusals import NoSuch

__all__ = [
    "MAX_ORIGINS",
    "MAX_VIEWS_LIMIT",
    "PRESETS",
    "NewLink",
    "ShareRefused",
    "check_embedding",
    "check_expiry",
    "check_max_views",
    "check_mode",
    "check_passcode",
    "clean_label",
    "create_link",
    "default_label",
    "extend_link",
    "link_on_graph",
    "max_ttl",
    "normalize_origins",
    "revoke_links",
    "snapshot_source",
    "validate_new_link",
]

# Expiry presets offered on the page (seconds); a custom date is the fifth choice.
PRESETS = {"1h": ("1 hour", 3600), "1d": ("1 day", 86400), "7d": ("7 days", 7 * 86400), "30d": ("30 days", 30 * 86400)}
MAX_ORIGINS = 10
MAX_VIEWS_LIMIT = 1_000_000_000


@dataclass
class NewLink:
    label: str | None  # None (or empty): default_label() of the day the link is made, on every path
    expires_at: datetime
    max_views: int | None = None
    embeddable: bool = False
    origins: tuple[str, ...] = ()
    passcode: str | None = None  # optional, 8-128 characters, stored hashed (SPEC §10)
    mode: str = LIVE  # "live" or "snapshot": the newest result now, pinned (SPEC §10)


def max_ttl() -> timedelta:
    """The configured cap of a link's life, counted from its creation (MAESTRO_SHARE_MAX_TTL)."""
    return timedelta(seconds=current_app.config["MAESTRO_SHARE_MAX_TTL"])


def check_expiry(expires_at: datetime, created_at: datetime, now: datetime) -> datetime:
    """The expiry, if it is in the future and within the cap counted from the link's creation."""
    return expiry_within_cap(expires_at, created_at, max_ttl(), now)


# One origin as typed: https://host[:port] (http only for localhost), an optional trailing slash, spaces
# around; empty means none. The API's OpenAPI document publishes this very pattern, so both agree;
# written with explicit character classes, it means the same in Python, JavaScript and Rust regexes.
ORIGIN_PATTERN = (
    r"^[ \t\r\n]*(?:(?:https://[A-Za-z0-9.-]+|http://(?:localhost|127\.0\.0\.1))"
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"/*)?[ \t\r\n]*$"
)
_ORIGIN = re.compile(ORIGIN_PATTERN)


def normalize_origins(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Origins allowed to embed a link: `https://host[:port]` (http only for localhost), see ORIGIN_PATTERN."""
    origins: list[str] = []
    for raw in values:
        if not _ORIGIN.fullmatch(raw):
            raise ShareRefused(
                f"“{raw.strip()[:60]}” is not an origin like https://intranet.example.com.", "allowed_origins"
            )
        value = raw.strip(" \t\r\n").rstrip("/")
        if not value:
            continue
        parts = urlsplit(value)  # cannot fail any more: the pattern bounds the port and the host
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise ShareRefused(f"At most {MAX_ORIGINS} origins.", "allowed_origins")
    return tuple(origins)


def default_label(now: datetime) -> str:
    """The label of a link made without one (the Share button, an empty Label on the form, no `label` in
    the API's body): "Shared link, 6 Dec", the (UTC) day it was made."""
    return f"Shared link, {now.day} {now.strftime('%b')}"


QUICK_LIFETIME = timedelta(days=7)  # the Share button's link: 7 days, live, no cap, no passcode, not embeddable


def clean_label(label: str) -> str:
    """The label without surrounding spaces; refused when empty or too long."""
    label = label.strip()
    if not label:
        raise ShareRefused("Give the link a label, e.g. who it is for.", "label")
    if len(label) > LABEL_MAX_LENGTH:
        raise ShareRefused(f"At most {LABEL_MAX_LENGTH} characters.", "label")
    return label


def check_max_views(max_views: int | None) -> int | None:
    """`max_views` if it is empty (no limit) or a whole number from 1."""
    if max_views is not None and not 1 <= max_views <= MAX_VIEWS_LIMIT:
        raise ShareRefused("Max views must be a whole number from 1, or empty for no limit.", "max_views")
    return max_views


def check_embedding(embeddable: bool, origins: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The origins allowed to embed the link: checked always, needed when embedding is on, kept only then."""
    cleaned = normalize_origins(origins)
    if embeddable and not cleaned:
        raise ShareRefused("List the origins (sites) allowed to embed this link.", "allowed_origins")
    return cleaned if embeddable else ()


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ShareRefused("Choose live (the newest picture) or snapshot (the picture as it is now).", "mode")
    return mode


def snapshot_source(graph: Graph) -> GraphResult:
    """The result a snapshot link of `graph` pins now: its newest with a picture; refused without one."""
    pinned = GraphResult.latest_for(graph, with_picture=True)
    if pinned is None:
        raise ShareRefused(
            "This graph has no picture yet to take a snapshot of; share it live, or wait for its first picture.", "mode"
        )
    return pinned


def validate_new_link(data: NewLink, now: datetime) -> NewLink:
    """`data` cleaned and checked; raises ShareRefused naming the field at fault."""
    passcode = data.passcode or None  # an empty passcode field means none
    label = clean_label(data.label) if data.label else default_label(now)
    return NewLink(
        label=label,
        expires_at=check_expiry(data.expires_at, now, now),
        max_views=check_max_views(data.max_views),
        embeddable=data.embeddable,
        origins=check_embedding(data.embeddable, data.origins),
        passcode=check_passcode(passcode) if passcode is not None else None,
        mode=check_mode(data.mode),
    )


def current_version(graph: Graph) -> int | None:
    """The number of the graph's newest version (SPEC §13), None if it has none recorded."""
    return db.session.scalar(select(func.max(GraphVersion.number)).where(GraphVersion.graph_id == graph.id))


def create_link(graph: Graph, creator: User, data: NewLink) -> ShareLink:
    """A new link with a new jti; an old, revoked link is never brought back. A snapshot link pins
    the graph's newest result with a picture, and needs one."""
    now = utcnow().replace(microsecond=0)
    data = validate_new_link(data, now)
    pinned = snapshot_source(graph) if data.mode == SNAPSHOT else None
    link = ShareLink(
        graph=graph,
        creator=creator,
        label=data.label,
        created_at=now,
        expires_at=data.expires_at,
        max_expires_at=now + max_ttl(),
        max_views=data.max_views,
        allowed_origins=" ".join(data.origins),
        view_count=0,
        mode=data.mode,
        pinned_result_id=pinned.id if pinned is not None else None,
        snapshot_version=current_version(graph) if pinned is not None else None,
    )
    link.set_passcode(data.passcode)
    db.session.add(link)
    db.session.flush()
    return link


def link_on_graph(graph: Graph, link_id: str) -> ShareLink:
    """The link `link_id` of `graph` (the caller checked the user's role on it); NoSuch when there is
    none, which the pages and the API answer in their own shape (errors.py)."""
    link = ShareLink.get_on_graph(graph, link_id)
    if link is None:
        raise NoSuch("There is no such link on this graph.")
    return link


def extend_link(link: ShareLink, expires_at: datetime) -> None:
    """ShareLink.extend under the configured cap."""
    link.extend(expires_at, max_ttl())


def revoke_links(condition: ColumnElement[bool]) -> int:
    """Revoke every unrevoked link matching `condition` (one UPDATE); how many were revoked."""
    live_events.links_revoked(condition)  # a bulk UPDATE passes no ORM hook: name the links now
    return ShareLink.revoke_matching(condition)

"""Share links: create, extend, pause, resume, revoke (SPEC §3.2). Pages and the JSON API both call
these, so the rules live in one place; the callers commit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from markupsafe import escape
from sqlalchemy import select, update

from maestro_web import live_events
from maestro_web.extensions import db
from maestro_web.models import Graph, ShareLink, User
from maestro_web.models.base import as_utc, utcnow
from maestro_web.models.share import LABEL_MAX_LENGTH
from maestro_web.security.share_tokens import token_for

# Expiry presets offered on the page (seconds); a custom date is the fifth choice.
PRESETS = {"1h": ("1 hour", 3600), "1d": ("1 day", 86400), "7d": ("7 days", 7 * 86400), "30d": ("30 days", 30 * 86400)}
MAX_ORIGINS = 10
MAX_VIEWS_LIMIT = 1_000_000_000


class ShareRefused(Exception):
    """A change the rules do not allow; `field` names the input at fault (for forms and 422s)."""

    def __init__(self, message: str, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass
class NewLink:
    label: str
    expires_at: datetime
    max_views: int | None = None
    embeddable: bool = False
    origins: tuple[str, ...] = ()


def max_ttl() -> timedelta:
    return timedelta(seconds=current_app.config["MAESTRO_SHARE_MAX_TTL"])


def check_expiry(expires_at: datetime, created_at: datetime, now: datetime) -> datetime:
    """The expiry, if it is in the future and within the cap counted from the link's creation."""
    expires_at = as_utc(expires_at)
    if expires_at <= now:
        raise ShareRefused("The expiry must be in the future.", "expires_at")
    limit = as_utc(created_at) + max_ttl()
    if expires_at > limit:
        raise ShareRefused(
            f"A link can live at most {_days(max_ttl())} from its creation, so until "
            f"{limit.strftime('%Y-%m-%d %H:%M')} UTC.", "expires_at")
    return expires_at


def _days(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds // 3600} hours" if seconds >= 7200 else f"{seconds} seconds"


def normalize_origins(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Origins allowed to embed a link: `https://host[:port]` (http only for localhost)."""
    origins: list[str] = []
    for raw in values:
        value = raw.strip().rstrip("/")
        if not value:
            continue
        parts = urlsplit(value)
        local = parts.hostname in ("localhost", "127.0.0.1")
        if (parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local) or not parts.hostname
                or parts.path or parts.query or parts.fragment or parts.username or any(c in value for c in " ;,'\"")):
            raise ShareRefused(f"“{raw.strip()[:60]}” is not an origin like https://intranet.example.com.", "allowed_origins")
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise ShareRefused(f"At most {MAX_ORIGINS} origins.", "allowed_origins")
    return tuple(origins)


def clean_label(label: str) -> str:
    label = label.strip()
    if not label:
        raise ShareRefused("Give the link a label, e.g. who it is for.", "label")
    if len(label) > LABEL_MAX_LENGTH:
        raise ShareRefused(f"At most {LABEL_MAX_LENGTH} characters.", "label")
    return label


def validate_new_link(data: NewLink, now: datetime) -> NewLink:
    label = clean_label(data.label)
    if data.max_views is not None and not 1 <= data.max_views <= MAX_VIEWS_LIMIT:
        raise ShareRefused("Max views must be a whole number from 1, or empty for no limit.", "max_views")
    origins = normalize_origins(data.origins)
    if data.embeddable and not origins:
        raise ShareRefused("List the origins (sites) allowed to embed this link.", "allowed_origins")
    return NewLink(label=label, expires_at=check_expiry(data.expires_at, now, now), max_views=data.max_views,
                   embeddable=data.embeddable, origins=origins if data.embeddable else ())


def create_link(graph: Graph, creator: User, data: NewLink) -> ShareLink:
    """A new link with a new jti; an old, revoked link is never brought back."""
    now = utcnow().replace(microsecond=0)
    data = validate_new_link(data, now)
    link = ShareLink(
        graph=graph, creator=creator, label=data.label, created_at=now, expires_at=data.expires_at,
        token_expires_at=now + max_ttl(), max_views=data.max_views, allowed_origins=" ".join(data.origins), view_count=0,
    )
    db.session.add(link)
    db.session.flush()
    return link


def extend_link(link: ShareLink, expires_at: datetime) -> None:
    now = utcnow()
    if link.revoked_at is not None:
        raise ShareRefused("A revoked link cannot be extended; create a new one.", "expires_at", 409)
    expires_at = check_expiry(expires_at, link.created_at, now)
    if expires_at > as_utc(link.token_expires_at):  # the cap was raised after the token was made
        raise ShareRefused("This link's token cannot live that long; create a new link.", "expires_at")
    link.expires_at = expires_at


def pause_link(link: ShareLink) -> None:
    if link.revoked_at is not None:
        raise ShareRefused("This link was revoked.", None, 409)
    link.paused_at = link.paused_at or utcnow()


def resume_link(link: ShareLink) -> None:
    if link.revoked_at is not None:
        raise ShareRefused("A revoked link cannot be resumed; create a new one.", None, 409)
    link.paused_at = None


def revoke_link(link: ShareLink) -> None:
    link.revoked_at = link.revoked_at or utcnow()


def revoke_links(condition: Any) -> int:
    """Revoke every unrevoked link matching `condition`; how many were revoked."""
    live_events.links_revoked(condition)  # a bulk UPDATE passes no ORM hook: name the links now
    result = db.session.execute(
        update(ShareLink).where(condition, ShareLink.revoked_at.is_(None)).values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult


def links_of_graph(graph: Graph) -> list[ShareLink]:
    return list(db.session.scalars(
        select(ShareLink).where(ShareLink.graph_id == graph.id).order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))


def links_of_user(user: User) -> list[ShareLink]:
    return list(db.session.scalars(
        select(ShareLink).join(Graph, Graph.id == ShareLink.graph_id)
        .where(ShareLink.creator_id == user.id, Graph.deleted_at.is_(None))
        .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))


def share_url(link: ShareLink, embed: bool = False) -> str:
    """Maestro's link shape, built from configuration, never from the request's Host header."""
    base = current_app.config["MAESTRO_ANALYTICS_URL"]
    return f"{base}/graphs/public/{link.graph.public_id}{'/embed' if embed else ''}?token={token_for(link)}"


def iframe_snippet(link: ShareLink) -> str:
    return (f'<iframe src="{share_url(link, embed=True)}" title="{_attr(link.graph.name)}" width="800" height="600" '
            f'style="border:0" loading="lazy" referrerpolicy="no-referrer"></iframe>')


def _attr(text: str) -> str:
    return str(escape(text))


def link_json(link: ShareLink) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": link.public_id,
        "graph_id": link.graph.public_id,
        "label": link.label,
        "status": link.status(),
        "creator": {"id": link.creator.public_id, "name": link.creator.name},
        "created_at": as_utc(link.created_at).isoformat(),
        "expires_at": as_utc(link.expires_at).isoformat(),
        "max_expires_at": as_utc(link.token_expires_at).isoformat(),
        "paused_at": as_utc(link.paused_at).isoformat() if link.paused_at else None,
        "revoked_at": as_utc(link.revoked_at).isoformat() if link.revoked_at else None,
        "views": link.view_count,
        "max_views": link.max_views,
        "last_viewed_at": as_utc(link.last_viewed_at).isoformat() if link.last_viewed_at else None,
        "embeddable": link.embeddable,
        "allowed_origins": link.origins,
    }
    if link.revoked_at is None:
        body["url"] = share_url(link)
    return body

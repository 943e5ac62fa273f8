"""A share link as the JSON API shows it (`/api/graphs/<id>/shares`, `/api/shares`): named field by field."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from maestro_web.models import ShareLink
from maestro_web.shares.urls import image_url, share_url, short_url


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def link_json(link: ShareLink) -> dict[str, Any]:
    """The link's fields; `url`, `short_url` and `image_url` only while the link is not revoked (a revoked token is never shown again)."""
    body: dict[str, Any] = {
        "id": link.public_id,
        "graph_id": link.graph.public_id,
        "label": link.label,
        "status": link.status(),
        "creator": {"id": link.creator.public_id, "name": link.creator.name},
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "max_expires_at": link.max_expires_at.isoformat(),
        "paused_at": _iso(link.paused_at),
        "revoked_at": _iso(link.revoked_at),
        "views": link.view_count,
        "max_views": link.max_views,
        "last_viewed_at": _iso(link.last_viewed_at),
        "embeddable": link.embeddable,
        "allowed_origins": link.origins,
        "has_passcode": link.has_passcode,
        "mode": link.mode,
        "snapshot_as_of": _iso(link.pinned_result.created_at) if link.pinned_result is not None else None,
        "version": link.snapshot_version,
    }
    if link.revoked_at is None:
        body["url"] = share_url(link)
        body["short_url"] = short_url(link)
        body["image_url"] = image_url(link)
    return body

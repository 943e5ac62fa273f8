"""A share link as the JSON API shows it (`/api/graphs/<id>/shares`, `/api/shares`): named field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from maestro_web.domain.link_urls import image_url, share_url, short_url
from maestro_web.models import ShareLink
from maestro_web.models.share_rules import RowStatusWord
from maestro_web.serializers.users import person_json


class CreatorOut(BaseModel):
    id: str
    name: str


class ShareLinkOut(BaseModel):
    id: str
    graph_id: str
    label: str
    status: RowStatusWord
    creator: CreatorOut
    created_at: str
    expires_at: str
    max_expires_at: str
    paused_at: str | None
    revoked_at: str | None
    views: int
    max_views: int | None
    last_viewed_at: str | None
    embeddable: bool
    allowed_origins: list[str]
    has_passcode: bool
    mode: Literal["live", "snapshot"]
    snapshot_as_of: str | None = Field(
        description="A snapshot link: when its picture was drawn; null if live, or if the pinned result is gone."
    )
    version: int | None = Field(
        description="A snapshot link: the number of the graph's newest version (`/api/graphs/<id>/versions`) when it was made; null if live."
    )
    url: str | None = Field(None, description="Absent once the link is revoked.")
    short_url: str | None = Field(
        None, description="`{MAESTRO_ANALYTICS_URL}/s/<code>`; absent once the link is revoked."
    )
    image_url: str | None = Field(
        None, description="The link's picture as a PNG (`&ext=png`); absent once the link is revoked."
    )


class ShareLinkCreated(ShareLinkOut):
    token: str


class ShareLinkList(BaseModel):
    items: list[ShareLinkOut]


class ShareLinkPage(BaseModel):
    items: list[ShareLinkOut]
    total: int = Field(description="Exact when total_exact, else a lower bound (lists never count past 100).")
    total_exact: bool
    page: int
    per_page: int


class PublicLink(BaseModel):
    """Maestro's answer to POST /api/graphs/<id>/public: `id` is the graph's id, as in Maestro."""

    id: str
    link_id: str
    token: str
    timestamp: int
    url: str
    expires_at: str


class RevokedCount(BaseModel):
    revoked: int


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def link_json(link: ShareLink) -> dict[str, Any]:
    """The link's fields; `url`, `short_url` and `image_url` only while the link is not revoked (a revoked token is never shown again)."""
    body: dict[str, Any] = {
        "id": link.public_id,
        "graph_id": link.graph.public_id,
        "label": link.label,
        "status": link.status(),
        "creator": person_json(link.creator),
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

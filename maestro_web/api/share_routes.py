"""/api/graphs/<id>/shares: share links as JSON, and Maestro's POST /api/graphs/<id>/public (SPEC §4)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import jsonify

from maestro_web.api import api_bp
from maestro_web.api.schemas import ShareCreate, SharePatch, parse_body, parse_datetime
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.link_urls import share_url
from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.refusals import ValidationFailed
from maestro_web.security.session_jwt import current_user
from maestro_web.security.share_tokens import share_token_of
from maestro_web.serializers.links import link_json
from maestro_web.shares.queries import links_of_graph
from maestro_web.shares.services import (
    NewLink,
    clean_label,
    create_link,
    extend_link,
    link_on_graph,
    revoke_links,
)

DEFAULT_LIFETIME = 7 * 86400  # when a client names no expiry; never "never"


def _expiry(body: ShareCreate | SharePatch, start: datetime) -> datetime | None:
    """`expires_in` seconds from `start`, or an ISO 8601 `expires_at` (UTC when no offset is given)."""
    if body.expires_in is not None and body.expires_at is not None:
        raise ValidationFailed.for_fields({"expires_in": "Give either expires_in or expires_at, not both."})
    if body.expires_in is not None:
        return start + timedelta(seconds=body.expires_in)  # bounded by the model: no overflow
    if body.expires_at is not None:
        return parse_datetime(body.expires_at, "expires_at")
    return None


def _new_link(body: ShareCreate) -> NewLink:
    now = utcnow()
    expires_at = _expiry(body, now) or now + timedelta(seconds=DEFAULT_LIFETIME)
    return NewLink(
        label=body.label,
        expires_at=expires_at,
        max_views=body.max_views,
        embeddable=body.embeddable,
        origins=tuple(body.allowed_origins),
        passcode=body.passcode,
        mode=body.mode,
    )


def _create(graph_id: str) -> ShareLink:
    """A new link, committed; a ShareRefused goes up to errors.py (naming the field when there is one)."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    body = parse_body(ShareCreate, optional=True)  # an empty POST is fine: every field has a default
    user = current_user()
    assert user is not None  # the blueprint's guard let only a valid token's user in
    link = create_link(graph, user, _new_link(body))
    db.session.commit()
    return link


@api_bp.get("/graphs/<graph_id>/shares")
def list_shares(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    return jsonify(items=[link_json(link) for link in links_of_graph(graph)])


@api_bp.post("/graphs/<graph_id>/shares")
def create_share(graph_id: str):
    link = _create(graph_id)
    body = link_json(link)
    body["token"] = share_token_of(link)
    return jsonify(body), 201


@api_bp.post("/graphs/<graph_id>/public")
def create_public(graph_id: str):
    """Maestro's shape: 201 {id, token, timestamp, url, expires_at} where `id` is the graph's, plus `link_id`."""
    link = _create(graph_id)
    created = link.created_at
    return jsonify(
        id=graph_id,
        link_id=link.public_id,
        token=share_token_of(link),
        timestamp=int(created.timestamp() * 1000),
        url=share_url(link),
        expires_at=link.expires_at.isoformat(),
    ), 201


@api_bp.patch("/graphs/<graph_id>/shares/<link_id>")
def patch_share(graph_id: str, link_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    body = parse_body(SharePatch)
    expires_at = _expiry(body, max(utcnow(), link.expires_at))  # checked before anything changes
    # A ShareRefused on any of these goes up to errors.py, which rolls back what went before it.
    if body.label is not None:
        link.label = clean_label(body.label)
    if expires_at is not None:
        extend_link(link, expires_at)
    if body.paused is not None:
        link.pause() if body.paused else link.resume()
    if "passcode" in body.model_fields_set:  # null removes it; absent leaves it as it is
        link.set_passcode(body.passcode)
    if body.revoked:
        link.revoke()
    db.session.commit()
    return jsonify(link_json(link))


@api_bp.delete("/graphs/<graph_id>/shares/<link_id>")
def delete_share(graph_id: str, link_id: str):
    """Revoke one link (the row stays, so its views and its revocation remain visible)."""
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = link_on_graph(graph, link_id)
    link.revoke()
    db.session.commit()
    return jsonify(link_json(link))


@api_bp.delete("/graphs/<graph_id>/shares")
def delete_all_shares(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    count = revoke_links(ShareLink.graph_id == graph.id)
    db.session.commit()
    return jsonify(revoked=count)

"""/api/graphs/<id>/shares: share links as JSON, and Maestro's POST /api/graphs/<id>/public (SPEC §4)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Response, abort, jsonify, request

from maestro_web.api import api_bp
from maestro_web.api.validation import json_body
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.graphs.access import graph_for
from maestro_web.models import Graph, Role, ShareLink
from maestro_web.models.base import as_utc, utcnow
from maestro_web.security.session_jwt import current_user
from maestro_web.security.share_tokens import token_for
from maestro_web.shares.services import (
    clean_label,
    NewLink,
    ShareRefused,
    create_link,
    extend_link,
    link_json,
    links_of_graph,
    pause_link,
    resume_link,
    revoke_link,
    revoke_links,
    share_url,
)

CREATE_FIELDS = {"label", "expires_in", "expires_at", "max_views", "embeddable", "allowed_origins"}
PATCH_FIELDS = {"label", "expires_in", "expires_at", "paused", "revoked"}
DEFAULT_LIFETIME = 7 * 86400  # when a client names no expiry; never "never"


def _refused(exc: ShareRefused) -> Response:
    if exc.field:
        return json_error(exc.status, str(exc), fields={exc.field: str(exc)})
    return json_error(exc.status, str(exc))


def _expiry(body: dict[str, Any], start: datetime) -> datetime | None:
    """`expires_in` seconds from `start`, or an ISO 8601 `expires_at` (UTC when no offset is given)."""
    if "expires_in" in body and "expires_at" in body:
        raise ShareRefused("Give either expires_in or expires_at, not both.", "expires_in")
    if "expires_in" in body:
        seconds = body["expires_in"]
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            raise ShareRefused("Must be a whole number of seconds, more than 0.", "expires_in")
        return start + timedelta(seconds=seconds)
    if "expires_at" in body:
        value = body["expires_at"]
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ShareRefused("Must be an ISO 8601 date and time, e.g. 2026-12-31T18:00:00Z.", "expires_at")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _new_link(body: dict[str, Any]) -> NewLink:
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise ShareRefused("Unknown field.", unknown[0])
    label = body.get("label", "Shared link")
    if not isinstance(label, str):
        raise ShareRefused("Must be a string.", "label")
    max_views = body.get("max_views")
    if max_views is not None and (not isinstance(max_views, int) or isinstance(max_views, bool)):
        raise ShareRefused("Must be a whole number from 1, or null for no limit.", "max_views")
    embeddable = body.get("embeddable", False)
    if not isinstance(embeddable, bool):
        raise ShareRefused("Must be true or false.", "embeddable")
    origins = body.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ShareRefused("Must be a list of origins such as https://intranet.example.com.", "allowed_origins")
    now = utcnow()
    expires_at = _expiry(body, now) or now + timedelta(seconds=DEFAULT_LIFETIME)
    return NewLink(label=label, expires_at=expires_at, max_views=max_views, embeddable=embeddable, origins=tuple(origins))


def _link_for(graph: Graph, link_id: str) -> ShareLink:
    return ShareLink.get_on_graph(graph, link_id) or abort(404, "There is no such link on this graph.")


def _create(graph_id: str) -> tuple[ShareLink | None, Response | None]:
    graph, _ = graph_for(graph_id, current_user(), Role.WRITE)
    body, problem = json_body()
    if problem and problem.status_code == 415 and not _has_body():
        body, problem = {}, None  # an empty POST is fine: every field has a default
    if problem:
        return None, problem
    try:
        link = create_link(graph, current_user(), _new_link(body))
    except ShareRefused as exc:
        db.session.rollback()
        return None, _refused(exc)
    db.session.commit()
    return link, None


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.get_data(cache=True))


@api_bp.get("/graphs/<graph_id>/shares")
def list_shares(graph_id: str):
    graph, _ = graph_for(graph_id, current_user(), Role.WRITE)
    return jsonify(items=[link_json(link) for link in links_of_graph(graph)])


@api_bp.post("/graphs/<graph_id>/shares")
def create_share(graph_id: str):
    link, problem = _create(graph_id)
    if problem:
        return problem
    body = link_json(link)
    body["token"] = token_for(link)
    return jsonify(body), 201


@api_bp.post("/graphs/<graph_id>/public")
def create_public(graph_id: str):
    """Maestro's shape: 201 {id, token, timestamp, url, expires_at} where `id` is the graph's, plus `link_id`."""
    link, problem = _create(graph_id)
    if problem:
        return problem
    created = as_utc(link.created_at)
    return jsonify(id=graph_id, link_id=link.public_id, token=token_for(link),
                   timestamp=int(created.timestamp() * 1000), url=share_url(link),
                   expires_at=as_utc(link.expires_at).isoformat()), 201


@api_bp.patch("/graphs/<graph_id>/shares/<link_id>")
def patch_share(graph_id: str, link_id: str):
    graph, _ = graph_for(graph_id, current_user(), Role.WRITE)
    link = _link_for(graph, link_id)
    body, problem = json_body()
    if problem:
        return problem
    try:
        unknown = sorted(set(body) - PATCH_FIELDS)
        if unknown:
            raise ShareRefused("Unknown field.", unknown[0])
        if "label" in body:
            if not isinstance(body["label"], str):
                raise ShareRefused("Must be a string.", "label")
            link.label = clean_label(body["label"])
        expires_at = _expiry(body, max(utcnow(), link.expires_at_utc))
        if expires_at is not None:
            extend_link(link, expires_at)
        if "paused" in body:
            if not isinstance(body["paused"], bool):
                raise ShareRefused("Must be true or false.", "paused")
            (pause_link if body["paused"] else resume_link)(link)
        if "revoked" in body:
            if body["revoked"] is not True:
                raise ShareRefused("A revoked link stays revoked; only true is accepted.", "revoked")
            revoke_link(link)
    except ShareRefused as exc:
        db.session.rollback()
        return _refused(exc)
    db.session.commit()
    return jsonify(link_json(link))


@api_bp.delete("/graphs/<graph_id>/shares/<link_id>")
def delete_share(graph_id: str, link_id: str):
    """Revoke one link (the row stays, so its views and its revocation remain visible)."""
    graph, _ = graph_for(graph_id, current_user(), Role.WRITE)
    link = _link_for(graph, link_id)
    revoke_link(link)
    db.session.commit()
    return jsonify(link_json(link))


@api_bp.delete("/graphs/<graph_id>/shares")
def delete_all_shares(graph_id: str):
    graph, _ = graph_for(graph_id, current_user(), Role.WRITE)
    count = revoke_links(ShareLink.graph_id == graph.id)
    db.session.commit()
    return jsonify(revoked=count)

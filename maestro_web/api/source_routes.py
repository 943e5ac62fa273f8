"""/api/graphs/<id>/sources, …/dependencies, …/versions: discovery and history as JSON (SPEC §11, §13).

Sources need the Write role (their settings name accounts and regions); the dependencies and the
versions of a graph are for every reader. The service's own two endpoints are in discovery_routes.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from maestro_web.api import api_bp
from maestro_web.api.schemas import SourceCreate, SourcePatch, parse_body, validate
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.dependencies import current_dependencies, source_public_ids
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.models import DiscoverySource, Graph, GraphVersion, Role
from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.safe_json import UnsafeJSON, loads_strict
from maestro_web.security.session_jwt import current_user
from maestro_web.serializers.sources import source_json, version_json
from maestro_web.sources.commands import send_crawl_command
from maestro_web.sources.intake import UPLOAD_LIMIT, check_source
from maestro_web.sources.services import (
    change_source,
    create_source,
    delete_source,
    fail_crawl,
    start_crawl,
    sweep_stale_crawls,
)

VERSIONS_PER_PAGE = 100
FORM_FIELDS = ("kind", "label", "schedule", "settings", "credentials")


def _source(graph: Graph, source_id: str) -> DiscoverySource:
    source = DiscoverySource.of_graph(graph, source_id)
    if source is None:
        abort(404, "There is no such source on this graph.")
    return source


def _body(model: type[SourceCreate] | type[SourcePatch]) -> tuple[Any, bytes | None]:
    """The JSON body, or a multipart form with the file in `input`; (validated model, input bytes)."""
    if request.mimetype != "multipart/form-data":
        body = parse_body(model)
        return body, body.input.encode("utf-8") if body.input is not None else None
    data: dict[str, Any] = {}
    for name in FORM_FIELDS:
        if name in request.form:
            value: Any = request.form[name]
            if name in ("settings", "credentials"):
                try:
                    value = loads_strict(value)
                except UnsafeJSON as exc:
                    raise ValidationFailed.for_fields({name: f"Must be a JSON object: {exc.problem}."}) from None
            data[name] = value
    upload = request.files.get("input")
    raw = upload.stream.read(UPLOAD_LIMIT + 1) if upload is not None else None
    if raw is None and "input" in request.form:
        raw = request.form["input"].encode("utf-8")
    return validate(model, data), raw


@api_bp.get("/graphs/<graph_id>/sources")
def list_sources(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    sweep_stale_crawls(current_app.config["MAESTRO_DISCOVERY_TIMEOUT"], graph=graph)
    return jsonify(items=[source_json(source) for source in DiscoverySource.list_for(graph)])


@api_bp.post("/graphs/<graph_id>/sources")
def create_source_route(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    body, raw = _body(SourceCreate)
    parts = check_source(body.kind, raw, body.settings, body.credentials, current_app.config, required=True)
    user = current_user()
    assert user is not None
    source = create_source(graph, user, kind=body.kind, label=body.label, parts=parts, schedule=body.schedule)
    db.session.commit()
    response = jsonify(source_json(source))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_source", graph_id=graph.public_id, source_id=source.public_id)
    return response


@api_bp.get("/graphs/<graph_id>/sources/<source_id>")
def get_source(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    source = _source(graph, source_id)
    sweep_stale_crawls(current_app.config["MAESTRO_DISCOVERY_TIMEOUT"], source=source)
    return jsonify(source_json(source))


@api_bp.patch("/graphs/<graph_id>/sources/<source_id>")
def patch_source(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    source = _source(graph, source_id)
    body, raw = _body(SourcePatch)
    parts = check_source(source.kind, raw, body.settings, body.credentials, current_app.config, required=False)
    change_source(source, label=body.label, parts=parts, schedule=body.schedule)
    db.session.commit()
    return jsonify(source_json(source))


@api_bp.delete("/graphs/<graph_id>/sources/<source_id>")
def delete_source_route(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    user = current_user()
    assert user is not None
    delete_source(_source(graph, source_id), user)
    db.session.commit()
    return "", 204


@api_bp.post("/graphs/<graph_id>/sources/<source_id>/crawl")
def crawl_source(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    source = _source(graph, source_id)
    user = current_user()
    assert user is not None
    crawl = start_crawl(source, user, current_app.config["MAESTRO_DISCOVERY_TIMEOUT"])
    problem = send_crawl_command(current_app.config, user, source, crawl)
    if problem is not None:
        fail_crawl(crawl, problem)
        db.session.commit()
        return json_error(503, problem)
    return jsonify(crawl=crawl.public_id), 202


@api_bp.get("/graphs/<graph_id>/dependencies")
def dependencies(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    return jsonify(current_dependencies(graph).to_json(source_public_ids(graph)))


@api_bp.get("/graphs/<graph_id>/versions")
def versions(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    query = select(GraphVersion).where(GraphVersion.graph_id == graph.id).options(joinedload(GraphVersion.user))
    raw = request.args.get("before")
    if raw is not None:
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise ValidationFailed(
                "before must be a version number.", {"before": "Must be a version number."}, kind=Kind.BAD_REQUEST
            )
        query = query.where(GraphVersion.number < int(raw))
    rows = list(db.session.scalars(query.order_by(GraphVersion.number.desc()).limit(VERSIONS_PER_PAGE + 1)))
    more = len(rows) > VERSIONS_PER_PAGE
    rows = rows[:VERSIONS_PER_PAGE]
    return jsonify(items=[version_json(v) for v in rows], next=rows[-1].number if more and rows else None)

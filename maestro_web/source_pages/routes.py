"""The Sources and Changes pages of a graph (SPEC §11, §13), and the dependencies as JSON for the
picture's evidence tooltips. Sources need Write; Changes and the dependencies need Read."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from maestro_web.api.schemas import SourceCreate, validate
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.dependencies import current_dependencies, source_public_ids
from maestro_web.extensions import db
from maestro_web.models import DiscoverySource, Graph, GraphVersion, Role, ShareLink
from maestro_web.models.discovery import SCHEDULES, SOURCE_KINDS
from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.security.session_jwt import current_user
from maestro_web.source_pages import sources_bp
from maestro_web.sources.commands import send_crawl_command
from maestro_web.sources.intake import KIND_WORDS, UPLOAD_LIMIT, check_source
from maestro_web.sources.services import (
    CrawlRefused,
    create_source,
    delete_source,
    fail_crawl,
    start_crawl,
    sweep_stale_crawls,
)

VERSIONS_SHOWN = 100


def _source(graph: Graph, source_id: str) -> DiscoverySource:
    source = DiscoverySource.of_graph(graph, source_id)
    if source is None:
        abort(404, "There is no such source on this graph.")
    return source


def _page(
    graph: Graph,
    role: Role,
    values: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    sweep_stale_crawls(current_app.config["MAESTRO_DISCOVERY_TIMEOUT"], graph=graph)
    sources = DiscoverySource.list_for(graph)
    return render_template(
        "sources/index.html",
        graph=graph,
        role=role,
        sources=sources,
        last_crawls={source.id: source.last_crawl() for source in sources},
        kinds=SOURCE_KINDS,
        kind_words=KIND_WORDS,
        schedules=SCHEDULES,
        values=values or {"kind": "compose", "schedule": "off"},
        errors=errors or {},
    ), status


@sources_bp.get("/<graph_id>/sources")
def index(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    return _page(graph, role)


def _form_source() -> tuple[SourceCreate, bytes | None, dict[str, Any]]:
    """The add form as the API's model: pasted text or an uploaded file; aws fields built into
    settings and credentials."""
    form = request.form
    kind = form.get("kind", "")
    data: dict[str, Any] = {"kind": kind, "label": form.get("label", ""), "schedule": form.get("schedule", "off")}
    if kind == "aws":
        regions = [part.strip() for part in form.get("regions", "").replace(",", " ").split() if part.strip()]
        data["settings"] = {"regions": regions}
        if form.get("endpoint_url", "").strip():
            data["settings"]["endpoint_url"] = form["endpoint_url"].strip()
        credentials = {
            name: form.get(name, "").strip()
            for name in ("access_key_id", "secret_access_key", "role_arn", "external_id")
        }
        given = {name: value for name, value in credentials.items() if value}
        if given:  # none at all: "Required for aws" from the intake rules, naming what to give
            data["credentials"] = given
    upload = request.files.get("upload")
    raw: bytes | None = None
    if upload is not None and upload.filename:
        raw = upload.stream.read(UPLOAD_LIMIT + 1)
    elif form.get("input", "").strip():
        raw = form["input"].encode("utf-8")
    return validate(SourceCreate, data), raw, data


@sources_bp.post("/<graph_id>/sources")
def create(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user(), Role.WRITE)
    values = {
        name: request.form.get(name, "")
        for name in ("kind", "label", "schedule", "regions", "endpoint_url", "access_key_id", "role_arn", "external_id")
    }
    if request.files.get("upload") is None or not request.files["upload"].filename:
        values["input"] = request.form.get("input", "")
    try:
        body, raw, _ = _form_source()
        parts = check_source(body.kind, raw, body.settings, body.credentials, current_app.config, required=True)
    except ValidationFailed as exc:
        errors = {
            name.split(".")[-1] if name.startswith("credentials") else name: problem
            for name, problem in exc.fields.items()
        }
        return _page(graph, role, values, errors, status=413 if exc.kind is Kind.TOO_LARGE else 422)
    user = current_user()
    assert user is not None
    source = create_source(graph, user, kind=body.kind, label=body.label, parts=parts, schedule=body.schedule)
    db.session.commit()
    flash(f"Source “{source.label}” added. Press Crawl to read it.", "success")
    return redirect(url_for("sources.index", graph_id=graph.public_id) + f"#source-{source.public_id}")


@sources_bp.post("/<graph_id>/sources/<source_id>/crawl")
def crawl(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    source = _source(graph, source_id)
    user = current_user()
    assert user is not None
    back = redirect(url_for("sources.index", graph_id=graph.public_id) + f"#source-{source.public_id}")
    try:
        started = start_crawl(source, user, current_app.config["MAESTRO_DISCOVERY_TIMEOUT"])
    except CrawlRefused as exc:
        flash(str(exc), "error")
        return back
    problem = send_crawl_command(current_app.config, user, source, started)
    if problem is not None:
        fail_crawl(started, problem)
        db.session.commit()
        flash(problem, "error")
    return back


@sources_bp.post("/<graph_id>/sources/<source_id>/delete")
def delete(graph_id: str, source_id: str):
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    source = _source(graph, source_id)
    user = current_user()
    assert user is not None
    label = source.label
    delete_source(source, user)
    db.session.commit()
    flash(f"Source “{label}” removed, with what only it had discovered.", "success")
    return redirect(url_for("sources.index", graph_id=graph.public_id))


@sources_bp.get("/<graph_id>/changes")
def changes(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user())
    versions = list(
        db.session.scalars(
            select(GraphVersion)
            .where(GraphVersion.graph_id == graph.id)
            .options(joinedload(GraphVersion.user))
            .order_by(GraphVersion.number.desc())
            .limit(VERSIONS_SHOWN)
        )
    )
    snapshots: dict[int, int] = {}
    if role >= Role.WRITE:  # links are managed with Write; a reader is not told how many there are
        snapshots = {
            number: count
            for number, count in db.session.execute(
                select(ShareLink.snapshot_version, func.count(ShareLink.id))
                .where(
                    ShareLink.graph_id == graph.id,
                    ShareLink.snapshot_version.is_not(None),
                    ShareLink.revoked_at.is_(None),
                )
                .group_by(ShareLink.snapshot_version)
            )
        }
    return render_template("sources/changes.html", graph=graph, role=role, versions=versions, snapshots=snapshots)


@sources_bp.get("/<graph_id>/dependencies.json")
def dependencies_json(graph_id: str):
    """The dependencies with origins and evidence, for the picture's tooltips (the session's Read)."""
    graph, _ = authorize_graph(graph_id, current_user())
    labels = {source.public_id: source.label for source in DiscoverySource.list_for(graph)}
    body = current_dependencies(graph).to_json(source_public_ids(graph))
    return jsonify(**body, sources=labels)

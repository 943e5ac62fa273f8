"""The owner's analytics pages of a graph, under /analytics/graphs/<id>: the rendered picture, the raw
SVG and the SVG/PNG downloads, for users with Read (session cookie, never a token)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, render_template, request

from maestro_web.domain.access import authorize_graph
from maestro_web.domain.dependencies import current_dependencies
from maestro_web.graphs import graphs_bp
from maestro_web.models import Graph, GraphResult
from maestro_web.public.downloads import FORMATS, download
from maestro_web.public.presenters import page_fields
from maestro_web.security.session_jwt import current_user
from maestro_web.sources.history import SinceVersion, changes_since
from maestro_web.web.headers import svg_document


def graph_page(graph: Graph) -> dict[str, Any]:
    """The fields of a graph page: the visitor's allow-list (public/presenters.py), of the latest picture."""
    picture = GraphResult.latest_for(graph, with_picture=True)
    return page_fields(
        graph.name,
        graph.type,
        graph.status,
        graph.message,
        graph.info,
        picture.svg if picture else None,
        picture.created_at if picture else None,
    )


@graphs_bp.get("/analytics/graphs/<graph_id>")
def graph_view(graph_id: str):
    graph, role = authorize_graph(graph_id, current_user())
    return render_template(
        "analytics/graph.html",
        page=graph_page(graph),
        graph_id=graph.public_id,
        private=True,
        since=_since(graph),
        graph=graph,
        role=role,
        badge_status=graph.shown_status(),
    )


def _since(graph: Graph) -> SinceVersion | None:
    """`?since=<version>`: what changed since that version, to highlight (SPEC §13); 404 for no such version."""
    raw = request.args.get("since")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        abort(400, "since must be a version number.")
    since = changes_since(graph, int(raw), current_dependencies(graph))
    if since is None:
        abort(404, "This graph has no such version.")
    return since


@graphs_bp.get("/analytics/graphs/<graph_id>/svg")
def graph_svg(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    picture = GraphResult.latest_for(graph, with_picture=True)
    if picture is None or picture.svg is None:
        abort(404, "This graph has no picture yet.")
    return svg_document(picture.svg)  # under headers that keep it inert (SPEC §5)


@graphs_bp.get("/analytics/graphs/<graph_id>/download.<fmt>")
def private_download(graph_id: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    graph, _ = authorize_graph(graph_id, current_user())
    picture = GraphResult.latest_for(graph, with_picture=True)
    if picture is None or picture.svg is None:
        abort(404, "This graph has no picture yet.")
    return download(picture.svg, graph.name, picture.created_at, fmt, public=False)

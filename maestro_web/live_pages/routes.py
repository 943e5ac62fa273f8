"""`GET /live/ticket?graph=<id>`: a ticket for the logged-in browser's WebSocket connection."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from maestro_web.domain.access import authorize_graph
from maestro_web.errors import json_error, refused_response
from maestro_web.live_pages import live_bp
from maestro_web.live_pages.tickets import live_since, user_ticket
from maestro_web.models import Graph, Role
from maestro_web.refusals import Refused
from maestro_web.security.session_jwt import current_user


def ticket_response(body: dict) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@live_bp.get("/ticket")
def ticket():
    user = current_user()
    graph_id = request.args.get("graph")
    # authorize_graph answers 404 both for an unknown graph and for one the user may not read.
    graph = authorize_graph(graph_id, user)[0] if graph_id else None
    return ticket_response(user_ticket(user, graph))


@live_bp.errorhandler(HTTPException)
def _json_error(exc: HTTPException) -> Response:
    # Only scripts call this blueprint: every answer is JSON, errors included.
    return json_error(exc.code or 500, exc.description or "Error")


@live_bp.errorhandler(Refused)
def _json_refused(exc: Refused) -> Response:
    return refused_response(exc, as_json=True)  # a graph the user may not read: 404 as JSON


@live_bp.app_template_global()
def live_graph_context(graph_id: str) -> dict[str, Any]:
    """What a private graph page's script needs: where to get tickets, the current run, who may act."""
    user = current_user()
    graph = Graph.get_by_public_id(graph_id)
    role = graph.role_of(user) if graph is not None else None
    run = graph.current_run() if graph is not None else None
    return {
        "ticket_url": url_for("live.ticket", graph=graph_id),
        "can_write": role is not None and role >= Role.WRITE,
        "run_state": run.state if run is not None else "",
        "queued_at": run.queued_at.isoformat() if run is not None else "",
    }


@live_bp.app_template_global()
def live_user_context() -> dict[str, Any]:
    """For pages that only follow the user's own channel (share lists)."""
    return {"ticket_url": url_for("live.ticket")}


live_bp.add_app_template_global(live_since)

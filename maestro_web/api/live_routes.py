"""`POST /api/live/ticket` {"graph": <id>}: a live ticket for an API client (SPEC §8)."""
from __future__ import annotations

from flask import request

from maestro_web.api import api_bp
from maestro_web.errors import json_error
from maestro_web.graphs.access import graph_for
from maestro_web.live_pages.routes import ticket_response
from maestro_web.live_pages.tickets import user_ticket
from maestro_web.security.session_jwt import current_user

MAX_ID_LENGTH = 64


@api_bp.post("/live/ticket")
def live_ticket():
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        return json_error(400, "The body must be a JSON object (or empty).")
    graph_id = body.get("graph")
    if graph_id is not None and (not isinstance(graph_id, str) or not 0 < len(graph_id) <= MAX_ID_LENGTH):
        return json_error(422, "graph must be a graph id.", fields={"graph": "Must be a graph id (text) or absent."})
    user = current_user()
    graph = graph_for(graph_id, user)[0] if graph_id else None
    return ticket_response(user_ticket(user, graph))

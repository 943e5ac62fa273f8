"""`POST /api/live/ticket` {"graph": <id>}: a live ticket for an API client (SPEC §8)."""

from __future__ import annotations

from maestro_web.api import api_bp
from maestro_web.api.schemas import LiveTicketRequest, parse_body
from maestro_web.domain.access import authorize_graph
from maestro_web.live_pages.routes import ticket_response
from maestro_web.live_pages.tickets import user_ticket
from maestro_web.security.session_jwt import current_user


@api_bp.post("/live/ticket")
def live_ticket():
    body = parse_body(LiveTicketRequest, optional=True)  # no body: the user's own channel only
    graph_id = body.graph
    user = current_user()
    graph = authorize_graph(graph_id, user)[0] if graph_id else None
    return ticket_response(user_ticket(user, graph))

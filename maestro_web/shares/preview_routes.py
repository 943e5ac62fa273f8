"""The owner's preview of a share link (SPEC §10): exactly what a visitor of the link sees, never counted.

`GET /analytics/graphs/<graph id>/shares/<link id>/preview`: a signed-in user (require_user, the
shares blueprint's guard) with Write on the graph, as for every page of a link. It renders the public
template with the visitor's presenter (public/presenters.py) and the visitor's refusals; the verdict
is share_rules.diagnose (the one home of the rules), applied without counting: a link a visitor
could not open shows the refusal page the visitor would get.
"""

from __future__ import annotations

from flask import Response, abort, render_template

from maestro_web.domain.access import authorize_graph
from maestro_web.errors import error_page
from maestro_web.models import Role, ShareLink
from maestro_web.models.share_rules import Outcome, diagnose
from maestro_web.public.presenters import link_page
from maestro_web.public.routes import REFUSALS
from maestro_web.security.session_jwt import current_user
from maestro_web.shares import shares_bp
from maestro_web.web.headers import keep_private


@shares_bp.get("/analytics/graphs/<graph_id>/shares/<link_id>/preview")
def share_preview(graph_id: str, link_id: str) -> Response:
    graph, _ = authorize_graph(graph_id, current_user(), Role.WRITE)
    link = ShareLink.get_on_graph(graph, link_id)
    if link is None:
        abort(404)
    outcome = diagnose(link, graph.public_id)  # the rules, in Python, on the row: nothing is counted
    page = link_page(link) if outcome is Outcome.VIEWABLE else None
    if page is None:  # refused, or a snapshot whose result went since the diagnosis
        refusal = Outcome.SNAPSHOT_GONE if outcome is Outcome.VIEWABLE else outcome
        status, title, message = REFUSALS[refusal.visitor_sees]
        return keep_private(error_page(status, message, title, public=True))
    body = render_template("analytics/public.html", page=page, expires_at=link.expires_at, preview=True)
    return keep_private(Response(body, mimetype="text/html"))

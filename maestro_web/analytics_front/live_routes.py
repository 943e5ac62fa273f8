"""Live updates of the public view (SPEC §8, §10): a visitor's ticket and a redraw that counts no view.

Both answer only while the link may be viewed (the same rules as the view, read from the row, no
view counted, and the link's passcode entered in this browser if it has one): the page holds the
share token, so it can renew its ticket and fetch the redrawn picture, and it turns into the refusal
page once its link is paused or revoked.
"""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, render_template, request, url_for

from maestro_web import rate_limits
from maestro_web.analytics_front import analytics_public_bp
from maestro_web.analytics_front.presenters import link_page
from maestro_web.analytics_front.public_routes import REFUSALS, viewable_link
from maestro_web.errors import error_page, json_error
from maestro_web.live_pages.routes import ticket_response
from maestro_web.live_pages.tickets import share_ticket
from maestro_web.models.share_rules import Outcome


@analytics_public_bp.get("/graphs/public/<graph_id>/ticket")
@rate_limits.exempt
def public_ticket(graph_id: str) -> Response:
    link = viewable_link(graph_id)  # passcode included; a known link's embedding rules apply too
    if isinstance(link, str):
        status, title, _ = REFUSALS[link]
        return json_error(status, title + ".")
    return ticket_response(share_ticket(link.public_id))


@analytics_public_bp.get("/graphs/public/<graph_id>/live")
@rate_limits.exempt
def public_live(graph_id: str) -> Response:
    """The public page as it is now, for the page's own script: not a view, so not counted."""
    link = viewable_link(graph_id)
    page = link_page(link) if not isinstance(link, str) else None  # a snapshot shows its pinned result
    if isinstance(link, str) or page is None:
        status, title, message = REFUSALS[link if isinstance(link, str) else Outcome.SNAPSHOT_GONE.visitor_sees]
        return error_page(status, message, title, public=True)
    return Response(render_template("analytics/public.html", page=page, expires_at=link.expires_at),
                    mimetype="text/html")


@analytics_public_bp.app_template_global()
def live_share_context() -> dict[str, Any] | None:
    """What the public page's script needs: a ticket for `share:<link>` and where to renew it."""
    claims = g.get("share_claims")
    graph_id = (request.view_args or {}).get("graph_id")
    if claims is None or graph_id is None:
        return None
    token = request.args.get("token", "")
    return {
        **share_ticket(claims["jti"], reuse=True),
        "ticket_url": url_for("analytics_public.public_ticket", graph_id=graph_id, token=token),
        "refresh_url": url_for("analytics_public.public_live", graph_id=graph_id, token=token),
        "live_url": current_app.config["MAESTRO_LIVE_URL"],
    }

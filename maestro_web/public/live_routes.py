"""How an open public page keeps up with its link (SPEC §8, §10; docs/live-pages.md): each route exists
for the long link (`/graphs/public/<id>/<what>?token=`) and the short one (`/s/<code>/<what>`).

- `live`: the page as it is now, for the page's own redraws. With the receipt of the view that page
  counted (`seen`, short_codes.mint_view_receipt) it counts nothing (a redraw is not a visit); without
  one it is the page itself, counted or refused by the one counting statement, so the link alone never
  shows the graph uncounted.
- `ticket`: a fresh live ticket for `share:<link>`, while the link may be viewed or is paused (a paused
  page listens, so that it comes back when the link is resumed).
- `state`: the link's state in one word, for a page that hears no live events: counts nothing, shows
  nothing of the graph.

Each applies the link's rules read from the row, and the passcode gate: a link with a passcode
answers only a browser that entered it.
"""

from __future__ import annotations

from flask import Response, current_app, g, jsonify, request

from maestro_web.errors import json_error
from maestro_web.live_pages.routes import ticket_response
from maestro_web.live_pages.tickets import share_ticket
from maestro_web.models.share_rules import Outcome
from maestro_web.public import passcode_gate
from maestro_web.public.page import PublicPage
from maestro_web.public.presenters import link_shown
from maestro_web.public.routes import (
    REFUSALS,
    Address,
    link_verdict,
    public_page,
    public_route,
    refusal_page,
    show,
)
from maestro_web.security.share_tokens import CONTEXT as SHARE_CONTEXT
from maestro_web.security.short_codes import view_receipt_valid


@public_route("/ticket", "ticket")
def public_ticket(here: Address) -> Response:
    outcome, link = link_verdict(here.graph_id)  # a known link's embedding rules apply too
    if outcome in (Outcome.VIEWABLE, Outcome.PAUSED) and link is not None:
        if passcode_gate.opened(link):
            return ticket_response(share_ticket(link.public_id))
        refusal = "locked"
    else:
        refusal = outcome.visitor_sees
    status, title, _ = REFUSALS[refusal]
    return json_error(status, title + ".")


@public_route("/live", "live")
def public_live(here: Address) -> Response:
    """The public page as it is now: uncounted with the receipt of this page's counted view, else
    the page itself (counted, or refused)."""
    jti = g.share_claims["jti"]
    if not view_receipt_valid(current_app.config["KEY_RINGS"][SHARE_CONTEXT], jti, request.args.get("seen")):
        return show(here, False, form=False)
    outcome, link = link_verdict(here.graph_id)
    if outcome is Outcome.USED_UP:  # the page asking is one of the views the link allowed: it stays
        outcome = Outcome.VIEWABLE
    if outcome is not Outcome.VIEWABLE or link is None:
        return refusal_page(outcome.visitor_sees, False)
    if not passcode_gate.opened(link):
        return refusal_page("locked", False)
    shown = link_shown(link)  # a snapshot shows its pinned result
    if shown is None:
        return refusal_page(Outcome.SNAPSHOT_GONE.visitor_sees, False)
    return public_page(PublicPage(shown, link.expires_at, here, link.public_id), cached=False)


@public_route("/state", "state")
def public_state(here: Address) -> Response:
    """`{"state": "active" | a refusal's name, "expires_at"}`: what an open page needs to know whether
    to change, and nothing else (no name, picture, figures, views). Counts nothing."""
    outcome, link = link_verdict(here.graph_id)
    state = Outcome.VIEWABLE.value if outcome is Outcome.VIEWABLE else outcome.visitor_sees
    if outcome is Outcome.VIEWABLE and link is not None and not passcode_gate.opened(link):
        state = "locked"
    body: dict[str, object] = {"state": state}
    if link is not None and state in (Outcome.VIEWABLE.value, Outcome.PAUSED.value, "locked"):
        body["expires_at"] = link.expires_at.isoformat()  # an extension moves the page's timer
    return jsonify(body)

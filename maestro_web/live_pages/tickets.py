"""Which channels a ticket lists, and the JSON a page or API client gets for it (SPEC §8)."""
from __future__ import annotations

import time
from typing import Any

from flask import current_app

from maestro_web.models import Graph, User
from maestro_web.security.live_tickets import issue_ticket

TICKET_TTL = 600  # the most SPEC §8 allows; pages renew a minute before the end
VISITOR_TICKETS = "maestro_visitor_tickets"  # app.extensions: link id -> (ticket JSON, reuse until)
REUSE_SHARE = 10  # a visitor ticket is handed out again during the first tenth of its life (60 s of 600)
MAX_REUSED = 10_000


def _ttl() -> int:
    # MAESTRO_LIVE_TICKET_TTL exists for tests that watch a page renew its ticket; never above 600.
    return min(TICKET_TTL, int(current_app.config.get("MAESTRO_LIVE_TICKET_TTL", TICKET_TTL)))


def _ticket_json(sub: str | None, channels: list[str]) -> dict[str, Any]:
    ring = current_app.config["KEY_RINGS"]["session"]
    ticket, expires_at = issue_ticket(ring, sub=sub, channels=channels, ttl=_ttl())
    return {"ticket": ticket, "url": current_app.config["MAESTRO_LIVE_URL"], "channels": channels,
            "expires_at": expires_at.isoformat()}


def user_ticket(user: User, graph: Graph | None = None) -> dict[str, Any]:
    """The user's own channel, plus the graph's when given (the caller checked Read)."""
    channels = [f"user:{user.public_id}"]
    if graph is not None:
        channels.append(f"graph:{graph.public_id}")
    return _ticket_json(user.public_id, channels)


def share_ticket(link_id: str, reuse: bool = False) -> dict[str, Any]:
    """A visitor's ticket: the link's channel and nothing else, no user.

    With `reuse` (the public page), the same ticket goes to every visitor of the link during the first
    tenth of its life (it names no one, and anyone holding the link may have one), so a busy page
    signs one ticket a minute, not one per view (issue 15 goal 2); each still has nine tenths of its
    life left. A renewal (`reuse` off) always gets a fresh one.
    """
    if not reuse:
        return _ticket_json(None, [f"share:{link_id}"])
    tickets: dict[str, tuple[dict[str, Any], float]] = current_app.extensions.setdefault(VISITOR_TICKETS, {})
    now = time.monotonic()
    reused = tickets.get(link_id)
    if reused is not None and now < reused[1]:
        return reused[0]
    ticket = _ticket_json(None, [f"share:{link_id}"])
    if len(tickets) >= MAX_REUSED:
        tickets.clear()
    tickets[link_id] = (ticket, now + _ttl() / REUSE_SHARE)
    return ticket

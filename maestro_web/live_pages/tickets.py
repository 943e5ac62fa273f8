"""Which channels a ticket lists, and the JSON a page or API client gets for it (SPEC §8)."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, g

from maestro_web.channels import graph_channel, share_channel, user_channel
from maestro_web.models import Graph, User
from maestro_web.security.live_tickets import issue_ticket

TICKET_TTL = 600  # the most SPEC §8 allows; pages renew a minute before the end


def _ttl() -> int:
    # MAESTRO_LIVE_TICKET_TTL exists for tests that watch a page renew its ticket; never above 600.
    return min(TICKET_TTL, int(current_app.config.get("MAESTRO_LIVE_TICKET_TTL", TICKET_TTL)))


def _ticket_json(sub: str | None, channels: list[str]) -> dict[str, Any]:
    ring = current_app.config["KEY_RINGS"]["session"]
    ticket, expires_at = issue_ticket(ring, sub=sub, channels=channels, ttl=_ttl())
    return {
        "ticket": ticket,
        "url": current_app.config["MAESTRO_LIVE_URL"],
        "channels": channels,
        "expires_at": expires_at.isoformat(),
    }


def user_ticket(user: User, graph: Graph | None = None) -> dict[str, Any]:
    """The user's own channel, plus the graph's when given (the caller checked Read)."""
    channels = [user_channel(user.public_id)]
    if graph is not None:
        channels.append(graph_channel(graph.public_id))
    return _ticket_json(user.public_id, channels)


def share_ticket(link_id: str) -> dict[str, Any]:
    """A visitor's ticket: the link's channel and nothing else, no user.

    Always a fresh one (about 70 µs to sign): a ticket handed out again after the link was paused and
    resumed would carry an `iat` from before the pause's control event, and the live server would
    refuse the subscription (docs/live-pages.md). The rendered page is cached without it
    (public.routes.public_page), so a busy link still renders its page once.
    """
    return _ticket_json(None, [share_channel(link_id)])


# How far before the request's start a page's first subscription reaches back: room for the app's
# clock running ahead of the live server's (or Redis's), which stamps the event ids.
SINCE_MARGIN_S = 2.0


def live_since() -> str:
    """The event id a page's first subscriptions replay from (`data-live-since`): shortly before this
    request began, so an event of anything that changed while the page was being read (a run finishing
    between the picture and the run state, say) reaches the page even though it was published before
    the page subscribed. Replaying an event the page already shows only refreshes it again."""
    started = g.get("request_started")
    elapsed = time.perf_counter() - started if started is not None else 0.0
    return f"{int((time.time() - elapsed - SINCE_MARGIN_S) * 1000)}-0"

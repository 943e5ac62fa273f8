"""Helpers for the share link tests: a graph with a picture, links made through the services, links
put in each refused state, and what a visitor without cookies gets.

The fixtures `owner`, `writer`, `reader` and `graph` (the owner's "Checkout" graph, drawn with
`draw`, with a writer and a reader) are in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from worker_support import post_result

from maestro_web.domain.link_urls import share_url
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRole, Role, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import SNAPSHOT, Outcome
from maestro_web.security.share_tokens import share_token_of
from maestro_web.security.short_codes import mint_short_code
from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.shares.services import NewLink, create_link

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40">'
    '<rect x="1" y="1" width="60" height="20" fill="#abc"/><text x="5" y="15">checkout-api</text></svg>'
)
SHARE_CONTEXT = "public-analytics"  # the key ring of share tokens and short codes
# The states a visitor is refused in, with the status the page answers.
REFUSED_STATES = [("paused", 403), ("revoked", 410), ("expired", 410), ("used up", 410)]


def draw(
    app, graph_id: str, svg: str = SVG, msg: str = "2 nodes", info: dict | None = None, status: str = "finished"
) -> None:
    """Let the analytics worker endpoints store a picture for the graph's queued run."""
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert job["graph_id"] == graph_id
    response = post_result(
        client,
        ring,
        graph_id,
        json={
            "run_id": job["run_id"],
            "status": status,
            "msg": msg,
            "svg": svg,
            "info": info if info is not None else {"nodes": 2, "edges": 1, "density": 0.5},
        },
    )
    assert response.status_code == 201, response.text


@dataclass
class Made:
    id: str
    token: str
    url: str
    path: str  # the public view's path with the token, for the test client


def make_link(app, graph, creator, label="For the board", lifetime=timedelta(days=1), **options) -> Made:
    with app.app_context():
        link = create_link(
            Graph.get_by_public_id(graph.public_id),
            User.get_by_public_id(creator.public_id),
            NewLink(label=label, expires_at=utcnow() + lifetime, **options),
        )
        db.session.commit()
        url = share_url(link)
        return Made(
            link.public_id,
            share_token_of(link),
            url,
            f"/analytics/graphs/public/{graph.public_id}?token={share_token_of(link)}",
        )


def link_row(app, link_id: str) -> ShareLink:
    with app.app_context():
        link = ShareLink.get_by_public_id(link_id)
        db.session.expunge(link)
        return link


# --- one broken rule each (models/share_rules.RULES): the edges every kind of link is tested on ----


def _revoke(link: ShareLink) -> None:
    link.revoke()


def _pause(link: ShareLink) -> None:
    link.pause()


def _expire(link: ShareLink) -> None:
    link.expires_at = utcnow() - timedelta(seconds=1)


def _use_up(link: ShareLink) -> None:
    link.max_views = 3
    link.view_count = 3


def _delete_graph(link: ShareLink) -> None:
    link.graph.deleted_at = utcnow()


def _creator_loses_write(link: ShareLink) -> None:
    db.session.execute(
        update(GraphRole)
        .where(GraphRole.graph_id == link.graph_id, GraphRole.user_id == link.creator_id)
        .values(role=int(Role.READ))
    )


def lose_pinned_result(link: ShareLink) -> None:
    """Make `link` a snapshot whose pinned result was deleted (by hand: pruning keeps a pinned result).
    On PostgreSQL the column turns NULL; SQLite, which does not enforce foreign keys, keeps the id."""
    pinned = GraphResult.latest_for(link.graph, with_picture=True)
    assert pinned is not None
    link.mode, link.pinned_result_id = SNAPSHOT, pinned.id
    db.session.flush()
    db.session.execute(delete(GraphResult).where(GraphResult.id == pinned.id))


# Each breaks one rule of a viewable link (call it on the row inside an app context, then commit),
# with the status a visitor then gets.
BREAKS: dict[Outcome, tuple[Callable[[ShareLink], None], int]] = {
    Outcome.REVOKED: (_revoke, 410),
    Outcome.PAUSED: (_pause, 403),
    Outcome.EXPIRED: (_expire, 410),
    Outcome.USED_UP: (_use_up, 410),
    Outcome.GRAPH_DELETED: (_delete_graph, 404),
    Outcome.CREATOR_LOST_WRITE: (_creator_loses_write, 404),
    Outcome.SNAPSHOT_GONE: (lose_pinned_result, 410),
}


def set_state(app, link_id: str, state: str) -> None:
    """Pause, revoke or expire a link on its row (the owner's pages test the buttons themselves)."""
    with app.app_context():
        link = ShareLink.get_by_public_id(link_id)
        if state == "paused":
            link.paused_at = utcnow()
        elif state == "revoked":
            link.revoked_at = utcnow()
        elif state == "expired":
            link.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def link_in_state(app, graph, creator, state: str) -> Made:
    """A new link in `state` (one of REFUSED_STATES). A "used up" link allows one view, still to be
    made: the caller views it once, then it is used up."""
    made = make_link(app, graph, creator, max_views=1 if state == "used up" else None)
    set_state(app, made.id, state)
    return made


def visit(app, made: Made, suffix: str = ""):
    """The long link as a visitor without cookies opens it (`suffix`: e.g. "&ext=png")."""
    return app.test_client().get(made.path + suffix)


def short_code(app, link_id: str) -> str:
    return mint_short_code(app.config["KEY_RINGS"][SHARE_CONTEXT], link_id)


def visit_short(app, code: str, query: str = ""):
    """The short link `/analytics/s/<code>` as a visitor without cookies opens it."""
    return app.test_client().get(f"/analytics/s/{code}{query}")

"""Helpers for the share link tests: a graph with a picture, and links made through the services."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from typing import Callable

from sqlalchemy import delete, update

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRole, Role, ShareLink, User
from maestro_web.models.share_rules import SNAPSHOT, Outcome
from maestro_web.models.base import utcnow
from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.security.share_tokens import share_token_of
from maestro_web.shares.services import NewLink, create_link
from maestro_web.shares.urls import share_url

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40">'
       '<rect x="1" y="1" width="60" height="20" fill="#abc"/><text x="5" y="15">checkout-api</text></svg>')


def draw(app, graph_id: str, svg: str = SVG, msg: str = "2 nodes", info: dict | None = None,
         status: str = "finished") -> None:
    """Let the analytics worker endpoints store a picture for the graph's queued run."""
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert job["graph_id"] == graph_id
    response = client.post("/analytics/graphs", headers={"Authorization": f"JWT {mint_worker_token(ring, graph_id)}"},
                           json={"run_id": job["run_id"], "status": status, "msg": msg, "svg": svg,
                                 "info": info if info is not None else {"nodes": 2, "edges": 1, "density": 0.5}})
    assert response.status_code == 201, response.text


@dataclass
class Made:
    id: str
    token: str
    url: str
    path: str  # the public view's path with the token, for the test client


def make_link(app, graph, creator, label="For the board", lifetime=timedelta(days=1), **options) -> Made:
    with app.app_context():
        link = create_link(Graph.get_by_public_id(graph.public_id), User.get_by_public_id(creator.public_id),
                           NewLink(label=label, expires_at=utcnow() + lifetime, **options))
        db.session.commit()
        url = share_url(link)
        return Made(link.public_id, share_token_of(link), url, f"/analytics/graphs/public/{graph.public_id}?token={share_token_of(link)}")


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
    db.session.execute(update(GraphRole).where(GraphRole.graph_id == link.graph_id,
                                               GraphRole.user_id == link.creator_id).values(role=int(Role.READ)))


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

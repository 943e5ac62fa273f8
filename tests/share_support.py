"""Helpers for the share link tests: a graph with a picture, and links made through the services."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from maestro_web.extensions import db
from maestro_web.models import Graph, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.security.share_tokens import share_token_of
from maestro_web.shares.services import NewLink, create_link
from maestro_web.shares.urls import share_url

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40">'
       '<rect x="1" y="1" width="60" height="20" fill="#abc"/><text x="5" y="15">checkout-api</text></svg>')


def draw(app, graph_id: str) -> None:
    """Let the analytics worker endpoints store a picture for the graph's queued run."""
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert job["graph_id"] == graph_id
    response = client.post("/analytics/graphs", headers={"Authorization": f"JWT {mint_worker_token(ring, graph_id)}"},
                           json={"run_id": job["run_id"], "status": "finished", "msg": "2 nodes", "svg": SVG,
                                 "info": {"nodes": 2, "edges": 1, "density": 0.5}})
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

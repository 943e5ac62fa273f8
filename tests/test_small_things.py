"""A favicon on every page and at /favicon.ico; a graph's latest run read as one plain sentence."""
from __future__ import annotations

from sqlalchemy import select

from maestro_web.extensions import db
from maestro_web.models import GraphRun
from maestro_web.models.base import utcnow


def test_favicon_is_answered_and_linked_from_every_page(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert b"<svg" in icon.data and "max-age=86400" in icon.headers["Cache-Control"]
    assert client.get("/static/favicon.svg").status_code == 200
    for path in ("/", "/auth/login", "/no-such-page"):
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get(path).text


def test_latest_run_reads_as_one_sentence(app, client, auth, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="a -> b")
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}").text
    assert "Queued <time" in page and "</time>, waiting for a worker" in page
    assert "Ready, queued" not in page and "Queued, queued" not in page
    with app.app_context():
        run = db.session.scalars(select(GraphRun).where(GraphRun.graph_id == graph.id, GraphRun.state == "queued")).one()
        run.state, run.finished_at = "finished", utcnow()
        db.session.commit()
    page = client.get(f"/graphs/{graph.public_id}").text
    assert "<dt>Latest run</dt><dd>Drawn <time" in page and "just now</time></dd>" in page

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
        run = db.session.scalars(
            select(GraphRun).where(GraphRun.graph_id == graph.id, GraphRun.state == "queued")
        ).one()
        run.state, run.finished_at = "finished", utcnow()
        db.session.commit()
    page = client.get(f"/graphs/{graph.public_id}").text
    assert "<dt>Latest run</dt><dd>Drawn <time" in page and "just now</time></dd>" in page


def test_visitors_see_the_description_only_when_the_owner_chooses(app, client, auth, make_user, make_graph):
    from conftest import api_headers
    from share_support import draw, make_link, visit

    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    with app.app_context():
        from maestro_web.models import Graph

        Graph.get_by_public_id(graph.public_id).description = "Where <b>orders</b> go.\nAsk #payments."
        db.session.commit()
    live = make_link(app, graph, owner)
    snapshot = make_link(app, graph, owner, label="Pinned", mode="snapshot")
    shown = "Where &lt;b&gt;orders&lt;/b&gt; go.\nAsk #payments."
    assert all(shown not in visit(app, made).text for made in (live, snapshot))  # off by default

    auth.login(owner.email)
    edit = f"/graphs/{graph.public_id}/edit"
    page = client.get(edit).text
    assert "Show the description to visitors of this graph&#39;s share links" in page
    values = {
        **auth.form_values(edit),
        "name": "Checkout",
        "type": "infra",
        "spec": "web -> api",
        "description": "Where <b>orders</b> go.\nAsk #payments.",
        "show_description": "y",
    }
    assert client.post(edit, data=values).status_code == 302
    assert all(f'<p class="graph-description">{shown}</p>' in visit(app, made).text for made in (live, snapshot))
    assert shown not in client.get(f"/analytics/graphs/{graph.public_id}").text  # the owner's own view: no change

    headers = api_headers(client, owner)
    body = client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"show_description": False}).json
    assert body["show_description"] is False
    assert shown not in visit(app, live).text
    refused = client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"show_description": "yes"})
    assert refused.status_code == 422 and "show_description" in refused.json["fields"]

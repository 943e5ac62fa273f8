"""The status filter of the lists of graphs reads the role rows' copy of each graph's status
(graph_roles.graph_status, migration 0007, models/graph.py): the copy must follow the graph through
every change, so that `?status=` always answers what the graphs say."""

from __future__ import annotations

from conftest import api_headers
from share_support import draw
from sqlalchemy import select

from maestro_web.extensions import db
from maestro_web.graphs.services import grant_role
from maestro_web.models import Graph, GraphRole, Role


def listed(client, headers, status: str) -> list[str]:
    response = client.get(f"/api/graphs?status={status}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json["total"] == len(response.json["items"])  # the bounded count agrees with the page
    return sorted(item["name"] for item in response.json["items"])


def copies(app, graph_id: str) -> set[str | None]:
    with app.app_context():
        return set(db.session.scalars(select(GraphRole.graph_status).join(Graph).where(Graph.public_id == graph_id)))


def test_the_filter_follows_each_graph_through_runs_roles_and_deletion(app, client, make_user, make_graph):
    owner, friend = make_user(), make_user()
    checkout = make_graph(owner, name="Checkout", grants={friend: Role.READ})
    make_graph(owner, name="Billing")
    mine, theirs = api_headers(client, owner), api_headers(client, friend)
    assert listed(client, mine, "process") == ["Billing", "Checkout"]  # new graphs: their first run is queued
    assert listed(client, theirs, "process") == ["Checkout"]

    draw(app, checkout.public_id, status="error")  # the worker's result sets the graph's status
    assert listed(client, mine, "error") == listed(client, theirs, "error") == ["Checkout"]
    assert listed(client, mine, "process") == ["Billing"] and listed(client, theirs, "process") == []

    latecomer = make_user()
    with app.app_context():  # a role granted now copies the status the graph has now
        grant_role(Graph.get_by_public_id(checkout.public_id), latecomer.email, Role.WRITE)
        db.session.commit()
    assert listed(client, api_headers(client, latecomer), "error") == ["Checkout"]

    rerun = client.post(f"/api/graphs/{checkout.public_id}/rerun", headers=mine)
    assert rerun.status_code in (200, 201, 202), rerun.text
    assert listed(client, mine, "error") == [] and listed(client, theirs, "process") == ["Checkout"]
    assert copies(app, checkout.public_id) == {"process"}

    assert client.delete(f"/api/graphs/{checkout.public_id}", headers=mine).status_code in (200, 204)
    assert copies(app, checkout.public_id) == {None}  # a deleted graph is in no status of anyone's list
    assert listed(client, mine, "process") == ["Billing"] and listed(client, theirs, "process") == []


def test_the_page_filter_and_the_api_filter_agree(app, client, auth, make_user, make_graph):
    owner = make_user()
    graphs = [make_graph(owner, name=f"Service {n}") for n in range(4)]
    for graph, status in zip(graphs, ("finished", "warning", "error")):
        draw(app, graph.public_id, status=status)
    headers = api_headers(client, owner)
    auth.login(owner.email)
    for status in ("process", "finished", "warning", "error"):
        names = listed(client, headers, status)
        assert len(names) == 1
        page = client.get(f"/graphs/?status={status}")
        assert page.status_code == 200 and f"{names[0]}<" in page.text  # how a listed name ends in the page
        assert not any(f"{other.name}<" in page.text for other in graphs if other.name != names[0])


def test_the_migration_fills_the_copy_from_the_graphs(app, make_user, make_graph):
    """What 0007's UPDATE does for rows that existed before it, run again on rows emptied by hand."""
    from sqlalchemy import text, update

    owner = make_user()
    kept, gone = make_graph(owner, name="Kept"), make_graph(owner, name="Gone")
    with app.app_context():
        Graph.get_by_public_id(gone.public_id).soft_delete()
        db.session.commit()
        db.session.execute(update(GraphRole).values(graph_status=None))
        db.session.execute(
            text(  # the statement of migrations/versions/0007_role_graph_status.py
                "UPDATE graph_roles SET graph_status = (SELECT CASE WHEN graphs.deleted_at IS NULL THEN graphs.status END"
                " FROM graphs WHERE graphs.id = graph_roles.graph_id)"
            )
        )
        db.session.commit()
    assert copies(app, kept.public_id) == {"process"} and copies(app, gone.public_id) == {None}

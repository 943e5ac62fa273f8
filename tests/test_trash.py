"""Deleting safely: the name typed to confirm, the Trash (restorable by an Admin for MAESTRO_TRASH_DAYS,
links stopped meanwhile), `flask graphs purge` after that; the API's DELETE and restore."""

from __future__ import annotations

from datetime import timedelta

from conftest import AuthActions, api_headers
from share_support import make_link, visit
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRole, GraphRun, ShareLink
from maestro_web.models.base import utcnow


def delete_form(auth, client, graph_id, name):
    page = f"/graphs/{graph_id}/delete"
    return client.post(page, data={**auth.form_values(page), "confirm_name": name})


def age_deletion(app, graph_id, days):
    with app.app_context():
        row = db.session.scalar(select(Graph).where(Graph.public_id == graph_id))
        row.deleted_at = utcnow() - timedelta(days=days)
        db.session.commit()


def test_deleting_asks_for_the_name_and_a_wrong_one_deletes_nothing(app, auth, client, owner, graph):
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}/delete").text
    assert "Type the graph&#39;s name to confirm" in page and "Trash" in page
    for typed in ("", "Checkou", "Payments"):
        refused = delete_form(auth, client, graph.public_id, typed)
        assert refused.status_code == 422 and "Type the name, “Checkout”, to delete the graph." in refused.text
    assert client.get(f"/graphs/{graph.public_id}").status_code == 200
    assert delete_form(auth, client, graph.public_id, "  checkout ").status_code == 302  # case and spaces forgiven
    assert client.get(f"/graphs/{graph.public_id}").status_code == 404


def test_trash_lists_the_admins_deleted_graphs_and_restore_brings_links_back(
    app, auth, client, owner, writer, reader, graph
):
    live = make_link(app, graph, owner, label="Live one")
    revoked = make_link(app, graph, owner, label="Revoked meanwhile")
    assert visit(app, live).status_code == 200
    auth.login(owner.email)
    assert delete_form(auth, client, graph.public_id, "Checkout").status_code == 302
    assert visit(app, live).status_code == 404  # stopped while deleted
    with app.app_context():
        ShareLink.get_by_public_id(revoked.id).revoke()
        db.session.commit()

    trash = client.get("/graphs/trash")
    assert trash.status_code == 200 and "Checkout" in trash.text and "Restore" in trash.text
    assert "/graphs/trash" in client.get("/graphs/").text

    for user in (writer, reader):  # not Admins: not listed, may not restore
        other = app.test_client()
        AuthActions(other).login(user.email)
        assert "Checkout" not in other.get("/graphs/trash").text
        page = other.get("/graphs/trash")
        values = AuthActions(other).form_values("/graphs/trash")
        assert page.status_code == 200
        assert other.post(f"/graphs/{graph.public_id}/restore", data=values).status_code == 403

    values = auth.form_values("/graphs/trash")
    restored = client.post(f"/graphs/{graph.public_id}/restore", data=values)
    assert restored.status_code == 302 and restored.headers["Location"].endswith(f"/graphs/{graph.public_id}")
    assert "restored" in client.get(restored.headers["Location"]).text
    assert visit(app, live).status_code == 200  # works again
    assert visit(app, revoked).status_code == 410  # revoked meanwhile: stays revoked
    assert "Checkout" not in client.get("/graphs/trash").text
    assert client.post(f"/graphs/{graph.public_id}/restore", data=values).status_code == 404  # not in the Trash


def test_a_graph_deleted_while_queued_is_queued_again_on_restore(app, auth, client, owner, make_graph):
    queued = make_graph(owner, name="Pending")
    auth.login(owner.email)
    assert delete_form(auth, client, queued.public_id, "Pending").status_code == 302
    client.post(f"/graphs/{queued.public_id}/restore", data=auth.form_values("/graphs/trash"))
    with app.app_context():
        states = list(
            db.session.scalars(select(GraphRun.state).where(GraphRun.graph_id == queued.id).order_by(GraphRun.id))
        )
    assert states == ["superseded", "queued"]


def test_after_the_trash_period_the_graph_is_gone_and_purge_removes_it_and_its_rows(
    app, auth, client, runner, owner, graph, make_graph
):
    make_link(app, graph, owner)
    kept = make_graph(owner, name="Recently deleted")
    auth.login(owner.email)
    assert delete_form(auth, client, graph.public_id, "Checkout").status_code == 302
    assert delete_form(auth, client, kept.public_id, "Recently deleted").status_code == 302
    age_deletion(app, graph.public_id, days=8)
    age_deletion(app, kept.public_id, days=6)
    trash = client.get("/graphs/trash").text
    assert "Checkout" not in trash and "Recently deleted" in trash
    assert client.post(f"/graphs/{graph.public_id}/restore", data=auth.form_values("/graphs/trash")).status_code == 404

    result = runner.invoke(args=["graphs", "purge"])
    assert result.exit_code == 0 and "Removed 1 graph(s)" in result.output
    with app.app_context():
        assert db.session.scalar(select(Graph.name).where(Graph.public_id == graph.public_id)) is None
        for model in (GraphRole, GraphRun, GraphResult, ShareLink):
            assert db.session.scalar(select(func.count()).select_from(model).where(model.graph_id == graph.id)) == 0
        assert db.session.scalar(select(Graph.name).where(Graph.public_id == kept.public_id)) == "Recently deleted"
    assert "Removed 1 graph(s)" in runner.invoke(args=["graphs", "purge", "--older-than", "5"]).output


def test_api_delete_keeps_its_codes_and_restore_answers_the_graph(app, client, owner, writer, graph):
    headers = api_headers(client, owner)
    assert client.post(f"/api/graphs/{graph.public_id}/restore", headers=headers).status_code == 404  # not deleted
    assert client.delete(f"/api/graphs/{graph.public_id}", headers=api_headers(client, writer)).status_code == 403
    assert client.delete(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 204
    assert client.delete(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 404
    assert client.post(f"/api/graphs/{graph.public_id}/restore", headers=api_headers(client, writer)).status_code == 403
    restored = client.post(f"/api/graphs/{graph.public_id}/restore", headers=headers)
    assert restored.status_code == 200 and restored.json["id"] == graph.public_id and restored.json["role"] == "admin"
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 200

"""Graph pages and roles (SPEC §4): who may see and change what, runs, the private view."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.limits import MAX_PAGE, MAX_SEARCH_LENGTH
from maestro_web.models import Graph, GraphRun, Role


def runs_of(app, graph) -> list[GraphRun]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(GraphRun).join(Graph).where(Graph.public_id == graph.public_id).order_by(GraphRun.id)
            )
        )


def load(app, graph) -> Graph:
    with app.app_context():
        found = db.session.scalar(select(Graph).where(Graph.public_id == graph.public_id))
        db.session.expunge(found)
        return found


def post_form(auth, client, page_path, action_path, **fields):
    return client.post(action_path, data={**auth.form_values(page_path), **fields})


@pytest.fixture
def owner(owner, auth):
    """conftest's owner, logged in."""
    auth.login(owner.email)
    return owner


def test_create_graph_queues_one_run_and_owner_is_admin(app, auth, client, owner):
    response = post_form(
        auth,
        client,
        "/graphs/new",
        "/graphs/new",
        name="Checkout",
        type="infra",
        description="Shop",
        spec="web -> api\napi -> db [kind=database]",
    )
    assert response.status_code == 302
    graph_id = response.headers["Location"].rsplit("/", 1)[-1]
    with app.app_context():
        graph = Graph.get_by_public_id(graph_id)
        assert graph.name == "Checkout" and graph.status == "process"
        assert graph.role_of(graph.owner) == Role.ADMIN
        assert [run.state for run in db.session.scalars(select(GraphRun).where(GraphRun.graph_id == graph.id))] == [
            "queued"
        ]
    assert len(graph_id) >= 20  # random, not a counter


def test_spec_error_shows_line_and_keeps_text_and_saves_nothing(app, auth, client, owner):
    spec = "web -> api\napi ->\n"
    response = post_form(auth, client, "/graphs/new", "/graphs/new", name="Broken", type="infra", spec=spec)
    assert response.status_code == 422
    assert "line 2" in response.text
    assert "web -&gt; api\napi -&gt;" in response.text
    assert 'value="Broken"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Graph.id))) == 0


def test_too_many_nodes_is_refused_with_nothing_saved(app, auth, client, owner):
    spec = "\n".join(f"node{i}" for i in range(2001))
    response = post_form(auth, client, "/graphs/new", "/graphs/new", name="Huge", type="infra", spec=spec)
    assert response.status_code == 422
    assert "too many nodes" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Graph.id))) == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": ""}, "Give the graph a name."),
        ({"name": "x" * 121}, "At most 120 characters."),
        ({"type": "bogus"}, "Choose business (or Maestro&#39;s spelling, bussiness) or infra."),
        ({"spec": "  # only a comment"}, "Add at least one line"),
        ({"spec": "checkout => payments"}, "line 1: found &#39;=&gt;&#39;: did you mean &#39;-&gt;&#39;?"),
    ],
)
def test_bad_graph_fields_are_named(app, auth, client, owner, fields, message):
    data = {"name": "Ok", "type": "infra", "spec": "", **fields}
    response = post_form(auth, client, "/graphs/new", "/graphs/new", **data)
    assert response.status_code == 422
    assert message in response.text


def test_business_typed_the_usual_way_is_stored_in_maestros_spelling(app, auth, client, owner):
    response = post_form(auth, client, "/graphs/new", "/graphs/new", name="Shop", type="business", spec="web -> api")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Graph.type)) == "bussiness"


def test_a_second_graph_of_the_same_name_is_created_with_a_warning(app, auth, client, owner, make_graph):
    make_graph(owner, name="Shop")
    response = post_form(auth, client, "/graphs/new", "/graphs/new", name=" shop ", type="infra", spec="a")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Graph created" in page and "You now have 2 graphs named “shop”" in page


def test_changed_spec_queues_exactly_one_new_run_unchanged_does_not(app, auth, client, owner, make_graph):
    graph = make_graph(owner, spec="a -> b")
    path = f"/graphs/{graph.public_id}/edit"
    assert post_form(auth, client, path, path, name="Renamed", type="infra", spec="a -> b").status_code == 302
    assert [r.state for r in runs_of(app, graph)] == ["queued"]
    assert load(app, graph).name == "Renamed"
    assert post_form(auth, client, path, path, name="Renamed", type="infra", spec="a -> b\nb -> c").status_code == 302
    assert [r.state for r in runs_of(app, graph)] == ["superseded", "queued"]
    assert load(app, graph).status == "process"


def test_rerun_queues_a_new_run(app, auth, client, owner, make_graph):
    graph = make_graph(owner)
    response = post_form(auth, client, f"/graphs/{graph.public_id}", f"/graphs/{graph.public_id}/rerun")
    assert response.status_code == 302
    assert [r.state for r in runs_of(app, graph)] == ["superseded", "queued"]


def test_list_is_newest_first_with_search_filter_and_pagination(app, client, owner, make_graph, make_user):
    stranger = make_user(email="stranger@example.com")
    make_graph(stranger, name="Not mine")
    for i in range(23):
        make_graph(owner, name=f"Graph {i:02d}" + (" special" if i == 5 else ""))
    page1 = client.get("/graphs/")
    assert page1.status_code == 200
    assert page1.text.index("Graph 22") < page1.text.index("Graph 21")
    assert "Not mine" not in page1.text
    assert "Page 1 of 2" in page1.text and "23 graphs" in page1.text
    page2 = client.get("/graphs/?page=2")
    assert "Graph 00" in page2.text and "Graph 22" not in page2.text
    search = client.get("/graphs/?q=SPECIAL")
    assert "Graph 05 special" in search.text and "Graph 06" not in search.text
    # Every new graph waits for the worker: the filter keeps them all for "process", none for "finished".
    processing = client.get("/graphs/?status=process").text
    assert "Graph 22" in processing and "23 graphs" in processing
    finished = client.get("/graphs/?status=finished").text
    assert "Graph 22" not in finished and "Graph 00" not in finished
    assert client.get("/graphs/?status=bogus").status_code == 400
    assert client.get("/graphs/?q=100%25_").status_code == 200
    # A search is cut at the one limit of searches (limits.MAX_SEARCH_LENGTH, the API's too), never refused here.
    long_search = client.get("/graphs/?q=" + "y" * (MAX_SEARCH_LENGTH + 50))
    assert long_search.status_code == 200
    assert f'value="{"y" * MAX_SEARCH_LENGTH}"' in long_search.text
    assert client.get("/graphs/?page=" + str(MAX_PAGE + 1)).status_code == 400


def test_another_users_graph_is_404_everywhere(app, auth, client, owner, make_user, make_graph):
    stranger = make_user(email="stranger@example.com")
    graph = make_graph(stranger, name="Secret graph")
    gid = graph.public_id
    for path in (
        f"/graphs/{gid}",
        f"/graphs/{gid}/edit",
        f"/graphs/{gid}/access",
        f"/graphs/{gid}/delete",
        f"/analytics/graphs/{gid}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Secret graph" not in response.text
    values = auth.form_values("/graphs/")
    for path in (f"/graphs/{gid}/edit", f"/graphs/{gid}/rerun", f"/graphs/{gid}/delete", f"/graphs/{gid}/access"):
        assert (
            client.post(
                path, data={**values, "name": "x", "type": "infra", "email": "owner@example.com", "role": "7"}
            ).status_code
            == 404
        ), path
    assert load(app, graph).name == "Secret graph" and load(app, graph).deleted_at is None
    assert client.get("/graphs/does-not-exist").status_code == 404


def test_read_user_sees_but_cannot_change(app, auth, client, make_user, make_graph):
    admin = make_user(email="admin@example.com")
    reader = make_user(email="reader@example.com")
    graph = make_graph(admin, name="Shared", grants={reader: Role.READ})
    auth.login(reader.email)
    gid = graph.public_id
    detail = client.get(f"/graphs/{gid}")
    assert detail.status_code == 200 and "Shared" in detail.text
    assert f"/graphs/{gid}/edit" not in detail.text  # no edit button for Read
    assert client.get(f"/analytics/graphs/{gid}").status_code == 200
    assert client.get(f"/graphs/{gid}/edit").status_code == 403
    values = auth.form_values(f"/graphs/{gid}")
    assert (
        client.post(f"/graphs/{gid}/edit", data={**values, "name": "Hacked", "type": "infra", "spec": ""}).status_code
        == 403
    )
    assert client.post(f"/graphs/{gid}/rerun", data=values).status_code == 403
    assert client.post(f"/graphs/{gid}/delete", data=values).status_code == 403
    assert load(app, graph).name == "Shared"


def test_write_user_edits_but_cannot_delete_or_manage_roles(app, auth, client, make_user, make_graph):
    admin = make_user(email="admin@example.com")
    writer = make_user(email="writer@example.com")
    graph = make_graph(admin, name="Shared", grants={writer: Role.WRITE})
    auth.login(writer.email)
    gid = graph.public_id
    values = auth.form_values(f"/graphs/{gid}/edit")
    assert (
        client.post(f"/graphs/{gid}/edit", data={**values, "name": "Edited", "type": "infra", "spec": "x"}).status_code
        == 302
    )
    assert client.post(f"/graphs/{gid}/delete", data=values).status_code == 403
    assert client.get(f"/graphs/{gid}/delete").status_code == 403
    response = client.post(f"/graphs/{gid}/access", data={**values, "email": "writer@example.com", "role": "7"})
    assert response.status_code == 403
    assert client.post(f"/graphs/{gid}/access/{admin.public_id}/remove", data=values).status_code == 403
    with app.app_context():
        g = Graph.get_by_public_id(gid)
        assert g.name == "Edited" and g.role_of(writer) == Role.WRITE


def test_admin_grants_changes_and_removes_roles(app, auth, client, owner, make_user, make_graph):
    friend = make_user(email="friend@example.com")
    graph = make_graph(owner)
    gid = graph.public_id
    path = f"/graphs/{gid}/access"
    assert post_form(auth, client, path, path, email="FRIEND@example.com", role="1").status_code == 302
    with app.app_context():
        assert Graph.get_by_public_id(gid).role_of(friend) == Role.READ
    assert post_form(auth, client, path, path, email="friend@example.com", role="3").status_code == 302
    with app.app_context():
        assert Graph.get_by_public_id(gid).role_of(friend) == Role.WRITE
    response = post_form(auth, client, path, path, email="nobody@example.com", role="1")
    assert response.status_code == 302  # an address without an account is invited (tests/test_invitations.py)
    assert "nobody@example.com has no account yet: an invitation" in client.get(path).text
    response = post_form(auth, client, path, path, email="not an address", role="1")
    assert response.status_code == 422 and "valid e-mail address" in response.text
    assert post_form(auth, client, path, f"{path}/{friend.public_id}/remove").status_code == 302
    with app.app_context():
        assert Graph.get_by_public_id(gid).role_of(friend) is None


def test_last_admin_cannot_be_removed_or_downgraded(app, auth, client, owner, make_graph):
    graph = make_graph(owner)
    gid = graph.public_id
    path = f"/graphs/{gid}/access"
    response = post_form(auth, client, path, f"{path}/{owner.public_id}/remove")
    assert response.status_code == 409 and "last Admin" in response.text
    response = post_form(auth, client, path, path, email=owner.email, role="1")
    assert response.status_code == 422 and "last Admin" in response.text
    with app.app_context():
        assert Graph.get_by_public_id(gid).role_of(owner) == Role.ADMIN


def test_delete_asks_then_soft_deletes(app, auth, client, owner, make_graph):
    graph = make_graph(owner, name="Doomed")
    gid = graph.public_id
    confirm = client.get(f"/graphs/{gid}/delete")
    assert confirm.status_code == 200 and "Delete “Doomed”?" in confirm.text
    assert (
        post_form(auth, client, f"/graphs/{gid}/delete", f"/graphs/{gid}/delete", confirm_name="Doomed").status_code
        == 302
    )
    assert client.get(f"/graphs/{gid}").status_code == 404
    assert "Doomed" not in client.get("/graphs/").text
    found = load(app, graph)
    assert found.deleted_at is not None  # the row stays
    assert [r.state for r in runs_of(app, graph)] == ["superseded"]


def test_private_view_shows_waiting_status_and_no_token_in_url(client, owner, make_graph):
    graph = make_graph(owner, name="Pending")
    response = client.get(f"/analytics/graphs/{graph.public_id}")
    assert response.status_code == 200
    assert "Pending" in response.text and response.text.count("Waiting for the analytics worker") == 1
    assert "token=" not in response.text


def test_private_view_needs_a_session(client, make_user, make_graph):
    graph = make_graph(make_user())
    response = client.get(f"/analytics/graphs/{graph.public_id}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_private_view_shows_the_error_of_a_failed_analysis(app, client, owner, make_graph):
    graph = make_graph(owner, name="Broken")
    with app.app_context():
        row = Graph.get_by_public_id(graph.public_id)
        row.status, row.message = "error", "The worker could not parse node 'db'."
        db.session.commit()
    response = client.get(f"/analytics/graphs/{graph.public_id}")
    assert response.status_code == 200
    assert "The analysis failed." in response.text
    assert "The worker could not parse node &#39;db&#39;." in response.text


def test_private_view_takes_only_the_session_cookie(app, make_user, make_graph):
    """Neither a share token in the URL nor an API token in a header opens the private view."""
    from conftest import api_headers
    from share_support import make_link

    user = make_user()
    graph = make_graph(user)
    share = make_link(app, graph, user)
    visitor = app.test_client()
    for response in (
        visitor.get(f"/analytics/graphs/{graph.public_id}", query_string={"token": share.token}),
        visitor.get(f"/analytics/graphs/{graph.public_id}", headers=api_headers(app.test_client(), user)),
    ):
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]

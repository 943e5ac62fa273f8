"""/api/graphs: same rules as the pages, JSON errors with field messages."""

from __future__ import annotations

from conftest import api_headers
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRun


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def test_create_returns_201_with_the_graph(app, client, headers):
    response = client.post(
        "/api/graphs", headers=headers, json={"name": "Shop", "type": "bussiness", "spec": "web -> api"}
    )
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Shop" and body["type"] == "bussiness" and body["status"] == "process"
    assert body["role"] == "admin" and body["run"]["state"] == "queued"
    assert response.headers["Location"].endswith(f"/api/graphs/{body['id']}")
    assert client.get(f"/api/graphs/{body['id']}", headers=headers).json["spec"] == "web -> api"


def test_business_is_taken_for_maestros_bussiness_and_a_bad_type_names_both(app, client, headers):
    response = client.post("/api/graphs", headers=headers, json={"name": "Shop", "type": "business"})
    assert response.status_code == 201 and response.json["type"] == "bussiness"
    graph_id = response.json["id"]
    patched = client.patch(f"/api/graphs/{graph_id}", headers=headers, json={"type": "infra"})
    assert patched.json["type"] == "infra"
    assert (
        client.patch(f"/api/graphs/{graph_id}", headers=headers, json={"type": "business"}).json["type"] == "bussiness"
    )
    refused = client.post("/api/graphs", headers=headers, json={"name": "Shop", "type": "busines"})
    assert refused.status_code == 422
    assert "business" in refused.json["fields"]["type"] and "bussiness" in refused.json["fields"]["type"]


def test_create_spec_error_is_422_with_the_line(app, client, headers):
    response = client.post("/api/graphs", headers=headers, json={"name": "Bad", "spec": "a -> b\n\n-> c"})
    assert response.status_code == 422
    assert response.json["error"] == "validation_error"
    assert response.json["spec_lines"] == [3]
    assert any("line 3" in message for message in response.json["fields"]["spec"])
    assert count(app, Graph) == 0


def test_create_limits_and_types(app, client, headers):
    too_many = "\n".join(f"n{i}" for i in range(2001))
    response = client.post("/api/graphs", headers=headers, json={"name": "Huge", "spec": too_many})
    assert response.status_code == 422 and "too many nodes" in " ".join(response.json["fields"]["spec"])
    response = client.post("/api/graphs", headers=headers, json={"name": 5, "spec": ["x"]})
    assert response.status_code == 422 and set(response.json["fields"]) == {"name", "spec"}
    response = client.post("/api/graphs", headers=headers, json={"name": "", "type": "weird"})
    assert response.status_code == 422 and set(response.json["fields"]) == {"name", "type"}
    response = client.post("/api/graphs", headers=headers, json={"name": "x", "owner": "me"})
    assert response.status_code == 422 and response.json["fields"] == {"owner": "Unknown field."}
    assert count(app, Graph) == 0


def test_patch_spec_queues_one_run_unchanged_does_not(app, client, headers, owner, make_graph):
    graph = make_graph(owner, spec="a -> b")
    response = client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"name": "Renamed"})
    assert response.status_code == 200 and response.json["name"] == "Renamed" and response.json["spec"] == "a -> b"
    assert count(app, GraphRun) == 1
    response = client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"spec": "a -> c"})
    assert response.status_code == 200 and response.json["status"] == "process"
    assert count(app, GraphRun) == 2
    response = client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"spec": "a ->"})
    assert response.status_code == 422
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).json["spec"] == "a -> c"


def test_list_paginates_newest_first(client, headers, owner, make_graph):
    for i in range(5):
        make_graph(owner, name=f"G{i}")
    body = client.get("/api/graphs?per_page=2", headers=headers).json
    assert body["total"] == 5 and [g["name"] for g in body["items"]] == ["G4", "G3"]
    body = client.get("/api/graphs?per_page=2&page=3", headers=headers).json
    assert [g["name"] for g in body["items"]] == ["G0"]
    assert client.get("/api/graphs?per_page=1000", headers=headers).status_code == 400
    assert client.get("/api/graphs?q=G3", headers=headers).json["total"] == 1


def test_another_users_graph_is_404_on_every_route(app, client, headers, make_user, make_graph):
    stranger = make_user(email="stranger@example.com")
    gid = make_graph(stranger, name="Secret").public_id
    calls = [
        ("get", f"/api/graphs/{gid}", None),
        ("patch", f"/api/graphs/{gid}", {"name": "x"}),
        ("delete", f"/api/graphs/{gid}", None),
        ("post", f"/api/graphs/{gid}/rerun", None),
        ("get", f"/api/graphs/{gid}/roles", None),
        ("put", f"/api/graphs/{gid}/roles", {"email": "owner@example.com", "role": "admin"}),
        ("delete", f"/api/graphs/{gid}/roles/{stranger.public_id}", None),
    ]
    for method, path, body in calls:
        response = getattr(client, method)(path, headers=headers, json=body)
        assert response.status_code == 404, (method, path)
        assert "Secret" not in response.get_data(as_text=True)
    assert client.get("/api/graphs", headers=headers).json["total"] == 0


def test_roles_over_the_api(app, client, headers, owner, make_user, make_graph):
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner)
    gid = graph.public_id
    response = client.put(
        f"/api/graphs/{gid}/roles", headers=headers, json={"email": "reader@example.com", "role": "read"}
    )
    assert response.status_code == 200 and response.json["role"] == "read"
    reader_headers = api_headers(client, reader)
    assert client.get(f"/api/graphs/{gid}", headers=reader_headers).json["role"] == "read"
    assert client.patch(f"/api/graphs/{gid}", headers=reader_headers, json={"name": "x"}).status_code == 403
    assert client.post(f"/api/graphs/{gid}/rerun", headers=reader_headers).status_code == 403
    response = client.put(f"/api/graphs/{gid}/roles", headers=headers, json={"email": "reader@example.com", "role": 3})
    assert response.json["level"] == 3
    assert client.post(f"/api/graphs/{gid}/rerun", headers=reader_headers).status_code == 202
    assert client.delete(f"/api/graphs/{gid}", headers=reader_headers).status_code == 403
    assert (
        client.put(
            f"/api/graphs/{gid}/roles", headers=reader_headers, json={"email": "reader@example.com", "role": 7}
        ).status_code
        == 403
    )
    response = client.put(f"/api/graphs/{gid}/roles", headers=headers, json={"email": "ghost@example.com", "role": 1})
    assert response.status_code == 202 and response.json["invited"] is True  # tests/test_invitations.py
    response = client.put(f"/api/graphs/{gid}/roles", headers=headers, json={"email": "ghost@", "role": 1})
    assert response.status_code == 422 and "email" in response.json["fields"]
    response = client.put(
        f"/api/graphs/{gid}/roles", headers=headers, json={"email": "reader@example.com", "role": "owner"}
    )
    assert response.status_code == 422 and "role" in response.json["fields"]
    response = client.delete(f"/api/graphs/{gid}/roles/{owner.public_id}", headers=headers)
    assert response.status_code == 409 and "last Admin" in response.json["message"]
    assert client.delete(f"/api/graphs/{gid}/roles/{reader.public_id}", headers=headers).status_code == 204
    assert client.get(f"/api/graphs/{gid}", headers=reader_headers).status_code == 404


def test_delete_is_soft_and_hides_the_graph(app, client, headers, owner, make_graph):
    graph = make_graph(owner)
    assert client.delete(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 204
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 404
    assert count(app, Graph) == 1


def test_graph_api_needs_a_token(client, owner, make_graph):
    graph = make_graph(owner)
    assert client.get(f"/api/graphs/{graph.public_id}").status_code == 401
    assert client.get("/api/graphs").json["error"] == "unauthorized"

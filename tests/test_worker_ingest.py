"""Result ingest (SPEC §5): size, XML safety, validation, stale runs, idempotency, the picture."""

from __future__ import annotations

import re
import socket

import pytest
from conftest import ENGINE
from sqlalchemy import event, func, select, text
from worker_support import post_result

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRun
from maestro_web.security.worker_tokens import mint_worker_token

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40" width="100" height="40">'
    '<rect x="1" y="1" width="60" height="20" fill="#abc"/><text x="5" y="15">api</text></svg>'
)


@pytest.fixture
def ring(app):
    return app.config["KEY_RINGS"]["analytics"]


@pytest.fixture
def job(client, ring, owner, make_graph):
    graph = make_graph(owner, name="Shop", spec="web -> api\napi -> db [kind=database]")
    response = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"})
    assert response.status_code == 200
    body = response.json
    assert body["graph_id"] == graph.public_id and body["type"] == "infra"
    assert body["spec"]["edges"] == [{"source": "web", "target": "api"}, {"source": "api", "target": "db"}]
    return body


def post(client, ring, graph_id, **kwargs):
    return post_result(client, ring, graph_id, **kwargs)


def graph_row(app, graph_id) -> Graph:
    with app.app_context():
        graph = db.session.scalar(select(Graph).where(Graph.public_id == graph_id))
        db.session.expunge(graph)
        return graph


def result_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(GraphResult.id)))


def test_json_result_is_stored_and_shown(app, client, auth, ring, owner, job):
    response = post(
        client,
        ring,
        job["graph_id"],
        json={
            "run_id": job["run_id"],
            "status": "finished",
            "msg": "3 nodes",
            "svg": SVG,
            "total": 3,
            "info": {"nodes": 3, "edges": 2},
        },
    )
    assert response.status_code == 201
    assert response.json["status"] == "finished" and response.json["run_id"] == job["run_id"]
    graph = graph_row(app, job["graph_id"])
    assert graph.status == "finished" and graph.message == "3 nodes" and graph.info["nodes"] == 3
    auth.login(owner.email)
    page = client.get(f"/analytics/graphs/{job['graph_id']}")
    assert page.status_code == 200
    assert "<svg" in page.text and ">api</text>" in page.text and "as of" in page.text
    assert "Nodes" in page.text


def test_maestro_form_fields_are_accepted(app, client, ring, job):
    response = post(client, ring, job["graph_id"], data={"run_id": job["run_id"], "payload": SVG, "total": "7"})
    assert response.status_code == 201
    assert response.json["total"] == 7 and response.json["status"] == "finished"


def test_repeat_of_the_same_run_is_idempotent(app, client, ring, job):
    body = {"run_id": job["run_id"], "status": "finished", "svg": SVG}
    assert post(client, ring, job["graph_id"], json=body).status_code == 201
    again = post(client, ring, job["graph_id"], json={**body, "msg": "different"})
    assert again.status_code == 200 and again.json["msg"] == ""
    assert result_count(app) == 1


def test_stale_run_is_409_and_the_newer_result_is_kept(app, client, auth, ring, owner, job):
    auth.login(owner.email)
    values = auth.form_values(f"/graphs/{job['graph_id']}")
    assert client.post(f"/graphs/{job['graph_id']}/rerun", data=values).status_code == 302
    newer = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert newer["run_id"] != job["run_id"]
    assert (
        post(
            client,
            ring,
            job["graph_id"],
            json={"run_id": newer["run_id"], "status": "finished", "msg": "new", "svg": SVG},
        ).status_code
        == 201
    )
    stale = post(
        client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "finished", "msg": "old", "svg": SVG}
    )
    assert stale.status_code == 409
    assert graph_row(app, job["graph_id"]).message == "new"
    assert (
        post(
            client, ring, job["graph_id"], json={"run_id": "never-issued", "status": "finished", "svg": SVG}
        ).status_code
        == 409
    )


def test_unknown_or_deleted_graph_is_404(app, client, ring, job):
    assert post(client, ring, "no-such-graph", json={"run_id": job["run_id"], "svg": SVG}).status_code == 404
    with app.app_context():
        graph = Graph.get_by_public_id(job["graph_id"])
        graph.soft_delete()
        db.session.commit()
    assert post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "svg": SVG}).status_code == 404
    assert result_count(app) == 0


def test_oversize_body_is_413_before_reading(app, client, ring, job, live_server):
    """Over a real socket: announce 6 MiB, send none of it; the answer comes without waiting for it.

    A server that read (or waited for) the body would block here until the timeout.
    """
    token = mint_worker_token(ring, job["graph_id"])
    head = (
        f"POST /analytics/graphs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: JWT {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {6 * 1024 * 1024}\r\n\r\n"
    )
    port = int(live_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.encode())
        conn.sendall(b'{"run_id": ')  # a few bytes of the body, then nothing more
        answer = b""
        while b"payload_too_large" not in answer:
            chunk = conn.recv(65536)  # socket.timeout here would mean the server waits for the body
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error":"payload_too_large"' in answer.replace(b" ", b"")
    assert result_count(app) == 0


@pytest.mark.app_settings(MAESTRO_INGEST_MAX_BYTES=2048)
def test_ingest_limit_is_configurable(app, client, ring, job):
    svg = SVG.replace("</svg>", "<desc>" + "d" * 3000 + "</desc></svg>")
    assert post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "svg": svg}).status_code == 413


@pytest.mark.parametrize(
    "svg, field_message",
    [
        ("this is not xml", "not well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
            '<svg xmlns="http://www.w3.org/2000/svg">&lol2;</svg>',
            "DOCTYPE",
        ),
        ('<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "root element must be <svg>"),
    ],
)
def test_bad_svg_is_422_naming_the_field(app, client, ring, job, svg, field_message):
    response = post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "finished", "svg": svg})
    assert response.status_code == 422
    assert field_message in response.json["fields"]["svg"]
    assert result_count(app) == 0
    assert graph_row(app, job["graph_id"]).status == "process"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "finished"}, "run_id"),
        ({"status": "done"}, "status"),
        ({"total": -1}, "total"),
        ({"total": "many"}, "total"),
        ({"info": [1, 2]}, "info"),
        ({"msg": 5}, "msg"),
        ({"svg": None, "status": "finished"}, "svg"),
    ],
)
def test_validation_errors_name_the_field(app, client, ring, job, body, field):
    payload = {"run_id": job["run_id"], "status": "finished", "svg": SVG, **body}
    if body.get("status") == "finished" and "run_id" not in body and field == "run_id":
        payload.pop("run_id")
    payload = {k: v for k, v in payload.items() if v is not None}
    response = post(client, ring, job["graph_id"], json=payload)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert set(response.json) == {"error", "message", "fields"}


def test_error_status_needs_no_svg(app, client, ring, job):
    response = post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "error", "msg": "boom"})
    assert response.status_code == 201
    graph = graph_row(app, job["graph_id"])
    assert graph.status == "error" and graph.message == "boom"
    with app.app_context():
        assert db.session.scalar(select(GraphRun.state).where(GraphRun.public_id == job["run_id"])) == "failed"


HOSTILE = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">'
    "<script>alert(2)</script>"
    '<foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>'
    '<a xlink:href="javascript:alert(3)"><rect width="5" height="5"/></a>'
    '<use href="https://evil.example/sprite.svg#x"/>'
    '<rect width="9" height="9" onclick="alert(4)" style="fill:url(https://evil.example/x)"/>'
    '<text x="1" y="9">safe label</text></svg>'
)


def test_hostile_svg_is_stored_sanitised_and_nothing_executable_reaches_the_page(app, client, auth, ring, owner, job):
    response = post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "finished", "svg": HOSTILE})
    assert response.status_code == 201
    auth.login(owner.email)
    page = client.get(f"/analytics/graphs/{job['graph_id']}")
    html = page.text.lower()
    assert "safe label" in html
    for bad in ("alert(", "<script>alert", "onload=", "onclick=", "foreignobject", "javascript:", "evil.example"):
        assert bad not in html, bad
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    raw = client.get(f"/analytics/graphs/{job['graph_id']}/svg")
    assert raw.status_code == 200
    assert raw.mimetype == "image/svg+xml"
    assert raw.headers["Content-Security-Policy"].startswith("sandbox")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in raw.text.lower() and "onload" not in raw.text.lower()


def test_history_keeps_the_newest_five(app, client, ring, owner, make_graph):
    graph = make_graph(owner)
    for i in range(7):
        with app.app_context():
            g = Graph.get_by_public_id(graph.public_id)
            if i:
                g.queue_run()
                db.session.commit()
        job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
        assert (
            post(client, ring, graph.public_id, json={"run_id": job["run_id"], "msg": f"r{i}", "svg": SVG}).status_code
            == 201
        )
    with app.app_context():
        messages = list(db.session.scalars(select(GraphResult.message).order_by(GraphResult.id)))
    assert messages == ["r2", "r3", "r4", "r5", "r6"]


def test_a_new_result_costs_seven_statements_and_nothing_after_the_commit(app, client, ring, job):
    """On PostgreSQL each statement is a round trip inside the ingest transaction.
    The run, whether it has a result and whether a newer run replaced it are one SELECT; the answer
    is read before the commit, so nothing (above all not the ~100 KB SVG) is read back after it."""
    seen: list[str] = []

    def listener(conn, cursor, statement, *args) -> None:
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement)
        seen.append(f"{statement.split()[0]} {table.group(1) if table else '?'}")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "finished", "svg": SVG})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 201 and response.json["run_id"] == job["run_id"]
    with app.app_context():
        stored = db.session.scalar(select(GraphResult))
        assert response.json["svg_bytes"] == len(stored.svg.encode())
        assert response.json["created_at"] == stored.created_at.isoformat()
    # UPDATE graph_roles: the role rows' copy of the graph's status (migration 0007), for the lists.
    assert seen == [
        "SELECT graphs",
        "SELECT graph_runs",
        "UPDATE graphs",
        "UPDATE graph_roles",
        "UPDATE graph_runs",
        "INSERT graph_results",
        "DELETE graph_results",
    ]


def test_stored_pictures_are_lz4_compressed_on_postgresql(app, client, ring, job):
    """Migration 0008: PostgreSQL compresses a picture with lz4 (5× less CPU than pglz, its default)."""
    if ENGINE != "postgresql":
        pytest.skip("SQLite does not compress; the migration does nothing there")
    with app.app_context():
        methods = db.session.scalar(text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"))
    if methods is None or "lz4" not in methods:
        pytest.skip("this PostgreSQL was built without lz4; the migration does nothing there")
    rows = "".join(f'<rect x="{i}" y="{i % 40}" width="10" height="5" fill="#abc"/>' for i in range(400))
    svg = SVG.replace("<text", rows + "<text")
    assert (
        post(
            client, ring, job["graph_id"], json={"run_id": job["run_id"], "status": "finished", "svg": svg}
        ).status_code
        == 201
    )
    with app.app_context():
        method, stored = db.session.execute(text("SELECT pg_column_compression(svg), svg FROM graph_results")).one()
    assert method == "lz4" and "<rect" in stored

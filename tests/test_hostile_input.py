"""Hostile input never makes a 500, on SQLite and on PostgreSQL.

Each input below answered 500 on main before this change (S = SQLite, P = PostgreSQL). Each now
gets 400, 413 or 422 naming the field, and nothing is half-done: no row written, no token revoked.
"""

from __future__ import annotations

import json
import logging

import pytest
from conftest import ENGINE, PASSWORD, form_csrf
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError
from worker_support import post_result

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, RevokedToken, ShareLink, User
from maestro_web.security.worker_tokens import mint_worker_token

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="5" height="5"/></svg>'
DEEP_ARRAY = "[" * 1000 + "]" * 1000  # 2 KB


def deep(member: str, levels: int) -> str:
    """A JSON object whose `member` holds `levels` nested arrays."""
    return '{"%s": %s%s}' % (member, "[" * levels, "]" * levels)


def count(app: Flask, column) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(column))) or 0


@pytest.fixture
def graph(owner, make_graph):
    return make_graph(owner, name="Shop", spec="web -> api")


@pytest.fixture
def ring(app):
    return app.config["KEY_RINGS"]["analytics"]


@pytest.fixture
def job(client, ring, graph):
    response = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"})
    assert response.status_code == 200
    return response.json


def worker_post(client, ring, graph_id, **kwargs):
    return post_result(client, ring, graph_id, **kwargs)


def assert_refused(response, statuses=(400, 422), field: str | None = None) -> dict:
    """A JSON refusal in the one error shape, naming `field` when given."""
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.json
    assert set(body) <= {"error", "message", "fields", "spec_lines"} and body["message"]
    if field is not None:
        assert field in body["fields"], body
    return body


def assert_nothing_stored(app: Flask, graph_id: str) -> None:
    assert count(app, GraphResult.id) == 0
    with app.app_context():
        assert Graph.get_by_public_id(graph_id).status == "process"


# --- JSON nested deep -------------------------------------------------------------------------------


def json_endpoints(graph_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/auth/token"),
        ("POST", "/users/auth"),
        ("POST", "/api/graphs"),
        ("PATCH", f"/api/graphs/{graph_id}"),
        ("PUT", f"/api/graphs/{graph_id}/roles"),
        ("POST", f"/api/graphs/{graph_id}/shares"),
        ("POST", f"/api/graphs/{graph_id}/public"),
        ("POST", "/api/live/ticket"),
    ]


def test_json_nested_1000_deep_is_400_on_every_json_endpoint(app, client, headers, graph):
    for method, path in json_endpoints(graph.public_id):
        response = client.open(path, method=method, headers=headers, data=DEEP_ARRAY, content_type="application/json")
        assert response.status_code == 400, (method, path, response.status_code)
        assert response.json["error"] == "bad_request"
        # ... and inside a member, the member is named (422)
        response = client.open(
            path, method=method, headers=headers, data=deep("name", 1000), content_type="application/json"
        )
        assert response.status_code in (400, 422), (method, path, response.status_code)
    assert count(app, Graph.id) == 1 and count(app, ShareLink.id) == 0


def test_a_deep_member_is_named(client, headers):
    response = client.post(
        "/api/graphs", headers=headers, data=deep("description", 1000), content_type="application/json"
    )
    body = assert_refused(response, (422,), "description")
    assert "nested deeper" in body["fields"]["description"]


def test_revoke_with_a_deep_body_refuses_and_revokes_nothing(app, client, headers):
    response = client.post(
        "/api/auth/revoke", headers=headers, data=deep("refresh_token", 1000), content_type="application/json"
    )
    assert_refused(response, (422,), "refresh_token")
    assert client.get("/api/me", headers=headers).status_code == 200  # the token still works
    assert count(app, RevokedToken.id) == 0
    response = client.post("/api/auth/revoke", headers=headers, data=DEEP_ARRAY, content_type="application/json")
    assert_refused(response, (400,))
    assert client.get("/api/me", headers=headers).status_code == 200


def test_revoke_with_a_bad_refresh_token_revokes_nothing(app, client, headers):
    response = client.post("/api/auth/revoke", headers=headers, json={"refresh_token": "not-a-token"})
    assert_refused(response, (422,), "refresh_token")
    assert client.get("/api/me", headers=headers).status_code == 200
    response = client.post("/api/auth/revoke", headers=headers, json={"refresh_token": 5})
    assert_refused(response, (422,), "refresh_token")
    assert count(app, RevokedToken.id) == 0


def test_worker_ingest_deep_body_and_deep_info(app, client, ring, job):
    response = worker_post(client, ring, job["graph_id"], data=DEEP_ARRAY, content_type="application/json")
    assert_refused(response, (400,))
    info = '{"run_id": "%s", "svg": %s, "info": {"a": %s%s}}' % (job["run_id"], json.dumps(SVG), "[" * 2000, "]" * 2000)
    body = assert_refused(
        worker_post(client, ring, job["graph_id"], data=info, content_type="application/json"), (422,), "info"
    )
    assert "nested deeper" in body["fields"]["info"]
    # Maestro's form: `info` as JSON text
    form = {"run_id": job["run_id"], "payload": SVG, "info": '{"a": ' + "[" * 2000 + "]" * 2000 + "}"}
    assert_refused(worker_post(client, ring, job["graph_id"], data=form), (422,), "info")
    assert_nothing_stored(app, job["graph_id"])


def test_svg_with_5000_nested_groups_is_422(app, client, ring, job):
    svg = '<svg xmlns="http://www.w3.org/2000/svg">' + "<g>" * 5000 + "</g>" * 5000 + "</svg>"
    body = assert_refused(
        worker_post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "svg": svg}), (422,), "svg"
    )
    assert "deep" in body["fields"]["svg"]
    assert_nothing_stored(app, job["graph_id"])


def test_deep_json_spec_import_is_a_spec_error(app, client, headers, auth, owner):
    spec = '{"nodes": ' + "[" * 5000 + "]" * 5000 + "}"
    body = assert_refused(
        client.post("/api/graphs", headers=headers, json={"name": "Deep", "spec": spec}), (422,), "spec"
    )
    assert "nested deeper" in " ".join(body["fields"]["spec"])
    auth.login(owner.email)
    page = client.get("/graphs/new")
    response = client.post(
        "/graphs/new",
        data={
            "name": "Deep",
            "type": "infra",
            "spec": spec,
            "csrf_token": form_csrf(page.text),
            **_jwt_csrf(page.text),
        },
    )
    assert response.status_code == 422 and "nested deeper" in response.get_data(as_text=True)
    assert count(app, Graph.id) == 0


def _jwt_csrf(html: str) -> dict[str, str]:
    from conftest import jwt_csrf

    value = jwt_csrf(html)
    return {"jwt_csrf": value} if value else {}


# --- NUL characters (PostgreSQL text cannot hold them) ---------------------------------------------


def test_nul_in_login_and_register_forms_is_400(app, client):
    page = client.get("/auth/login")
    response = client.post(
        "/auth/login", data={"email": "a\x00@example.com", "password": PASSWORD, "csrf_token": form_csrf(page.text)}
    )
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    page = client.get("/auth/register")
    response = client.post(
        "/auth/register", data={"name": "Eve\x00", "email": "eve@example.com", "csrf_token": form_csrf(page.text)}
    )
    assert response.status_code == 400
    assert count(app, User.id) == 0


def test_nul_in_api_login_names_the_field(client, owner):
    for path in ("/api/auth/token", "/users/auth"):
        response = client.post(path, json={"email": "owner@example.com\x00", "password": PASSWORD})
        body = assert_refused(response, (422,), "email")
        assert "NUL" in body["fields"]["email"]


def test_nul_in_search_is_400(client, headers, auth, owner):
    assert_refused(client.get("/api/graphs?q=%00", headers=headers), (400,), "q")
    auth.login(owner.email)
    assert client.get("/graphs/?q=a%00b").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/graphs/%00",
        "/graphs/%00/edit",
        "/graphs/%00/shares",
        "/analytics/graphs/%00",
        "/analytics/graphs/public/%00?token=x",
        "/api/graphs/%00",
        "/api/graphs/%00/roles",
        "/api/graphs/%00/shares",
    ],
)
def test_nul_in_an_id_in_the_path_is_400(client, headers, auth, owner, path):
    auth.login(owner.email)
    response = client.get(path, headers=headers)
    assert response.status_code == 400, response.status_code


def test_nul_in_the_id_of_a_state_changing_api_route_is_400(client, headers, graph):
    assert_refused(client.delete("/api/graphs/%00", headers=headers), (400,), "path")
    assert_refused(
        client.patch(f"/api/graphs/{graph.public_id}/shares/%00", headers=headers, json={"paused": True}),
        (400,),
        "path",
    )
    assert_refused(client.delete(f"/api/graphs/{graph.public_id}/roles/%00", headers=headers), (400,), "path")


def test_nul_in_json_members_is_422_naming_them(app, client, headers, graph):
    assert_refused(client.post("/api/graphs", headers=headers, json={"name": "a\x00b"}), (422,), "name")
    assert_refused(
        client.post("/api/graphs", headers=headers, json={"name": "ok", "spec": "a -> b # \x00"}), (422,), "spec"
    )
    assert_refused(
        client.put(
            f"/api/graphs/{graph.public_id}/roles", headers=headers, json={"email": "x\x00@example.com", "role": "read"}
        ),
        (422,),
        "email",
    )
    assert_refused(
        client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "\x00"}), (422,), "label"
    )
    assert_refused(client.post("/api/live/ticket", headers=headers, json={"graph": "\x00"}), (400, 422))
    assert count(app, Graph.id) == 1 and count(app, ShareLink.id) == 0


def test_nul_in_a_worker_token_claim_is_422(app, client, ring, job):
    token = mint_worker_token(ring, "\x00")
    response = client.post(
        "/analytics/graphs", headers={"Authorization": f"JWT {token}"}, json={"run_id": job["run_id"], "svg": SVG}
    )
    body = assert_refused(response, (422,), "graph_id")
    assert "NUL" in body["fields"]["graph_id"]
    assert_nothing_stored(app, job["graph_id"])


def test_nul_in_worker_msg_json_and_form(app, client, ring, job):
    assert_refused(
        worker_post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "svg": SVG, "msg": "a\x00"}),
        (422,),
        "msg",
    )
    assert_refused(
        worker_post(client, ring, job["graph_id"], data={"run_id": job["run_id"], "payload": SVG, "msg": "a\x00"}),
        (422,),
        "msg",
    )
    assert_refused(
        worker_post(client, ring, job["graph_id"], data={"run_id": job["run_id"] + "\x00", "payload": SVG}),
        (422,),
        "run_id",
    )
    assert_nothing_stored(app, job["graph_id"])


# --- lone surrogates, numbers out of range, NaN ----------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        ("plain text", None),
        ("é 😀 \uffff \U0010ffff \ud7ff \ue000", None),
        ("", None),
        ("a\x00b", "NUL"),
        ("é\x00", "NUL"),
        ("a\ud800b", "surrogate"),
        ("\udfff", "surrogate"),
        ("\ud83d\ude00", "surrogate"),  # a pair as two code points is still two lone surrogates in a str
        ("\x00 then \ud800", "NUL"),
        ("\ud800 then \x00", "surrogate"),  # the first one found is named
        ("x" * 100_000 + "\x00", "NUL"),
        ("é" * 100_000 + "\udc00", "surrogate"),
    ],
)
def test_text_problem_names_the_first_bad_character(value, problem):
    from maestro_web.safe_json import text_problem

    found = text_problem(value)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_lone_surrogates_in_json_strings_are_422(app, client, headers, graph, ring, job):
    raw = '{"name": "bad \\ud800 name"}'
    body = assert_refused(
        client.post("/api/graphs", headers=headers, data=raw, content_type="application/json"), (422,), "name"
    )
    assert "surrogate" in body["fields"]["name"]
    raw = '{"email": "\\udfff@example.com", "password": "whatever1"}'
    assert_refused(client.post("/api/auth/token", data=raw, content_type="application/json"), (422,), "email")
    raw = '{"run_id": "%s", "svg": %s, "msg": "\\ud800"}' % (job["run_id"], json.dumps(SVG))
    assert_refused(worker_post(client, ring, job["graph_id"], data=raw, content_type="application/json"), (422,), "msg")
    assert count(app, Graph.id) == 1
    assert_nothing_stored(app, job["graph_id"])


@pytest.mark.parametrize(
    "raw, field",
    [
        ('{"expires_in": 1e20}', "expires_in"),
        ('{"expires_in": 100000000000000000000}', "expires_in"),
        ('{"max_views": 1180591620717411303424}', "max_views"),
        ('{"expires_at": "9999-12-31T23:59:59-23:59"}', "expires_at"),
        ('{"expires_at": "0001-01-01T00:00:00+23:59"}', "expires_at"),
    ],
)
def test_numbers_and_dates_out_of_range_on_share_links_are_422(app, client, headers, graph, raw, field):
    response = client.post(
        f"/api/graphs/{graph.public_id}/shares", headers=headers, data=raw, content_type="application/json"
    )
    assert_refused(response, (422,), field)
    assert count(app, ShareLink.id) == 0


def test_extending_a_link_by_1e20_seconds_is_422(app, client, headers, graph):
    link = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "x"}).json
    response = client.patch(
        f"/api/graphs/{graph.public_id}/shares/{link['id']}",
        headers=headers,
        data='{"expires_in": 1e20}',
        content_type="application/json",
    )
    assert_refused(response, (422,), "expires_in")


def test_a_page_with_30_digits_is_400(client, headers, auth, owner):
    body = assert_refused(client.get("/api/graphs?page=" + "9" * 30, headers=headers), (400,), "page")
    assert "page" in body["message"]
    auth.login(owner.email)
    assert client.get("/graphs/?page=" + "9" * 30).status_code == 400


def test_worker_total_2_to_the_70_is_422(app, client, ring, job):
    big = 2**70
    assert_refused(
        worker_post(client, ring, job["graph_id"], json={"run_id": job["run_id"], "svg": SVG, "total": big}),
        (422,),
        "total",
    )
    assert_refused(
        worker_post(client, ring, job["graph_id"], data={"run_id": job["run_id"], "payload": SVG, "total": str(big)}),
        (422,),
        "total",
    )
    assert_nothing_stored(app, job["graph_id"])


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_worker_info_are_refused(app, client, ring, job, number):
    raw = '{"run_id": "%s", "svg": %s, "info": {"density": %s}}' % (job["run_id"], json.dumps(SVG), number)
    body = assert_refused(
        worker_post(client, ring, job["graph_id"], data=raw, content_type="application/json"), (422,), "info"
    )
    assert "finite" in body["fields"]["info"]
    form = {"run_id": job["run_id"], "payload": SVG, "info": '{"density": %s}' % number}
    assert_refused(worker_post(client, ring, job["graph_id"], data=form), (422,), "info")
    assert_nothing_stored(app, job["graph_id"])


def test_a_stored_non_finite_number_is_written_as_valid_json(app, client, headers, graph):
    """SQLite kept NaN from before input was checked: such rows still come out as valid JSON.
    PostgreSQL's JSON type refuses NaN itself, so there no such row can exist."""
    with app.app_context():
        row = Graph.get_by_public_id(graph.public_id)
        row.info = {"density": float("nan"), "ok": 1.5}
        if ENGINE == "postgresql":
            with pytest.raises(DataError):
                db.session.commit()
            return
        db.session.commit()
    response = client.get(f"/api/graphs/{graph.public_id}", headers=headers)
    assert response.status_code == 200
    assert "NaN" not in response.get_data(as_text=True)
    assert json.loads(response.get_data(as_text=True))["info"] == {"density": None, "ok": 1.5}


# --- OPTIONS ---------------------------------------------------------------------------------------


def test_options_on_every_api_route_is_answered_with_allow(app, client, graph):
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/analytics/")) or rule.rule == "/users/auth"
    ]
    assert len(rules) >= 20
    for rule in rules:
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", graph.public_id)
        response = client.open(path, method="OPTIONS")
        assert response.status_code == 200, (path, response.status_code)
        assert "OPTIONS" in response.headers["Allow"]


# --- no SQL parameters in any log line -------------------------------------------------------------

SECRET = "s3cr3t-hash-$argon2id$v=19$m=65536"


@pytest.fixture
def failing_route(app):
    """A route whose statement the database refuses, carrying a secret-looking parameter."""

    @app.get("/__test/db-error")
    def _db_error():
        db.session.execute(
            text(
                "INSERT INTO users (id, public_id, email, name, password_hash) VALUES (:id, :pid, :email, :name, :hash)"
            ),
            [{"id": 1, "pid": "dup", "email": "a@example.com", "name": "A", "hash": SECRET}] * 2,
        )
        return "unreachable"

    @app.get("/__test/db-nul")
    def _db_nul():
        db.session.execute(select(User).where(User.email == SECRET + "\x00")).first()
        return "stored"

    return app


def test_database_errors_never_log_sql_parameters(failing_route, client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/__test/db-error", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert "IntegrityError" in caplog.text or "NotNullViolation" in caplog.text  # the error was logged ...
    assert SECRET not in caplog.text  # ... without the statement's values, nor the row the database quotes
    assert SECRET not in response.get_data(as_text=True)


def test_the_engine_hides_parameters_in_its_exceptions(app):
    with app.app_context():
        try:
            db.session.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": SECRET})
            db.session.commit()
        except Exception as exc:  # the database refuses the row
            db.session.rollback()
            assert "[SQL parameters hidden due to hide_parameters=True]" in str(exc)
        else:
            pytest.fail("the database accepted a row without its required columns")


def test_a_value_the_database_refuses_is_a_client_error_without_its_value_logged(failing_route, client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/__test/db-nul", headers={"Accept": "application/json"})
    # PostgreSQL refuses NUL (DataError: 422 through the safety net); SQLite stores and finds nothing.
    assert response.status_code in (200, 422)
    assert SECRET not in caplog.text


# --- NUL in the claims of tokens the app signs (only a holder of the key could make them) ---------


def test_nul_in_a_share_token_link_id_is_never_a_500(app, client, graph):
    from datetime import timedelta

    from maestro_web.models.base import utcnow
    from maestro_web.security.share_tokens import CONTEXT, mint_share_token

    now = utcnow()
    token = mint_share_token(app.config["KEY_RINGS"][CONTEXT], graph.public_id, "\x00", now, now + timedelta(hours=1))
    response = client.get(f"/analytics/graphs/public/{graph.public_id}", query_string={"token": token})
    # SQLite finds no such link (404); PostgreSQL refuses the NUL before looking (safety net: 422).
    assert response.status_code in (404, 422), response.status_code

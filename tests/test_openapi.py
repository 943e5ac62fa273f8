"""GET /api/openapi.json: the JSON API as OpenAPI 3.1, generated from the validating models."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import api_headers
from jsonschema import Draft202012Validator

from maestro_web.api import schemas
from maestro_web.ingest import schemas as ingest_schemas
from maestro_web.security.worker_tokens import mint_result_token, mint_worker_token

API_BLUEPRINTS = {"api", "api_auth", "ingest", "discovery_command"}


def document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_public_and_openapi_3_1(client):
    doc = document(client)  # no Authorization header
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["paths"]


def test_every_api_route_is_documented_with_its_methods(app, client):
    paths = document(client)["paths"]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in API_BLUEPRINTS and rule.rule != "/api/openapi.json":
            template = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes.setdefault(template, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert len(routes) >= 15
    documented = {path: set(item) for path, item in paths.items()}
    assert documented == routes


def test_security_schemes_and_who_needs_a_token(client):
    doc = document(client)
    schemes = doc["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"], s["bearerFormat"]) for name, s in schemes.items()} == {
        "userToken": ("http", "bearer", "JWT"),
        "refreshToken": ("http", "bearer", "JWT"),
        "workerToken": ("http", "bearer", "JWT"),
        "discoveryToken": ("http", "bearer", "JWT"),
        "reportToken": ("http", "bearer", "JWT"),
    }
    paths = doc["paths"]
    assert paths["/api/auth/token"]["post"]["security"] == []
    assert paths["/api/graphs"]["get"]["security"] == [{"userToken": []}]
    assert paths["/api/auth/refresh"]["post"]["security"] == [{"refreshToken": []}]
    assert paths["/analytics/graphs"]["post"]["security"] == [{"workerToken": []}]
    assert paths["/api/graphs/{graph_id}/reports/{report_id}"]["put"]["security"] == [{"reportToken": []}]
    for path, item in paths.items():
        for method, operation in item.items():
            if operation["security"]:
                assert "401" in operation["responses"], (method, path)


def test_request_schemas_are_the_validating_models(client):
    doc = document(client)
    components = doc["components"]["schemas"]
    for model in (
        schemas.Credentials,
        schemas.GraphCreate,
        schemas.GraphPatch,
        schemas.RoleGrant,
        schemas.ShareCreate,
        schemas.SharePatch,
        ingest_schemas.WorkerResult,
        ingest_schemas.WorkerResultForm,
    ):
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        assert components[model.__name__] == expected, model.__name__
    body = doc["paths"]["/api/graphs"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GraphCreate"}
    ingest = doc["paths"]["/analytics/graphs"]["post"]["requestBody"]["content"]
    assert set(ingest) == {"application/json", "application/x-www-form-urlencoded"}
    # limits are declared where the fuzzer (and a client) can see them
    assert components["ShareCreate"]["properties"]["expires_in"]["anyOf"][0]["maximum"] == schemas.MAX_LIFETIME_SECONDS
    assert components["WorkerResult"]["properties"]["total"]["anyOf"][0]["maximum"] == 2**31 - 1
    assert components["Credentials"]["additionalProperties"] is False


def test_errors_are_documented_in_the_one_shape(client):
    doc = document(client)
    error = doc["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message"} and "fields" in error["properties"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            # gunicorn's own 414 (request line too long) comes before the app: HTML, documented as such.
            assert operation["responses"]["414"]["content"] == {"text/html": {"schema": {"type": "string"}}}
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and status != "414":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
            if "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)


def test_a_422_matches_the_documented_error(client, make_user):
    response = client.post("/api/auth/token", json={"email": "a@example.com", "extra": 1})
    assert response.status_code == 422
    assert response.json == {
        "error": "validation_error",
        "message": "Invalid fields: extra, password.",
        "fields": {"extra": "Unknown field.", "password": "This field is required."},
    }


# --- where the document and the API used to disagree (schemathesis, positive and negative data) ----


def valid_body(doc: dict, model: str, body: Any) -> bool:
    """Whether `body` is valid for the document's request schema `model` (JSON Schema 2020-12)."""
    schema = {"$ref": f"#/components/schemas/{model}", "components": doc["components"]}
    return Draft202012Validator(schema).is_valid(body)


def valid_query(doc: dict, path: str, name: str, value: str) -> bool:
    """Whether a query value, as sent (text; a whole number also reads as an integer), fits the document."""
    parameter = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name)
    validator = Draft202012Validator(parameter["schema"])
    return validator.is_valid(value) or (value.strip().isdigit() and validator.is_valid(int(value)))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/graphs", "status"),
        ("/api/graphs", "page"),
        ("/api/graphs", "per_page"),
        ("/api/shares", "status"),
        ("/api/shares", "sort"),
        ("/api/shares", "page"),
        ("/api/shares", "per_page"),
    ],
)
def test_an_empty_query_value_means_not_given_in_the_document_and_in_the_api(client, make_user, path, name):
    headers = api_headers(client, make_user())
    assert client.get(f"{path}?{name}=", headers=headers).status_code == 200
    assert valid_query(document(client), path, name, "")
    # A non-empty wrong value stays refused by both.
    assert client.get(f"{path}?{name}=x", headers=headers).status_code == 400
    assert not valid_query(document(client), path, name, "x")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("all", True),
        ("active, revoked", True),
        ("used_up,,expired,", True),
        (",paused", True),
        ("LINK_STATUSES", False),
        ("used up", False),
        (",,,", False),
        ("all,active", False),
        ("active\t", False),
    ],
)
def test_the_share_list_status_is_the_pattern_the_document_publishes(client, make_user, value, ok):
    answer = client.get("/api/shares", query_string={"status": value}, headers=api_headers(client, make_user()))
    assert answer.status_code == (200 if ok else 400), answer.json
    assert valid_query(document(client), "/api/shares", "status", value) is ok


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({}, True),  # no expiry given: 7 days
        ({"expires_in": None, "expires_at": None}, True),
        ({"expires_in": 3600, "expires_at": None}, True),
        ({"expires_in": 3600, "expires_at": "2030-01-01T00:00:00Z"}, False),
        ({"allowed_origins": ["https://intranet.example.com/", "", "http://localhost:8080"]}, True),
        ({"embeddable": True, "allowed_origins": ["https://intranet.example.com:99999"]}, False),  # was a 500
        ({"embeddable": True, "allowed_origins": ["https://[::1"]}, False),  # was a 500
        ({"embeddable": True, "allowed_origins": ["http://intranet.example.com"]}, False),
        ({"embeddable": True, "allowed_origins": ["HTTPS://intranet.example.com"]}, False),
        ({"embeddable": True, "allowed_origins": ["https://intranet.example.com/page"]}, False),
    ],
)
def test_share_bodies_the_document_calls_valid_are_the_ones_the_api_takes(client, make_user, make_graph, body, ok):
    owner = make_user()
    graph = make_graph(owner)
    answer = client.post(f"/api/graphs/{graph.public_id}/shares", json=body, headers=api_headers(client, owner))
    assert answer.status_code == (201 if ok else 422), answer.json
    assert valid_body(document(client), "ShareCreate", body) is ok
    if not ok:
        assert set(answer.json["fields"]) <= {"expires_in", "expires_at", "allowed_origins"}


def test_a_worker_result_needs_its_picture_unless_it_reports_an_error(app, client, make_user, make_graph):
    make_graph(make_user())
    ring = app.config["KEY_RINGS"]["analytics"]
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring, '*')}"}).json

    def post(body: dict) -> Any:
        raw = json.dumps(body).encode()  # the token is bound to these very bytes
        token = mint_result_token(ring, job["graph_id"], job["run_id"], raw)
        return client.post(
            "/analytics/graphs", data=raw, content_type="application/json", headers={"Authorization": f"JWT {token}"}
        )

    doc = document(client)
    for body in ({"run_id": job["run_id"]}, {"run_id": job["run_id"], "status": "warning", "svg": ""}):
        assert not valid_body(doc, "WorkerResult", body)
        answer = post(body)
        assert answer.status_code == 422 and "svg" in answer.json["fields"], answer.json
    assert not valid_body(doc, "WorkerResultForm", {"run_id": job["run_id"]})
    failed = {"run_id": job["run_id"], "status": "error", "msg": "the worker gave up"}
    assert valid_body(doc, "WorkerResult", failed)
    assert post(failed).status_code == 201


def test_lone_surrogates_are_refused_and_the_document_says_so(client, make_user):
    """JSON Schema cannot tell a lone surrogate from text; the document's description says what the API
    does (hostile-input.md): refused, naming the field, never stored."""
    headers = {**api_headers(client, make_user()), "Content-Type": "application/json"}
    answer = client.post("/api/graphs", data='{"name": "a\\ud800b"}', headers=headers)
    assert answer.status_code in (400, 422) and "surrogate" in json.dumps(answer.json)
    assert "lone UTF-16 surrogate" in document(client)["info"]["description"]
    assert "414" in document(client)["info"]["description"]

"""GET /api/openapi.json: the JSON API as OpenAPI 3.1, generated from the validating models."""
from __future__ import annotations

import re

from maestro_web.api import schemas

API_BLUEPRINTS = {"api", "api_auth", "analytics_worker", "discovery_command"}


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
        "userToken": ("http", "bearer", "JWT"), "refreshToken": ("http", "bearer", "JWT"),
        "workerToken": ("http", "bearer", "JWT"), "discoveryToken": ("http", "bearer", "JWT")}
    paths = doc["paths"]
    assert paths["/api/auth/token"]["post"]["security"] == []
    assert paths["/api/graphs"]["get"]["security"] == [{"userToken": []}]
    assert paths["/api/auth/refresh"]["post"]["security"] == [{"refreshToken": []}]
    assert paths["/analytics/graphs"]["post"]["security"] == [{"workerToken": []}]
    for path, item in paths.items():
        for method, operation in item.items():
            if operation["security"]:
                assert "401" in operation["responses"], (method, path)


def test_request_schemas_are_the_validating_models(client):
    doc = document(client)
    components = doc["components"]["schemas"]
    for model in (schemas.Credentials, schemas.GraphCreate, schemas.GraphPatch, schemas.RoleGrant,
                  schemas.ShareCreate, schemas.SharePatch, schemas.WorkerResult, schemas.WorkerResultForm):
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
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
            if "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)


def test_a_422_matches_the_documented_error(client, make_user):
    response = client.post("/api/auth/token", json={"email": "a@example.com", "extra": 1})
    assert response.status_code == 422
    assert response.json == {"error": "validation_error", "message": "Invalid fields: extra, password.",
                             "fields": {"extra": "Unknown field.", "password": "This field is required."}}

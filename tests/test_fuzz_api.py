"""schemathesis runs every operation of the app's own /api/openapi.json against the app.

In-process over WSGI, on the test database (SQLite or PostgreSQL, like the rest of the suite),
with real tokens: a user's access token for the API, a refresh token for /api/auth/refresh, and
worker tokens ("*" to claim, the graph's own to post a result), so generated requests get past
401 and reach validation and the database. Path ids are real ones for half of the examples
(the other half are generated strings), so the fuzzer reaches the graphs, links and roles.

Fails on any 5xx and on any answer that breaks the document: an undocumented status, a wrong
content type, a body that does not match its schema, or invalid input that was accepted.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any
from urllib.parse import parse_qs

import pytest
import schemathesis
from conftest import PASSWORD, api_headers
from discovery_app_support import command_headers, start_crawl_row
from hypothesis import HealthCheck, given, settings
from report_support import report_headers, running_report
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from maestro_web.security.worker_tokens import mint_result_token, mint_worker_token

# 12 positive + 12 negative examples an operation (24): the run stays around a minute per database.
EXAMPLES = int(os.environ.get("MAESTRO_FUZZ_EXAMPLES", "12"))
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="5" height="5"/></svg>'
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


BIND_TO_BODY = "JWT bind-me"


def bind_results(wsgi: Any, ring: Any, graph_id: str) -> Any:
    """A result POST carrying BIND_TO_BODY gets a token bound to the very bytes the fuzzer sends and
    the run_id they name, as the reference worker mints one per result; any other request passes as is."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/analytics/graphs" and environ.get("HTTP_AUTHORIZATION") == BIND_TO_BODY:
            length = environ.get("CONTENT_LENGTH") or ""
            body = environ["wsgi.input"].read(int(length)) if length.isdigit() else environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                named = json.loads(body).get("run_id")
            except (ValueError, AttributeError):
                named = (parse_qs(body.decode("utf-8", "replace")).get("run_id") or [""])[0]
            token = mint_result_token(ring, graph_id, str(named) or "-", body, lifetime=3600)
            environ["HTTP_AUTHORIZATION"] = f"JWT {token}"
        return wsgi(environ, start_response)

    return app


@pytest.fixture
def world(app, client, make_user, make_graph) -> dict[str, Any]:
    """A user who owns a graph with a share link and a second member; their tokens."""
    owner = make_user(email="fuzz-owner@example.com", name="Fuzz")
    member = make_user(email="fuzz-member@example.com", name="Member")
    from maestro_web.models import Role

    graph = make_graph(owner, name="Fuzzed", spec="web -> api\napi -> db [kind=database]", grants={member: Role.READ})
    tokens = client.post("/api/auth/token", json={"email": owner.email, "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    link = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "fuzz"})
    assert link.status_code == 201, link.text
    personal = client.post("/api/tokens", headers=headers, json={"name": "fuzz", "expires_in_days": 30})
    assert personal.status_code == 201, personal.text
    ring = app.config["KEY_RINGS"]["analytics"]
    claim = {"Authorization": f"JWT {mint_worker_token(ring, '*', lifetime=3600)}"}
    job = client.post("/analytics/jobs/claim", headers=claim)
    assert job.status_code == 200 and job.json["graph_id"] == graph.public_id
    app.wsgi_app = bind_results(app.wsgi_app, ring, graph.public_id)  # type: ignore[method-assign]
    source = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        json={"kind": "compose", "label": "fuzz", "input": "services: {web: {image: nginx}}\n"},
    )
    assert source.status_code == 201, source.text
    crawl_id = start_crawl_row(app, graph.public_id, source.json["id"], owner)
    report_id = running_report(app, graph.public_id, owner)
    invited = client.put(
        f"/api/graphs/{graph.public_id}/roles",
        headers=headers,
        json={"email": "fuzz-invited@example.com", "role": "read"},
    )
    assert invited.status_code == 202, invited.text
    return {
        "run_id": job.json["run_id"],
        "ids": {
            "graph_id": graph.public_id,
            "link_id": link.json["id"],
            "user_id": member.public_id,
            "source_id": source.json["id"],
            "crawl_id": crawl_id,
            "token_id": personal.json["id"],
            "invitation_id": invited.json["invitation"]["id"],
            "report_id": report_id,
        },
        "command": command_headers(app, owner, graph.public_id),
        "report": report_headers(app, owner, graph.public_id, report_id),
        "user": headers,
        "refresh": {"Authorization": f"Bearer {tokens['refresh_token']}"},
        "claim": claim,
        "result": {"Authorization": BIND_TO_BODY},
        # /api/auth/revoke gets a token of its own each time, so the run keeps a working one.
        "fresh": lambda: api_headers(client, owner),
    }


def service_down_is_not_a_server_error(ctx: Any, response: Any, case: schemathesis.Case) -> Any:
    """not_a_server_error, except the documented 503 of asking for a report while no report service
    runs here (SPEC §12: the report is then failed with that message)."""
    if response.status_code == 503 and "report service" in response.text:
        return None
    return not_a_server_error(ctx, response, case)


def _checks(case: schemathesis.Case) -> list[Any]:
    """The checks of this case (_checks_for); asking for a report may meet no report service (503)."""
    if case.operation.path == "/api/graphs/{graph_id}/reports" and case.method.upper() == "POST":
        return [
            service_down_is_not_a_server_error if check is not_a_server_error else check for check in _checks_for(case)
        ]
    return _checks_for(case)


def _checks_for(case: schemathesis.Case) -> list[Any]:
    """Every check, except that "invalid input is refused" is judged only when the body alone is
    invalid: the tokens replace generated Authorization headers, and unknown query parameters are
    ignored (as HTTP servers do), so a negated header or query string is not invalid here."""
    negated = (
        {location for location, info in case.meta.components.items() if info.mode.is_negative} if case.meta else set()
    )
    if negated and negated != {ParameterLocation.BODY}:
        return [check for check in CHECKS if check is not negative_data_rejection]
    return CHECKS


def _operations() -> list[tuple[str, str]]:
    from maestro_web.api.openapi import openapi_document

    return [(method.upper(), path) for path, item in openapi_document()["paths"].items() for method in item]


def _headers(case: schemathesis.Case, world: dict[str, Any]) -> dict[str, str]:
    path = case.operation.path
    if path == "/analytics/jobs/claim":
        return world["claim"]
    if path == "/analytics/graphs":
        return world["result"]
    if path == "/api/auth/refresh":
        return world["refresh"]
    if path in ("/api/auth/token", "/users/auth"):
        return {}
    if path == "/api/auth/revoke":
        return world["fresh"]()
    if "/crawls/" in path:
        return world["command"]
    if path.endswith("/reports/{report_id}") and case.method.upper() == "PUT":
        return world["report"]
    return world["user"]


@pytest.mark.parametrize("method, path", _operations())
def test_every_operation_survives_generated_input(app, world: dict[str, Any], method: str, path: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)  # the app's own document
    operation = schema[path][method]
    seen: dict[int, int] = {}

    def exercise(case: schemathesis.Case) -> None:
        for name in case.path_parameters or {}:
            # Half the examples use the real ids, so the fuzzer gets past 404 to the database.
            if name in world["ids"] and len(str(case.path_parameters[name])) % 2 == 0:
                case.path_parameters[name] = world["ids"][name]
        if isinstance(case.body, dict) and "run_id" in case.body and len(str(case.body["run_id"])) % 2 == 0:
            # Half the results name the real run, for the real graph, with a picture: they reach the
            # database (201, then 200 for repeats) with whatever msg, total and info were generated.
            case.body["run_id"] = world["run_id"]
            case.body.pop("graph_id", None)
            if case.body.get("status") != "error":
                case.body["payload" if "form" in (case.media_type or "") else "svg"] = SVG
        response = case.call_and_validate(headers=_headers(case, world), checks=_checks(case))
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode)
        run = settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(case=strategy)(exercise))
        run()
    print(f"{method} {path}: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) > 0

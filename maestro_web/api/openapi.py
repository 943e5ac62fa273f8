"""The JSON API as an OpenAPI 3.1 document, built from the declared models (GET /api/openapi.json).

The list of operations below is kept by hand: each names its path, its request model and the
models of its answers. Every schema in the document is pydantic's JSON schema of the very models
the views validate with (maestro_web/api/schemas.py) and of the answers' models next to the
functions that build them (maestro_web/serializers/), so the document cannot drift from what
the API accepts; tests/test_openapi.py checks that every route of the API blueprints is listed,
and tests/test_fuzz_api.py checks every answer against the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from flask import Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from maestro_web.api import api_auth_bp
from maestro_web.api import schemas as s
from maestro_web.errors import ERROR_NAMES
from maestro_web.ingest import schemas as ingest_schemas
from maestro_web.limits import MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH_LENGTH
from maestro_web.models.graph import GRAPH_STATUSES
from maestro_web.models.share_rules import LISTED_STATUSES
from maestro_web.serializers.error_bodies import ErrorOut
from maestro_web.serializers.graphs import GraphList, GraphOut, InvitationCreated, InvitationList, RoleList, RoleOut
from maestro_web.serializers.links import (
    PublicLink,
    RevokedCount,
    ShareLinkCreated,
    ShareLinkList,
    ShareLinkOut,
    ShareLinkPage,
)
from maestro_web.serializers.live import LiveTicketOut
from maestro_web.serializers.reports import ReportList, ReportOut, ReportStarted
from maestro_web.serializers.results import JobOut, WorkerResultOut
from maestro_web.serializers.sources import CrawlOut, CrawlStarted, DependenciesOut, SourceList, SourceOut, VersionList
from maestro_web.serializers.tokens import (
    AccessToken,
    MaestroLogin,
    PersonalTokenCreated,
    PersonalTokenList,
    Revoked,
    TokenPair,
)
from maestro_web.serializers.users import UserOut
from maestro_web.shares.queries import STATUS_LIST_PATTERN

Auth = Literal["user", "refresh", "worker", "discovery", "reports", "none"]

ID_PARAMETER = {"type": "string", "minLength": 1, "maxLength": 64}
# A query parameter sent empty (`?page=`, as an HTML form sends an empty field) means "not given".
EMPTY = {"type": "string", "maxLength": 0}
PAGE = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, EMPTY]}
PER_PAGE = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}, EMPTY]}
# gunicorn refuses an over-long request line before the app (limit_request_line, gunicorn.conf.py).
REQUEST_LINE_LIMIT = 8190


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI template: /api/graphs/{graph_id}
    summary: str
    tag: str
    answers: dict[int, type[BaseModel] | None]  # success status -> model (None: no body)
    errors: tuple[int, ...]
    auth: Auth = "user"
    body: type[BaseModel] | None = None
    body_required: bool = True
    form: type[BaseModel] | None = None  # an alternative form-encoded body
    query: tuple[tuple[str, dict[str, Any], str], ...] = ()  # (name, schema, description)
    request_headers: tuple[tuple[str, dict[str, Any], str], ...] = ()  # (name, schema, description)
    description: str = ""
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    binary: bool = False  # the 200 answer is raw bytes (application/octet-stream unless binary_types says)
    binary_types: tuple[str, ...] = ("application/octet-stream",)


SHARE_RULES = (
    "No expires_in and no expires_at: the link lives 7 days. Refused with 422, beyond what the "
    "schema says: an expiry beyond MAESTRO_SHARE_MAX_TTL (90 days unless configured) or in the "
    "past, embeddable without allowed_origins, mode snapshot while the graph has no picture."
)
SPEC_RULES = (
    "`spec` has a grammar of its own (a node name without control characters, at most 2,000 nodes, "
    "...): a spec it refuses is a 422 naming the lines (`spec_lines`)."
)
USER_ERRORS = (400, 401, 404, 429, 503)
QUOTAS = (
    "A run queued for the worker counts against the graph owner's quotas (graphs owned, runs waiting, "
    "runs in the last hour; docs/operations.md): 429 naming the quota, nothing changed, past one."
)
BODY_ERRORS = (400, 415, 422)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/api/auth/token",
        "Log in: an access and a refresh token",
        "auth",
        {200: TokenPair},
        (400, 401, 415, 422, 429, 503),
        auth="none",
        body=s.Credentials,
    ),
    Operation(
        "post",
        "/users/auth",
        "Maestro Server's login: {token, user}",
        "auth",
        {200: MaestroLogin},
        (400, 401, 415, 422, 429, 503),
        auth="none",
        body=s.Credentials,
    ),
    Operation(
        "post",
        "/api/auth/refresh",
        "A new access token for the refresh token in Authorization",
        "auth",
        {200: AccessToken},
        (401, 429, 503),
        auth="refresh",
    ),
    Operation(
        "post",
        "/api/auth/revoke",
        "Revoke the token in Authorization (and a refresh token)",
        "auth",
        {200: Revoked},
        (400, 401, 415, 422, 429, 503),
        body=s.RevokeRequest,
        body_required=False,
        description="The token in Authorization may be an access or a refresh token, even an expired one. "
        "A refresh_token this app did not sign is refused (422).",
    ),
    Operation("get", "/api/me", "The user of the token", "auth", {200: UserOut}, USER_ERRORS),
    Operation(
        "post",
        "/api/tokens",
        "Create a personal API token (shown once)",
        "tokens",
        {201: PersonalTokenCreated},
        USER_ERRORS + BODY_ERRORS,
        body=s.PersonalTokenCreate,
        description="A personal token acts for the user in the JSON API like an access token, until it "
        "expires, is deleted, or the account's password changes. Only its id is kept: "
        "the token is in this answer and nowhere else.",
    ),
    Operation(
        "get",
        "/api/tokens",
        "The user's personal API tokens (never the token itself)",
        "tokens",
        {200: PersonalTokenList},
        USER_ERRORS,
    ),
    Operation(
        "delete",
        "/api/tokens/{token_id}",
        "Revoke a personal API token",
        "tokens",
        {204: None},
        USER_ERRORS,
        description="The token is refused (401) on its next use. Another user's token id is a 404.",
    ),
    Operation(
        "get",
        "/api/graphs",
        "Graphs the user holds a role on, newest first",
        "graphs",
        {200: GraphList},
        USER_ERRORS,
        query=(
            ("q", {"type": "string", "maxLength": MAX_SEARCH_LENGTH}, "Search in the name."),
            (
                "status",
                {"type": "string", "enum": ["", *GRAPH_STATUSES]},
                "Only graphs in this status (empty: every status).",
            ),
            ("page", PAGE, "Page, from 1 (empty: 1)."),
            ("per_page", PER_PAGE, "Items a page (empty: 20)."),
            (
                "cursor",
                {"type": "string", "maxLength": 64},
                "A next / prev / last cursor of an earlier answer (instead of page, 400 with both): same "
                "cost on every page. A cursor this list did not hand out is refused (400).",
            ),
        ),
    ),
    Operation(
        "get",
        "/api/shares",
        "The user's share links across graphs",
        "shares",
        {200: ShareLinkPage},
        USER_ERRORS,
        query=(
            ("q", {"type": "string", "maxLength": MAX_SEARCH_LENGTH}, "Search in the label and the graph's name."),
            (
                "status",
                {"type": "string", "maxLength": 200, "pattern": STATUS_LIST_PATTERN},
                f"all, or a comma-separated list of {', '.join(status.key for status in LISTED_STATUSES)} "
                f"(empty: {','.join(status.key for status in LISTED_STATUSES if not status.ended)}).",
            ),
            (
                "sort",
                {"type": "string", "enum": ["", "created", "expires", "last_view"]},
                "created (newest first, default), expires (soonest first), last_view (latest first).",
            ),
            ("page", PAGE, "Page, from 1 (empty: 1)."),
            ("per_page", PER_PAGE, "Items a page (empty: 20)."),
        ),
    ),
    Operation(
        "post",
        "/api/graphs",
        "Create a graph (queues its first run)",
        "graphs",
        {201: GraphOut},
        USER_ERRORS + BODY_ERRORS,
        body=s.GraphCreate,
        description=SPEC_RULES + " " + QUOTAS,
        headers={201: {"Location": {"schema": {"type": "string"}, "description": "The new graph."}}},
    ),
    Operation("get", "/api/graphs/{graph_id}", "One graph (Read)", "graphs", {200: GraphOut}, USER_ERRORS),
    Operation(
        "patch",
        "/api/graphs/{graph_id}",
        "Change a graph (Write); a changed spec queues a run",
        "graphs",
        {200: GraphOut},
        USER_ERRORS + (403,) + BODY_ERRORS,
        body=s.GraphPatch,
        description=SPEC_RULES + " " + QUOTAS,
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}",
        "Delete a graph (Admin): into the Trash",
        "graphs",
        {204: None},
        USER_ERRORS + (403,),
        description="The graph stays in the Trash for MAESTRO_TRASH_DAYS (7) days, restorable by an Admin; "
        "its share links are stopped meanwhile. `flask graphs purge` removes it after that.",
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/restore",
        "Restore a graph from the Trash (Admin)",
        "graphs",
        {200: GraphOut},
        USER_ERRORS + (403,),
        description="404 once the graph has been in the Trash longer than MAESTRO_TRASH_DAYS, or was never deleted. "
        "Its links work again unless they expired or were revoked meanwhile.",
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/rerun",
        "Queue a new run (Write)",
        "graphs",
        {202: GraphOut},
        USER_ERRORS + (403,),
        description=QUOTAS,
    ),
    Operation(
        "get", "/api/graphs/{graph_id}/roles", "Who holds which role (Read)", "roles", {200: RoleList}, USER_ERRORS
    ),
    Operation(
        "put",
        "/api/graphs/{graph_id}/roles",
        "Grant or change a role (Admin)",
        "roles",
        {200: RoleOut, 202: InvitationCreated},
        USER_ERRORS + (403, 409) + BODY_ERRORS,
        body=s.RoleGrant,
        description="200 with the role when an account has the address (its holder gets an e-mail saying so); "
        'otherwise 202 `{"invited": true, ...}`: the address is mailed a single-use link, valid 7 days, '
        "that grants the role when that address registers or logs in through it. 422 for an address no "
        "account could have. Role grants and invitations are limited per user "
        "(MAESTRO_ROLE_GRANT_RATE_LIMIT, 30 an hour): 429 with Retry-After past it.",
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/invitations",
        "Pending invitations (Admin)",
        "roles",
        {200: InvitationList},
        USER_ERRORS + (403,),
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}/invitations/{invitation_id}",
        "Withdraw an invitation (Admin)",
        "roles",
        {204: None},
        USER_ERRORS + (403,),
        description="Its link stops working at once. 404 when the invitation is not pending.",
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}/roles/{user_id}",
        "Remove a role (Admin)",
        "roles",
        {204: None},
        USER_ERRORS + (403, 409, 422),
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/shares",
        "The graph's share links (Write)",
        "shares",
        {200: ShareLinkList},
        USER_ERRORS + (403,),
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/shares",
        "Create a share link (Write)",
        "shares",
        {201: ShareLinkCreated},
        USER_ERRORS + (403,) + BODY_ERRORS,
        body=s.ShareCreate,
        body_required=False,
        description=SHARE_RULES,
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/public",
        "Maestro's share call: a new link (Write)",
        "shares",
        {201: PublicLink},
        USER_ERRORS + (403,) + BODY_ERRORS,
        body=s.ShareCreate,
        body_required=False,
        description=SHARE_RULES,
    ),
    Operation(
        "patch",
        "/api/graphs/{graph_id}/shares/{link_id}",
        "Relabel, extend, pause, resume or revoke a link",
        "shares",
        {200: ShareLinkOut},
        USER_ERRORS + (403, 409) + BODY_ERRORS,
        body=s.SharePatch,
        description="422 for an expiry beyond MAESTRO_SHARE_MAX_TTL from the link's creation or in the past.",
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}/shares/{link_id}",
        "Revoke a link (the row stays)",
        "shares",
        {200: ShareLinkOut},
        USER_ERRORS + (403,),
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}/shares",
        "Revoke every link of the graph",
        "shares",
        {200: RevokedCount},
        USER_ERRORS + (403,),
    ),
    Operation(
        "post",
        "/api/live/ticket",
        "A ticket for the live events server",
        "live",
        {200: LiveTicketOut},
        USER_ERRORS + BODY_ERRORS,
        body=s.LiveTicketRequest,
        body_required=False,
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/sources",
        "The graph's discovery sources (Write role)",
        "discovery",
        {200: SourceList},
        USER_ERRORS + (403,),
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/sources",
        "Add a discovery source (Write role)",
        "discovery",
        {201: SourceOut},
        USER_ERRORS + (403, 413) + BODY_ERRORS,
        body=s.SourceCreate,
        description="JSON, or multipart/form-data with the file in `input` (settings and credentials as "
        "JSON text). Inputs: kubernetes ≤ 5 MiB, compose ≤ 1 MiB, otlp ≤ 50 MiB (413 above). "
        "Credentials are sealed for the discovery service; only key_id_end is ever shown.",
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/sources/{source_id}",
        "One source with its last crawl",
        "discovery",
        {200: SourceOut},
        USER_ERRORS + (403,),
    ),
    Operation(
        "patch",
        "/api/graphs/{graph_id}/sources/{source_id}",
        "Change a source's label, input, settings, credentials or schedule",
        "discovery",
        {200: SourceOut},
        USER_ERRORS + (403, 413) + BODY_ERRORS,
        body=s.SourcePatch,
    ),
    Operation(
        "delete",
        "/api/graphs/{graph_id}/sources/{source_id}",
        "Remove a source and what only it discovered",
        "discovery",
        {204: None},
        USER_ERRORS + (403,),
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/sources/{source_id}/crawl",
        "Crawl the source now",
        "discovery",
        {202: CrawlStarted},
        USER_ERRORS + (403, 409),
        description="409 while a crawl of this source is running; 503 when the discovery service cannot "
        "be reached (the crawl is then `failed` with that message).",
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/dependencies",
        "The graph's dependencies: the spec's lines and every source's, with origins and evidence",
        "discovery",
        {200: DependenciesOut},
        USER_ERRORS,
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/versions",
        "The versions of the graph's dependencies, newest first",
        "discovery",
        {200: VersionList},
        USER_ERRORS,
        query=(
            (
                "before",
                {"type": "integer", "minimum": 0, "maximum": 999_999_999},
                "Only versions older than this one (the `next` of an earlier answer).",
            ),
        ),
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/sources/{source_id}/crawls/{crawl_id}/input",
        "The discovery service reads a crawl's input (command token)",
        "discovery",
        {200: None},
        (400, 401, 403, 404, 409, 429, 503),
        auth="discovery",
        binary=True,
        request_headers=(
            (
                "X-Maestro-Claim",
                {"type": "string", "minLength": 16, "maxLength": 128},
                "The reader's own random string (printable ASCII): a read with the claim that claimed the "
                "crawl is answered again (its first answer was lost); 400 when it is not one.",
            ),
        ),
        description="The body is the source's input as stored; headers X-Maestro-Source-Kind, "
        "X-Maestro-Source-Settings (JSON) and X-Maestro-Sealed-Credentials. The first read "
        "claims the crawl: another discovery process gets 409, and so does a second read without "
        "the first one's X-Maestro-Claim.",
    ),
    Operation(
        "put",
        "/api/graphs/{graph_id}/sources/{source_id}/crawls/{crawl_id}",
        "The discovery service writes a crawl's result (command token)",
        "discovery",
        {200: CrawlOut},
        (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        auth="discovery",
        body=s.CrawlResultIn,
        description="Merged into the graph: hand-written lines never change; only status ok removes what the "
        "source no longer sees; above 2,000 nodes / 10,000 edges the crawl ends partial naming what "
        "was left out. 409 when the crawl has ended.",
    ),
    Operation(
        "post",
        "/api/graphs/{graph_id}/reports",
        "Ask for a report: PDF, XLSX or CSV (Read role)",
        "reports",
        {202: ReportStarted},
        USER_ERRORS + BODY_ERRORS,
        body=s.ReportRequest,
        description="The report service makes it; follow it with GET …/reports/{report_id} or the live "
        "events report.* on the user's channel. `since`: a version of this graph (400 otherwise); "
        "the PDF then lists what changed since. 503 when the report service cannot be reached "
        "or is busy (the report is then `failed` with that message).",
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/reports",
        "The graph's reports, newest first",
        "reports",
        {200: ReportList},
        USER_ERRORS,
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/reports/{report_id}",
        "One report and its status",
        "reports",
        {200: ReportOut},
        USER_ERRORS,
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/reports/{report_id}/file",
        "Download a ready report",
        "reports",
        {200: None},
        USER_ERRORS + (409,),
        binary=True,
        binary_types=(
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "text/csv",
        ),
        description="An attachment named after the graph and the day it was made (checkout-2026-12-06.pdf). "
        "409 while the report is running or when it failed.",
    ),
    Operation(
        "put",
        "/api/graphs/{graph_id}/reports/{report_id}",
        "The report service uploads the file, or says why it failed (report command token)",
        "reports",
        {200: ReportOut},
        (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        auth="reports",
        body=s.ReportFailure,
        description="The body is the whole file with its media type (application/pdf, the XLSX type or "
        "text/csv), at most 20 MiB (413 above); or JSON {status: failed, message}. Only the "
        "report command token of this report (403 for any other token). 409 once it has ended.",
    ),
    Operation(
        "get",
        "/api/graphs/{graph_id}/picture",
        "The graph's latest picture as SVG (Read role)",
        "graphs",
        {200: None},
        USER_ERRORS,
        binary=True,
        binary_types=("image/svg+xml",),
        description="The sanitized SVG the analytics worker drew; 404 when it has none yet. Served inert "
        "(Content-Security-Policy: sandbox). The report service reads it with its command token.",
    ),
    Operation(
        "post",
        "/analytics/jobs/claim",
        'Claim the next pending graph (worker token for "*")',
        "worker",
        {200: JobOut, 204: None},
        (401, 403, 429, 503),
        auth="worker",
    ),
    Operation(
        "post",
        "/analytics/graphs",
        "Post a result for the graph the worker token names",
        "worker",
        {200: WorkerResultOut, 201: WorkerResultOut},
        (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        auth="worker",
        body=ingest_schemas.WorkerResult,
        form=ingest_schemas.WorkerResultForm,
        description="201 when stored, 200 for a repeat of a stored run_id. 409 when run_id is not the "
        "graph's current run. The body is limited to MAESTRO_INGEST_MAX_BYTES (413). The worker "
        "token must be bound to this result: its `run_id` claim equal to the body's run_id "
        "and its `body_sha256` claim the SHA-256 (hex) of the exact request body, else 403. "
        "A picture the SVG sanitizer refuses, or info over 256 KB of JSON, is a 422.",
    ),
)

SECURITY_SCHEMES = {
    "userToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /api/auth/token, or a personal API token from "
        "POST /api/tokens. `Authorization: JWT <token>` works too.",
    },
    "refreshToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A refresh token from POST /api/auth/token.",
    },
    "discoveryToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A discovery command token: a user-context JWT (MAESTRO_SECRETJWT, aud maestro-discovery) "
        "the app hands the discovery service for one graph, at most 15 minutes (SPEC §11).",
    },
    "reportToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A report command token: a user-context JWT (MAESTRO_SECRETJWT, aud maestro-reports) the "
        "app hands the report service for one report of one graph, at most 15 minutes (SPEC §12). "
        "Accepted on that graph's read endpoints too, and nowhere else.",
    },
    "workerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A worker token signed with MAESTRO_SECRETJWT_ANALYTICS (SPEC §3.3); "
        '`graph_id: "*"` to claim jobs, the graph\'s id to post its result (plus `run_id` and '
        "`body_sha256` claims binding it to that result).",
    },
}
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "user": [{"userToken": []}],
    "refresh": [{"refreshToken": []}],
    "worker": [{"workerToken": []}],
    "discovery": [{"discoveryToken": []}],
    "reports": [{"reportToken": []}],
    "none": [],
}

DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "The request cannot be read (bad JSON, a NUL character, a bad query parameter).",
    401: "No valid token in Authorization (or wrong credentials).",
    403: "The token's user or worker may not do this.",
    404: "No such graph, link or user, or one the user may not read.",
    409: "Conflicts with the current state (e.g. a revoked link, a stale run).",
    413: "The body is too large.",
    415: "The body is not JSON (Content-Type: application/json).",
    422: "Invalid input: `fields` names each field and its problem.",
    429: "Too many requests: retry after Retry-After seconds.",
    503: "A dependency (database, Redis) is unavailable: retry after Retry-After seconds.",
}


def _request_models() -> list[type[BaseModel]]:
    models = [op.body for op in OPERATIONS if op.body] + [op.form for op in OPERATIONS if op.form]
    return list(dict.fromkeys(models))


def _response_models() -> list[type[BaseModel]]:
    models = [model for op in OPERATIONS for model in op.answers.values() if model] + [ErrorOut]
    return list(dict.fromkeys(models))


def _parameters(op: Operation) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": ID_PARAMETER} for name in names
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in op.query
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, "schema": schema, "description": text}
        for name, schema, text in op.request_headers
    ]
    return parameters


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process: it depends only on code)."""
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(model, "validation") for model in _request_models()]
    outputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(model, "serialization") for model in _response_models()]
    refs, definitions = models_json_schema(inputs + outputs, ref_template="#/components/schemas/{model}")

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    error_ref = ref(ErrorOut, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        answers: dict[str, Any] = {}
        for status, model in op.answers.items():
            answer: dict[str, Any] = {"description": DESCRIPTIONS[status]}
            if model is not None:
                answer["content"] = {"application/json": {"schema": ref(model, "serialization")}}
            elif op.binary and status == 200:
                answer["content"] = {
                    kind: {"schema": {"type": "string", "format": "binary"}} for kind in op.binary_types
                }
            if status in op.headers:
                answer["headers"] = op.headers[status]
            answers[str(status)] = answer
        for status in sorted(set(op.errors)):
            answers[str(status)] = {
                "description": f"{DESCRIPTIONS[status]} (`error`: {ERROR_NAMES.get(status, 'error')})",
                "content": {"application/json": {"schema": error_ref}},
            }
        answers["414"] = {
            "description": f"The request line (method, path and query string) is over {REQUEST_LINE_LIMIT} "
            "bytes: gunicorn refuses it before the app, with a short HTML page.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
        operation: dict[str, Any] = {
            "operationId": _operation_id(op),
            "summary": op.summary,
            "tags": [op.tag],
            "security": SECURITY[op.auth],
            "responses": answers,
        }
        if op.description:
            operation["description"] = op.description
        parameters = _parameters(op)
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            content = {"application/json": {"schema": ref(op.body, "validation")}}
            if op.form is not None:
                content["application/x-www-form-urlencoded"] = {"schema": ref(op.form, "validation")}
            operation["requestBody"] = {"required": op.body_required, "content": content}
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Maestro Web API",
            "version": "1",
            "description": "Graphs, roles, share links and the analytics worker's endpoints. Every error is "
            '{"error", "message"} and, for invalid input, "fields" naming each field (SPEC §7).\n\n'
            "What a JSON Schema cannot say: text (JSON strings, query values, form fields) must be "
            "valid Unicode without NUL; a NUL or a lone UTF-16 surrogate (`\\ud800` not followed "
            "by a low surrogate) is refused with 400 (anywhere in a JSON body) or 422 (naming the "
            "field). A request line over 8190 bytes gets gunicorn's 414, a header over 8190 bytes "
            "its 400, both as HTML, before the app sees the request. Beyond the schemas, some "
            "values are checked against the database or the app's rules (a registered user, a "
            "cursor, a token, the spec grammar, the share-link cap); each operation says which.",
        },
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
    }


def _operation_id(op: Operation) -> str:
    words = [part.strip("{}") for part in op.path.split("/") if part and part not in ("api",)]
    return op.method + "_" + "_".join(words)


@api_auth_bp.get("/api/openapi.json")
def openapi_json() -> Response:
    """The document itself is public: it describes the API, it grants nothing."""
    return jsonify(openapi_document())

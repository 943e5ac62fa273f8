"""Declared request models of the JSON API and the worker endpoints (pydantic v2); the worker's
request models are in ingest/schemas.py, on these same bases.

One source for three things (STYLE.md): the 422 that names the field (`validate` raises
`ValidationFailed`), the OpenAPI document (`maestro_web/api/openapi.py` publishes these models'
JSON schema) and the input the fuzzers generate (tests/test_fuzz_api.py). The response models,
with the functions that build each answer, are in maestro_web/serializers/ (one module per thing).

Request models forbid unknown members, take integers and booleans strictly (`true` is not 1,
`"5"` is not 5, `1e20` is not an integer) and bound every number and string, so no value reaches
the database that it would refuse (out of range, NUL) or that would overflow a date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic import ValidationError as PydanticValidationError

from maestro_web.domain.spec import MAX_SPEC_CHARS
from maestro_web.limits import PASSCODE_MAX_LENGTH, PASSCODE_MIN_LENGTH
from maestro_web.models.graph import (
    DESCRIPTION_MAX_LENGTH,
    GRAPH_TYPE_CHOICES_TEXT,
    NAME_MAX_LENGTH,
    normalize_graph_type,
)
from maestro_web.models.share import LABEL_MAX_LENGTH
from maestro_web.models.user import PERSONAL_TOKEN_MAX_DAYS, PERSONAL_TOKEN_NAME_MAX_LENGTH
from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.safe_json import UnsafeJSON, loads_strict, text_problem
from maestro_web.serializers.sources import ScheduleName, SourceKindName
from maestro_web.shares.services import MAX_ORIGINS, MAX_VIEWS_LIMIT, ORIGIN_PATTERN

MAX_LIFETIME_SECONDS = 10 * 365 * 86400  # far above any share cap; keeps date arithmetic finite
MAX_INT32 = 2**31 - 1  # INTEGER columns on PostgreSQL
MAX_MESSAGE_LENGTH = 5000
MAX_TOKEN_LENGTH = 4096
MAX_PASSWORD_INPUT = 1024  # longer than any valid password; bounds the work of hashing a guess
REQUIRED = "This field is required."
UNKNOWN = "Unknown field."

Model = TypeVar("Model", bound=BaseModel)


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError(REQUIRED)
    return value


# Text the database can store: no NUL, no lone surrogate (JSON bodies are checked on reading too;
# this also covers form fields and direct use of the models).
Text = Annotated[str, AfterValidator(_storable)]
NonBlank = Annotated[str, Field(min_length=1, pattern=r"\S"), AfterValidator(_storable), AfterValidator(_not_blank)]


class RequestModel(BaseModel):
    """A request body: unknown members are refused, each field's problem gets a plain message."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_SPEC_CHARS)

    # field name -> message shown for any type or range problem of that field
    messages: ClassVar[dict[str, str]] = {}


# --- reading and validating ------------------------------------------------------------------------


def validate(model: type[Model], data: Any) -> Model:
    """`data` as a `model`, or ValidationFailed (422) naming every field at fault."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", {"body": "must be a JSON object"}, kind=Kind.BAD_REQUEST
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed.for_fields(field_problems(model, exc)) from None


def field_problems(model: type[BaseModel], exc: PydanticValidationError) -> dict[str, str]:
    messages: dict[str, str] = getattr(model, "messages", {})
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        location = error["loc"]
        name = str(location[0]) if location else "body"
        if name in fields:
            continue
        kind = error["type"]
        if kind == "missing":
            fields[name] = REQUIRED
        elif kind == "extra_forbidden":
            fields[name] = UNKNOWN
        elif kind == "value_error":  # our own validators' messages (NUL, blank)
            fields[name] = _sentence(str(error["ctx"]["error"]))
        else:
            fields[name] = messages.get(name) or _sentence(error["msg"])
    return fields


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def read_json(optional: bool = False) -> Any:
    """The request's JSON document (strictly read), or ValidationFailed: 415, 400 or 422.

    With `optional`, a request with no body at all reads as `{}`.
    """
    raw = request.get_data(cache=True)
    if optional and not raw:
        return {}
    if not request.is_json:
        raise ValidationFailed("Send a JSON body with Content-Type: application/json.", kind=Kind.UNSUPPORTED)
    try:
        return loads_strict(raw)
    except UnsafeJSON as exc:
        if exc.field:
            raise ValidationFailed.for_fields({exc.field: _sentence(f"{exc.where}: {exc.problem}")}) from None
        raise ValidationFailed(
            f"The body is not acceptable JSON: {exc.problem}.", {"body": exc.problem}, kind=Kind.BAD_REQUEST
        ) from None


def parse_body(model: type[Model], optional: bool = False) -> Model:
    """The request's JSON body validated as `model` (see `read_json` and `validate`)."""
    return validate(model, read_json(optional))


def parse_datetime(value: str, name: str) -> datetime:
    """An ISO 8601 date and time (UTC when no offset is given), as an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationFailed.for_fields(
            {name: "Must be an ISO 8601 date and time, e.g. 2026-12-31T18:00:00Z."}
        ) from None


# --- auth ------------------------------------------------------------------------------------------


class Credentials(RequestModel):
    """POST /api/auth/token and /users/auth."""

    messages: ClassVar[dict[str, str]] = {"email": REQUIRED, "password": REQUIRED}

    email: Annotated[NonBlank, Field(max_length=254, description="The account's e-mail address.")]
    password: Annotated[NonBlank, Field(max_length=MAX_PASSWORD_INPUT)]


class RevokeRequest(RequestModel):
    """POST /api/auth/revoke: the token in Authorization is revoked, and this refresh token too."""

    messages: ClassVar[dict[str, str]] = {"refresh_token": "Must be a token (text)."}

    refresh_token: Annotated[Text, Field(min_length=1, max_length=MAX_TOKEN_LENGTH)] | None = None


# --- personal API tokens ---------------------------------------------------------------------------


class PersonalTokenCreate(RequestModel):
    """POST /api/tokens."""

    messages: ClassVar[dict[str, str]] = {
        "name": f"Name the token (1 to {PERSONAL_TOKEN_NAME_MAX_LENGTH} characters).",
        "expires_in_days": f"A whole number of days from 1 to {PERSONAL_TOKEN_MAX_DAYS}.",
    }

    name: Annotated[
        NonBlank,
        Field(
            max_length=PERSONAL_TOKEN_NAME_MAX_LENGTH, description='What the token is for, e.g. "discovery service".'
        ),
    ]
    expires_in_days: Annotated[
        StrictInt, Field(ge=1, le=PERSONAL_TOKEN_MAX_DAYS, description="Days the token lives (at most a year).")
    ]


# --- graphs ----------------------------------------------------------------------------------------

# "business" is accepted too and stored (and answered) in Maestro's spelling, "bussiness".
GraphType = Annotated[Literal["bussiness", "business", "infra"], AfterValidator(normalize_graph_type)]
GraphName = Annotated[Text, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
Description = Annotated[Text, Field(max_length=DESCRIPTION_MAX_LENGTH)]
SpecText = Annotated[
    Text,
    Field(
        max_length=MAX_SPEC_CHARS,
        description=(
            "Dependency spec: one `source -> target` per line, bare names, `# comments`, `name [kind=database]`; "
            'or JSON {"nodes": [...], "edges": [...]}.'
        ),
    ),
]


class GraphCreate(RequestModel):
    messages: ClassVar[dict[str, str]] = {
        "name": f"Give the graph a name of 1 to {NAME_MAX_LENGTH} characters.",
        "type": f"Must be {GRAPH_TYPE_CHOICES_TEXT}.",
        "description": f"Must be text of at most {DESCRIPTION_MAX_LENGTH} characters.",
        "spec": "Must be text.",
        "show_description": "Must be true or false.",
    }

    name: GraphName
    type: GraphType = "infra"
    description: Description = ""
    show_description: StrictBool = Field(
        False, description="Show the description to visitors of the graph's share links."
    )
    spec: SpecText = ""


class GraphPatch(RequestModel):
    """Fields left out keep their values."""

    messages: ClassVar[dict[str, str]] = GraphCreate.messages

    name: GraphName | None = None
    type: GraphType | None = None
    description: Description | None = None
    show_description: StrictBool | None = None
    spec: SpecText | None = None


RoleName = Literal["read", "write", "admin"]
RoleLevel = Literal[1, 3, 7]


class RoleGrant(RequestModel):
    messages: ClassVar[dict[str, str]] = {
        "email": "Enter an e-mail address (one without an account is invited).",
        "role": "Must be read, write or admin (or 1, 3, 7).",
    }

    email: Annotated[NonBlank, Field(max_length=254)]
    role: RoleName | RoleLevel = Field(description="read, write or admin; or Maestro's levels 1, 3, 7.")


# --- share links -----------------------------------------------------------------------------------

Label = Annotated[Text, Field(min_length=1, max_length=LABEL_MAX_LENGTH)]
Lifetime = Annotated[StrictInt, Field(ge=1, le=MAX_LIFETIME_SECONDS, description="Seconds from now.")]
IsoDateTime = Annotated[
    Text,
    Field(
        max_length=64, json_schema_extra={"format": "date-time"}, description="ISO 8601; UTC when no offset is given."
    ),
]
SHARE_MESSAGES = {
    "label": f"Must be text of 1 to {LABEL_MAX_LENGTH} characters.",
    "expires_in": f"Must be a whole number of seconds, from 1 to {MAX_LIFETIME_SECONDS}.",
    "expires_at": "Must be an ISO 8601 date and time, e.g. 2026-12-31T18:00:00Z.",
    "max_views": f"Must be a whole number from 1 to {MAX_VIEWS_LIMIT}, or null for no limit.",
    "embeddable": "Must be true or false.",
    "allowed_origins": f"Must be a list of at most {MAX_ORIGINS} origins such as https://intranet.example.com.",
    "paused": "Must be true or false.",
    "revoked": "A revoked link stays revoked; only true is accepted.",
    "passcode": f"Must be text of {PASSCODE_MIN_LENGTH} to {PASSCODE_MAX_LENGTH} characters, or absent for none"
    f" (when changing a link: null removes it).",
    "mode": 'Must be "live" (the newest picture) or "snapshot" (the picture as it is now).',
}


# `expires_in` and `expires_at` together are refused (422): said in the schema, so the document and
# the API agree on which bodies are valid.
NOT_BOTH_EXPIRIES: dict[str, Any] = {
    "not": {
        "required": ["expires_in", "expires_at"],
        "properties": {"expires_in": {"type": "integer"}, "expires_at": {"type": "string"}},
    }
}
ORIGIN_DESCRIPTION = (
    "An origin: `https://host[:port]` (`http://` only for localhost and 127.0.0.1), "
    "an optional trailing slash; an empty string is skipped."
)


class ShareCreate(RequestModel):
    """Give `expires_in` or `expires_at` (not both); without either the link lives 7 days."""

    model_config = ConfigDict(json_schema_extra=NOT_BOTH_EXPIRIES)
    messages: ClassVar[dict[str, str]] = SHARE_MESSAGES

    # Left out, the label is the page's: "Shared link, 6 Dec", the (UTC) day the link is made.
    label: (
        Annotated[
            Label,
            Field(
                description="Left out: “Shared link, 6 Dec”, the day the link is made (UTC), "
                "as the page names a link made without a label."
            ),
        ]
        | None
    ) = None
    expires_in: Lifetime | None = None
    expires_at: IsoDateTime | None = None
    max_views: Annotated[StrictInt, Field(ge=1, le=MAX_VIEWS_LIMIT)] | None = None
    embeddable: StrictBool = False
    # The pattern is checked by normalize_origins (with its own message), and published here.
    allowed_origins: Annotated[
        list[
            Annotated[
                Text,
                Field(max_length=200, description=ORIGIN_DESCRIPTION, json_schema_extra={"pattern": ORIGIN_PATTERN}),
            ]
        ],
        Field(max_length=MAX_ORIGINS),
    ] = []
    passcode: Annotated[Text, Field(min_length=PASSCODE_MIN_LENGTH, max_length=PASSCODE_MAX_LENGTH)] | None = None
    mode: Literal["live", "snapshot"] = "live"


class SharePatch(RequestModel):
    model_config = ConfigDict(json_schema_extra=NOT_BOTH_EXPIRIES)
    messages: ClassVar[dict[str, str]] = SHARE_MESSAGES

    label: Label | None = None
    expires_in: Lifetime | None = None
    expires_at: IsoDateTime | None = None
    paused: StrictBool | None = None
    revoked: Literal[True] | None = None
    passcode: (
        Annotated[
            Text,
            Field(
                min_length=PASSCODE_MIN_LENGTH,
                max_length=PASSCODE_MAX_LENGTH,
                description="Sets or changes the passcode; null removes it; absent keeps it.",
            ),
        ]
        | None
    ) = None


# --- live events -----------------------------------------------------------------------------------


class LiveTicketRequest(RequestModel):
    """POST /api/live/ticket: the graph whose events to receive (Read needed), or none."""

    model_config = ConfigDict(extra="ignore")
    messages: ClassVar[dict[str, str]] = {"graph": "Must be a graph id (text) or absent."}

    graph: Annotated[Text, Field(min_length=1, max_length=64)] | None = None


# --- discovery sources, crawls, dependencies, versions (SPEC §11, §13) ---------------------------------

SOURCE_KINDS_TEXT = "kubernetes, compose, otlp or aws"
MAX_SOURCE_INPUT_CHARS = 64 * 1024 * 1024  # above every kind's limit; the view names the kind's own (413)
MAX_SETTINGS_BYTES = 4096
MAX_REGIONS = 30
MAX_RESULT_NODES = 20_000  # a crawl may report more than §4 allows: the merge names what it leaves out
MAX_RESULT_EDGES = 100_000
MAX_EVIDENCE_ITEMS = 20
MAX_EVIDENCE_CHARS = 1000
SourceLabel = Annotated[NonBlank, Field(max_length=120)]
NodeName = Annotated[NonBlank, Field(max_length=100)]
Evidence = Annotated[list[Annotated[Text, Field(max_length=MAX_EVIDENCE_CHARS)]], Field(max_length=MAX_EVIDENCE_ITEMS)]
SOURCE_MESSAGES = {
    "kind": f"Must be one of: {SOURCE_KINDS_TEXT}.",
    "label": "Give the source a label of 1 to 120 characters.",
    "input": "Must be text: the manifests, the Compose file or the OTLP JSON.",
    "settings": "Must be a JSON object of the kind's settings.",
    "credentials": "Must be an object {access_key_id, secret_access_key, role_arn?, external_id?} (aws only).",
    "schedule": "Must be one of: off, hourly, daily, weekly.",
}


class AwsCredentials(RequestModel):
    """Sealed on save with the discovery service's public key; never shown again."""

    messages: ClassVar[dict[str, str]] = {
        "access_key_id": "Must be an AWS access key id: 16 to 128 capital letters and digits.",
        "secret_access_key": "Must be the secret access key: 1 to 256 characters.",
        "role_arn": "Must be an IAM role ARN such as arn:aws:iam::123456789012:role/maestro-discovery.",
        "external_id": "Must be text of 2 to 1224 characters.",
    }

    access_key_id: Annotated[Text, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]
    secret_access_key: Annotated[Text, Field(min_length=1, max_length=256)]
    role_arn: (
        Annotated[Text, Field(max_length=2048, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$")] | None
    ) = None
    external_id: Annotated[Text, Field(min_length=2, max_length=1224)] | None = None


class AwsSettings(RequestModel):
    messages: ClassVar[dict[str, str]] = {
        "regions": f"Must be a list of 1 to {MAX_REGIONS} AWS regions such as eu-west-1.",
        "endpoint_url": "Must be one of the endpoints in MAESTRO_DISCOVERY_AWS_ENDPOINTS, or absent.",
    }

    regions: Annotated[
        list[Annotated[Text, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", max_length=32)]],
        Field(min_length=1, max_length=MAX_REGIONS),
    ]
    endpoint_url: Annotated[Text, Field(min_length=1, max_length=2048)] | None = None


class SourceCreate(RequestModel):
    """A new source. `input` is the text (or, multipart, the file) for kubernetes, compose and otlp;
    aws takes `settings` {regions, endpoint_url?} and `credentials`."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_SOURCE_INPUT_CHARS)
    messages: ClassVar[dict[str, str]] = SOURCE_MESSAGES

    kind: SourceKindName
    label: SourceLabel
    input: Text | None = Field(None, description="kubernetes ≤ 5 MiB, compose ≤ 1 MiB, otlp ≤ 50 MiB (413 above).")
    settings: dict[str, Any] | None = None
    credentials: AwsCredentials | None = None
    schedule: ScheduleName = "off"


class SourcePatch(RequestModel):
    """Fields left out keep their values; new `input` or `credentials` replace the old ones."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_SOURCE_INPUT_CHARS)
    messages: ClassVar[dict[str, str]] = SOURCE_MESSAGES

    label: SourceLabel | None = None
    input: Text | None = None
    settings: dict[str, Any] | None = None
    credentials: AwsCredentials | None = None
    schedule: ScheduleName | None = None


class DiscoveredNodeIn(RequestModel):
    name: NodeName
    kind: Annotated[Text, Field(max_length=32)] | None = None
    evidence: Evidence = []


class DiscoveredEdgeIn(RequestModel):
    source: NodeName
    target: NodeName
    evidence: Annotated[Evidence, Field(min_length=1)]
    confidence: Literal["declared", "configured", "observed", "inferred"]
    calls: Annotated[StrictInt, Field(ge=0, le=MAX_INT32)] | None = None
    p50_ms: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    p99_ms: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None


class CrawlResultIn(RequestModel):
    """What the discovery service found (PUT with the command token of the crawl)."""

    messages: ClassVar[dict[str, str]] = {
        "status": "Must be ok, partial or failed.",
        "message": f"Must be text of at most {MAX_MESSAGE_LENGTH} characters.",
        "nodes": f"Must be a list of at most {MAX_RESULT_NODES} nodes {{name, kind?, evidence?}}.",
        "edges": f"Must be a list of at most {MAX_RESULT_EDGES} edges {{source, target, evidence, confidence}}.",
    }

    status: Literal["ok", "partial", "failed"]
    message: Annotated[Text, Field(max_length=MAX_MESSAGE_LENGTH)] = ""
    nodes: Annotated[list[DiscoveredNodeIn], Field(max_length=MAX_RESULT_NODES)] = []
    edges: Annotated[list[DiscoveredEdgeIn], Field(max_length=MAX_RESULT_EDGES)] = []


# --- reports (SPEC §12) ----------------------------------------------------------------------------


class ReportRequest(RequestModel):
    """Ask for a report of the graph (Read role)."""

    messages: ClassVar[dict[str, str]] = {
        "format": "Must be pdf, xlsx or csv.",
        "since": "Must be a version number of this graph, or null.",
    }

    format: Literal["pdf", "xlsx", "csv"]
    since: Annotated[StrictInt, Field(ge=1, le=999_999_999)] | None = None


class ReportFailure(RequestModel):
    """The report service could not make the report (PUT with the report command token, JSON)."""

    messages: ClassVar[dict[str, str]] = {
        "status": "Must be failed.",
        "message": "Must be text of at most 1000 characters.",
    }

    status: Literal["failed"]
    message: Annotated[Text, Field(max_length=1000)] = ""

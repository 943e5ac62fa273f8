"""The declared request models of a worker's posted result (pydantic v2), JSON and Maestro's form.

One source for the 422 that names the field (routes.py validates with them), the OpenAPI document
(api/openapi.py lists the worker's two endpoints) and the fuzzers' input. They are built on the API's
request bases (api/schemas.py: unknown members, strict numbers, storable text); what the worker gets
back (WorkerResultOut, JobOut, result_json) is in serializers/results.py.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, StrictInt

from maestro_web.api.schemas import MAX_INT32, MAX_MESSAGE_LENGTH, NonBlank, RequestModel, Text
from maestro_web.domain.spec import MAX_SPEC_CHARS
from maestro_web.serializers.results import ResultStatus

MAX_SVG_CHARS = 64 * 1024 * 1024  # the body limit (MAESTRO_INGEST_MAX_BYTES) is what bounds it

MAX_INFO_BYTES = 256 * 1024


def picture_required_unless_error(member: str) -> dict[str, Any]:
    """The schema's way of saying what the ingest refuses (422): no picture, unless status is error."""
    return {
        "if": {"properties": {"status": {"const": "error"}}, "required": ["status"]},
        "else": {"required": [member], "properties": {member: {"type": "string", "minLength": 1}}},
    }


class WorkerResult(RequestModel):
    """A worker's result for the graph its token names (JSON form).

    Members this app does not store are ignored rather than refused: Maestro's own workers and
    other foreign workers may send more than we keep.
    """

    model_config = ConfigDict(
        extra="ignore", str_max_length=MAX_SPEC_CHARS, json_schema_extra=picture_required_unless_error("svg")
    )

    messages: ClassVar[dict[str, str]] = {
        "run_id": "Required: the run_id the job claim returned.",
        "status": "Must be one of: finished, warning, error.",
        "msg": f"Must be text of at most {MAX_MESSAGE_LENGTH} characters.",
        "total": f"Must be a whole number from 0 to {MAX_INT32}.",
        "info": "Must be a JSON object of finite numbers, text, lists and objects.",
        "svg": "Must be the SVG document as text.",
        "graph_id": "Must be the graph id the token was made for.",
    }

    run_id: Annotated[NonBlank, Field(max_length=64)]
    status: ResultStatus = "finished"
    msg: Annotated[Text, Field(max_length=MAX_MESSAGE_LENGTH)] = ""
    svg: Annotated[Text, Field(max_length=MAX_SVG_CHARS)] | None = Field(
        None, description="The picture; required unless status is error."
    )
    total: Annotated[StrictInt, Field(ge=0, le=MAX_INT32)] | None = None
    info: dict[str, Any] = Field(default_factory=dict, description="Figures; JSON of finite numbers.")
    graph_id: Annotated[Text, Field(max_length=64)] | None = None


class WorkerResultForm(RequestModel):
    """Maestro's worker posts a form: `payload` is the SVG, `total` a number as text."""

    model_config = ConfigDict(
        extra="ignore", str_max_length=MAX_SPEC_CHARS, json_schema_extra=picture_required_unless_error("payload")
    )

    messages: ClassVar[dict[str, str]] = {
        **WorkerResult.messages,
        "payload": "Must be the SVG document as text.",
        "total": f"Must be a whole number from 0 to {MAX_INT32}.",
        "info": "Must be a JSON object, as text.",
    }

    run_id: Annotated[NonBlank, Field(max_length=64)]
    status: ResultStatus = "finished"
    msg: Annotated[Text, Field(max_length=MAX_MESSAGE_LENGTH)] = ""
    payload: Annotated[Text, Field(max_length=MAX_SVG_CHARS)] | None = None
    total: Annotated[Text, Field(pattern=r"^\s*[0-9]{1,10}\s*$")] | None = None
    info: Annotated[Text, Field(max_length=MAX_INFO_BYTES)] | None = None
    graph_id: Annotated[Text, Field(max_length=64)] | None = None

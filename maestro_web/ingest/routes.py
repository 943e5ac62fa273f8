"""Worker endpoints: claim a job, post a result. Only worker tokens, never cookies (SPEC §5)."""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Response, abort, current_app, jsonify, request

from maestro_web.api.schemas import read_json, validate
from maestro_web.domain.dependencies import current_dependencies
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.ingest import ingest_bp
from maestro_web.ingest.jobs import ResultInput, claim_next_run, ingest_result
from maestro_web.ingest.schemas import MAX_INFO_BYTES, WorkerResult, WorkerResultForm
from maestro_web.ingest.svg import SvgError, sanitize_svg
from maestro_web.metrics import app as app_metrics
from maestro_web.models import Graph
from maestro_web.refusals import ValidationFailed
from maestro_web.safe_json import UnsafeJSON, loads_strict, text_problem
from maestro_web.security.worker_tokens import ANY_GRAPH, body_digest
from maestro_web.serializers.results import result_json
from maestro_web.web.guards import worker_claims, worker_graph_id
from maestro_web.web.rate_limits import worker_rate_limits

WORKER_FORM_FIELDS = ("run_id", "status", "msg", "payload", "total", "info", "graph_id")

worker_rate_limits(ingest_bp)  # per worker token, every endpoint of the blueprint


@ingest_bp.post("/jobs/claim")
def claim_job():
    if worker_graph_id() != ANY_GRAPH:
        return json_error(403, 'Job claims need a worker token with graph_id "*".')
    run = claim_next_run(current_app.config["MAESTRO_JOB_LEASE_SECONDS"])
    if run is None:
        return Response(status=204)
    app_metrics.RUNS_CLAIMED.inc()
    graph = run.graph
    # The hand-written spec united with what the graph's sources discovered (SPEC §11); a stored
    # spec that no longer parses counts as empty.
    spec = current_dependencies(graph).to_worker_spec()
    return jsonify(graph_id=graph.public_id, run_id=run.public_id, type=graph.type, name=graph.name, spec=spec)


def _result() -> WorkerResult:
    """The posted result, from JSON or from Maestro's form (`payload` = SVG, `total` as text),
    validated by the declared models; ValidationFailed (422, naming the field) otherwise."""
    if request.is_json:
        return validate(WorkerResult, read_json())
    form = validate(WorkerResultForm, {key: request.form[key] for key in WORKER_FORM_FIELDS if key in request.form})
    info: Any = {}
    if form.info is not None:
        try:
            info = loads_strict(form.info)
        except UnsafeJSON as exc:
            raise ValidationFailed.for_fields({"info": f"Must be a JSON object: {exc}."}) from None
    return validate(
        WorkerResult,
        {
            "run_id": form.run_id,
            "status": form.status,
            "msg": form.msg,
            "svg": form.payload,
            "total": int(form.total) if form.total is not None else None,
            "info": info,
            "graph_id": form.graph_id,
        },
    )


def _checked(result: WorkerResult) -> ResultInput:
    """The rules beyond types: the picture is required (unless status is error) and is sanitized."""
    if len(json.dumps(result.info)) > MAX_INFO_BYTES:
        raise ValidationFailed.for_fields({"info": f"Must be at most {MAX_INFO_BYTES} bytes of JSON."})
    safe_svg = None
    if not result.svg:
        if result.status != "error":
            raise ValidationFailed.for_fields({"svg": "Required unless status is error."})
    else:
        try:
            safe_svg = sanitize_svg(result.svg)
        except SvgError as exc:
            raise ValidationFailed.for_fields({"svg": str(exc)}) from None
    return ResultInput(
        run_id=result.run_id,
        status=result.status,
        message=result.msg,
        svg=safe_svg,
        info=result.info,
        total=result.total,
    )


UNBOUND = (
    "Posting a result needs a worker token bound to it: a run_id claim naming the run and a "
    "body_sha256 claim with the SHA-256 (hex) of the request body."
)


def _binding_refused(run_id: str) -> Response | None:
    """403 unless the token was made for this run and this very body (worker_tokens.mint_result_token).

    Checked after the body is validated (a malformed result gets its 422 naming the field whatever
    the token) and before anything is read from or written to the database."""
    claims = worker_claims()
    bound_run, bound_body = claims.get("run_id"), claims.get("body_sha256")
    if bound_run is None or bound_body is None:
        return json_error(403, UNBOUND)
    if not hmac.compare_digest(str(bound_run).encode(), run_id.encode()):
        return json_error(403, "The worker token was made for another run.")
    if not hmac.compare_digest(str(bound_body).encode(), body_digest(request.get_data(cache=True)).encode()):
        return json_error(403, "The worker token was made for another result body (body_sha256 differs).")
    return None


@ingest_bp.post("/graphs")
def ingest():
    limit = current_app.config["MAESTRO_INGEST_MAX_BYTES"]
    # Refuse an oversize body from its Content-Length, before reading a byte of it; a body sent
    # without one (chunked) is cut off at the limit while it is read.
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"The result is larger than {limit} bytes.")
    request.max_content_length = limit
    request.get_data(cache=True)  # the bytes the token's body_sha256 names; the form is parsed from them

    graph_id = worker_graph_id()
    if graph_id == ANY_GRAPH:
        return json_error(403, "Posting a result needs a worker token made for that graph.")
    problem = text_problem(graph_id) or ("is longer than 64 characters" if len(graph_id) > 64 else None)
    if problem:  # a token signed by a worker, but its claim could never name a graph
        raise ValidationFailed.for_fields({"graph_id": f"The worker token's graph_id claim {problem}."})
    result = _result()
    if result.graph_id is not None and result.graph_id != graph_id:
        return json_error(403, "The worker token was made for another graph.")
    data = _checked(result)
    refused = _binding_refused(result.run_id)
    if refused is not None:
        return refused
    graph = Graph.get_by_public_id(graph_id)
    if graph is None:
        return json_error(404, "There is no such graph (it may have been deleted).")
    stored, created = ingest_result(graph, data)  # IngestRefused: errors.py answers it (409)
    # The answer is read before the commit, which expires every loaded row: read after it, it
    # would cost a second connection checkout and three SELECTs, one of them the ~100 KB SVG.
    answer = result_json(graph, stored)
    db.session.commit()
    if created:
        app_metrics.run_finished(data.status)
    return jsonify(answer), 201 if created else 200

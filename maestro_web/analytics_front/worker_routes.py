"""Worker endpoints: claim a job, post a result. Only worker tokens, never cookies (SPEC §5)."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, current_app, jsonify, request

from maestro_web.analytics_front import analytics_worker_bp
from maestro_web.analytics_front.jobs import IngestRefused, ResultInput, claim_next_run, ingest_result
from maestro_web.analytics_front.svg import SvgError, sanitize_svg
from maestro_web.errors import json_error
from maestro_web.graphs.spec import SpecError, parse_spec
from maestro_web.models import Graph, GraphResult
from maestro_web.rate_limits import worker_rate_limits
from maestro_web.security.worker_tokens import ANY_GRAPH, worker_graph_id

RESULT_STATUSES = ("finished", "warning", "error")
MAX_MESSAGE_LENGTH = 5000
MAX_INFO_BYTES = 256 * 1024

worker_rate_limits(analytics_worker_bp)  # per worker token, every endpoint of the blueprint


@analytics_worker_bp.post("/jobs/claim")
def claim_job():
    if worker_graph_id() != ANY_GRAPH:
        return json_error(403, 'Job claims need a worker token with graph_id "*".')
    run = claim_next_run(current_app.config["MAESTRO_JOB_LEASE_SECONDS"])
    if run is None:
        return Response(status=204)
    graph = run.graph
    try:
        spec = parse_spec(graph.spec).to_dict()
    except SpecError:  # stored specs were validated; an old, now-invalid one is analysed as empty
        spec = {"nodes": [], "edges": []}
    return jsonify(graph_id=graph.public_id, run_id=run.public_id, type=graph.type, name=graph.name, spec=spec)


def _result_fields() -> dict[str, Any]:
    """The posted fields, from JSON or from Maestro's form (`payload` = SVG, `total`)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, "The body must be a JSON object.")
        return body
    form = request.form
    fields: dict[str, Any] = {k: form[k] for k in ("run_id", "status", "msg", "total", "graph_id") if k in form}
    if "payload" in form:
        fields["svg"] = form["payload"]
    if "info" in form:
        try:
            fields["info"] = json.loads(form["info"])
        except ValueError:
            fields["info"] = form["info"]  # reported below as "must be a JSON object"
    return fields


def _validate(fields: dict[str, Any]) -> tuple[ResultInput | None, dict[str, str]]:
    errors: dict[str, str] = {}
    run_id = fields.get("run_id")
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 64:
        errors["run_id"] = "Required: the run_id the job claim returned."
    status = fields.get("status", "finished")
    if status not in RESULT_STATUSES:
        errors["status"] = "Must be one of: " + ", ".join(RESULT_STATUSES) + "."
    message = fields.get("msg", "")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_LENGTH:
        errors["msg"] = f"Must be text of at most {MAX_MESSAGE_LENGTH} characters."
    total = fields.get("total")
    if isinstance(total, str) and total.strip().isdigit():
        total = int(total)
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
        errors["total"] = "Must be a whole number, 0 or more."
    info = fields.get("info", {})
    if not isinstance(info, dict):
        errors["info"] = "Must be a JSON object."
    elif len(json.dumps(info)) > MAX_INFO_BYTES:
        errors["info"] = f"Must be at most {MAX_INFO_BYTES} bytes of JSON."
    svg = fields.get("svg")
    safe_svg = None
    if svg is None or svg == "":
        if status != "error":
            errors["svg"] = "Required unless status is error."
    elif not isinstance(svg, str):
        errors["svg"] = "Must be the SVG document as text."
    else:
        try:
            safe_svg = sanitize_svg(svg)
        except SvgError as exc:
            errors["svg"] = str(exc)
    if errors:
        return None, errors
    return ResultInput(run_id=run_id, status=status, message=message, svg=safe_svg, info=info, total=total), {}


def result_json(graph: Graph, result: GraphResult) -> dict[str, Any]:
    return {
        "graph_id": graph.public_id,
        "run_id": result.run.public_id,
        "status": result.status,
        "msg": result.message,
        "total": result.total,
        "info": result.info,
        "svg_bytes": len(result.svg.encode()) if result.svg else 0,
        "created_at": result.created_at.isoformat(),
    }


@analytics_worker_bp.post("/graphs")
def ingest():
    limit = current_app.config["MAESTRO_INGEST_MAX_BYTES"]
    # Refuse an oversize body from its Content-Length, before reading a byte of it; a body sent
    # without one (chunked) is cut off at the limit while it is read.
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"The result is larger than {limit} bytes.")
    request.max_content_length = limit

    graph_id = worker_graph_id()
    if graph_id == ANY_GRAPH:
        return json_error(403, "Posting a result needs a worker token made for that graph.")
    fields = _result_fields()
    if "graph_id" in fields and fields["graph_id"] != graph_id:
        return json_error(403, "The worker token was made for another graph.")
    data, errors = _validate(fields)
    if data is None:
        return json_error(422, "Invalid fields: " + ", ".join(sorted(errors)) + ".", fields=errors)
    graph = Graph.get_by_public_id(graph_id)
    if graph is None:
        return json_error(404, "There is no such graph (it may have been deleted).")
    try:
        result, created = ingest_result(graph, data)
    except IngestRefused as exc:
        return json_error(exc.status, str(exc))
    return jsonify(result_json(graph, result)), 201 if created else 200

"""/api/graphs/<id>/reports and …/picture: reports for people, and what the report service needs (SPEC §12).

People (Read role, session or API token): ask for a report, list them, see one, download its file.
The report service (its report command token only, guards.REPORT_COMMAND_ENDPOINTS): read the graph's
picture here (the rest through the graph's other read endpoints) and upload the file, or say why it
failed, with `PUT …/reports/<rid>`. A report still running past its token's life is ended `failed`
whenever reports are read (its service died).
"""

from __future__ import annotations

from flask import Response, abort, current_app, g, jsonify, request

from maestro_web.api import api_bp
from maestro_web.api.schemas import ReportFailure, ReportRequest, parse_body
from maestro_web.domain.access import authorize_graph
from maestro_web.domain.reports import (
    MAX_FILE_BYTES,
    ReportNotStarted,
    download_name,
    has_version,
    media_type,
    report_file,
    reports_of,
    start_report,
)
from maestro_web.domain.weekly_reports import deliver_weekly
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, Report
from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.security.session_jwt import current_user, signed_in_user
from maestro_web.serializers.reports import report_json
from maestro_web.web.headers import attachment, svg_document


def _report(graph: Graph, report_id: str) -> Report:
    Report.end_stale(graph)
    report = Report.of_graph(graph, report_id)
    if report is None:
        abort(404, "There is no such report of this graph.")
    return report


@api_bp.post("/graphs/<graph_id>/reports")
def request_report(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    try:
        body = parse_body(ReportRequest)
    except ValidationFailed as exc:  # a bad field is a bad request here (400), naming the field
        raise ValidationFailed(
            exc.message, exc.fields, kind=Kind.BAD_REQUEST if exc.kind is Kind.INVALID else exc.kind
        ) from None
    if body.since is not None and not has_version(graph, body.since):
        raise ValidationFailed(
            "Invalid fields: since.", {"since": "This graph has no such version."}, kind=Kind.BAD_REQUEST
        )
    try:
        report = start_report(current_app.config, graph, signed_in_user(), body.format, body.since)
    except ReportNotStarted as exc:
        response = json_error(503, str(exc))
        response.headers["Retry-After"] = "30"
        return response
    return jsonify(report=report.public_id), 202


@api_bp.get("/graphs/<graph_id>/reports")
def list_reports(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    return jsonify(items=[report_json(report) for report in reports_of(graph)])


@api_bp.get("/graphs/<graph_id>/reports/<report_id>")
def get_report(graph_id: str, report_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    return jsonify(report_json(_report(graph, report_id)))


@api_bp.get("/graphs/<graph_id>/reports/<report_id>/file")
def report_download(graph_id: str, report_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    report = _report(graph, report_id)
    return file_response(graph, report)


def file_response(graph: Graph, report: Report) -> Response:
    """The report's file as an attachment (also the Reports page's download); 409 until it is ready."""
    if report.status != "ready":
        abort(409, "This report is not ready." if report.status == "running" else "This report failed; it has no file.")
    return attachment(report_file(report), media_type(report), download_name(graph, report))


@api_bp.get("/graphs/<graph_id>/picture")
def graph_picture(graph_id: str):
    graph, _ = authorize_graph(graph_id, current_user())
    picture = GraphResult.latest_for(graph, with_picture=True)
    if picture is None or picture.svg is None:
        abort(404, "This graph has no picture yet.")
    return svg_document(picture.svg)


@api_bp.put("/graphs/<graph_id>/reports/<report_id>")
def upload_report(graph_id: str, report_id: str):
    claims = g.get("report_claims")
    if claims is None or claims["report"] != report_id:
        abort(403, "Only the report service uploads a report, with the command token of that report.")
    if request.content_length is not None and request.content_length > MAX_FILE_BYTES:
        abort(413, f"A report file is at most {MAX_FILE_BYTES // (1024 * 1024)} MiB.")
    request.max_content_length = MAX_FILE_BYTES
    graph = Graph.get_by_public_id(graph_id)
    if graph is None:
        abort(404, "There is no such graph (it may have been deleted).")
    report = _report(graph, report_id)
    if report.status != "running":
        return json_error(409, "This report has ended; ask for a new one.")
    if graph.role_of(g.user) is None:  # the person who asked lost Read meanwhile: no file for them
        report.fail(f"{g.user.name} no longer has access to this graph; the report was stopped.")
        db.session.commit()
        abort(404, "There is no such graph, or you have no access to it.")
    if request.mimetype == "application/json":
        failure = parse_body(ReportFailure)
        report.fail(failure.message or "The report service could not make the report.")
    elif request.mimetype == media_type(report).split(";")[0]:
        data = request.get_data(cache=False)
        if not data:
            raise ValidationFailed("The file is empty.", {"body": "The file is empty."}, kind=Kind.BAD_REQUEST)
        report.finish(data)
        if report.weekly:
            deliver_weekly(report)
    else:
        raise ValidationFailed(
            f"Send the {report.format} file as {media_type(report)}, or JSON for a failure.", kind=Kind.UNSUPPORTED
        )
    db.session.commit()
    current_app.logger.info(
        "Report %s (%s) of graph %s: %s%s",
        report.public_id,
        report.format,
        graph.public_id,
        report.status,
        f", {report.size} bytes" if report.size else "",
    )
    return jsonify(report_json(report))

"""The graph's Reports tab: ask for a PDF, XLSX or CSV, watch it being made, download it (Read role)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from maestro_web.domain.access import authorize_graph
from maestro_web.domain.reports import (
    FORMAT_WORDS,
    ReportNotStarted,
    download_name,
    media_type,
    report_file,
    reports_of,
    start_report,
)
from maestro_web.domain.weekly_reports import set_subscribers, subscribers
from maestro_web.extensions import db
from maestro_web.graphs.services import roles_of
from maestro_web.models import Report, ReportSubscription, Role
from maestro_web.models.report import REPORT_FORMATS
from maestro_web.report_pages import report_mail_bp, reports_bp
from maestro_web.security.session_jwt import signed_in_user
from maestro_web.web.headers import attachment


@reports_bp.get("/<graph_id>/reports")
def index(graph_id: str) -> Any:
    graph, role = authorize_graph(graph_id, signed_in_user())
    readers = roles_of(graph) if role >= Role.ADMIN else []
    return render_template(
        "reports/index.html",
        graph=graph,
        role=role,
        reports=reports_of(graph),
        formats=REPORT_FORMATS,
        format_words=FORMAT_WORDS,
        readers=readers,
        subscribed=subscribers(graph),
    )


@reports_bp.post("/<graph_id>/reports/weekly")
def weekly(graph_id: str) -> Any:
    graph, _ = authorize_graph(graph_id, signed_in_user(), Role.ADMIN)
    chosen = set(request.form.getlist("reader"))
    ids = {grant.user_id for grant in roles_of(graph) if grant.user.public_id in chosen}
    set_subscribers(graph, signed_in_user(), ids)
    db.session.commit()
    flash(
        f"The weekly report goes to {len(ids)} reader(s), in weeks when the graph changes."
        if ids
        else "Nobody gets the weekly report.",
        "success",
    )
    return redirect(url_for("reports.index", graph_id=graph.public_id) + "#weekly")


@report_mail_bp.route("/unsubscribe/<code>", methods=["GET", "POST"])
def unsubscribe(code: str) -> Any:
    """GET: a page with one button (a link scanner that follows links unsubscribes nobody); POST: done
    (the button, or a mail client's one-click List-Unsubscribe-Post)."""
    sub = ReportSubscription.get_by_code(code)
    graph_name = sub.graph.name if sub is not None else None
    if request.method == "POST" and sub is not None:
        db.session.delete(sub)
        db.session.commit()
        return render_template("reports/unsubscribe.html", done=True, graph_name=graph_name)
    return render_template("reports/unsubscribe.html", done=sub is None, graph_name=graph_name)


@reports_bp.post("/<graph_id>/reports")
def create(graph_id: str) -> Any:
    graph, _ = authorize_graph(graph_id, signed_in_user())
    fmt = request.form.get("format", "")
    if fmt not in REPORT_FORMATS:
        flash("Choose PDF, Spreadsheet (XLSX) or CSV.", "error")
    else:
        try:
            start_report(current_app.config, graph, signed_in_user(), fmt, None)
        except ReportNotStarted as exc:
            flash(str(exc), "error")
    return redirect(url_for("reports.index", graph_id=graph.public_id))


@reports_bp.get("/<graph_id>/reports/<report_id>/file")
def download(graph_id: str, report_id: str) -> Response:
    graph, _ = authorize_graph(graph_id, signed_in_user())
    report = Report.of_graph(graph, report_id)
    if report is None or report.status != "ready":
        abort(404, "There is no such report, or it is not ready.")
    return attachment(report_file(report), media_type(report), download_name(graph, report))

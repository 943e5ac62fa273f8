"""The weekly PDF by e-mail (SPEC §12): an Admin chooses readers of a graph; in a week when the graph
changed (an edit or a crawl made a version), `flask reports weekly` asks the report service for a PDF of
the changes since the last mail, and once it is ready each chosen reader who still has Read gets it,
with a one-click unsubscribe link (RFC 8058). A reader who lost Read gets nothing and is unsubscribed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, render_template, url_for
from sqlalchemy import func, select

from maestro_web.domain.reports import ReportNotStarted, download_name, report_file, start_report
from maestro_web.extensions import db
from maestro_web.mail import Attachment, send_mail
from maestro_web.models import Graph, GraphRole, GraphVersion, Report, ReportSubscription, User
from maestro_web.models.base import utcnow

WEEK = timedelta(days=7)
EARLY = timedelta(hours=1)  # a round a little early (the schedule's interval) still counts as a week


@dataclass
class WeeklyOutcome:
    started: int = 0
    unchanged: int = 0
    failed: int = 0


def subscribers(graph: Graph) -> set[int]:
    return {sub.user_id for sub in ReportSubscription.list_for(graph)}


def set_subscribers(graph: Graph, admin: User, user_ids: set[int]) -> None:
    """The graph's weekly readers become `user_ids`, among the people who may read it (others ignored)."""
    readers = set(db.session.scalars(select(GraphRole.user_id).where(GraphRole.graph_id == graph.id)))
    wanted = user_ids & readers
    for sub in ReportSubscription.list_for(graph):
        if sub.user_id not in wanted:
            db.session.delete(sub)
        wanted.discard(sub.user_id)
    for user_id in sorted(wanted):
        db.session.add(ReportSubscription(graph_id=graph.id, user_id=user_id, created_by_id=admin.id))


def _newest_version(graph: Graph) -> tuple[int, datetime] | None:
    row = db.session.execute(
        select(GraphVersion.number, GraphVersion.at)
        .where(GraphVersion.graph_id == graph.id)
        .order_by(GraphVersion.number.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _version_before(graph: Graph, moment: datetime) -> int | None:
    number: int | None = db.session.scalar(
        select(func.max(GraphVersion.number)).where(GraphVersion.graph_id == graph.id, GraphVersion.at < moment)
    )
    return number


def send_weekly_reports(config: Mapping[str, Any], now: datetime | None = None) -> WeeklyOutcome:
    """Ask for the PDF of every graph whose subscribers are due (a week since their last mail, or never
    mailed) and that changed since; committed. The mails go out when the report is uploaded."""
    now = now or utcnow()
    outcome = WeeklyOutcome()
    graph_ids = list(db.session.scalars(select(ReportSubscription.graph_id).distinct()))
    for graph_id in graph_ids:
        graph = db.session.get(Graph, graph_id)
        if graph is None or graph.deleted_at is not None:
            continue
        subs = ReportSubscription.list_for(graph)
        last_sent = max((sub.last_sent_at for sub in subs if sub.last_sent_at), default=None)
        if last_sent is not None and now - last_sent < WEEK - EARLY:
            continue
        newest = _newest_version(graph)
        since_moment = last_sent or min(sub.created_at for sub in subs)
        if newest is None or newest[1] <= since_moment:
            outcome.unchanged += 1
            continue
        running = db.session.scalar(
            select(Report.id).where(Report.graph_id == graph.id, Report.weekly.is_(True), Report.status == "running")
        )
        if running is not None:
            continue
        sent = [sub.sent_version for sub in subs if sub.sent_version is not None]
        since = min(sent) if sent else _version_before(graph, now - WEEK)
        try:
            start_report(config, graph, graph.owner, "pdf", since, weekly=True)
            outcome.started += 1
        except ReportNotStarted as exc:
            current_app.logger.warning("Weekly report of graph %s not started: %s", graph.public_id, exc)
            outcome.failed += 1
    return outcome


def deliver_weekly(report: Report) -> int:
    """Mail a ready weekly report to the graph's subscribers who may still read it; how many got it.
    A subscriber without Read any more is unsubscribed. Call before the commit."""
    graph = report.graph
    newest = _newest_version(graph)
    attachment = Attachment(download_name(graph, report), "application/pdf", report_file(report))
    base = current_app.config["MAESTRO_BASE_URL"]
    sent = 0
    for sub in ReportSubscription.list_for(graph):
        if graph.role_of(sub.user) is None:
            db.session.delete(sub)
            continue
        unsubscribe = base + url_for("report_mail.unsubscribe", code=sub.code)
        values = {
            "name": sub.user.name,
            "graph": graph.name,
            "since": report.since,
            "unsubscribe": unsubscribe,
            "link": base + url_for("reports.index", graph_id=graph.public_id),
        }
        send_mail(
            sub.user.email,
            f"Weekly report: {graph.name}",
            render_template("mail/weekly_report.txt", **values),
            render_template("mail/weekly_report.html", **values),
            attachment=attachment,
            headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        sub.last_sent_at = utcnow()
        sub.sent_version = newest[0] if newest else None
        sent += 1
    return sent

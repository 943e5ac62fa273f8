"""The app's side of reports (SPEC §12): ask the report service for one, take its file, show it.

The API and the Reports page both go through here. Asking makes a `running` row first (committed),
then sends the command with the user's report command token; a service that is down, busy or
refusing ends the row `failed` at once with a message that says so, so a report is never left
`running` by the app. The service answers through `PUT …/reports/<rid>` (api/report_routes.py):
the whole file, which `finish` stores with the status `ready` in one statement, or a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from maestro_web.domain.file_names import file_name
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphVersion, Report, User
from maestro_web.receipts import commit_for_other_processes
from maestro_web.reports.documents import MEDIA_TYPES, SUFFIXES
from maestro_web.security import report_tokens
from maestro_web.service_commands import post_command

MAX_FILE_BYTES = 20 * 1024 * 1024
FORMAT_WORDS = {"pdf": "PDF", "xlsx": "Spreadsheet (XLSX)", "csv": "CSV"}


class ReportNotStarted(Exception):
    """The service did not take the command; the report is `failed` with this message."""


def has_version(graph: Graph, number: int) -> bool:
    return (
        db.session.scalar(
            select(GraphVersion.id).where(GraphVersion.graph_id == graph.id, GraphVersion.number == number)
        )
        is not None
    )


def reports_of(graph: Graph) -> list[Report]:
    """The graph's newest reports, after ending those whose service died."""
    Report.end_stale(graph)
    return Report.list_for(graph)


def start_report(
    config: Mapping[str, Any], graph: Graph, user: User, fmt: str, since: int | None, weekly: bool = False
) -> Report:
    """A new report of `graph` for `user` (`weekly`: for the graph's subscribers), handed to the report
    service; raises ReportNotStarted (the row committed `failed`) when the service did not take it."""
    report = Report(
        graph_id=graph.id, format=fmt, since=since, requested_by_id=user.id, status="running", weekly=weekly
    )
    db.session.add(report)
    commit_for_other_processes()  # the service reads the row at once (receipts.py)
    problem = _send_command(config, graph, user, report)
    if problem is not None:
        report.fail(problem)
        db.session.commit()
        raise ReportNotStarted(problem)
    return report


def _send_command(config: Mapping[str, Any], graph: Graph, user: User, report: Report) -> str | None:
    """Hand the report to the service; None when it took it (202), else why not, for a person."""
    token = report_tokens.issue_report_token(
        config["KEY_RINGS"][report_tokens.CONTEXT],
        user_id=user.public_id,
        graph_id=graph.public_id,
        report_id=report.public_id,
        token_version=user.token_version,
    )
    return post_command(
        f"{config['MAESTRO_REPORTS_URL']}/reports",
        token,
        {
            "graph": graph.public_id,
            "report": report.public_id,
            "format": report.format,
            "since": report.since,
            "requested_by": user.name or user.email,
        },
        service="report service",
        thing="report",
        start="flask reports serve",
    )


def download_name(graph: Graph, report: Report) -> str:
    """`checkout-2026-12-06.pdf`: the graph's name and the day the report was made."""
    return file_name(graph.name, report.created_at, SUFFIXES[report.format].lstrip("."))


def media_type(report: Report) -> str:
    return MEDIA_TYPES[report.format]


def report_file(report: Report) -> bytes:
    data = db.session.scalar(select(Report.data).where(Report.id == report.id))
    return data or b""

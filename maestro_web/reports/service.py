"""The report service (SPEC §12): `POST /reports` with a report command token → 202, then the report is made.

A small aiohttp server with no Flask and no database in it: the app is reached only through its API,
with the user's command token. Reports are made on a bounded pool of threads (MAESTRO_REPORTS_WORKERS)
with a short waiting line; when both are full the answer is 503 with Retry-After, and the app ends
the report `failed` saying the service is busy.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from maestro_web.logs import REQUEST_ID_HEADER, accept_request_id
from maestro_web.metrics import reports as report_metrics
from maestro_web.reports.job import EventSink, ReportCommand, run_report
from maestro_web.reports.settings import ReportSettings
from maestro_web.security.report_tokens import ReportTokenError, verify_report_token
from maestro_web.service_kit import CommandService, json_error, read_command

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 4096
MAX_NAME_LENGTH = 200
FORMATS = ("pdf", "xlsx", "csv")


class ReportService(CommandService):
    ROUTE = "/reports"
    COUNT_NAME = "reports"
    NAME = "Report service"
    ONE = "report(s)"

    def __init__(self, settings: ReportSettings, events: EventSink | None = None) -> None:
        super().__init__(settings, MAX_COMMAND_BYTES)
        self.settings: ReportSettings = settings
        self.events = events
        self.gauges = report_metrics.ActiveReports(lambda: len(self.active))

    async def handle(self, request: web.Request) -> web.Response:
        ring = self.settings.command_ring
        command_read = await read_command(
            request,
            lambda token: verify_report_token(token, ring),
            ReportTokenError,
            "report command",
            MAX_COMMAND_BYTES,
        )
        if isinstance(command_read, web.Response):
            return command_read
        token, claims, body = command_read
        problem = _problem(body)
        if problem:
            return json_error(422, problem)
        if body["graph"] != claims["graph"] or body["report"] != claims["report"]:
            return json_error(403, "The command token was made for another graph or report.")
        command = ReportCommand(
            user=claims["sub"],
            graph=body["graph"],
            report=body["report"],
            format=body["format"],
            since=body.get("since"),
            requested_by=body.get("requested_by") or "",
            token=token,
            request_id=accept_request_id(request.headers.get(REQUEST_ID_HEADER)),
        )
        refused = self.admit(
            command.report,
            command.report,
            running="This report is being made already.",
            busy="The report service is busy; try again in a moment.",
        )
        if refused is not None:
            return refused
        report_metrics.report_started(command.format)
        self.submit(command.report, command.request_id, lambda: self._make(command), f"Report {command.report}")
        return web.json_response({"report": command.report}, status=202)

    def _make(self, command: ReportCommand) -> None:
        started, status = time.monotonic(), "failed"
        try:
            status = run_report(self.settings, command, self.events)
        finally:
            report_metrics.report_ended(command.format, status, time.monotonic() - started)

    def collectors(self) -> tuple[Any, ...]:
        return report_metrics.REGISTRY, self.gauges


def _problem(body: dict[str, Any]) -> str | None:
    """Why the command's body is not acceptable, or None."""
    for name in ("graph", "report"):
        value = body.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            return f"{name} must be an id of 1 to 64 characters."
    if body.get("format") not in FORMATS:
        return "format must be one of: " + ", ".join(FORMATS) + "."
    since = body.get("since")
    if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 1):
        return "since must be a version number or null."
    by = body.get("requested_by", "")
    if not isinstance(by, str) or len(by) > MAX_NAME_LENGTH:
        return f"requested_by must be a name of at most {MAX_NAME_LENGTH} characters."
    return None


def run(settings: ReportSettings, host: str, port: int, *, live: bool = True) -> None:
    """Serve until SIGINT/SIGTERM."""
    import weasyprint  # noqa: F401  # loaded now (a second or two), not by the first PDF

    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # a line per layout step, per report
    ReportService(settings, settings.publisher() if live else None).serve(host, port)

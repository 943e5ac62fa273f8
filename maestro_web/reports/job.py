"""One report, start to end (SPEC §12): read the graph through the app, render the document, upload it.

Progress reaches the live server as `report.*` events on `user:<id>` of the person who asked. A
failure of any step ends the report `failed` with a message for a person (never the token), told to
the app through the same upload endpoint, so no half-file is ever stored: the app keeps a file only
when the whole of it arrived in one request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from maestro_web.channels import user_channel
from maestro_web.reports.client import AppRefused, ReportClient
from maestro_web.reports.settings import ReportSettings

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024  # the app's upload limit (api/report_routes.py)


class EventSink(Protocol):
    """maestro_web.live_publish.LivePublisher, or None for silence."""

    def publish(self, channel: str, event: str, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ReportCommand:
    user: str  # the public id of the person who asked (the token's `sub`)
    graph: str
    report: str
    format: str
    since: int | None
    requested_by: str
    token: str
    request_id: str | None = None  # the app's request that asked for the report (X-Request-ID)

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"ReportCommand(graph={self.graph!r}, report={self.report!r}, format={self.format!r})"


class ReportFailed(Exception):
    """The report cannot be made; the message is for the person who asked."""


MAX_VERSION_PAGES = 50  # 5,000 versions back at the most


def read_input(client: ReportClient, command: ReportCommand) -> Any:
    """The documents' ReportInput, read through the app's API as documents.py's docstring names:
    the graph with its dependencies (and their evidence), its figures, its picture, and when the
    report starts from a version, the versions back to it."""
    from maestro_web.reports.documents import ReportInput

    graph = dict(client.get_json(command.graph))
    graph["dependencies"] = client.get_json(command.graph, "/dependencies")
    svg = client.get_text(command.graph, "/picture")
    versions: list[dict[str, Any]] = []
    if command.since is not None:
        path = "/versions"
        for _ in range(MAX_VERSION_PAGES):
            page = client.get_json(command.graph, path)
            versions.extend(page.get("items", []))
            if page.get("next") is None or (versions and versions[-1].get("version", 0) <= command.since):
                break
            path = f"/versions?before={int(page['next'])}"
    return ReportInput(
        graph=graph,
        analytics=graph.get("info") or None,
        svg=svg,
        versions=versions,
        since=command.since,
        requested_by=command.requested_by,
        as_of=datetime.now(UTC),
    )


def run_report(
    settings: ReportSettings,
    command: ReportCommand,
    events: EventSink | None = None,
    client: ReportClient | None = None,
) -> str:
    """Make one report; the status it ended with ("ready" or "failed")."""
    from maestro_web.reports.documents import MEDIA_TYPES, ReportError, render

    channel = user_channel(command.user)
    ids = {"report": command.report, "graph": command.graph}

    def announce(event: str, data: dict[str, Any]) -> None:
        if events is not None:
            events.publish(channel, event, {**ids, **data})

    def progress(phase: str, percent: int) -> None:
        announce("report.progress", {"phase": phase, "percent": percent})

    client = client or ReportClient(settings.app_url, command.token)
    announce("report.started", {"format": command.format})
    try:
        progress("reading the graph", 10)
        try:
            data = read_input(client, command)
        except AppRefused as exc:
            raise ReportFailed(f"The app refused to hand over the graph: {exc}") from None
        progress("writing the document", 40)
        written = [40]

        def laid_out(share: float) -> None:  # a PDF's parts as they are laid out: 40 % to 85 %, in steps of 5
            percent = 40 + int(share * 50)
            if percent >= written[0] + 5:
                written[0] = percent
                progress("writing the document", percent)

        try:
            document = render(command.format, data, progress=laid_out)
        except ReportError as exc:
            raise ReportFailed(str(exc)) from None
        except MemoryError:
            raise ReportFailed("The document needs more memory than a report may use.") from None
        if len(document) > MAX_FILE_BYTES:
            raise ReportFailed(
                f"The document is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; try the spreadsheet or CSV."
            )
        progress("saving", 90)
        report = client.upload(command.graph, command.report, document, MEDIA_TYPES[command.format])
    except ReportFailed as exc:
        return _failed(client, command, str(exc), announce)
    except AppRefused as exc:
        return _failed(client, command, f"The app refused the document: {exc}", announce)
    except Exception as exc:  # any other failure is reported, never swallowed
        log.exception("Report %s failed unexpectedly", command.report)
        return _failed(client, command, f"The report could not be made ({type(exc).__name__}).", announce)
    announce("report.finished", {"format": command.format, "size": report.get("size")})
    log.info(
        "Report %s (%s) of graph %s: ready, %d bytes", command.report, command.format, command.graph, len(document)
    )
    return "ready"


def _failed(client: ReportClient, command: ReportCommand, message: str, announce: Any) -> str:
    try:
        client.fail(command.graph, command.report, message)
    except Exception as exc:  # the app will end it failed when read, once the token's life is over
        log.warning("Report %s: the failure could not be told to the app (%s)", command.report, type(exc).__name__)
    announce("report.failed", {"message": message})
    log.info("Report %s (%s) of graph %s failed: %s", command.report, command.format, command.graph, message)
    return "failed"

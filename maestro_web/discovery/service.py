"""The discovery service (SPEC §11): `POST /crawl` with a command token → 202, then the crawl runs.

A small aiohttp server with no Flask and no database in it: the app is reached only through its
API, with the user's command token. Crawls run on a bounded pool of threads (MAESTRO_DISCOVERY_WORKERS),
each with its inference in a child process killed after MAESTRO_DISCOVERY_TIMEOUT (crawl.py). A
command for a source that this process is crawling already is 409; when the pool and its short
waiting line are full, 503 with Retry-After. Which process runs a crawl is settled by the app: the
first to read the input claims it, so two discovery processes never run the same crawl.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from maestro_web.discovery.crawl import Command, EventSink, run_crawl
from maestro_web.discovery.settings import DiscoverySettings
from maestro_web.logs import REQUEST_ID_HEADER, accept_request_id
from maestro_web.metrics import discovery as discovery_metrics
from maestro_web.security.discovery_tokens import CommandTokenError, verify_command_token
from maestro_web.service_kit import CommandService, json_error, read_command

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 4096
MAX_ID_LENGTH = 64


class DiscoveryService(CommandService):
    WAITING_PER_WORKER = 4
    ROUTE = "/crawl"
    COUNT_NAME = "crawls"
    NAME = "Discovery service"
    ONE = "crawl(s)"

    def __init__(self, settings: DiscoverySettings, events: EventSink | None = None) -> None:
        super().__init__(settings, MAX_COMMAND_BYTES)
        self.settings: DiscoverySettings = settings
        self.events = events
        self.gauges = discovery_metrics.ActiveCrawls(lambda: len(self.active))

    async def handle(self, request: web.Request) -> web.Response:
        ring = self.settings.command_ring
        command_read = await read_command(
            request,
            lambda token: verify_command_token(token, ring),
            CommandTokenError,
            "discovery command",
            MAX_COMMAND_BYTES,
        )
        if isinstance(command_read, web.Response):
            return command_read
        token, claims, body = command_read
        for name in ("graph", "source", "crawl"):
            value = body.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
                return json_error(422, f"{name} must be an id of 1 to {MAX_ID_LENGTH} characters.")
        if body["graph"] != claims["graph"]:
            return json_error(403, "The command token was made for another graph.")
        command = Command(
            graph=body["graph"],
            source=body["source"],
            crawl=body["crawl"],
            token=token,
            request_id=accept_request_id(request.headers.get(REQUEST_ID_HEADER)),
        )
        refused = self.admit(
            command.source,
            command.crawl,
            running="A crawl of this source is running; wait for it to finish.",
            busy="The discovery service is busy; try again in a moment.",
        )
        if refused is not None:
            return refused
        discovery_metrics.CRAWLS_STARTED.inc()
        self.submit(command.source, command.request_id, lambda: self._crawl(command), f"Crawl {command.crawl}")
        return web.json_response({"crawl": command.crawl}, status=202)

    def _crawl(self, command: Command) -> None:
        started, status = time.monotonic(), "failed"
        try:
            status = run_crawl(self.settings, command, self.events)
        finally:
            discovery_metrics.crawl_ended(status, time.monotonic() - started)

    def collectors(self) -> tuple[Any, ...]:
        return discovery_metrics.REGISTRY, self.gauges


def run(settings: DiscoverySettings, host: str, port: int, *, live: bool = True) -> None:
    """Serve until SIGINT/SIGTERM."""
    from maestro_web.discovery.crawl import warm_up

    warm_up()
    DiscoveryService(settings, settings.publisher() if live else None).serve(host, port)

"""The discovery service (SPEC §11): `POST /crawl` with a command token → 202, then the crawl runs.

A small aiohttp server with no Flask and no database in it: the app is reached only through its
API, with the user's command token. Crawls run on a bounded pool of threads (MAESTRO_DISCOVERY_WORKERS),
each with its inference in a child process killed after MAESTRO_DISCOVERY_TIMEOUT (crawl.py). A
command for a source that this process is crawling already is 409; when the pool and its short
waiting line are full, 503 with Retry-After. Which process runs a crawl is settled by the app: the
first to read the input claims it, so two discovery processes never run the same crawl.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from maestro_web.discovery.crawl import Command, EventSink, run_crawl
from maestro_web.discovery.settings import DiscoverySettings
from maestro_web.metrics import CONTENT_TYPE, MULTIPROC_ENV, MetricsAccess, exposition
from maestro_web.metrics import discovery as discovery_metrics
from maestro_web.logs import REQUEST_ID_HEADER, accept_request_id, request_id_var
from maestro_web.safe_json import UnsafeJSON, loads_strict
from maestro_web.security.discovery_tokens import CommandTokenError, verify_command_token
from maestro_web.security.keys import bearer_token

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 4096
MAX_ID_LENGTH = 64
WAITING_PER_WORKER = 4


def json_error(status: int, message: str) -> web.Response:
    names = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
             503: "service_unavailable"}
    response = web.json_response({"error": names.get(status, "error"), "message": message}, status=status)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and time; never a header (the command token travels in one)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


class DiscoveryService:
    def __init__(self, settings: DiscoverySettings, events: EventSink | None = None) -> None:
        self.settings = settings
        self.events = events
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="crawl")
        self.max_active = settings.workers * (1 + WAITING_PER_WORKER)
        self._lock = threading.Lock()
        self.active: dict[str, str] = {}  # source id -> crawl id, running or waiting in this process
        self.gauges = discovery_metrics.ActiveCrawls(lambda: len(self.active))

    async def crawl(self, request: web.Request) -> web.Response:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return json_error(401, "A discovery command token is required: Authorization: JWT <token>.")
        try:
            claims = verify_command_token(token, self.settings.command_ring)
        except CommandTokenError as exc:
            return json_error(401, f"Discovery command token refused: {exc}.")
        if request.content_length is not None and request.content_length > MAX_COMMAND_BYTES:
            return json_error(413, f"The command is larger than {MAX_COMMAND_BYTES} bytes.")
        raw = await request.content.read(MAX_COMMAND_BYTES + 1)
        if len(raw) > MAX_COMMAND_BYTES:
            return json_error(413, f"The command is larger than {MAX_COMMAND_BYTES} bytes.")
        try:
            body = loads_strict(raw)
        except UnsafeJSON as exc:
            return json_error(400, f"The body is not acceptable JSON: {exc.problem}.")
        if not isinstance(body, dict):
            return json_error(422, 'The body must be {"graph", "source", "crawl"}.')
        for name in ("graph", "source", "crawl"):
            value = body.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
                return json_error(422, f"{name} must be an id of 1 to {MAX_ID_LENGTH} characters.")
        if body["graph"] != claims["graph"]:
            return json_error(403, "The command token was made for another graph.")
        command = Command(graph=body["graph"], source=body["source"], crawl=body["crawl"], token=token,
                          request_id=accept_request_id(request.headers.get(REQUEST_ID_HEADER)))
        with self._lock:
            if command.source in self.active:
                return json_error(409, "A crawl of this source is running; wait for it to finish.")
            if len(self.active) >= self.max_active:
                return json_error(503, "The discovery service is busy; try again in a moment.")
            self.active[command.source] = command.crawl
        discovery_metrics.CRAWLS_STARTED.inc()
        self.pool.submit(self._run, command)
        return web.json_response({"crawl": command.crawl}, status=202)

    def _run(self, command: Command) -> None:
        request_id_var.set(command.request_id)  # this pool thread's log lines and calls to the app
        started, status = time.monotonic(), "failed"
        try:
            status = run_crawl(self.settings, command, self.events)
        except Exception:  # a bug in one crawl must not take the pool down
            log.exception("Crawl %s failed unexpectedly", command.crawl)
        finally:
            discovery_metrics.crawl_ended(status, time.monotonic() - started)
            with self._lock:
                self.active.pop(command.source, None)

    async def health(self, _request: web.Request) -> web.Response:
        with self._lock:
            active = len(self.active)
        return web.json_response({"status": "ok", "crawls": active, "workers": self.settings.workers})

    async def metrics(self, request: web.Request) -> web.Response:
        """The service's metrics, for the scraper only (MAESTRO_METRICS_ALLOW or the metrics token); 404 else."""
        access = MetricsAccess(self.settings.metrics_allow, self.settings.metrics_token)
        if not access.permits(request.remote, request.headers.get("Authorization")):
            return json_error(404, "Not Found")
        body = exposition(discovery_metrics.REGISTRY, self.gauges)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_COMMAND_BYTES)
        app.router.add_post("/crawl", self.crawl)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/metrics", self.metrics)

        async def stop(_app: web.Application) -> None:
            await asyncio.get_running_loop().run_in_executor(None, lambda: self.pool.shutdown(wait=False))

        app.on_cleanup.append(stop)
        return app


def publisher(settings: DiscoverySettings) -> Any:
    """The service's own socket tokens (issuer maestro-discovery), allowed on graph channels only."""
    from maestro_web.live_publish import LivePublisher
    from maestro_web.security.socket_tokens import issue_socket_token

    return LivePublisher(settings.live_publish_url,
                         lambda: issue_socket_token(settings.socket_ring, issuer="maestro-discovery",
                                                    channels=["graph:"], ttl=120))


def run(settings: DiscoverySettings, host: str, port: int, *, live: bool = True) -> None:
    """Serve until SIGINT/SIGTERM."""
    from maestro_web.discovery.crawl import warm_up

    warm_up()
    service = DiscoveryService(settings, publisher(settings) if live else None)
    log.info("Discovery service on http://%s:%s (POST /crawl), %d crawl(s) at a time, app %s", host, port,
             settings.workers, settings.app_url)
    web.run_app(service.build_app(), host=host, port=port, print=None, access_log_class=AccessLogger,
                shutdown_timeout=5)


def exec_service(settings: DiscoverySettings, host: str, port: int, *, live: bool = True) -> None:
    """Replace this process (the Flask CLI, with the whole app loaded) by the lean service; the
    settings, keys included, go over a pipe (never argv or the environment)."""
    read_fd, write_fd = os.pipe()
    payload = settings.to_json().encode()
    if len(payload) > 60_000:  # one write into an empty pipe never blocks below its 64 KiB buffer
        raise RuntimeError("discovery settings too large to hand over")
    os.write(write_fd, payload)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env.pop(MULTIPROC_ENV, None)  # gunicorn's multiprocess mode is not this process's: its metrics stay its own
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    sys.stdout.flush()
    sys.stderr.flush()
    arguments = [sys.executable, "-m", "maestro_web.discovery", "--settings-fd", str(read_fd), "--host", host,
                 "--port", str(port)]
    os.execve(sys.executable, arguments + ([] if live else ["--no-live"]), env)

"""What the lean services (discovery §11, reports §12) share: their settings and how they are read from
the app's config (ServiceSettings), the process hand-over from the Flask CLI, their JSON errors and
access log, their key rings over a pipe, the server side (CommandService: the bounded pool, /healthz,
serving) and the client side of the app's API. A service adds its command, its job and its own settings.

No Flask, no database, no app config here (the import contracts of both services cover this module):
a service reaches the app only through its JSON API, with the user's command token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import requests
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from maestro_web.keyring import KeyRing
from maestro_web.logs import REQUEST_ID_HEADER, configure_logging, current_request_id, request_id_var
from maestro_web.metrics import CONTENT_TYPE, DEFAULT_ALLOW, MULTIPROC_ENV, MetricsAccess, exposition
from maestro_web.safe_json import UnsafeJSON, loads_strict
from maestro_web.security.signing import bearer_token

log = logging.getLogger(__name__)

ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "service_unavailable",
}


def json_error(status: int, message: str) -> web.Response:
    """The app's error shape `{"error", "message"}`; a 503 says when to come back."""
    response = web.json_response({"error": ERROR_NAMES.get(status, "error"), "message": message}, status=status)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def metrics_answer(request: web.Request, allow: tuple[str, ...], token: str | None, *collectors: Any) -> web.Response:
    """GET /metrics of a lean service: `collectors` in the text format to a peer of MAESTRO_METRICS_ALLOW or
    to the bearer of MAESTRO_METRICS_TOKEN (nothing proxies these services: the peer is the client); 404
    to anyone else (docs/operations.md, "Metrics")."""
    if not MetricsAccess(allow, token).permits(request.remote, request.headers.get("Authorization")):
        return json_error(404, "Not Found")
    return web.Response(
        body=exposition(*collectors), headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"}
    )


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and time; never a header (the command token travels in one)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


# --- settings over a pipe ------------------------------------------------------------------------


def ring_to_json(ring: KeyRing) -> dict[str, Any]:
    return {"context": ring.context, "current": ring.current, "previous": list(ring.previous)}


def ring_from_json(value: dict[str, Any]) -> KeyRing:
    return KeyRing(value["context"], value["current"], tuple(value["previous"]))


class PipedSettings:
    """A lean service's settings dataclass, handed over a pipe as JSON: its key rings (RING_FIELDS) and
    tuples (TUPLE_FIELDS) turned into JSON and back."""

    RING_FIELDS: ClassVar[tuple[str, ...]] = ("command_ring", "socket_ring")
    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> str:
        """Everything, keys included: only for handing over to the service process (a pipe)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        for name in self.RING_FIELDS:
            values[name] = ring_to_json(values[name])
        for name in self.TUPLE_FIELDS:
            values[name] = list(values[name])
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> Any:
        values = json.loads(text)
        for name in cls.RING_FIELDS:
            values[name] = ring_from_json(values[name])
        for name in cls.TUPLE_FIELDS:
            values[name] = tuple(values[name])
        return cls(**values)


def settings_pipe(settings_json: str) -> int:
    """The read end of a new pipe that holds `settings_json` (a lean service's settings, keys included:
    never argv or the environment), inheritable by the process started next."""
    read_fd, write_fd = os.pipe()
    payload = settings_json.encode()
    if len(payload) > 60_000:  # one write into an empty pipe never blocks below its 64 KiB buffer
        raise RuntimeError("lean service settings too large to hand over")
    os.write(write_fd, payload)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    return read_fd


def service_command(
    module: str, settings_fd: int, host: str, port: int, *, live: bool = True, environ: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the lean service `module` reading its settings from `settings_fd`
    (`python -m module --settings-fd N --host H --port P`), the environment built from `environ`."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ if environ is None else environ)
    env.pop(MULTIPROC_ENV, None)  # gunicorn's multiprocess mode is not this process's: its metrics stay its own
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    arguments = [sys.executable, "-m", module, "--settings-fd", str(settings_fd), "--host", host, "--port", str(port)]
    return arguments + ([] if live else ["--no-live"]), env


def exec_service(module: str, settings_json: str, host: str, port: int, *, live: bool = True) -> None:
    """Replace this process (the Flask CLI, with the whole app loaded) by the lean service `module`,
    handing it its settings over a pipe."""
    arguments, env = service_command(module, settings_pipe(settings_json), host, port, live=live)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, arguments, env)


@dataclass(frozen=True)
class ServiceSettings(PipedSettings):
    """What every lean service reads once from the app's config (`flask <service> serve`) and is handed
    over a pipe: where the app and the live server are, the key rings, its workers, logging, /metrics.
    A service's own settings add their fields (with defaults) and their config in `config_values`."""

    MODULE: ClassVar[str]  # the process: `python -m MODULE`
    ISSUER: ClassVar[str]  # the `iss` of its socket tokens
    CHANNELS: ClassVar[tuple[str, ...]]  # the channel prefixes it may publish on
    WORKERS_CONFIG: ClassVar[str]  # the config key of `workers`
    TUPLE_FIELDS: ClassVar[tuple[str, ...]] = ("metrics_allow",)

    app_url: str  # the app's base URL: the service calls its /api with the user's command token
    command_ring: KeyRing  # the user session secret's ring: command tokens are verified with it
    socket_ring: KeyRing  # the socket secret's ring: progress events are published with it
    live_publish_url: str
    workers: int = 2  # jobs at once; a few more wait, then 503
    log_level: str = "INFO"
    log_format: str = "text"  # MAESTRO_LOG_FORMAT, as the app's
    metrics_allow: tuple[str, ...] = DEFAULT_ALLOW  # MAESTRO_METRICS_ALLOW: who may read /metrics by address
    metrics_token: str | None = None  # MAESTRO_METRICS_TOKEN: or with this bearer token, from anywhere

    def __repr__(self) -> str:  # never print a key
        return f"{type(self).__name__}(app={self.app_url!r}, workers={self.workers})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **changes: Any) -> Any:
        """The service's part of a Flask app.config (`changes` replace what it says)."""
        return cls(**{**cls.config_values(config), **changes})

    @classmethod
    def config_values(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The fields' values in `config`; a service's own settings add theirs to these."""
        default_workers = next(f.default for f in fields(cls) if f.name == "workers")
        return {
            "app_url": config["MAESTRO_BASE_URL"].rstrip("/"),
            "command_ring": config["KEY_RINGS"]["session"],
            "socket_ring": config["KEY_RINGS"]["socket"],
            "live_publish_url": config["MAESTRO_LIVE_PUBLISH_URL"],
            "workers": int(config.get(cls.WORKERS_CONFIG, default_workers)),
            "log_level": config.get("LOG_LEVEL", "INFO"),
            "log_format": config.get("LOG_FORMAT", "text"),
            "metrics_allow": tuple(config.get("MAESTRO_METRICS_ALLOW", DEFAULT_ALLOW)),
            "metrics_token": config.get("MAESTRO_METRICS_TOKEN"),
        }

    def publisher(self) -> Any:
        """A LivePublisher with the service's own socket tokens (ISSUER), allowed on CHANNELS only."""
        return publisher(self.live_publish_url, self.socket_ring, self.ISSUER, list(self.CHANNELS))

    def exec_service(self, host: str, port: int, *, live: bool = True) -> None:
        """Become the service process (`python -m MODULE`), these settings handed over a pipe."""
        exec_service(self.MODULE, self.to_json(), host, port, live=live)


# --- the app's API, as a service calls it --------------------------------------------------------


class AppRefused(Exception):
    """The app answered with an error; `status` and a message safe to show (never the token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def refusal_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:500]
    except (ValueError, AttributeError):
        return response.text[:200]


# The app restarting (a deploy, a crash) refuses connections for a moment, and it answers 502-504
# while something it needs is away (nginx's upstreams, the database, Redis): a job asks again, with
# backoff (0, 1, 2, 4, 8, 8 s: about 20 s in all; longer when a 503 asks for a pause, Retry-After 5 or
# 10 s, up to a minute), rather than give up and leave its row `running`
# until the app's margin for a dead service has passed. Only a request the app cannot have carried
# out is sent again: one whose connection was never made, or answered 502-504 (the app rolls back
# before it answers a 503). One cut off after it was sent is not (read=0): the app may have done it.
# The clients send again, with `made_again`, the calls whose second sending is safe: the reports'
# reads, a crawl's input read (it carries a claim of its own, CLAIM_HEADER) and its result's write
# (which the app takes once).
APP_RETRY = Retry(
    total=6,
    connect=6,
    read=0,
    status=6,
    other=0,
    backoff_factor=0.5,
    backoff_max=8,
    status_forcelist=(502, 503, 504),
    raise_on_status=False,
)
CLAIM_HEADER = "X-Maestro-Claim"  # a crawl input reader's own random string: it may read again, nobody else
SENDINGS = 3  # a call whose answer was lost on the way, made again (1 s, then 2 s later) when that is safe
# What a sent request may meet after the app took it: the app killed mid-answer, a body cut short, a timeout.
LOST_ANSWER: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.Timeout,
)
# The same, less the timeout: for a write, whose second sending must not meet the app still doing the first.
APP_GONE: tuple[type[Exception], ...] = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)

T = TypeVar("T")


def made_again(call: Callable[[], T], lost: tuple[type[Exception], ...], what: str) -> tuple[T, int]:
    """`call()`, made again (SENDINGS times in all) while it meets one of `lost`: its value, and how many
    times it was made. `what` names the answer in the log line ("Crawl <id>: the input's answer")."""
    attempt = 1
    while True:
        try:
            return call(), attempt
        except lost as exc:
            if attempt >= SENDINGS:
                raise
            log.info("%s was lost (%s); sending it again", what, type(exc).__name__)
            time.sleep(attempt)
            attempt += 1


class ApiClient:
    """A `requests` session on the app's base URL that sends the command token and the request id,
    and sends again what the app could not take in a moment of unavailability (APP_RETRY)."""

    def __init__(
        self, app_url: str, token: str, *, timeout: float = 60.0, session: requests.Session | None = None
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.headers = {"Authorization": f"JWT {token}"}
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=APP_RETRY)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.app_url!r})"

    def _headers(self) -> dict[str, str]:
        """The token, and the job's request id (set on this thread by the service) when there is one."""
        request_id = current_request_id()
        return {**self.headers, REQUEST_ID_HEADER: request_id} if request_id else self.headers


def service_main(settings_class: type[ServiceSettings], default_port: int, run: Callable[..., None]) -> None:
    """The `python -m <MODULE>` entry of a lean service: settings from the pipe, logging, then `run`."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {settings_class.MODULE}",
        description="Started by the flask CLI; reads its settings from a pipe.",
    )
    parser.add_argument("--settings-fd", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--no-live", action="store_true")
    args = parser.parse_args()
    with os.fdopen(args.settings_fd, "r") as pipe:
        settings = settings_class.from_json(pipe.read())
    configure_logging(settings.log_level, settings.log_format)
    run(settings, args.host, args.port, live=not args.no_live)


def publisher(publish_url: str, socket_ring: KeyRing, issuer: str, channels: list[str]) -> Any:
    """A LivePublisher with the service's own socket tokens (`issuer`), allowed on `channels` prefixes only."""
    from maestro_web.live_publish import LivePublisher
    from maestro_web.security.socket_tokens import issue_socket_token

    return LivePublisher(
        publish_url, lambda: issue_socket_token(socket_ring, issuer=issuer, channels=channels, ttl=120)
    )


async def read_command(
    request: web.Request, verify: Callable[[str], dict[str, Any]], error: type[Exception], what: str, max_bytes: int
) -> tuple[str, dict[str, Any], dict[str, Any]] | web.Response:
    """A command's token (checked by `verify`, which raises `error`), its claims and its JSON object
    body; or the answer refusing it (401, 413, 400, 422). `what` names the token in messages."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return json_error(401, f"A {what} token is required: Authorization: JWT <token>.")
    try:
        claims = verify(token)
    except error as exc:
        return json_error(401, f"{what.capitalize()} token refused: {exc}.")
    if request.content_length is not None and request.content_length > max_bytes:
        return json_error(413, f"The command is larger than {max_bytes} bytes.")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        return json_error(413, f"The command is larger than {max_bytes} bytes.")
    try:
        body = loads_strict(raw)
    except UnsafeJSON as exc:
        return json_error(400, f"The body is not acceptable JSON: {exc.problem}.")
    if not isinstance(body, dict):
        return json_error(422, "The body must be a JSON object.")
    return token, claims, body


class CommandService:
    """The server side both services share: commands are admitted into a bounded pool of threads (the
    workers and a short waiting line of WAITING_PER_WORKER each); a key already in it is 409, a full
    pool 503; /healthz, /metrics and serving. Subclasses add the command's route (`handle`), what one
    job does and their metrics (`collectors`)."""

    WAITING_PER_WORKER = 2
    ROUTE = "/"
    COUNT_NAME = "jobs"  # the /healthz member counting what is admitted
    NAME = "Service"  # in its start-up line: "<NAME> on http://…, 2 <ONE>(s) at a time"
    ONE = "job(s)"

    def __init__(self, settings: ServiceSettings, max_command_bytes: int) -> None:
        self.settings = settings
        self.workers = workers = settings.workers
        self.max_command_bytes = max_command_bytes
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.COUNT_NAME)
        self.max_active = workers * (1 + self.WAITING_PER_WORKER)
        self._lock = threading.Lock()
        self.active: dict[str, str] = {}  # key -> job id, running or waiting in this process

    async def handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def admit(self, key: str, job: str, *, running: str, busy: str) -> web.Response | None:
        """Take `job` under `key` into the pool's count; the refusal (409 `running`, 503 `busy`) otherwise."""
        with self._lock:
            if key in self.active:
                return json_error(409, running)
            if len(self.active) >= self.max_active:
                return json_error(503, busy)
            self.active[key] = job
        return None

    def submit(self, key: str, request_id: str | None, work: Callable[[], Any], what: str) -> None:
        """Run `work` on the pool, with the command's request id on its thread; `key` leaves the count after."""

        def run() -> None:
            request_id_var.set(request_id)  # this pool thread's log lines and calls to the app
            try:
                work()
            except Exception:  # a bug in one job must not take the pool down
                log.exception("%s failed unexpectedly", what)
            finally:
                with self._lock:
                    self.active.pop(key, None)

        self.pool.submit(run)

    async def health(self, _request: web.Request) -> web.Response:
        with self._lock:
            active = len(self.active)
        return web.json_response({"status": "ok", self.COUNT_NAME: active, "workers": self.workers})

    def collectors(self) -> tuple[Any, ...]:
        """What GET /metrics shows: the service's registry and its gauges."""
        raise NotImplementedError

    async def metrics(self, request: web.Request) -> web.Response:
        """The service's metrics, for the scraper only (MAESTRO_METRICS_ALLOW or the metrics token); 404 else."""
        return metrics_answer(request, self.settings.metrics_allow, self.settings.metrics_token, *self.collectors())

    def serve(self, host: str, port: int) -> None:
        """Serve until SIGINT/SIGTERM."""
        log.info(
            "%s on http://%s:%s (POST %s), %d %s at a time, app %s",
            self.NAME,
            host,
            port,
            self.ROUTE,
            self.workers,
            self.ONE,
            self.settings.app_url,
        )
        web.run_app(
            self.build_app(), host=host, port=port, print=None, access_log_class=AccessLogger, shutdown_timeout=5
        )

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_command_bytes)
        app.router.add_post(self.ROUTE, self.handle)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/metrics", self.metrics)

        async def stop(_app: web.Application) -> None:
            await asyncio.get_running_loop().run_in_executor(None, lambda: self.pool.shutdown(wait=False))

        app.on_cleanup.append(stop)
        return app

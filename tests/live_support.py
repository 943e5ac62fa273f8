"""Real live server processes for tests: the process of `flask live serve` on a free loopback port
(started as service_support.spawn_lean says: through the CLI for the session's server, else lean).

For the live server's own tests and for the app's end-to-end and browser tests:

    port = free_port()                              # choose first, so the app can be told the URL
    app.config["MAESTRO_LIVE_URL"] = f"ws://127.0.0.1:{port}/live"
    with start_live_server(app.config, port=port) as live:   # same secrets and origin as the app
        ...  live.publish_url, live.ws_url, live.logs()

`start_live_server(..., redis_url=REDIS_URL, redis_prefix=p)` joins processes through Redis; use
`redis_prefix()` for a prefix of this test alone and `clear_redis_prefix()` afterwards.

Most tests need no live server of their own: they ask for the fixture `live`, the one live server
process of the test session (per pytest-xdist worker), which conftest.py loads from here. Asking for it
is all it takes: the test's app is built trusting that server (its secrets and URLs, see
`session_live_settings`) and `live_server` serves the app at SESSION_LIVE_APP_URL, the origin the
server lets in. Tests cannot hear each other on it: each listens on the channels of its own new
graphs, links and users, and every page a test opened is closed when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from process_support import DidNotAnswer, wait_until_answers
from service_support import spawn_lean

from maestro_web import live_events
from maestro_web.config import load_key_rings
from maestro_web.keyring import KeyRing

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("MAESTRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


# Ports the tests choose come from below the kernel's ephemeral range (32768-60999 here), which the
# kernel hands to `bind(0)` and to every outgoing connection. A port chosen by `bind(0)` and closed
# again may be handed out anew before the process it was chosen for binds it: a live server then
# answered on the port another test's server had just taken (a CI failure). Each pytest-xdist worker
# takes its own slice of 10000-31999 and walks it from a point set by its pid, so the two workers of a
# run never choose the same port and no port is chosen twice in one process.
_PORT_SLICE = 5500
_ports_given: set[int] = set()


def _port_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = 10000 + (index % 4) * _PORT_SLICE
    return range(start, start + _PORT_SLICE)


def free_port() -> int:
    """A loopback port nothing listens on, which neither the kernel nor another test worker hands out."""
    ports = _port_slice()
    first = (os.getpid() * 7919 + len(_ports_given)) % len(ports)
    for step in range(len(ports)):
        port = ports[(first + step) % len(ports)]
        if port in _ports_given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port left in {ports}")


def redis_available(url: str = REDIS_URL) -> str | None:
    """None when Redis answers at `url`, else why not."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_redis_or_skip(url: str = REDIS_URL) -> None:
    reason = redis_available(url)
    if reason is None:
        return
    if os.environ.get("MAESTRO_REQUIRE_REDIS") == "1":
        pytest.fail(f"Redis is not reachable at {url} ({reason}) and MAESTRO_REQUIRE_REDIS=1", pytrace=False)
    pytest.skip(f"Redis is not reachable at {url} ({reason}); set MAESTRO_TEST_REDIS_URL or start Redis")


def redis_prefix() -> str:
    """A key prefix no other test (or parallel run) uses."""
    return f"maestro-test:{os.getpid()}:{uuid.uuid4().hex[:12]}:"


def clear_redis_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Delete every key under `prefix`; returns how many there were."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


class LiveProcess:
    """One running `flask live serve`, with its stderr captured in a file."""

    def __init__(
        self, proc: subprocess.Popen[bytes], host: str, port: int, log_path: Path, environment: dict[str, str]
    ) -> None:
        self.proc = proc
        self.environment = environment
        self.host = host
        self.port = port
        self.log_path = log_path

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/live"

    @property
    def publish_url(self) -> str:
        return f"{self.http_url}/publish"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> LiveProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def live_environment(
    config: Mapping[str, Any] | None = None,
    *,
    session_secret: str | None = None,
    socket_secret: str | None = None,
    base_url: str | None = None,
    origins: list[str] | None = None,
    redis_url: str | None = None,
    redis_prefix: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a live server process that trusts what `config` (an app.config) signs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "REDIS_URL", "FLASK_"))}
    env["MAESTRO_ENV"] = "testing"
    env["PYTHONUNBUFFERED"] = "1"
    if config is not None:
        rings = config["KEY_RINGS"]
        session_secret = session_secret or rings["session"].current
        socket_secret = socket_secret or rings["socket"].current
        base_url = base_url or config.get("MAESTRO_BASE_URL")
        origins = origins if origins is not None else list(config.get("MAESTRO_LIVE_ORIGINS", []))
    if session_secret:
        env["MAESTRO_SECRETJWT"] = session_secret
    if socket_secret:
        env["MAESTRO_SECRETJWT_SOCKET"] = socket_secret
    env["MAESTRO_BASE_URL"] = base_url or DEFAULT_BASE_URL
    if origins:
        env["MAESTRO_LIVE_ORIGINS"] = ",".join(origins)
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["MAESTRO_LIVE_REDIS_PREFIX"] = redis_prefix or "maestro-test:live:"
    env.update(extra or {})
    return env


def start_live_server(
    config: Mapping[str, Any] | None = None,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = 60.0,
    log_dir: str | None = None,
    healthy: bool = True,
    cli: bool = False,
    **environment: Any,
) -> LiveProcess:
    """Start the live server of `flask live serve` (through the Flask CLI with `cli`) and return once
    GET /healthz answers 200 (with Redis, once subscribed); with `healthy=False`, once it answers at
    all (e.g. a 503 while Redis is down).

    Keyword arguments beyond these go to `live_environment` (session_secret, socket_secret, base_url,
    origins, redis_url, redis_prefix, extra).
    """
    port = port or free_port()
    env = live_environment(config, **environment)
    log_file = tempfile.NamedTemporaryFile(prefix=f"live-{port}-", suffix=".log", dir=log_dir, delete=False)
    proc = spawn_lean("live", env, host, port, cli=cli, log=log_file)
    log_file.close()
    live = LiveProcess(proc, host, port, Path(log_file.name), env)
    try:
        wait_until_answers(
            f"{live.http_url}/healthz",
            process=proc,
            log=live.log_path,
            timeout=timeout,
            status=200 if healthy else None,
            what="live server",
            request_timeout=1,
        )
    except DidNotAnswer:
        live.stop()
        raise
    return live


class LiveClient:
    """A browser stand-in: a `websockets` sync client speaking the §8 frames."""

    def __init__(self, url: str, origin: str = DEFAULT_BASE_URL, open_timeout: float = 5, **options: Any) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, origin=origin, open_timeout=open_timeout, legacy=True, **options)  # type: ignore[arg-type]

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        message = self.ws.recv(timeout=timeout)
        return json.loads(message)

    def hello(self, ticket: str) -> dict[str, Any]:
        self.send({"type": "hello", "ticket": ticket})
        return self.recv()

    def subscribe(self, channel: str, since: str | None = None) -> dict[str, Any]:
        self.send({"type": "subscribe", "channel": channel, "since": since})
        return self.recv()

    def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [self.recv(timeout) for _ in range(count)]

    def close_code(self, timeout: float = 6.0) -> int | None:
        """Read until the server closes the connection; the close code it sent."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            return None
        return None

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish(
    live: LiveProcess, token: str | None, body: Any, raw: bytes | None = None, scheme: str = "JWT"
) -> requests.Response:
    """POST /publish as a service would."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(live.publish_url, data=data, headers=headers, timeout=5)


# --- the session's live server -------------------------------------------------------------------
# One `flask live serve` for every test of the session that asks for `live` (a start costs 1-2 s of
# CPU; seven modules started their own). Its ports are chosen before any app is built: an app's CSP
# names the live server's origin.
SESSION_LIVE_PORT = free_port()
SESSION_LIVE_APP_PORT = free_port()  # where `live_server` serves the app of a test that asks for `live`
SESSION_LIVE_APP_URL = f"http://127.0.0.1:{SESSION_LIVE_APP_PORT}"


def uses_session_live(request: pytest.FixtureRequest) -> bool:
    """Whether the test asked for the session's live server (through `live`)."""
    return "session_live_process" in request.fixturenames


@pytest.fixture
def session_live_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The app settings of a test that asks for `live` (none for any other test): the secrets the
    session's live server trusts, and its URLs. conftest's `app_settings` starts from these."""
    if not uses_session_live(request):
        return {}
    keys = request.getfixturevalue("session_live_keys")
    return {
        "KEY_RINGS": dict(keys),
        "MAESTRO_LIVE_URL": f"ws://127.0.0.1:{SESSION_LIVE_PORT}/live",
        "MAESTRO_LIVE_PUBLISH": True,
        "MAESTRO_LIVE_PUBLISH_URL": f"http://127.0.0.1:{SESSION_LIVE_PORT}/publish",
    }


@pytest.fixture
def session_live_app_port(request: pytest.FixtureRequest) -> int:
    """The port `live_server` serves a test's app on: SESSION_LIVE_APP_PORT when the test asks for
    `live` (the origin the session's live server lets in), else any free one (0)."""
    return SESSION_LIVE_APP_PORT if uses_session_live(request) else 0


@pytest.fixture(scope="session")
def session_live_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyRing]:
    """The secrets of every app that asks for `live`: the session's live server trusts them all."""
    return load_key_rings({}, "testing", tmp_path_factory.mktemp("live-keys"))


@pytest.fixture(scope="session")
def session_live_process(session_live_keys: dict[str, KeyRing]) -> Iterator[LiveProcess]:
    """The session's one live server. It lets in pages served at SESSION_LIVE_APP_URL (`live_server`)
    and programs that say they come from DEFAULT_BASE_URL (LiveClient's origin)."""
    with start_live_server(
        session_secret=session_live_keys["session"].current,
        socket_secret=session_live_keys["socket"].current,
        port=SESSION_LIVE_PORT,
        base_url=SESSION_LIVE_APP_URL,
        origins=[DEFAULT_BASE_URL],
        cli=True,  # `flask live serve` itself, as deployed: every run starts it this way
    ) as server:
        yield server


@pytest.fixture
def live(request: pytest.FixtureRequest, app: Any, session_live_process: LiveProcess) -> Iterator[LiveProcess]:
    """The session's live server, with this test's app publishing to it (and trusting it: see the
    module's docstring). Every browser context the test opened is closed when it ends, so no page of
    it stays connected to the server, or asks a later test's app for anything."""
    assert session_live_process.alive(), session_live_process.logs()
    if "live_server" in request.fixturenames:
        request.getfixturevalue("live_server")  # served before, stopped after the pages are closed
    browser = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    contexts_before = list(browser.contexts) if browser is not None else []
    assert app.extensions.get(live_events.EXTENSION) is not None, "the app was built publishing to the live server"
    yield session_live_process
    if browser is not None:
        for context in browser.contexts:
            if context not in contexts_before:
                context.close()
    publisher = app.extensions.get(live_events.EXTENSION)
    if publisher is not None:
        publisher.flush(5)

"""The production shape: deploy/nginx/maestro.conf.in rendered by deploy/render and
run on loopback, in front of real gunicorn (the repo's gunicorn.conf.py) and a real live server.

nginx runs as the test's own user with everything in tmp_path (prefix, config, pid, logs, temp
files), `daemon off`, free ports; TLS with a throw-away certificate, like production. Every process
is stopped in a finally block. Clients "from outside" connect from a random 127.x.y.z address;
the inside network of the recipe is 127.0.0.1/32.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from live_support import LiveClient, free_port, require_redis_or_skip, start_live_server
from process_support import production_environ, stop_group, wait_until_answers

from bench import nginx_recipe
from maestro_web.security.live_tickets import issue_ticket
from maestro_web.security.signing import KeyRing
from maestro_web.security.socket_tokens import issue_socket_token

ROOT = Path(__file__).resolve().parent.parent
SLOW_CLIENTS = 40
TRICKLE_SECONDS = 2.0  # one header line every 2 s: the issue's slow client
PROMPT_SECONDS = 2.0  # /healthz must answer within this, every time, while they trickle
INGEST_MAX_BYTES = 5 * 1024 * 1024


def outside_address() -> str:
    """A loopback source address that is not the inside network (127.0.0.1) and no other run's."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class Stack:
    gunicorn_port: int
    https_port: int
    http_port: int
    base_url: str
    certificate: Path
    access_log: Path
    session: KeyRing
    socket_ring: KeyRing
    error_log: Path  # nginx's
    live_logs: Callable[[], str]

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """A failure inside names what nginx and the live server logged meanwhile (their last lines)."""
        try:
            yield
        except Exception as exc:
            nginx = self.error_log.read_text(errors="replace") if self.error_log.exists() else "(none)"
            raise AssertionError(
                f"{exc!r}\n--- nginx error.log ---\n{nginx[-3000:]}\n--- live server ---\n{self.live_logs()[-3000:]}"
            ) from exc

    def https(self, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, timeout=10, context=self.tls(), source_address=(source, 0)
        )


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not os.access(nginx_recipe.NGINX, os.X_OK):
        pytest.fail(nginx_recipe.MISSING)
    require_redis_or_skip()
    tmp = tmp_path_factory.mktemp("proxy")
    gunicorn_port, live_port, https_port, http_port = free_port(), free_port(), free_port(), free_port()
    base_url = f"https://127.0.0.1:{https_port}"
    certificate, key = nginx_recipe.self_signed_certificate(tmp)
    # The recipe's maestro.env, with this run's ports; gunicorn.conf.py as the repo ships it (gthread,
    # two threads a worker), with one worker. Each of the 2 x cores + 1 workers of production falls
    # the same way to GUNICORN_THREADS slow clients.
    environ = production_environ(
        database_url,
        MAESTRO_BASE_URL=base_url,
        MAESTRO_LOGIN_RATE_LIMIT="3 per minute",
        MAESTRO_LIVE_URL=f"wss://127.0.0.1:{https_port}/live",
        MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{live_port}/publish",
        GUNICORN_BIND=f"127.0.0.1:{gunicorn_port}",
        GUNICORN_ACCESS_LOG="/dev/null",
    )
    session = KeyRing("session", environ["MAESTRO_SECRETJWT"])
    socket_ring = KeyRing("socket", environ["MAESTRO_SECRETJWT_SOCKET"])
    gunicorn_log = tmp / "gunicorn.log"
    with open(gunicorn_log, "wb") as log_file:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app"],
            cwd=ROOT,
            env=environ,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    live = nginx = None
    try:
        live = start_live_server(
            port=live_port,
            session_secret=session.current,
            socket_secret=socket_ring.current,
            base_url=base_url,
            extra={"MAESTRO_TRUSTED_PROXIES": "1"},
        )
        access_log = tmp / "access.log"
        site = nginx_recipe.render(
            nginx_recipe.SITE_TEMPLATE,
            nginx_recipe.site_values(
                base_url=base_url,
                app_port=gunicorn_port,
                live_port=live_port,
                http_port=http_port,
                https_port=https_port,
                certificate=certificate,
                key=key,
                access_log=access_log,
                ingest_max_bytes=INGEST_MAX_BYTES,
            ),
        )
        conf = nginx_recipe.write_main_config(tmp, site, worker_connections=1024)
        nginx_log = tmp / "error.log"
        nginx = subprocess.Popen(
            nginx_recipe.nginx_command(tmp, conf),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_answers(
            f"http://127.0.0.1:{gunicorn_port}/healthz", process=gunicorn, log=gunicorn_log, what="gunicorn"
        )
        wait_until_answers(f"{base_url}/healthz", process=nginx, log=nginx_log, what="nginx", verify=str(certificate))
        yield Stack(
            gunicorn_port,
            https_port,
            http_port,
            base_url,
            certificate,
            access_log,
            session,
            socket_ring,
            nginx_log,
            live.logs,
        )
    finally:
        if nginx is not None:
            stop_group(nginx, signal.SIGTERM)  # nginx's fast shutdown
        stop_group(gunicorn, signal.SIGINT)  # quick shutdown: no wait for idle keep-alive connections
        if live is not None:
            live.stop()


class SlowClients:
    """Connections that send a request header one line every TRICKLE_SECONDS and never finish it."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.sockets: list[socket.socket] = []
        self.rounds = 0
        self.progress = threading.Condition()
        self.done = threading.Event()
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.done.wait(TRICKLE_SECONDS):
            for number, sock in enumerate(self.sockets):
                sock.sendall(f"X-Slow-{self.rounds}: {number}\r\n".encode())
            with self.progress:
                self.rounds += 1
                self.progress.notify_all()

    def wait_for_round(self, rounds: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: self.rounds >= rounds, timeout=TRICKLE_SECONDS * (rounds + 2))

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def test_slow_clients_starve_gunicorn_alone_but_not_behind_nginx(stack: Stack) -> None:
    slow = SlowClients(stack.https_port, stack.tls())
    try:
        timings = []
        deadline = time.monotonic() + TRICKLE_SECONDS * 4
        while slow.rounds < 2:  # all 40 took two more lines meanwhile: nginx still holds them open
            assert time.monotonic() < deadline, "the slow clients stopped trickling"
            started = time.monotonic()
            answer = requests.get(f"{stack.base_url}/healthz", timeout=5, verify=str(stack.certificate))
            timings.append(time.monotonic() - started)
            assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert len(timings) >= 3 and max(timings) < PROMPT_SECONDS, timings
        timings.sort()  # the figures of docs/operations.md (pytest -s shows them)
        print(
            f"\n/healthz through nginx beside {SLOW_CLIENTS} slow clients: {len(timings)} answers, "
            f"median {timings[len(timings) // 2] * 1000:.1f} ms, max {timings[-1] * 1000:.1f} ms"
        )
    finally:
        slow.close()

    # The control: the same slow clients straight at gunicorn take every worker thread.
    slow = SlowClients(stack.gunicorn_port)
    try:
        slow.wait_for_round(1)  # every connection is in, holding a worker thread
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/healthz", timeout=PROMPT_SECONDS + 1)
        assert time.monotonic() - started >= PROMPT_SECONDS
    finally:
        slow.close()


def test_websocket_and_publish_through_nginx(stack: Stack) -> None:
    ticket, _ = issue_ticket(stack.session, sub="u1", channels=["user:u1"])
    token = issue_socket_token(stack.socket_ring, issuer="maestro-server")
    body = '{"channel": "user:u1", "event": "run.progress", "data": {"done": 1}}'
    headers = {"Authorization": f"JWT {token}", "Content-Type": "application/json"}
    # TLS, nginx and the live server's handshake in a row, on a machine busy with the other test
    # process: once (a CI run) the 5 s default was not enough; a hang would still fail after 20 s.
    with (
        stack.explained(),
        LiveClient(
            f"wss://127.0.0.1:{stack.https_port}/live", origin=stack.base_url, ssl=stack.tls(), open_timeout=20
        ) as conn,
    ):
        assert conn.hello(ticket)["type"] == "welcome"
        assert conn.subscribe("user:u1")["type"] == "subscribed"

        outside = stack.https(outside_address())
        outside.request("POST", "/publish", body=body, headers=headers)
        assert outside.getresponse().status == 403

        inside = stack.https()
        inside.request("POST", "/publish", body=body, headers=headers)
        assert inside.getresponse().status == 202
        event = conn.recv()
        assert (event["channel"], event["event"], event["data"]) == ("user:u1", "run.progress", {"done": 1})

    plain = requests.get(f"http://127.0.0.1:{stack.http_port}/graphs?page=2", allow_redirects=False, timeout=5)
    assert plain.status_code == 301 and plain.headers["Location"] == f"{stack.base_url}/graphs?page=2"


def test_a_forwarded_for_from_outside_is_not_trusted(stack: Stack) -> None:
    """The login limit (3 a minute here) keys on the address nginx saw, whatever X-Forwarded-For says."""
    source = outside_address()
    statuses = []
    for attempt in range(5):
        conn = stack.https(source)
        conn.request(
            "POST",
            "/api/auth/token",
            body='{"email": "nobody@example.com", "password": "wrong!!!"}',
            headers={
                "Content-Type": "application/json",
                "X-Forwarded-For": f"203.0.113.{attempt}",
                "X-Real-IP": f"198.51.100.{attempt}",
                "Forwarded": f"for=192.0.2.{attempt}",
            },
        )
        statuses.append(conn.getresponse().status)
    assert statuses == [401, 401, 401, 429, 429]
    # Another real address has its own count: the limit is per client, not global.
    conn = stack.https(outside_address())
    conn.request(
        "POST",
        "/api/auth/token",
        body='{"email": "nobody@example.com", "password": "wrong!!!"}',
        headers={"Content-Type": "application/json"},
    )
    assert conn.getresponse().status == 401


def test_bodies_over_the_ingest_limit_stop_at_nginx_and_tokens_stay_out_of_its_log(stack: Stack) -> None:
    with socket.create_connection(("127.0.0.1", stack.https_port), timeout=5) as raw:
        with stack.tls().wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            # Only the header is sent: nginx refuses on the announced length, before any body.
            sock.sendall(
                f"POST /analytics/graphs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {INGEST_MAX_BYTES + 1}\r\n\r\n".encode()
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 413")

    code = secrets.token_urlsafe(24)
    token = secrets.token_urlsafe(32)
    answer = requests.get(
        f"{stack.base_url}/analytics/s/{code}?token={token}", timeout=5, verify=str(stack.certificate)
    )
    assert answer.status_code == 404  # no link has this code
    logged = ""
    deadline = time.monotonic() + 5
    while "/analytics/s/[redacted]" not in logged:  # nginx writes the line once the answer is sent
        assert time.monotonic() < deadline, logged
        logged = stack.access_log.read_text()
    assert code not in logged and token not in logged


def example_settings() -> dict[str, str]:
    """deploy/maestro.env.example as the units and deploy/render see it (sourced by a shell)."""
    done = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; exec env -0', "settings", "deploy/maestro.env.example"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)


def test_the_example_settings_fill_every_template_and_start_only_once_edited(tmp_path: Path) -> None:
    from maestro_web import ConfigError
    from maestro_web.config import load_settings

    settings = example_settings()
    templates = sorted((ROOT / "deploy").rglob("*.in"))
    assert {path.name for path in templates} >= {
        "maestro.conf.in",
        "maestro-web.service.in",
        "maestro-live.service.in",
        "maestro-worker@.service.in",
    }
    for template in templates:
        rendered = nginx_recipe.render(template, settings)
        assert "CHANGE-ME" not in rendered and not re.search(r"@[A-Z][A-Z0-9_]*@", rendered), template

    with pytest.raises(ConfigError):  # the placeholders themselves are refused: an unedited file cannot start
        load_settings(settings, tmp_path)
    edited = {key: secrets.token_urlsafe(48) if value == "CHANGE-ME" else value for key, value in settings.items()}
    config = load_settings(edited, tmp_path)
    assert config["MAESTRO_TRUSTED_PROXIES"] == 1
    assert config["MAESTRO_INGEST_MAX_BYTES"] == INGEST_MAX_BYTES
    assert config["MAESTRO_LIVE_PUBLISH_URL"] == "http://127.0.0.1:5001/publish"


def test_nginx_lets_an_idle_upstream_connection_go_before_gunicorn_does() -> None:
    """When gunicorn closed an idle keep-alive connection in the instant nginx sent a request on it, a
    POST (which nginx never retries) came back 502; nginx must be the one that lets it go."""
    upstream = re.search(r"upstream maestro_app \{(.*?)\}", (ROOT / "deploy/nginx/maestro.conf.in").read_text(), re.S)
    assert upstream is not None
    nginx_idle = re.search(r"^\s*keepalive_timeout (\d+)s;", upstream.group(1), re.M)
    gunicorn_idle = re.search(r"^keepalive = (\d+)", (ROOT / "gunicorn.conf.py").read_text(), re.M)
    assert nginx_idle is not None and gunicorn_idle is not None
    assert int(nginx_idle.group(1)) + 2 <= int(gunicorn_idle.group(1))  # seconds of margin for a busy machine


def test_no_server_software_is_named_and_the_access_log_keeps_only_the_network(stack: Stack) -> None:
    """Neither gunicorn nor nginx says what it runs (a version helps an attacker pick an exploit), and
    nginx's access log, like gunicorn's, holds the client's /24, not the client (personal data)."""
    source = outside_address()
    conn = stack.https(source)
    conn.request("GET", "/healthz?probe=" + secrets.token_hex(8))
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200
    assert answer.getheader("Server") == "nginx"  # server_tokens off: no version
    redirect = requests.get(f"http://127.0.0.1:{stack.http_port}/", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Server"] == "nginx"
    direct = requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/healthz", timeout=5)
    assert direct.status_code == 200 and "Server" not in direct.headers

    network = source.rsplit(".", 1)[0] + ".0"
    logged = ""
    deadline = time.monotonic() + 5
    while f"{network} - [" not in logged:  # nginx writes the line once the answer is sent
        assert time.monotonic() < deadline, logged
        logged = stack.access_log.read_text()
    assert re.search(rf"(^|\n){re.escape(source)} ", logged) is None

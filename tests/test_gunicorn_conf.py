"""gunicorn.conf.py run for real: where it listens, what its access log keeps, no `Server` header.

Each test starts the repo's recipe (`python -m gunicorn app:app` in the project folder, production
settings, one worker) on a free loopback port and stops its whole process group afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_support import free_port, require_redis_or_skip
from process_support import production_environ, wait_until_answers

from maestro_web.gunicorn_hooks import logger_class, truncate_address

ROOT = Path(__file__).resolve().parent.parent
WARNING = "while MAESTRO_TRUSTED_PROXIES=1: anyone who reaches it directly sets their own X-Forwarded-For"


class Gunicorn:
    def __init__(self, database_url: str, tmp: Path, bind: str, port: int, **extra: str) -> None:
        require_redis_or_skip()
        self.port = port
        self.log = tmp / "gunicorn.log"
        self.access_log = tmp / "access.log"
        environ = production_environ(
            database_url,
            MAESTRO_BASE_URL="https://maestro.example.com",
            GUNICORN_BIND=bind,
            GUNICORN_ACCESS_LOG=str(self.access_log),
            **extra,
        )
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "app:app"],
                cwd=ROOT,
                env=environ,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until_answers(
            f"http://127.0.0.1:{port}/healthz", process=self.process, log=self.log, timeout=90, what="gunicorn"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def loopback(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One gunicorn on loopback for the tests that only read its answers and logs: a start is seconds."""
    port = free_port()
    server = Gunicorn(database_url, tmp_path_factory.mktemp("loopback"), f"127.0.0.1:{port}", port)
    try:
        yield server
    finally:
        server.stop()


def test_the_access_log_keeps_the_network_of_a_client_not_the_client(loopback: Gunicorn) -> None:
    """ProxyFix makes the forwarded address gunicorn's %(h)s: it is cut to /24 or /48 before the log."""
    base = f"http://127.0.0.1:{loopback.port}"
    for client in ("203.0.113.77", "2001:db8:abcd:12::7"):
        assert requests.get(f"{base}/healthz", headers={"X-Forwarded-For": client}, timeout=10).status_code == 200
    logged = ""
    deadline = time.monotonic() + 10
    ours = (r"^203\.0\.113\.0 - \[", r"^2001:db8:abcd:: - \[")
    while not all(re.search(line, logged, re.MULTILINE) for line in ours):  # written after the answer
        assert time.monotonic() < deadline, logged
        logged = loopback.access_log.read_text()
    assert "203.0.113.77" not in logged and "2001:db8:abcd:12" not in logged


def test_no_server_header_on_the_apps_answers_nor_on_gunicorns_own(loopback: Gunicorn) -> None:
    answer = requests.get(f"http://127.0.0.1:{loopback.port}/healthz", timeout=10)
    assert answer.status_code == 200 and "Server" not in answer.headers
    missing = requests.get(f"http://127.0.0.1:{loopback.port}/no-such-page", timeout=10)
    assert missing.status_code == 404 and "Server" not in missing.headers
    # gunicorn's own refusal of a request line over limit_request_line (8190): 414, without Server either.
    with socket.create_connection(("127.0.0.1", loopback.port), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head = sock.recv(4096).split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 414") and "\r\nserver:" not in head.lower()


def test_loopback_with_trusted_proxies_starts_without_a_warning(loopback: Gunicorn) -> None:
    started = loopback.log.read_text()
    assert "Listening at: http://127.0.0.1:" in started and WARNING not in started


def test_listening_beyond_loopback_while_trusting_proxies_warns_at_start(database_url: str, tmp_path: Path) -> None:
    """Reachable directly, gunicorn would take anyone's X-Forwarded-For as the client address."""
    port = free_port()
    server = Gunicorn(database_url, tmp_path, f"0.0.0.0:{port}", port)
    try:
        started = server.log.read_text()
        assert WARNING in started, started
        assert f"gunicorn listens on http://0.0.0.0:{port}" in started
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("198.51.100.200", "198.51.100.0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::"),
        ("2001:db8::1", "2001:db8::"),
        ("::1", "::"),
        ("::ffff:192.0.2.9", "192.0.2.0"),
        ("", "-"),
        ("unix-socket", "-"),
    ],
)
def test_truncate_address(address: str, network: str) -> None:
    assert truncate_address(address) == network


def test_the_access_log_address_mode_is_checked() -> None:
    assert logger_class("full").__name__ == "Logger"
    with pytest.raises(ValueError, match="GUNICORN_ACCESS_LOG_ADDRESSES must be one of truncated, full"):
        logger_class("hashed")


def test_a_response_head_leaves_with_its_body_in_one_write() -> None:
    """bench/soak.py: a worker killed with -9 between gunicorn's write of the head and its write of
    the body left nginx with a head it had passed on, and the visitor with a cut answer for a
    counted view. gunicorn.conf.py makes the two one write (gunicorn_hooks.send_head_with_body)."""
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.http import wsgi

    from maestro_web import gunicorn_hooks

    gunicorn_hooks.send_head_with_body()
    sent: list[bytes] = []
    client = SimpleNamespace(sendall=lambda data: sent.append(bytes(data)))
    request = SimpleNamespace(version=(1, 1), method="GET", should_close=lambda: False)
    answer = wsgi.Response(request, client, Config())
    answer.start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "9")])
    answer.write(b"<p>hi</p>")
    answer.close()
    assert len(sent) == 1 and sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(b"\r\n\r\n<p>hi</p>")

    sent.clear()
    empty = wsgi.Response(request, client, Config())
    empty.start_response("204 NO CONTENT", [])
    empty.close()
    assert len(sent) == 1 and sent[0].startswith(b"HTTP/1.1 204") and sent[0].endswith(b"\r\n\r\n")

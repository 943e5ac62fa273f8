"""Waiting for a process the tests started to answer over HTTP: the one helper for every start-up;
the one poll for what such a process does in its own time (`wait_for`); and the environment of a
production gunicorn the tests start.

A process start-up is not a page (pages wait with Playwright's `expect`): it is polled, every tenth of
a second, until its URL answers, and the wait fails at once with the process's log when it exits.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from redis_support import REDIS_URL

from maestro_web.config import SECRET_SPECS


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll until `condition()` is truthy (then return it); fail naming `what` after `timeout` seconds.
    For what a process the tests started does in its own time (a log line, a row, a metric)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


class DidNotAnswer(RuntimeError):
    """The process exited, or did not answer in time; the message ends with its log."""


def wait_until_answers(
    url: str,
    *,
    process: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
    timeout: float = 60.0,
    status: int | None = 200,
    what: str = "the process",
    request_timeout: float = 5.0,
    **options: Any,
) -> None:
    """Poll GET `url` until it answers `status` (any status when None), each request given
    `request_timeout` seconds and `options` (e.g. `verify=`). Raises DidNotAnswer once `process` has
    exited, or after `timeout` seconds."""

    def logs() -> str:
        return log.read_text(errors="replace") if log is not None and log.exists() else "(no log)"

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise DidNotAnswer(f"{what} exited with {process.returncode}:\n{logs()}")
        try:
            answer = requests.get(url, timeout=request_timeout, **options)
            if status is None or answer.status_code == status:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        if time.monotonic() >= deadline:
            raise DidNotAnswer(f"{what} did not answer {url} within {timeout} s:\n{logs()}")
        time.sleep(0.1)


def stop_group(proc: subprocess.Popen[Any], how: signal.Signals, wait: float = 10.0) -> None:
    """Ask the process (started with `start_new_session=True`) to stop with `how`, give it `wait`
    seconds, then kill its whole process group, so that no child (a gunicorn worker) outlives the
    test even when the master had to be killed. A test that checks how a process stops does not
    use this."""
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is gone: every process stopped by itself
        pass
    proc.wait(timeout=5)


def production_environ(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of `python -m gunicorn app:app` as production runs it (maestro.env), on this
    database and the tests' Redis, behind one trusted proxy, with fresh secrets and `settings` on top.
    One worker: which of several accepts which connection is up to the kernel and a busy machine.
    Nothing of the test process's own MAESTRO_ / FLASK_ settings leaks in."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("MAESTRO_", "FLASK_"))}
    environ.update({spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS})
    environ.update(
        MAESTRO_ENV="production",
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        MAESTRO_TRUSTED_PROXIES="1",
        WEB_CONCURRENCY="1",
        # gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl, one for every run.
        GUNICORN_CMD_ARGS="--no-control-socket",
    )
    environ.update(settings)
    return environ

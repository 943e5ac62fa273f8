"""Waiting for a process the tests started to answer over HTTP: the one helper for every start-up.

A process start-up is not a page (pages wait with Playwright's `expect`): it is polled, every tenth of
a second, until its URL answers, and the wait fails at once with the process's log when it exits.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import requests


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

"""Posting a worker result as the reference worker does: with a token bound to the run and to the
exact bytes of the body (worker_tokens.mint_result_token); and the reference worker as a process."""

from __future__ import annotations

import json as jsonlib
import os
import subprocess
import sys
import threading
from typing import Any
from urllib.parse import urlencode

import requests

from maestro_web.security.signing import KeyRing
from maestro_web.security.worker_tokens import mint_result_token, mint_worker_token


def encoded(json: Any = None, data: dict[str, Any] | bytes | str | None = None) -> tuple[bytes, str]:
    """The request body and its Content-Type, as the test client would send them."""
    if json is not None:
        return jsonlib.dumps(json).encode(), "application/json"
    if isinstance(data, dict):
        return urlencode(data).encode(), "application/x-www-form-urlencoded"
    return (data.encode() if isinstance(data, str) else data or b""), "application/json"


def post_result(
    client: Any,
    ring: KeyRing,
    graph_id: str,
    *,
    json: Any = None,
    data: dict[str, Any] | bytes | str | None = None,
    run_id: str | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /analytics/graphs with a token bound to this body and its run_id (or `run_id`)."""
    body, kind = encoded(json, data)
    if run_id is None:
        source = json if json is not None else data if isinstance(data, dict) else {}
        run_id = str(source.get("run_id", "")) if isinstance(source, dict) else ""
    token = mint_result_token(ring, graph_id, run_id or "-", body)
    return client.post(
        "/analytics/graphs",
        data=body,
        content_type=content_type or kind,
        headers={"Authorization": f"JWT {token}", **(headers or {})},
    )


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_command(app: Any, url: str, *flags: str, publish_url: str | None = None) -> tuple[list[str], dict[str, str]]:
    """`flask analytics worker` against the app at `url` (its base URL), and the environment it runs
    in: the analytics secret only, and the socket secret when it publishes live events to
    `publish_url` (it signs its own socket tokens; it never sees the user or session secrets)."""
    rings = app.config["KEY_RINGS"]
    env = {
        "PATH": os.environ["PATH"],
        "MAESTRO_ENV": "testing",
        "LOG_LEVEL": "WARNING",
        "MAESTRO_SECRETJWT_ANALYTICS": rings["analytics"].current,
    }
    command = [sys.executable, "-m", "flask", "analytics", "worker", "--url", f"{url}/analytics"]
    if publish_url:
        env["MAESTRO_SECRETJWT_SOCKET"] = rings["socket"].current
        command += ["--live-publish-url", publish_url]
    return [*command, *flags], env


def start_worker(app: Any, url: str, *flags: str, publish_url: str | None = None, **options: Any) -> subprocess.Popen:
    """The worker of worker_command as a running process (text pipes unless `options` say otherwise)."""
    command, env = worker_command(app, url, *flags, publish_url=publish_url)
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **options}
    return subprocess.Popen(command, cwd=ROOT, env=env, **options)


def claim_all_in_parallel(app: Any, base: str, claimers: int) -> list[str]:
    """`claimers` threads, each a worker claiming jobs over HTTP from the app at `base` until none is
    left (204); the run ids claimed, in the order they were. Any other answer fails the caller."""
    ring = app.config["KEY_RINGS"]["analytics"]
    claimed: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        session = requests.Session()
        while True:
            response = session.post(
                f"{base}/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}, timeout=30
            )
            if response.status_code == 204:
                return
            with lock:
                if response.status_code != 200:  # an assert here would die with the thread, unseen
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                claimed.append(response.json()["run_id"])

    threads = [threading.Thread(target=claimer) for _ in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    return claimed

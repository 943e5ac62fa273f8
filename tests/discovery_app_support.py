"""Helpers of the discovery tests: a crawl started the app's way, the command token of a user, results."""
from __future__ import annotations

from typing import Any

from flask import Flask

from maestro_web.extensions import db
from maestro_web.models import DiscoveryCrawl, DiscoverySource, Graph, User
from maestro_web.security.discovery_tokens import issue_command_token

COMPOSE = b"""services:
  web:
    image: nginx
    depends_on: [api]
  api:
    image: example/api
    environment:
      DATABASE_URL: postgres://app@db:5432/app
  db:
    image: postgres:16
"""

# A port nothing listens on (the discard service is never run here): the app cannot reach a service.
NO_SERVICE = "http://127.0.0.1:9"


def token_version(app: Flask, user: Any) -> int:
    with app.app_context():
        row = User.get_by_public_id(user.public_id)
        assert row is not None
        return row.token_version


def command_headers(app: Flask, user: Any, graph_id: str, **changes: Any) -> dict[str, str]:
    changes.setdefault("token_version", token_version(app, user))
    token = issue_command_token(app.config["KEY_RINGS"]["session"], user_id=user.public_id, graph_id=graph_id,
                                **changes)
    return {"Authorization": f"JWT {token}"}


def start_crawl_row(app: Flask, graph_id: str, source_id: str, user: Any) -> str:
    """A running crawl of the source, as `POST …/crawl` makes it (without sending the command)."""
    from maestro_web.sources.services import start_crawl

    with app.app_context():
        graph = Graph.get_by_public_id(graph_id)
        assert graph is not None
        source = DiscoverySource.of_graph(graph, source_id)
        assert source is not None
        crawl = start_crawl(source, User.get_by_public_id(user.public_id), 600)
        return crawl.public_id


def crawl_row(app: Flask, crawl_id: str) -> DiscoveryCrawl:
    with app.app_context():
        crawl = db.session.query(DiscoveryCrawl).filter_by(public_id=crawl_id).one()
        db.session.expunge(crawl)
        return crawl


def edge(source: str, target: str, why: str = "depends_on entry", confidence: str = "declared") -> dict[str, Any]:
    return {"source": source, "target": target, "evidence": [why], "confidence": confidence}


def result(status: str = "ok", nodes: list[str] | None = None, edges: list[dict[str, Any]] | None = None,
           message: str = "") -> dict[str, Any]:
    return {"status": status, "message": message, "nodes": [{"name": n, "evidence": [f"service {n}"]} for n in nodes or []],
            "edges": edges or []}


# --- the discovery service as a real process -------------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServiceProcess:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> "ServiceProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_discovery_service(config: Any, app_url: str, *, port: int, publish_url: str | None = None,
                            timeout: float = 60.0, extra: dict[str, str] | None = None) -> ServiceProcess:
    """`flask discovery serve` trusting what `config` (an app.config) signs, reading the app at `app_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "REDIS_URL", "FLASK_"))}
    rings = config["KEY_RINGS"]
    env.update({
        "MAESTRO_ENV": "testing", "PYTHONUNBUFFERED": "1", "MAESTRO_BASE_URL": app_url,
        "MAESTRO_SECRETJWT": rings["session"].current, "MAESTRO_SECRETJWT_SOCKET": rings["socket"].current,
        "MAESTRO_DISCOVERY_PRIVATE_KEY": config["MAESTRO_DISCOVERY_PRIVATE_KEY"],
        "MAESTRO_DISCOVERY_PUBLIC_KEY": config["MAESTRO_DISCOVERY_PUBLIC_KEY"],
        "MAESTRO_DISCOVERY_WORKERS": "2", "LOG_LEVEL": "INFO",
    })
    if publish_url:
        env["MAESTRO_LIVE_PUBLISH_URL"] = publish_url
    env.update(extra or {})
    log_file = tempfile.NamedTemporaryFile(prefix=f"discovery-{port}-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "flask", "--app", "app", "discovery", "serve", "--port", str(port)]
    if not publish_url:
        command.append("--no-live")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    service = ServiceProcess(proc, port, Path(log_file.name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"discovery service exited with {proc.returncode}:\n{service.logs()}")
        try:
            if requests.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return service
        except requests.RequestException:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"discovery service did not answer within {timeout} s:\n{service.logs()}")


def wait_for_crawl(http: requests.Session, base: str, graph_id: str, source_id: str,
                   timeout: float = 90.0) -> dict[str, Any]:
    """The source's last crawl once it is no longer running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = http.get(f"{base}/api/graphs/{graph_id}/sources/{source_id}", timeout=10).json()["last_crawl"]
        if last and last["status"] != "running":
            return dict(last)
        time.sleep(0.2)
    raise AssertionError(f"the crawl of {source_id} did not end within {timeout} s")

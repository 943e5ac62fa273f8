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
    token = issue_command_token(
        app.config["KEY_RINGS"]["session"], user_id=user.public_id, graph_id=graph_id, **changes
    )
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


def result(
    status: str = "ok", nodes: list[str] | None = None, edges: list[dict[str, Any]] | None = None, message: str = ""
) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "nodes": [{"name": n, "evidence": [f"service {n}"]} for n in nodes or []],
        "edges": edges or [],
    }


# --- the discovery service as a real process -------------------------------------------------------

import requests  # noqa: E402
from process_support import wait_for  # noqa: E402
from service_support import ServiceProcess, start_service  # noqa: E402

__all__ = ["ServiceProcess"]


def start_discovery_service(
    config: Any,
    app_url: str,
    *,
    port: int,
    publish_url: str | None = None,
    timeout: float = 60.0,
    extra: dict[str, str] | None = None,
    cli: bool = False,
) -> ServiceProcess:
    """The discovery service (`flask discovery serve`; through the CLI with `cli`) trusting what `config`
    (an app.config) signs, reading the app at `app_url`."""
    keys = {
        "MAESTRO_DISCOVERY_PRIVATE_KEY": config["MAESTRO_DISCOVERY_PRIVATE_KEY"],
        "MAESTRO_DISCOVERY_PUBLIC_KEY": config["MAESTRO_DISCOVERY_PUBLIC_KEY"],
        "MAESTRO_DISCOVERY_WORKERS": "2",
    }
    return start_service(
        "discovery",
        config,
        app_url,
        port=port,
        publish_url=publish_url,
        timeout=timeout,
        extra={**keys, **(extra or {})},
        cli=cli,
    )


def wait_for_crawl(
    http: requests.Session, base: str, graph_id: str, source_id: str, timeout: float = 90.0
) -> dict[str, Any]:
    """The source's last crawl once it is no longer running."""

    def ended() -> dict[str, Any] | None:
        last = http.get(f"{base}/api/graphs/{graph_id}/sources/{source_id}", timeout=10).json()["last_crawl"]
        return dict(last) if last and last["status"] != "running" else None

    return wait_for(ended, f"the crawl of {source_id} to end", timeout)

"""nginx sends a request whose upstream died under it to the next one: through the
recipe's real nginx (deploy/nginx/maestro.conf.in), a write the first instance committed is answered
from its receipt, and a view it counted is not counted again.

The first upstream is a stand-in for a gunicorn killed with -9 just after it committed: it hands each
request to the real gunicorn, waits for the answer (the work is done), and closes nginx's connection
without a byte, so nginx logs "upstream prematurely closed connection" and sends the same request,
with the same X-Request-ID, to the next server (the same gunicorn, as the recipe's `backup`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD
from http_relay import AnswerDropper
from live_support import free_port, require_redis_or_skip
from process_support import production_environ, wait_until_answers

from bench import nginx_recipe

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent


class Site:
    def __init__(
        self, base_url: str, certificate: Path, dropper: AnswerDropper, app_env: dict[str, str], error_log: Path
    ) -> None:
        self.base_url, self.certificate, self.dropper, self.app_env, self.error_log = (
            base_url,
            certificate,
            dropper,
            app_env,
            error_log,
        )

    def post(self, path: str, **options: object) -> requests.Response:
        return requests.post(self.base_url + path, verify=str(self.certificate), timeout=30, **options)  # type: ignore[arg-type]

    def get(self, path: str, **options: object) -> requests.Response:
        return requests.get(self.base_url + path, verify=str(self.certificate), timeout=30, **options)  # type: ignore[arg-type]


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    if not Path(nginx_recipe.NGINX).exists():
        pytest.fail(nginx_recipe.MISSING)
    require_redis_or_skip()
    gunicorn_port, https_port, http_port = free_port(), free_port(), free_port()
    base_url = f"https://127.0.0.1:{https_port}"
    certificate, key = nginx_recipe.self_signed_certificate(tmp_path)
    environ = production_environ(
        database_url,
        MAESTRO_BASE_URL=base_url,
        MAESTRO_LIVE_URL=f"wss://127.0.0.1:{https_port}/live",
        MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{free_port()}/publish",
        GUNICORN_BIND=f"127.0.0.1:{gunicorn_port}",
        GUNICORN_ACCESS_LOG="/dev/null",
    )
    log = tmp_path / "gunicorn.log"
    dropper = AnswerDropper(gunicorn_port, drop=lambda line: True)  # an instance that dies after committing, every time
    gunicorn = nginx = None
    try:
        with open(log, "wb") as log_file:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "app:app"],
                cwd=ROOT,
                env=environ,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        site_conf = nginx_recipe.render(
            nginx_recipe.SITE_TEMPLATE,
            nginx_recipe.site_values(
                base_url=base_url,
                app_port=dropper.port,
                live_port=free_port(),
                http_port=http_port,
                https_port=https_port,
                certificate=certificate,
                key=key,
                access_log=tmp_path / "access.log",
            ),
        )
        first = f"    server 127.0.0.1:{dropper.port};"
        assert first in site_conf, "deploy/nginx/maestro.conf.in changed: no upstream server line"
        # The dying instance first (never marked down, so that every request meets it), then the live one.
        site_conf = site_conf.replace(
            first, f"    server 127.0.0.1:{dropper.port} max_fails=0;\n    server 127.0.0.1:{gunicorn_port} backup;", 1
        )
        conf = nginx_recipe.write_main_config(tmp_path, site_conf, worker_connections=256)
        nginx = subprocess.Popen(
            nginx_recipe.nginx_command(tmp_path, conf),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_answers(f"http://127.0.0.1:{gunicorn_port}/healthz", process=gunicorn, log=log, what="gunicorn")
        wait_until_answers(f"{base_url}/healthz", process=nginx, what="nginx", verify=str(certificate))
        yield Site(base_url, certificate, dropper, environ, tmp_path / "error.log")
    finally:
        for proc in (nginx, gunicorn):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        dropper.close()


def test_writes_and_views_done_by_an_instance_that_died_before_answering_are_done_once(site: Site, make_user) -> None:
    from maestro_web import create_app
    from maestro_web.extensions import db
    from maestro_web.models import Graph, ShareLink

    owner = make_user(email="owner@example.com", name="Owner")
    token = site.post("/api/auth/token", json={"email": owner.email, "password": PASSWORD})
    assert token.status_code == 200, token.text  # a POST done by the dying instance, answered by the other
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    made = site.post("/api/graphs", headers=headers, json={"name": "Shop", "spec": "web -> api"})
    assert made.status_code == 201, made.text
    graph_id = made.json()["id"]
    shared = site.post(f"/api/graphs/{graph_id}/shares", headers=headers, json={"label": "Board", "expires_in": 3600})
    assert shared.status_code == 201, shared.text
    view = site.get(f"/analytics/graphs/public/{graph_id}?token={shared.json()['token']}")
    assert view.status_code == 200, view.status_code

    assert len(site.dropper.requests) >= 4  # each went to the dying instance first...
    assert site.error_log.read_text().count("upstream prematurely closed connection") >= 4  # ...which died
    app = create_app(environ=site.app_env)
    with app.app_context():
        assert [graph.name for graph in db.session.scalars(db.select(Graph))] == ["Shop"]  # created once
        links = db.session.scalars(db.select(ShareLink)).all()
        assert len(links) == 1 and links[0].view_count == 1  # made once, counted once
        db.engine.dispose()

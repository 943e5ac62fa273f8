"""Nothing of a secret access key anywhere (SPEC §11): a crawl of an aws source through the real
service against moto's server on loopback, ok and failed, and every log line of the app and of the
service, every API answer, page and event of it is searched for the key."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest
import requests
from conftest import PASSWORD
from discovery_app_support import ServiceProcess, start_discovery_service, wait_for_crawl
from live_support import LiveClient, free_port
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.timeout(240)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSecretKeyNeverShown"
KEY_ID = "AKIAIOSFODNN7DISCOVR"
MOTO_PORT = free_port()
MOTO = f"http://127.0.0.1:{MOTO_PORT}"
SILENT = f"http://127.0.0.1:{free_port()}"  # allowed, but nothing answers there


@pytest.fixture
def moto() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    requests.post(f"{MOTO}/moto-api/reset", timeout=30).raise_for_status()
    sqs = boto3.client(
        "sqs", region_name="eu-west-1", endpoint_url=MOTO, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    sqs.create_queue(QueueName="orders")
    yield MOTO
    server.stop()


@pytest.fixture
def service(app, live_server, live) -> Iterator[ServiceProcess]:
    app.config["MAESTRO_DISCOVERY_AWS_ENDPOINTS"] = [MOTO, SILENT]
    with start_discovery_service(
        app.config,
        live_server.url,
        port=free_port(),
        publish_url=live.publish_url,
        extra={"MAESTRO_DISCOVERY_AWS_ENDPOINTS": f"{MOTO},{SILENT}", "LOG_LEVEL": "DEBUG"},
        cli=True,  # `flask discovery serve` itself: the keys' hand-over as deployed, and its logs read too
    ) as process:
        app.config["MAESTRO_DISCOVERY_URL"] = process.url
        yield process


def test_no_secret_in_any_log_line_answer_page_or_event(
    app, moto, live, live_server, service, make_user, make_graph, caplog
):
    caplog.set_level(logging.DEBUG)
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="web -> api")
    base = live_server.url
    http = requests.Session()
    token = http.post(f"{base}/api/auth/token", json={"email": owner.email, "password": PASSWORD}, timeout=10).json()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    seen: list[str] = []
    ticket = http.post(f"{base}/api/live/ticket", json={"graph": graph.public_id}, timeout=10).json()
    with LiveClient(ticket["url"]) as client:
        client.hello(ticket["ticket"])
        client.subscribe(f"graph:{graph.public_id}")
        for label, endpoint, expected in (("Account", MOTO, "ok"), ("Unreachable", SILENT, "failed")):
            created = http.post(
                f"{base}/api/graphs/{graph.public_id}/sources",
                timeout=10,
                json={
                    "kind": "aws",
                    "label": label,
                    "settings": {"regions": ["eu-west-1"], "endpoint_url": endpoint},
                    "credentials": {"access_key_id": KEY_ID, "secret_access_key": SECRET},
                },
            )
            assert created.status_code == 201, created.text
            seen.append(created.text)
            source_id = created.json()["id"]
            started = http.post(f"{base}/api/graphs/{graph.public_id}/sources/{source_id}/crawl", timeout=30)
            assert started.status_code == 202, started.text
            frames = []
            while not frames or frames[-1]["event"] not in ("discovery.finished", "discovery.failed"):
                frame = client.recv(120)
                if frame["event"].startswith("discovery.") and frame["data"]["source"] == source_id:
                    frames.append(frame)
            seen.extend(str(frame) for frame in frames)
            last = wait_for_crawl(http, base, graph.public_id, source_id)
            assert last["status"] == expected, last
            seen.append(str(last))
    deps = http.get(f"{base}/api/graphs/{graph.public_id}/dependencies", timeout=10)
    assert any("orders" in node["name"] for node in deps.json()["nodes"]), deps.text
    seen += [
        deps.text,
        http.get(f"{base}/api/graphs/{graph.public_id}/sources", timeout=10).text,
        http.get(f"{base}/api/graphs/{graph.public_id}/versions", timeout=10).text,
    ]
    with app.test_client() as browser:
        page = browser.get("/auth/login")
        from conftest import form_csrf

        browser.post(
            "/auth/login", data={"email": owner.email, "password": PASSWORD, "csrf_token": form_csrf(page.text)}
        )
        for path in ("sources", "changes", "edit", ""):
            seen.append(browser.get(f"/graphs/{graph.public_id}/{path}".rstrip("/")).get_data(as_text=True))
    # the test's own WebSocket and HTTP clients log what they send (a ticket); the product's loggers are searched
    app_lines = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(("websockets", "urllib3"))
    )
    logs = {"service": service.logs(), "app": app_lines, "live server": live.logs(), "answers": "\n".join(seen)}
    assert "Crawl " in logs["service"] and "Crawl " in logs["app"] and "…COVR" in logs["answers"]
    for where, text in logs.items():
        assert SECRET not in text, where
        assert SECRET[:12] not in text, where
        assert "eyJ" not in text, where  # nor any token

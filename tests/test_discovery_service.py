"""The discovery service as a real process (SPEC §11): a command, the input read and the result
written through the app's API with the user's command token, progress on the live server, one
crawl never run twice, refused input failing the crawl by name; no token in any log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import PASSWORD, LiveServer
from discovery_app_support import (
    COMPOSE,
    ServiceProcess,
    command_headers,
    start_crawl_row,
    start_discovery_service,
    wait_for_crawl,
)
from http_relay import AnswerDropper, nth_line_with
from live_support import LiveClient, free_port
from process_support import wait_for

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def service(app, live_server) -> Iterator[ServiceProcess]:
    with start_discovery_service(
        app.config, live_server.url, port=free_port(), publish_url=app.config.get("MAESTRO_LIVE_PUBLISH_URL")
    ) as process:
        app.config["MAESTRO_DISCOVERY_URL"] = process.url
        yield process


def _session(base: str, owner) -> requests.Session:
    http = requests.Session()
    token = http.post(f"{base}/api/auth/token", json={"email": owner.email, "password": PASSWORD}, timeout=10).json()[
        "access_token"
    ]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def _source(http, base, graph_id, text=COMPOSE.decode()):  # noqa: B008 (a constant, decoded once)
    created = http.post(
        f"{base}/api/graphs/{graph_id}/sources", timeout=10, json={"kind": "compose", "label": "Compose", "input": text}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_crawl_end_to_end_with_live_progress(app, live, live_server, service, make_user, make_graph, caplog):
    caplog.set_level(logging.DEBUG)
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    base = live_server.url
    http = _session(base, owner)
    source_id = _source(http, base, graph.public_id)
    ticket = http.post(f"{base}/api/live/ticket", json={"graph": graph.public_id}, timeout=10).json()
    with LiveClient(ticket["url"]) as client:
        assert client.hello(ticket["ticket"])["type"] == "welcome"
        assert client.subscribe(f"graph:{graph.public_id}")["type"] == "subscribed"
        started = http.post(f"{base}/api/graphs/{graph.public_id}/sources/{source_id}/crawl", timeout=30)
        assert started.status_code == 202, started.text
        crawl_id = started.json()["crawl"]
        heard = []
        while not heard or heard[-1]["event"] not in ("discovery.finished", "discovery.failed"):
            frame = client.recv(90)
            if frame["event"].startswith("discovery."):
                heard.append(frame)
    names = [frame["event"] for frame in heard]
    assert names[0] == "discovery.started" and names[-1] == "discovery.finished", (names, service.logs())
    assert all(frame["data"]["crawl"] == crawl_id and frame["data"]["source"] == source_id for frame in heard)
    progress = [frame["data"] for frame in heard if frame["event"] == "discovery.progress"]
    assert [p["percent"] for p in progress] == sorted(p["percent"] for p in progress)
    assert progress[-1]["phase"] == "saving" and progress[-1]["nodes"] == 3 and progress[-1]["edges"] >= 2
    finished = heard[-1]["data"]
    assert finished["status"] == "ok" and finished["added"] >= 5 and finished["removed"] == 0

    last = wait_for_crawl(http, base, graph.public_id, source_id)
    assert last["status"] == "ok" and last["id"] == crawl_id
    deps = http.get(f"{base}/api/graphs/{graph.public_id}/dependencies", timeout=10).json()
    pairs = {(e["source"], e["target"]): e for e in deps["edges"]}
    assert ("web", "api") in pairs and ("api", "db") in pairs
    assert [o["source"] for o in pairs[("web", "api")]["origins"]] == ["hand", source_id]
    assert any("DATABASE_URL" in item for o in pairs[("api", "db")]["origins"] for item in o["evidence"])
    # the merge queued a run for the worker
    assert http.get(f"{base}/api/graphs/{graph.public_id}", timeout=10).json()["run"]["state"] == "queued"
    # no token in any log line, the app's or the service's (the test's own WebSocket client logs its ticket)
    app_lines = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(("websockets", "urllib3"))
    )
    assert "Crawl " in app_lines and "Discovery service on" in service.logs()
    for text in (service.logs(), app_lines):
        assert "eyJ" not in text


def test_the_service_refuses_what_is_not_a_command_for_that_graph(app, live_server, service, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner)
    other = make_graph(owner, name="Other")
    http = _session(live_server.url, owner)
    body = {"graph": graph.public_id, "source": "s", "crawl": "c"}
    assert requests.post(f"{service.url}/crawl", json=body, timeout=10).status_code == 401
    assert requests.post(f"{service.url}/crawl", json=body, headers=dict(http.headers), timeout=10).status_code == 401
    wrong = requests.post(
        f"{service.url}/crawl", json=body, timeout=10, headers=command_headers(app, owner, other.public_id)
    )
    assert wrong.status_code == 403
    good = command_headers(app, owner, graph.public_id)
    assert requests.post(f"{service.url}/crawl", data=b"[1,", headers=good, timeout=10).status_code == 400
    assert (
        requests.post(f"{service.url}/crawl", json={"graph": graph.public_id}, headers=good, timeout=10).status_code
        == 422
    )
    assert requests.post(f"{service.url}/crawl", data=b"x" * 10_000, headers=good, timeout=10).status_code == 413


def test_a_crawl_waits_for_an_app_that_is_away_for_a_moment(app, live_server, make_user, make_graph):
    """The app restarting (a deploy, a crash) refuses connections for a moment: the service asks again
    until it answers, and the crawl ends ok instead of staying `running` until the dead-service margin."""
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="")
    http = _session(live_server.url, owner)
    source_id = _source(http, live_server.url, graph.public_id)
    crawl_id = start_crawl_row(app, graph.public_id, source_id, owner)
    away = free_port()  # the service's way to the app: nothing listens there yet
    with start_discovery_service(app.config, f"http://127.0.0.1:{away}", port=free_port()) as service:
        body = {"graph": graph.public_id, "source": source_id, "crawl": crawl_id}
        answer = requests.post(
            f"{service.url}/crawl", json=body, timeout=10, headers=command_headers(app, owner, graph.public_id)
        )
        assert answer.status_code == 202, answer.text
        wait_for(lambda: "Retrying" in service.logs(), "the service to be refused once", 30)
        assert "Retrying" in service.logs(), service.logs()  # its first read was refused
        with LiveServer(app, away):  # the app is back on the service's address
            last = wait_for_crawl(http, live_server.url, graph.public_id, source_id, timeout=60)
    assert last["status"] == "ok", last
    assert last["added"] > 0, last


@dataclass
class Relayed:
    last: dict[str, Any]  # the source's last crawl, once it ended
    logs: str  # the service's
    requests: list[bytes]  # the request lines the relay took
    versions: list[dict[str, Any]]


def _crawl_through_a_relay(
    app, live_server, owner, graph, last_word: str, **faults: Callable[[bytes], bool]
) -> Relayed:
    """One crawl whose service reaches the app through tests/http_relay.py with `faults`; waits for the
    crawl to end and for `last_word` in the service's log."""
    http = _session(live_server.url, owner)
    source_id = _source(http, live_server.url, graph.public_id)
    crawl_id = start_crawl_row(app, graph.public_id, source_id, owner)
    relay = AnswerDropper(urlsplit(live_server.url).port or 80, **faults)
    try:
        with start_discovery_service(app.config, f"http://127.0.0.1:{relay.port}", port=free_port()) as service:
            body = {"graph": graph.public_id, "source": source_id, "crawl": crawl_id}
            answer = requests.post(
                f"{service.url}/crawl", json=body, timeout=10, headers=command_headers(app, owner, graph.public_id)
            )
            assert answer.status_code == 202, answer.text
            last = wait_for_crawl(http, live_server.url, graph.public_id, source_id, timeout=60)
            logs = wait_for(lambda: last_word in service.logs() and service.logs(), f"the service's {last_word!r}", 30)
    finally:
        relay.close()
    versions = http.get(f"{live_server.url}/api/graphs/{graph.public_id}/versions", timeout=10).json()["items"]
    return Relayed(last, logs, relay.requests, versions)


def test_a_crawl_reads_its_input_again_when_the_answer_was_lost(app, live_server, make_user, make_graph):
    """The app is killed just after it committed the input's claim, so the answer never reaches the service.
    The service asks again with the same claim and the crawl ends ok; without the claim, a second read
    would be refused as taken and the crawl would wait out the dead-service margin."""
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="")
    crawl = _crawl_through_a_relay(app, live_server, owner, graph, " of source ", drop=nth_line_with(b"/input "))
    assert crawl.last["status"] == "ok" and crawl.last["added"] > 0, (crawl.last, crawl.logs)
    assert "the input's answer was lost" in crawl.logs, crawl.logs
    reads = [line for line in crawl.requests if b"/input " in line]
    assert len(reads) == 2 and reads[0] == reads[1], crawl.requests


@pytest.mark.parametrize("fault", ["lose", "drop"])
def test_a_result_whose_write_broke_is_sent_again_and_taken_once(app, live_server, make_user, make_graph, fault):
    """The app killed during the result's write: before it committed (`lose`: the second write is the
    result), or after (`drop`: the second is refused, 409, and the service takes the app's word). The
    crawl ends ok, and the result is taken once."""
    owner = make_user(email="owner@example.com")
    last_word = "the crawl had ended" if fault == "drop" else " of source "
    graph = make_graph(owner, spec="")
    crawl = _crawl_through_a_relay(app, live_server, owner, graph, last_word, **{fault: nth_line_with(b"PUT ")})
    assert crawl.last["status"] == "ok" and crawl.last["added"] > 0, (crawl.last, crawl.logs)
    assert "the result's answer was lost" in crawl.logs, crawl.logs
    writes = [line for line in crawl.requests if line.startswith(b"PUT ")]
    assert len(writes) == 2 and writes[0] == writes[1], crawl.requests
    assert len([v for v in crawl.versions if "source" in v["by"]]) == 1  # taken once


def test_two_services_never_run_the_same_crawl(app, live_server, service, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="")
    http = _session(live_server.url, owner)
    source_id = _source(http, live_server.url, graph.public_id)
    crawl_id = start_crawl_row(app, graph.public_id, source_id, owner)
    with start_discovery_service(app.config, live_server.url, port=free_port()) as second:
        body = {"graph": graph.public_id, "source": source_id, "crawl": crawl_id}
        for target in (service, second):
            answer = requests.post(
                f"{target.url}/crawl", json=body, timeout=10, headers=command_headers(app, owner, graph.public_id)
            )
            assert answer.status_code == 202, answer.text
        last = wait_for_crawl(http, live_server.url, graph.public_id, source_id)
        assert last["status"] == "ok"
        # The other service's job may ask for the input only after the crawl ended: wait for its word.
        wait_for(lambda: "was taken by another" in service.logs() + second.logs(), "the other service's word", 30)
        logs = service.logs() + second.logs()
        assert logs.count("was taken by another discovery process") == 1, logs
    versions = http.get(f"{live_server.url}/api/graphs/{graph.public_id}/versions", timeout=10).json()["items"]
    assert len([v for v in versions if "source" in v["by"]]) == 1


@pytest.mark.parametrize(
    "text, words",
    [
        ("- web\n- api\n", "mapping"),
        (
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "alias",
        ),
    ],
)
def test_a_refused_input_fails_the_crawl_by_name_and_stores_nothing(
    app, live_server, service, make_user, make_graph, text, words
):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, spec="web -> api")
    http = _session(live_server.url, owner)
    source_id = _source(http, live_server.url, graph.public_id, "services: {web: {image: nginx}}\n")
    # stored before the check on save existed, or changed since: the crawl reads it again and says why
    with app.app_context():
        from maestro_web.extensions import db
        from maestro_web.models import DiscoverySource

        db.session.query(DiscoverySource).filter_by(public_id=source_id).update({"input": text.encode()})
        db.session.commit()
    assert (
        http.post(f"{live_server.url}/api/graphs/{graph.public_id}/sources/{source_id}/crawl", timeout=30).status_code
        == 202
    )
    last = wait_for_crawl(http, live_server.url, graph.public_id, source_id)
    assert last["status"] == "failed" and words in last["message"].lower(), last
    deps = http.get(f"{live_server.url}/api/graphs/{graph.public_id}/dependencies", timeout=10).json()
    assert {n["name"] for n in deps["nodes"]} == {"web", "api"}

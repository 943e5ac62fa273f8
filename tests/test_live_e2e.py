"""End to end (SPEC §8): a real live server process, the app on a real port, a real worker process.

A WebSocket subscriber holding a ticket from the app's own API sees a re-run go
run.queued → run.claimed → run.progress … → run.finished, published by two different services
(the app and the worker), each with its own socket token.
"""

from __future__ import annotations

import subprocess

import pytest
import requests
from conftest import PASSWORD
from live_support import LiveClient, LiveProcess
from worker_support import start_worker

pytestmark = pytest.mark.timeout(180)


def worker_process(app, app_url: str, live: LiveProcess, *flags: str) -> subprocess.Popen[str]:
    return start_worker(app, app_url, "--retries", "2", *flags, publish_url=live.publish_url)


def test_a_subscriber_sees_queued_claimed_progress_finished(app, live, live_server, make_user):
    owner = make_user(email="owner@example.com")
    http = requests.Session()
    token = http.post(
        f"{live_server.url}/api/auth/token", json={"email": owner.email, "password": PASSWORD}, timeout=10
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    created = http.post(
        f"{live_server.url}/api/graphs",
        timeout=10,
        json={"name": "Shop", "type": "infra", "spec": "web -> api\napi -> db [kind=database]"},
    )
    assert created.status_code == 201, created.text
    graph_id = created.json()["id"]

    ticket = http.post(f"{live_server.url}/api/live/ticket", json={"graph": graph_id}, timeout=10)
    assert ticket.status_code == 200 and ticket.json()["url"] == live.ws_url
    with LiveClient(ticket.json()["url"]) as client:
        assert client.hello(ticket.json()["ticket"])["type"] == "welcome"
        assert client.subscribe(f"graph:{graph_id}")["type"] == "subscribed"

        assert http.post(f"{live_server.url}/api/graphs/{graph_id}/rerun", timeout=10).status_code == 202
        queued = client.recv(10)
        assert queued["type"] == "event" and queued["event"] == "run.queued"
        run_id = queued["data"]["run_id"]

        worker = worker_process(app, live_server.url, live, "--once")
        heard = [queued]
        while heard[-1]["event"] not in ("run.finished", "run.failed"):
            heard.append(client.recv(60))
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr

    names = [frame["event"] for frame in heard]
    assert names[0] == "run.queued" and names[1] == "run.claimed" and names[-1] == "run.finished", names
    assert heard[1]["data"] == {"run_id": run_id}
    progress = [frame["data"] for frame in heard if frame["event"] == "run.progress"]
    assert [p["phase"] for p in progress] == ["analysing", "drawing", "saving"]
    assert [p["percent"] for p in progress] == sorted(p["percent"] for p in progress)
    finished = heard[-1]["data"]
    assert finished["run_id"] == run_id and finished["status"] == "finished"
    assert finished["info"]["nodes"] == 3 and finished["drawn_at"]
    ids = [frame["id"] for frame in heard]
    assert len(set(ids)) == len(ids)  # one event each, none repeated


def test_a_reconnecting_subscriber_catches_up_with_since(app, live, live_server, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    with app.app_context():
        from maestro_web.security.live_tickets import issue_ticket

        ticket, _ = issue_ticket(
            app.config["KEY_RINGS"]["session"], sub=owner.public_id, channels=[f"graph:{graph.public_id}"]
        )
    channel = f"graph:{graph.public_id}"
    with LiveClient(live.ws_url) as first:
        first.hello(ticket)
        first.subscribe(channel)
        worker = worker_process(app, live_server.url, live, "--once")
        # The graph's run.queued was published before the subscription, but the live server may fan
        # it out (through Redis) just after it: heard or not, it comes before the claim.
        claimed = first.recv(60)
        if claimed["event"] == "run.queued":
            claimed = first.recv(60)
        assert claimed["event"] == "run.claimed"
    # Gone mid-run (a network blip); what happened meanwhile is replayed after the last id seen.
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    with LiveClient(live.ws_url) as again:
        again.hello(ticket)
        assert again.subscribe(channel, since=claimed["id"])["type"] == "subscribed"
        replayed = [again.recv(10) for _ in range(4)]
    assert [f["event"] for f in replayed] == ["run.progress", "run.progress", "run.progress", "run.finished"]

"""The worker as a separate process over loopback HTTP, and concurrent job claims (SPEC §5, §6)."""

from __future__ import annotations

import subprocess
from collections import Counter

from sqlalchemy import select
from worker_support import ROOT, claim_all_in_parallel, post_result, worker_command

from maestro_web import create_app
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRun
from maestro_web.security.worker_tokens import mint_worker_token


def run_worker(app, url, *flags, timeout=120):
    command, env = worker_command(app, url, "--retries", "2", *flags)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def states(app):
    with app.app_context():
        return {g.public_id: g.status for g in db.session.scalars(select(Graph))}


def test_worker_once_draws_a_graph_over_http(app, live_server, make_user, make_graph):
    owner = make_user()
    graph = make_graph(owner, name="Shop", spec="web [kind=frontend] -> api [kind=service]\napi -> db [kind=database]")
    result = run_worker(app, live_server.url, "--once")
    assert result.returncode == 0, result.stderr
    with app.app_context():
        stored = Graph.get_by_public_id(graph.public_id)
        assert stored.status == "finished", stored.message
        assert stored.info["nodes"] == 3 and stored.info["edges"] == 2
        picture = GraphResult.latest_for(stored, with_picture=True)
        assert picture is not None and picture.svg.startswith("<svg") and ">api<" in picture.svg


def test_cycle_and_empty_graphs_are_warnings(app, live_server, make_user, make_graph):
    owner = make_user()
    cyclic = make_graph(owner, name="Loop", spec="a -> b\nb -> a")
    empty = make_graph(owner, name="Empty", spec="")
    result = run_worker(app, live_server.url, "--until-idle")
    assert result.returncode == 0, result.stderr
    with app.app_context():
        assert Graph.get_by_public_id(cyclic.public_id).status == "warning"
        empty_graph = Graph.get_by_public_id(empty.public_id)
        assert empty_graph.status == "warning" and empty_graph.message == "Empty dependencies"


def test_two_workers_ten_graphs_each_done_exactly_once(app, live_server, make_user, make_graph):
    owner = make_user()
    [make_graph(owner, name=f"G{i}", spec=f"svc{i} -> db{i}\nsvc{i} -> cache") for i in range(10)]
    procs = []
    for _ in range(2):
        command, env = worker_command(app, live_server.url, "--retries", "2", "--until-idle")
        procs.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert set(states(app).values()) == {"finished"}
    with app.app_context():
        results = list(db.session.scalars(select(GraphResult)))
        runs = list(db.session.scalars(select(GraphRun)))
    assert len(results) == 10 and len({r.run_id for r in results}) == 10
    assert all(run.state == "finished" and run.attempts == 1 for run in runs)
    done = sum(int(out[1].rsplit("done: ", 1)[1].split(" ")[0]) for out in outputs)
    assert done == 10


def test_worker_reports_unreachable_front_as_failure(app):
    result = run_worker(app, "http://127.0.0.1:9", "--once", timeout=60)
    assert result.returncode != 0
    assert "analytics front unavailable" in result.stderr


def test_parallel_claims_never_share_a_run(app, live_server, make_user, make_graph):
    owner = make_user()
    for i in range(20):
        make_graph(owner, name=f"P{i}")
    claimed = claim_all_in_parallel(app, live_server.url, 8)
    counts = Counter(claimed)
    assert len(claimed) == 20 and max(counts.values()) == 1


def test_expired_lease_makes_a_run_claimable_again(app, client, make_user, make_graph):
    from datetime import timedelta

    from maestro_web.models.base import utcnow

    graph = make_graph(make_user())
    ring = app.config["KEY_RINGS"]["analytics"]
    headers = {"Authorization": f"JWT {mint_worker_token(ring)}"}
    first = client.post("/analytics/jobs/claim", headers=headers).json
    assert client.post("/analytics/jobs/claim", headers=headers).status_code == 204
    with app.app_context():
        run = db.session.scalar(select(GraphRun).where(GraphRun.public_id == first["run_id"]))
        run.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    again = client.post("/analytics/jobs/claim", headers=headers)
    assert again.status_code == 200 and again.json["run_id"] == first["run_id"]
    assert again.json["graph_id"] == graph.public_id


def test_ingest_with_database_down_is_503_with_retry_after(tmp_path):
    app = create_app(
        {
            "MAESTRO_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        },
        environ={},
    )
    ring = app.config["KEY_RINGS"]["analytics"]
    svg = '<svg xmlns="http://www.w3.org/2000/svg"/>'
    response = post_result(app.test_client(), ring, "g", json={"run_id": "r", "svg": svg})
    assert response.status_code == 503
    assert response.json["error"] == "unavailable" and response.headers["Retry-After"]

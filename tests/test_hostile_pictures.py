"""Hostile pictures against the PNG renderer: a picture that makes resvg panic and one that asks
for minutes of drawing never take an app process down; the image link and both downloads answer
422 with the SVG link, and ingest refuses both pictures in the first place.

Rows stored before the sanitizer refused these are simulated by writing the SVG into the stored
result directly (bypassing ingest). A real app process (a werkzeug server in a subprocess, as a
gunicorn worker is) shows that the process lives and keeps answering /healthz.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

import pytest
import requests
from live_support import free_port
from share_support import make_link, short_code, visit, visit_short
from sqlalchemy import update
from worker_support import post_result

from maestro_web import pictures
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult
from maestro_web.security.worker_tokens import mint_worker_token

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent
NS = 'xmlns="http://www.w3.org/2000/svg"'

# resvg panics on this stroke (a Rust panic is a BaseException: it ended the gunicorn worker).
STROKE = (
    f'<svg {NS} viewBox="0 0 100 100" width="100" height="100"><rect x="10" y="10" width="10" height="10" '
    'fill="none" stroke="#000" stroke-width="1e12"/></svg>'
)
# 1.2 KB: a translucent rect nested through three levels of ten <use>, a thousand full-canvas layers.
_TEN = "".join('<use href="#{}"/>' for _ in range(10))
USE_BOMB = (
    f'<svg {NS} viewBox="0 0 1000 1000" width="1000" height="1000"><defs>'
    '<rect id="r" width="1000" height="1000" fill="#e15759" opacity="0.5"/>'
    f'<g id="a">{_TEN.format(*"r" * 10)}</g><g id="b">{_TEN.format(*"a" * 10)}</g>'
    f'<g id="c">{_TEN.format(*"b" * 10)}</g></defs><use href="#c"/></svg>'
)


def store_raw(app, graph_id: str, svg: str) -> None:
    """Put `svg` in the graph's stored results as it is, as a row stored before today's sanitizer."""
    with app.app_context():
        graph_row = Graph.get_by_public_id(graph_id)
        db.session.execute(update(GraphResult).where(GraphResult.graph_id == graph_row.id).values(svg=svg))
        db.session.commit()


def post_picture(app, graph_id: str, svg: str):
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    assert job["graph_id"] == graph_id
    return post_result(
        client, ring, graph_id, json={"run_id": job["run_id"], "status": "finished", "msg": "2 nodes", "svg": svg}
    )


def assert_points_at_the_svg(response, svg_link: str) -> None:
    assert response.status_code == 422 and response.mimetype == "text/html", response.status_code
    body = response.get_data(as_text=True)
    assert f'href="{escape(svg_link)}"' in body, body
    assert "PNG" in body


@pytest.mark.parametrize("svg, reason", [(STROKE, "stroke-width holds 1e12"), (USE_BOMB, "nests <use> 3 deep")])
def test_ingest_refuses_both_pictures_and_stores_nothing(app, owner, make_graph, svg, reason):
    assert len(USE_BOMB) < 1300
    made = make_graph(owner, name="Hostile", spec="a -> b")
    response = post_picture(app, made.public_id, svg)
    assert response.status_code == 422, response.text
    assert reason in response.json["fields"]["svg"]
    with app.app_context():
        assert GraphResult.latest_for(Graph.get_by_public_id(made.public_id), with_picture=True) is None


def test_a_stored_picture_the_renderer_panics_on_answers_422_with_the_svg_link_everywhere(
    app, client, auth, owner, graph, caplog
):
    made = make_link(app, graph, owner)
    store_raw(app, graph.public_id, STROKE)
    caplog.set_level(logging.INFO)

    assert_points_at_the_svg(visit(app, made, "&ext=png"), f"{made.path}&ext=svg")
    svg = visit(app, made, "&ext=svg")  # the link it gives works: the picture as SVG
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and 'stroke-width="1e12"' in svg.text

    as_json = app.test_client().get(made.path + "&ext=png", headers={"Accept": "application/json"})
    assert as_json.status_code == 422 and as_json.json["svg_url"] == f"{made.path}&ext=svg"
    assert "PNG" in as_json.json["fields"]["ext"]

    code = short_code(app, made.id)
    assert_points_at_the_svg(visit_short(app, code, "?ext=png"), f"/analytics/s/{code}?ext=svg")

    public_download = f"/analytics/graphs/public/{graph.public_id}/download.png?token={made.token}"
    assert_points_at_the_svg(
        app.test_client().get(public_download),
        f"/analytics/graphs/public/{graph.public_id}/download.svg?token={made.token}",
    )
    auth.login(owner.email)
    assert_points_at_the_svg(
        client.get(f"/analytics/graphs/{graph.public_id}/download.png"),
        f"/analytics/graphs/{graph.public_id}/download.svg",
    )

    # One line says so, once (the outcome is kept), and no line holds the token.
    refusals = [record for record in caplog.records if "PNG not rendered" in record.getMessage()]
    assert len(refusals) == 1 and "renderer failed" in refusals[0].getMessage()
    assert not any(made.token in record.getMessage() or code in record.getMessage() for record in caplog.records)


def test_one_render_per_picture_across_threads_and_processes(tmp_path, caplog):
    svg = STROKE.replace('x="10"', f'x="10" id="p{uuid.uuid4().hex}"')  # new to this process's cache
    folder = str(tmp_path / "pictures")
    caplog.set_level(logging.INFO, logger="maestro_web.pictures")

    def attempt(_: int) -> str:
        with pytest.raises(pictures.Unrenderable) as refused:
            pictures.svg_to_png(svg, folder)
        return refused.value.reason

    with ThreadPoolExecutor(max_workers=4) as pool:
        reasons = list(pool.map(attempt, range(4)))
    assert reasons == ["the renderer failed on it"] * 4
    assert len([record for record in caplog.records if "PNG not rendered" in record.getMessage()]) == 1

    # Another process of the app reads the outcome from the folder: it renders nothing, logs nothing.
    probe = (
        "import logging, sys\nlogging.basicConfig()\nfrom maestro_web import pictures\n"
        "try:\n    pictures.svg_to_png(sys.stdin.read(), sys.argv[1])\n"
        "except pictures.Unrenderable as refused:\n    print(refused.reason)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", probe, folder],
        input=svg,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert other.stdout.strip() == "the renderer failed on it", other.stderr
    assert "PNG not rendered" not in other.stderr


# --- a real app process ----------------------------------------------------------------------

# The app process gives its renderer children 2 s of CPU instead of pictures.CPU_SECONDS (10): the
# bomb needs far more than either, and each engine's run no longer spends 10 s of a core on it.
CPU_SECONDS = 2

SERVE = """
import json, sys
from werkzeug.serving import make_server
from maestro_web import create_app, pictures
pictures.CPU_SECONDS = int(sys.argv[4])
app = create_app(json.loads(sys.argv[1]), environ=json.loads(sys.argv[2]))
server = make_server("127.0.0.1", int(sys.argv[3]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@pytest.fixture
def app_process(app, tmp_path):
    config = {
        "MAESTRO_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path / "process-instance"),
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    environ = {"MAESTRO_SECRETJWT_PUBLIC_ANALYTICS": app.config["KEY_RINGS"]["public-analytics"].current}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, json.dumps(config), json.dumps(environ), str(port), str(CPU_SECONDS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def healthy(url: str) -> bool:
    # Generous: the machine is shared. A renderer holding the GIL (as resvg in the request thread did)
    # kept /healthz from answering for as long as it drew.
    return requests.get(f"{url}/healthz", timeout=20).status_code == 200


def test_an_app_process_survives_both_pictures_and_keeps_answering(app, app_process, owner, make_graph):
    graphs = {name: make_graph(owner, name=name, spec="a -> b") for name in ("Stroke", "Bomb")}
    links = {}
    for (name, made), svg in zip(graphs.items(), (STROKE, USE_BOMB)):
        assert (
            post_picture(
                app, made.public_id, "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'/>"
            ).status_code
            == 201
        )
        store_raw(app, made.public_id, svg)
        links[name] = make_link(app, made, owner)
    url = app_process.url

    for _ in range(3):  # each request once rendered in the request; now never
        response = requests.get(url + links["Stroke"].path + "&ext=png", timeout=120)
        assert response.status_code == 422 and escape(f"{links['Stroke'].path}&ext=svg") in response.text
        assert app_process.poll() is None and healthy(url)

    with ThreadPoolExecutor(max_workers=3) as pool:
        bombs = [pool.submit(requests.get, url + links["Bomb"].path + "&ext=png", timeout=120) for _ in range(2)]
        answered = 0
        while not all(bomb.done() for bomb in bombs):
            assert healthy(url)  # while the picture is being drawn, elsewhere
            answered += 1
        for bomb in bombs:  # the second waited for the one render and got its outcome
            response = bomb.result()
            assert response.status_code == 422 and escape(f"{links['Bomb'].path}&ext=svg") in response.text
            # Stopped by a limit (the lowered CPU one; the wall-clock one only on a badly overloaded machine).
            assert (
                f"more than {CPU_SECONDS} s of CPU" in response.text
                or f"longer than {pictures.WALL_SECONDS} s to draw" in response.text
            ), response.text
    assert answered >= 1
    assert app_process.poll() is None and healthy(url)
    assert children_of(app_process.pid) == []  # the renderer child was stopped and reaped

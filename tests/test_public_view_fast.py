"""The public view's fast path keeps every promise of SPEC §5 (docs/scale.md).

Views are counted on their own engine (models/counting.py): asynchronous commit on PostgreSQL, a
socket check instead of a ping, share.viewed coalesced on the publisher's thread. These tests run
the real thing: separate app processes (a werkzeug server in a subprocess, as a gunicorn worker
would be) on the test database, real PostgreSQL connections, a real HTTP receiver for live events.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import ENGINE
from flask import template_rendered
from live_support import free_port
from share_support import link_row, make_link, short_code
from sqlalchemy import text

from maestro_web.extensions import db
from maestro_web.graphs.services import remove_role
from maestro_web.live_pages import tickets as live_tickets
from maestro_web.live_publish import LivePublisher
from maestro_web.models import Graph, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.models.counting import APPLICATION_NAME, counting_engine
from maestro_web.public import page_cache
from maestro_web.security.live_tickets import verify_ticket

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parent.parent
postgresql_only = pytest.mark.skipif(ENGINE != "postgresql", reason="PostgreSQL's counting engine")

# A second app process on the same database and secrets: what another gunicorn worker is.
SERVE = """
import json, sys
from werkzeug.serving import make_server
from maestro_web import create_app
app = create_app(json.loads(sys.argv[1]), environ=json.loads(sys.argv[2]))
server = make_server("127.0.0.1", int(sys.argv[3]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


class AppProcess:
    def __init__(self, app, tmp_path: Path) -> None:
        config = {
            "MAESTRO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path / "other-instance"),
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        environ = {"MAESTRO_SECRETJWT_PUBLIC_ANALYTICS": app.config["KEY_RINGS"]["public-analytics"].current}
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, json.dumps(config), json.dumps(environ), str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def get(self, path: str) -> int:
        return requests.get(self.url + path, timeout=30).status_code

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def other_process(app, tmp_path) -> Iterator[AppProcess]:
    process = AppProcess(app, tmp_path)
    yield process
    if process.process.poll() is None:
        process.kill()


def test_views_through_two_processes_at_once_are_counted_exactly(app, live_server, other_process, owner, graph):
    made = make_link(app, graph, owner)
    urls = [live_server.url + made.path, other_process.url + made.path] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda url: requests.get(url, timeout=60).status_code, urls))
    assert statuses == [200] * 40
    assert link_row(app, made.id).view_count == 40


def test_max_views_hold_exactly_across_two_processes(app, live_server, other_process, owner, graph):
    made = make_link(app, graph, owner, max_views=7)
    urls = [live_server.url + made.path, other_process.url + made.path] * 12
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda url: requests.get(url, timeout=60).status_code, urls))
    assert statuses.count(200) == 7 and statuses.count(410) == 17, statuses
    assert link_row(app, made.id).view_count == 7


def test_every_change_made_in_one_process_acts_on_the_next_view_in_another(app, other_process, owner, writer, graph):
    paused, revoked, by_writer = (
        make_link(app, graph, owner),
        make_link(app, graph, owner),
        make_link(app, graph, writer),
    )
    for made in (paused, revoked, by_writer):
        assert other_process.get(made.path) == 200  # the other process has counted on each link

    with app.app_context():
        ShareLink.get_by_public_id(paused.id).paused_at = utcnow()
        ShareLink.get_by_public_id(revoked.id).revoked_at = utcnow()
        db.session.commit()
    assert other_process.get(paused.path) == 403
    assert other_process.get(revoked.path) == 410

    with app.app_context():
        remove_role(Graph.get_by_public_id(graph.public_id), writer.public_id)  # the writer's link dies with it
        db.session.commit()
    assert other_process.get(by_writer.path) == 404

    alive = make_link(app, graph, owner)
    assert other_process.get(alive.path) == 200
    with app.app_context():
        Graph.get_by_public_id(graph.public_id).soft_delete()
        db.session.commit()
    assert other_process.get(alive.path) == 404
    assert [link_row(app, made.id).view_count for made in (paused, revoked, by_writer, alive)] == [1, 1, 1, 1]


def test_a_killed_process_loses_no_counted_view(app, other_process, owner, graph):
    made = make_link(app, graph, owner)
    answered, sent = [], []
    halfway = threading.Event()

    def visitor() -> None:
        session = requests.Session()
        while other_process.process.poll() is None:
            sent.append(1)
            try:
                status = session.get(other_process.url + made.path, timeout=30).status_code
            except requests.RequestException:
                return
            answered.append(status)
            if len(answered) >= 30:
                halfway.set()

    threads = [threading.Thread(target=visitor) for _ in range(6)]
    for thread in threads:
        thread.start()
    assert halfway.wait(60)
    other_process.kill()  # SIGKILL while views are in flight
    for thread in threads:
        thread.join(30)
    assert set(answered) == {200}
    # Every page a visitor received was counted; nothing is counted that was never asked for.
    assert len(answered) <= link_row(app, made.id).view_count <= len(sent)


def test_with_redis_down_a_valid_view_is_served_and_counted(app, owner, graph):
    """Redis holds no link state: a view needs only the database. Failed attempts need Redis's budget."""
    from maestro_web import create_app

    made = make_link(app, graph, owner)
    down = create_app(
        {**app.config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0"},
        environ={},
    )
    client = down.test_client()
    try:
        assert client.get(made.path).status_code == 200
        assert link_row(app, made.id).view_count == 1
        bad = client.get(f"/analytics/graphs/public/{graph.public_id}?token=aaaa.bbbb.cccc")
        assert bad.status_code == 503 and bad.headers["Retry-After"]
    finally:
        with down.app_context():
            db.engine.dispose()


@postgresql_only
def test_only_the_counting_connections_commit_asynchronously(app, owner, graph):
    made = make_link(app, graph, owner)
    assert app.test_client().get(made.path).status_code == 200
    with app.app_context():
        with counting_engine().connect() as connection:
            assert connection.scalar(text("SHOW synchronous_commit")) == "off"
            assert connection.scalar(text("SHOW application_name")) == APPLICATION_NAME
        assert db.session.scalar(text("SHOW synchronous_commit")) == "on"  # the owner's writes stay durable


@postgresql_only
def test_a_counting_connection_the_server_closed_is_replaced_before_the_next_view(app, owner, graph):
    made = make_link(app, graph, owner)
    client = app.test_client()
    assert client.get(made.path).status_code == 200
    with app.app_context():
        ended = db.session.scalars(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        ).all()
        db.session.rollback()
        assert ended and all(ended)  # the pooled counting connection is told to end, as in a server restart
        deadline = time.monotonic() + 20  # the backend ends asynchronously: wait until it has
        while (
            db.session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                ),  # this test's database: another test worker counts views in its own at the same time
                {"name": APPLICATION_NAME},
            )
            and time.monotonic() < deadline
        ):
            db.session.rollback()
            time.sleep(0.05)
        db.session.rollback()
    assert [client.get(made.path).status_code for _ in range(3)] == [200, 200, 200]
    assert link_row(app, made.id).view_count == 4


@postgresql_only
def test_a_counting_statement_that_fails_in_flight_answers_503_and_counts_nothing(app, owner, graph, caplog):
    """The count runs straight on the driver (models/counting.py run_on_driver): a driver error is
    still SQLAlchemy's OperationalError (errors.py: 503), nothing is counted, no token is logged,
    and the next view is served on a sound connection."""
    made = make_link(app, graph, owner)
    client = app.test_client()
    assert client.get(made.path).status_code == 200
    with app.app_context():
        holder = db.engine.connect()  # another transaction holds the link's row: the count waits for it
        holder.execute(text("UPDATE share_links SET label = label WHERE public_id = :id"), {"id": made.id})
        answers: list[int] = []
        visitor = threading.Thread(target=lambda: answers.append(app.test_client().get(made.path).status_code))
        visitor.start()
        deadline = time.monotonic() + 20
        cancelled = False
        while not cancelled and time.monotonic() < deadline:  # the statement is waiting on the lock: cancel it
            cancelled = bool(
                db.session.scalar(
                    text(
                        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
                        " AND wait_event_type = 'Lock' AND datname = current_database()"
                    ),
                    {"name": APPLICATION_NAME},
                )
            )
            db.session.rollback()
        visitor.join(30)
        holder.rollback()
        holder.close()
    assert cancelled and answers == [503]
    assert made.token not in caplog.text
    assert client.get(made.path).status_code == 200
    assert link_row(app, made.id).view_count == 2  # the cancelled view was not counted


class Receiver(BaseHTTPRequestHandler):
    """A live server's POST /publish: records each event; the first one waits for `gate`."""

    events: list[dict] = []
    arrived = threading.Event()
    gate = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).events.append(body)
        type(self).arrived.set()
        type(self).gate.wait(30)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_share_viewed_events_of_one_link_are_coalesced_with_the_newest_count():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        publisher = LivePublisher(f"http://127.0.0.1:{server.server_port}/publish", lambda: "token")
        views = [1]

        def viewed() -> tuple[str, str, dict]:
            return "user:a", "share.viewed", {"views": views[0]}

        publisher.publish_latest("share.viewed:link", viewed)
        assert Receiver.arrived.wait(30)  # the first round is posting: the next views pile up meanwhile
        for _ in range(99):
            views[0] += 1
            publisher.publish_latest("share.viewed:link", viewed)
        publisher.publish("user:a", "share.changed", {"n": 0})  # an ordered event, on its own thread
        Receiver.gate.set()
        assert publisher.flush(30)
        assert sorted((e["event"], e["data"].get("views", 0)) for e in Receiver.events) == [
            ("share.changed", 0),
            ("share.viewed", 1),
            ("share.viewed", 100),
        ]
    finally:
        server.shutdown()


# --- the rendered-page cache and the visitor's own ticket -------------------------------------------


def without_ticket(page: bytes) -> bytes:
    """The page without its visitor's ticket and replay point (each view gets its own, after the cache)."""
    return re.sub(rb'data-live-(ticket|expires|since)="[^"]*"', b"", page)


@dataclass
class CacheClock:
    """The clock the page cache reads (page_cache.time), standing still until a test moves it."""

    now: float

    def time(self) -> float:
        return self.now


@pytest.fixture
def cache_clock(monkeypatch) -> CacheClock:
    """The page cache's clock, stopped in the middle of one of its TIME_STEP windows: the views of a
    test fall in one window whatever the real time is (a pair of views that straddled a 30-second
    boundary was rendered twice, once in a while)."""
    window = int(time.time() // page_cache.TIME_STEP)
    clock = CacheClock((window + 0.5) * page_cache.TIME_STEP)
    monkeypatch.setattr(page_cache, "time", clock)
    return clock


@contextmanager
def renders_of(app) -> Iterator[list[str]]:
    """The templates rendered while in the block (Flask's own signal)."""
    names: list[str] = []

    def note(sender, template, context, **extra) -> None:
        names.append(template.name)

    template_rendered.connect(note, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(note, app)


def test_a_page_is_rendered_once_then_again_when_what_it_shows_changes(app, owner, graph, cache_clock):
    made = make_link(app, graph, owner)
    client = app.test_client()
    with renders_of(app) as rendered:
        first, second = client.get(made.path), client.get(made.path)
        assert first.status_code == second.status_code == 200
        assert without_ticket(first.data) == without_ticket(second.data)
        assert rendered == ["analytics/public.html"]  # the second view was served from the cache ...
    assert link_row(app, made.id).view_count == 2  # ... and counted all the same
    cache_clock.now += page_cache.TIME_STEP
    with renders_of(app) as rendered:
        assert client.get(made.path).status_code == 200
        assert rendered == ["analytics/public.html"]  # a new window: relative times are never older than it
    with app.app_context():
        Graph.get_by_public_id(graph.public_id).name = "Checkout v2"
        db.session.commit()
    with renders_of(app) as rendered:
        changed = client.get(made.path)
        assert rendered == ["analytics/public.html"] and "Checkout v2" in changed.text
    with app.app_context():
        ShareLink.get_by_public_id(made.id).paused_at = utcnow()
        db.session.commit()
    assert client.get(made.path).status_code == 403  # a cached page never outlives its link


def test_one_visitors_flashed_message_never_reaches_another(app, owner, graph, cache_clock):
    made = make_link(app, graph, owner)
    assert app.test_client().get(made.path).status_code == 200  # the page is in the cache
    visitor = app.test_client()
    with visitor.session_transaction() as session:
        session["_flashes"] = [("success", "Only for this visitor")]
    assert "Only for this visitor" in visitor.get(made.path).text
    assert "Only for this visitor" not in app.test_client().get(made.path).text
    assert "Only for this visitor" not in visitor.get(made.path).text  # shown once, as flashes are


def test_each_view_of_a_cached_page_gets_its_own_ticket_for_its_link_only(app, owner, graph):
    """A ticket is never handed out again: one reused across a pause and a resume would be cut off by
    the pause's control event (docs/live-pages.md), so the cached page takes a fresh one each time."""
    made = make_link(app, graph, owner)
    other = make_link(app, graph, owner)

    def ticket_on(path: str) -> str:
        return re.search(r'data-live-ticket="([^"]+)"', app.test_client().get(path).text).group(1)

    ring = app.config["KEY_RINGS"]["session"]
    first, second = ticket_on(made.path), ticket_on(made.path)
    assert first != second
    assert verify_ticket(first, ring)["channels"] == verify_ticket(second, ring)["channels"] == [f"share:{made.id}"]
    assert verify_ticket(ticket_on(other.path), ring)["channels"] == [f"share:{other.id}"]
    renewed = app.test_client().get(made.path.replace("?token=", "/ticket?token="))
    assert renewed.status_code == 200 and verify_ticket(renewed.json["ticket"], ring)["channels"] == [
        f"share:{made.id}"
    ]


@pytest.mark.parametrize("way", ["long link", "short link", "embed"])
def test_each_view_of_a_cached_page_replays_from_just_before_its_own_request(app, owner, graph, cache_clock, way):
    """A cached page's `data-live-since` is the view's own (docs/live.md): one kept from the first
    render would replay ever more of the channel's history to every later visitor. The same on every
    way into the page, none of which may leave a mark unfilled."""
    made = make_link(app, graph, owner)
    path = {
        "long link": made.path,
        "short link": f"/analytics/s/{short_code(app, made.id)}",
        "embed": made.path.replace("?token=", "/embed?token="),
    }[way]

    def since_of_a_view() -> tuple[float, int, float]:
        before = time.time()
        answer = app.test_client().get(path)
        after = time.time()
        assert answer.status_code == 200, answer.text
        assert "@@maestro-" not in answer.text  # the ticket, its expiry and the since: all filled in
        found = re.search(r'data-live-since="([0-9]+)-([0-9]+)"', answer.text)
        assert found, "no data-live-since on the public page"
        return before, int(found.group(1)), after

    for before, since_ms, after in (since_of_a_view(), since_of_a_view()):
        # Just before the request: the margin for clocks, and never later than the view itself.
        assert before - live_tickets.SINCE_MARGIN_S - 0.05 <= since_ms / 1000 <= after - live_tickets.SINCE_MARGIN_S


@pytest.mark.parametrize("suffix", ["", "/download.svg"])
def test_a_link_resumed_between_the_refused_count_and_its_diagnosis_is_counted_and_shown(
    app, client, owner, graph, suffix
):
    """Found by bench/soak.py: a view refused because the link was paused, diagnosed from the row an
    instant after the owner resumed it, answered 404 "This link does not work" for a working link.
    The resume is made to land in that instant: right after the counting statement gives its
    connection back."""
    import sqlalchemy as sa

    made = make_link(app, graph, owner)
    with app.app_context():
        ShareLink.get_by_public_id(made.id).pause()
        db.session.commit()
        engine = counting_engine()
        other = sa.create_engine(db.engine.url)  # the owner's resume, on a connection of its own
    resumed: list[bool] = []

    def resume_once(dbapi_connection, record) -> None:
        if not resumed:
            resumed.append(True)
            with other.begin() as conn:
                conn.execute(text("UPDATE share_links SET paused_at = NULL WHERE public_id = :id"), {"id": made.id})

    sa.event.listen(engine.pool if hasattr(engine, "pool") else engine, "checkin", resume_once)
    try:
        response = client.get(made.path.replace("?", f"{suffix}?", 1))
    finally:
        sa.event.remove(engine.pool if hasattr(engine, "pool") else engine, "checkin", resume_once)
        other.dispose()
    assert resumed, "the counting connection was never given back"
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 1

"""nginx sends a request again, with the same X-Request-ID, when its gunicorn died under it
(bench/soak.py): a committed write is answered from its receipt and not done twice,
a counted view is not counted twice, and a request whose connection the administrator ended before
it committed anything is dispatched once more (maestro_web/receipts.py, redispatch.py)."""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import ENGINE, api_headers
from flask import has_request_context, request
from mail_support import SmtpServer
from share_support import make_link

from maestro_web.extensions import db
from maestro_web.models import Graph, Invitation, RequestReceipt, ShareLink, counting
from maestro_web.models.base import utcnow

pytestmark = pytest.mark.timeout(120)
behind_nginx = pytest.mark.app_settings(MAESTRO_TRUSTED_PROXIES=1)


def request_id() -> str:
    return uuid.uuid4().hex  # the shape of nginx's $request_id


def graph_names(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(Graph.name)).all())


@behind_nginx
def test_a_write_sent_again_is_answered_from_its_receipt_and_done_once(app, client, owner):
    headers = {**api_headers(client, owner), "X-Request-ID": request_id()}
    body = {"name": "Shop", "type": "business", "spec": "web -> api"}
    first = client.post("/api/graphs", headers=headers, json=body)
    again = client.post("/api/graphs", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["X-Request-ID"] == headers["X-Request-ID"]
    assert graph_names(app) == ["Shop"]  # created once
    with app.app_context():
        receipt = RequestReceipt.get_by_request_id(headers["X-Request-ID"])
        assert receipt is not None and receipt.status == 201
        assert b"Shop" not in (receipt.answer or b"")  # the answer is kept encrypted


@behind_nginx
def test_a_patch_sent_again_is_done_once_and_another_request_under_its_id_is_refused(app, client, owner):
    headers = api_headers(client, owner)
    made = client.post("/api/graphs", headers=headers, json={"name": "Shop", "spec": "web -> api"})
    url = made.headers["Location"]
    once = {**headers, "X-Request-ID": request_id()}
    first = client.patch(url, headers=once, json={"name": "Shop 2"})
    client.patch(url, headers=headers, json={"name": "Shop 3"})  # a later edit, without a receipt
    again = client.patch(url, headers=once, json={"name": "Shop 2"})
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    assert graph_names(app) == ["Shop 3"]  # the repeat did not undo the later edit
    other = client.patch(url, headers=once, json={"name": "Shop 4"})
    assert other.status_code == 409
    assert graph_names(app) == ["Shop 3"]


def test_without_a_trusted_proxy_a_request_id_is_only_a_log_field(app, client, owner):
    headers = {**api_headers(client, owner), "X-Request-ID": request_id()}
    for _ in range(2):
        assert client.post("/api/graphs", headers=headers, json={"name": "Shop"}).status_code == 201
    assert graph_names(app) == ["Shop", "Shop"]


@behind_nginx
def test_a_refused_write_leaves_no_receipt(app, client, owner):
    headers = {**api_headers(client, owner), "X-Request-ID": request_id()}
    assert client.post("/api/graphs", headers=headers, json={"name": ""}).status_code == 422
    with app.app_context():
        assert RequestReceipt.get_by_request_id(headers["X-Request-ID"]) is None
    assert client.post("/api/graphs", headers=headers, json={"name": ""}).status_code == 422


@behind_nginx
def test_receipts_older_than_a_day_are_dropped_by_the_next_write(app, client, owner):
    with app.app_context():
        db.session.add(
            RequestReceipt(
                request_id="old-" + request_id(), status=200, created_at=utcnow() - timedelta(days=1, minutes=1)
            )
        )
        db.session.commit()
    headers = {**api_headers(client, owner), "X-Request-ID": request_id()}
    assert client.post("/api/graphs", headers=headers, json={"name": "Shop"}).status_code == 201
    with app.app_context():
        assert [receipt.request_id for receipt in db.session.scalars(sa.select(RequestReceipt))] == [
            headers["X-Request-ID"]
        ]


def old_receipts(app, count: int, **fields) -> list[str]:
    """`count` receipts past their day, the oldest first; their request ids."""
    ids = [f"old-{n}-{request_id()}" for n in range(count)]
    with app.app_context():
        for n, rid in enumerate(ids):
            age = timedelta(days=1, minutes=count - n)
            db.session.add(RequestReceipt(request_id=rid, status=200, created_at=utcnow() - age, **fields))
        db.session.commit()
    return ids


def receipt_ids(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(RequestReceipt.request_id)))


def test_a_prune_drops_a_bounded_batch_of_the_oldest(app):
    ids = old_receipts(app, 5)
    with app.app_context():
        fresh = request_id()
        db.session.add(RequestReceipt(request_id=fresh, status=200))
        db.session.commit()
        assert RequestReceipt.prune(limit=2) == 2
        db.session.commit()
    assert receipt_ids(app) == {*ids[2:], fresh}  # the two oldest went, nothing young


@behind_nginx
def test_views_with_no_write_in_between_prune_the_expired_receipts(app, client, owner, graph, monkeypatch):
    """Behind nginx every counted view writes a receipt: a link viewed all day with no write anywhere
    must not keep them. Every VIEWS_PER_PRUNE counted views (here 2) drop twice as many expired ones."""
    from maestro_web import receipts

    monkeypatch.setattr(receipts, "VIEWS_PER_PRUNE", 2)
    monkeypatch.setattr(receipts, "_counted_views", itertools.count(1))
    made = make_link(app, graph, owner)
    with app.app_context():
        link_row_id = ShareLink.get_by_public_id(made.id).id
    ids = old_receipts(app, 6, share_link_id=link_row_id)
    views = [request_id() for _ in range(4)]
    for n, view in enumerate(views, start=1):
        assert client.get(made.path, headers={"X-Request-ID": view}).status_code == 200
        left = receipt_ids(app)
        assert set(views[:n]) <= left  # a view's own receipt stays
        # Nothing at the first view, the oldest four at the second, the last two at the fourth.
        assert left & set(ids) == set(ids[{1: 0, 2: 4, 3: 4, 4: 6}[n] :])
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 4


@behind_nginx
def test_a_view_sent_again_is_counted_once(app, client, owner, graph):
    made = make_link(app, graph, owner)
    once = {"X-Request-ID": request_id()}
    first = client.get(made.path, headers=once)
    again = client.get(made.path, headers=once)
    assert first.status_code == again.status_code == 200
    assert b"Checkout" in again.get_data()
    assert client.get(made.path, headers={"X-Request-ID": request_id()}).status_code == 200
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 2


@behind_nginx
def test_the_view_that_used_a_link_up_is_shown_again_to_its_repeat(app, client, owner, graph):
    made = make_link(app, graph, owner, max_views=1)
    once = {"X-Request-ID": request_id()}
    assert client.get(made.path, headers=once).status_code == 200
    assert client.get(made.path, headers=once).status_code == 200  # the same view, not a second one
    assert client.get(made.path, headers={"X-Request-ID": request_id()}).status_code == 410
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 1


def test_without_a_trusted_proxy_every_view_counts(app, client, owner, graph):
    made = make_link(app, graph, owner)
    once = {"X-Request-ID": request_id()}
    for _ in range(2):
        assert client.get(made.path, headers=once).status_code == 200
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 2


@pytest.mark.skipif(ENGINE != "postgresql", reason="pg_terminate_backend is PostgreSQL's")
@behind_nginx
def test_an_owner_request_whose_connection_the_administrator_ended_is_dispatched_again(app, client, owner, caplog):
    """bench/soak.py: pg_terminate_backend reached an owner's connection after the pool's pre-ping had
    passed it, and the edit answered 503. Nothing was committed (57P01), so the request runs again."""
    from conftest import POSTGRES_ADMIN_URL

    headers = api_headers(client, owner)
    url = client.post("/api/graphs", headers=headers, json={"name": "Shop"}).headers["Location"]
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    ended: list[int] = []

    def end_it_after_the_liveness_check(dbapi_connection, record, proxy) -> None:
        if not ended:  # the first checkout only: the second dispatch's connection is left alone
            ended.append(dbapi_connection.info.backend_pid)
            with admin.connect() as conn:  # waits (up to 5 s) until that backend has exited
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": ended[0]}).scalar()

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "checkout", end_it_after_the_liveness_check)
    once = request_id()
    try:
        response = client.patch(url, headers={**headers, "X-Request-ID": once}, json={"name": "Shop 2"})
    finally:
        sa.event.remove(engine, "checkout", end_it_after_the_liveness_check)
        admin.dispose()
    assert ended, "no connection was checked out"
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["name"] == "Shop 2"
    assert graph_names(app) == ["Shop 2"]
    said = [record for record in caplog.records if record.name == "maestro_web.redispatch"]
    assert len(said) == 1 and said[0].request_id == once  # its log line names the request


@pytest.mark.skipif(ENGINE != "postgresql", reason="pg_terminate_backend is PostgreSQL's")
def test_a_request_that_committed_before_its_connection_ended_is_not_dispatched_again(app, client, owner):
    """Only a request that committed nothing runs twice. Here (no proxy, so the create commits at
    once) the connection is terminated after the commit, when the answer reads the new graph back:
    503 as before, and the graph exists once."""
    from conftest import POSTGRES_ADMIN_URL

    headers = api_headers(client, owner)
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    checkouts: list[int] = []

    def end_the_second_checkout(dbapi_connection, record, proxy) -> None:
        checkouts.append(dbapi_connection.info.backend_pid)
        if len(checkouts) == 2:  # the first holds the INSERT and its commit; the second reads it back
            with admin.connect() as conn:
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": checkouts[1]}).scalar()

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "checkout", end_the_second_checkout)
    try:
        response = client.post("/api/graphs", headers=headers, json={"name": "Shop"})
    finally:
        sa.event.remove(engine, "checkout", end_the_second_checkout)
        admin.dispose()
    assert len(checkouts) == 2, checkouts  # no third: not dispatched again
    assert response.status_code == 503, response.get_data(as_text=True)
    assert graph_names(app) == ["Shop"]


def close_its_socket(dbapi_connection) -> None:
    """End a PostgreSQL connection from the app's side, as a reset does: its next statement fails with
    "server closed the connection unexpectedly" and no SQLSTATE, and the server rolls back what its
    transaction did (the soak met this after pg_terminate_backend when the server's goodbye was lost)."""
    fd = dbapi_connection.pgconn.socket
    with socket.socket(fileno=os.dup(fd)) as same:
        same.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def break_once(app):
    """break_once(event, when=..., engine=...): the first time `engine` (the app's by default) fires
    `event` (and `when` holds), its connection's socket is closed; returns the list of the connections
    broken. A checkout listener runs after the pool's own liveness check."""
    with app.app_context():
        default_engine = db.engine
    listening: list[tuple[sa.Engine, str, object]] = []
    broken: list[int] = []

    def listen(name: str, when=lambda: True, engine: sa.Engine | None = None):
        def handler(connection, *args) -> None:
            if not broken and when():
                dbapi_connection = connection if name == "checkout" else connection.connection.dbapi_connection
                broken.append(dbapi_connection.info.backend_pid)
                close_its_socket(dbapi_connection)

        target = engine or default_engine
        sa.event.listen(target, name, handler)
        listening.append((target, name, handler))
        return broken

    yield listen
    for engine, name, handler in listening:
        sa.event.remove(engine, name, handler)


@behind_nginx
@pytest.mark.skipif(ENGINE != "postgresql", reason="a PostgreSQL connection's socket")
def test_a_request_whose_connection_was_found_closed_is_dispatched_again(app, client, owner, break_once, caplog):
    """The statement met a closed connection (no 57P01 came with it): nothing of the transaction is
    left on the server, nothing was committed, so the request runs again."""
    headers = api_headers(client, owner)
    url = client.post("/api/graphs", headers=headers, json={"name": "Shop"}).headers["Location"]
    broken = break_once("checkout")
    response = client.patch(url, headers={**headers, "X-Request-ID": request_id()}, json={"name": "Shop 2"})
    assert broken, "no connection was checked out"
    assert response.status_code == 200, response.get_data(as_text=True)
    assert graph_names(app) == ["Shop 2"]
    assert len([r for r in caplog.records if r.name == "maestro_web.redispatch"]) == 1


@behind_nginx
@pytest.mark.skipif(ENGINE != "postgresql", reason="a PostgreSQL connection's socket")
def test_a_write_whose_commit_met_a_closed_connection_runs_again_under_its_receipt(
    app, client, owner, break_once, caplog
):
    """Behind nginx the COMMIT carries the request's receipt: a second dispatch would find the receipt
    had it gone through. It had not here (the socket closed first), so the work is done once, by the
    second dispatch."""
    headers = api_headers(client, owner)
    broken = break_once("commit", when=lambda: has_request_context() and request.method == "POST")
    response = client.post("/api/graphs", headers={**headers, "X-Request-ID": request_id()}, json={"name": "Shop"})
    assert broken
    assert response.status_code == 201, response.get_data(as_text=True)
    assert graph_names(app) == ["Shop"]
    assert len([r for r in caplog.records if r.name == "maestro_web.redispatch"]) == 1


@pytest.mark.skipif(ENGINE != "postgresql", reason="a PostgreSQL connection's socket")
def test_without_a_receipt_a_commit_that_met_a_closed_connection_is_not_run_again(app, client, owner, break_once):
    """Without nginx's request id there is no receipt: a connection lost at COMMIT may have committed
    first, so the answer is 503 and the request is not run again (here it had not committed)."""
    headers = api_headers(client, owner)
    broken = break_once("commit", when=lambda: has_request_context() and request.method == "POST")
    response = client.post("/api/graphs", headers=headers, json={"name": "Shop"})
    assert broken
    assert response.status_code == 503, response.get_data(as_text=True)
    assert graph_names(app) == []


@pytest.mark.skipif(ENGINE != "postgresql", reason="a PostgreSQL connection's socket")
def test_a_view_whose_count_met_a_closed_connection_is_not_counted_twice(app, client, owner, graph, break_once):
    """A view's count commits by itself (models/counting.py): a connection lost under it may have
    counted, so only 57P01 (which says it did not) runs the request again; this is a 503."""
    made = make_link(app, graph, owner)
    with app.app_context():
        broken = break_once("checkout", engine=counting.counting_engine())
    response = client.get(made.path)
    assert broken
    assert response.status_code == 503
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 0


# --- mail waits for the commit -----------------------------------------------------------------------


def invite_behind_nginx(client, headers: dict[str, str], graph_id: str, email: str, once: str):
    return client.put(
        f"/api/graphs/{graph_id}/roles",
        headers={**headers, "X-Request-ID": once},
        json={"email": email, "role": "read"},
    )


def invitations_to(app, email: str) -> int:
    with app.app_context():
        return len(db.session.scalars(sa.select(Invitation).where(Invitation.email == email)).all())


@behind_nginx
def test_a_write_behind_nginx_mails_once_committed_and_once_only(app, client, owner, make_graph):
    """The invitation's mail goes out after the request's one commit, and its repeat (nginx's retry)
    is answered from the receipt without a second mail."""
    graph = make_graph(owner)
    headers, once = api_headers(client, owner), request_id()
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        first = invite_behind_nginx(client, headers, graph.public_id, "nia@example.com", once)
        again = invite_behind_nginx(client, headers, graph.public_id, "nia@example.com", once)
        assert first.status_code == again.status_code == 202
        assert [m["To"] for m in smtp.inbox.settle()] == ["nia@example.com"]
    assert invitations_to(app, "nia@example.com") == 1


@behind_nginx
@pytest.mark.skipif(ENGINE != "postgresql", reason="SQLite lets no other connection write during the request")
def test_a_write_whose_commit_loses_to_another_attempt_sends_no_mail(app, client, owner, make_graph, monkeypatch):
    """Behind nginx a write commits at its very end, with its receipt (receipts.py). Here another
    attempt of the same request commits its receipt first (nginx stopped waiting on this one): this
    attempt's work is undone, so the invitation it would have mailed does not exist, and no mail goes."""
    graph = make_graph(owner)
    headers, once = api_headers(client, owner), request_id()
    prune = RequestReceipt.prune

    def the_other_attempt_commits_first(now=None) -> int:
        with sa.orm.Session(db.engine) as other:  # its own connection, as another gunicorn's
            other.add(RequestReceipt(request_id=once, status=202, fingerprint="0" * 64))
            other.commit()
        return prune(now)

    monkeypatch.setattr(RequestReceipt, "prune", staticmethod(the_other_attempt_commits_first))
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        answer = invite_behind_nginx(client, headers, graph.public_id, "nia@example.com", once)
        assert answer.status_code == 409, answer.text  # answered from the other attempt's receipt
        assert smtp.inbox.settle() == []
    assert invitations_to(app, "nia@example.com") == 0


@behind_nginx
def test_a_write_whose_commit_fails_sends_no_mail_and_keeps_nothing(app, client, owner, make_graph, monkeypatch):
    """The database fails at the request's one commit (its connection lost, say): the work is undone,
    the answer is a 503 a client may retry, and the invitation that was not stored is not mailed."""
    graph = make_graph(owner)
    headers = api_headers(client, owner)

    def the_database_goes_away(now=None) -> int:
        raise sa.exc.OperationalError("DELETE FROM request_receipts", {}, Exception("server closed the connection"))

    monkeypatch.setattr(RequestReceipt, "prune", staticmethod(the_database_goes_away))
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        answer = invite_behind_nginx(client, headers, graph.public_id, "nia@example.com", request_id())
        assert answer.status_code == 503, answer.text
        assert "Retry-After" in answer.headers
        assert smtp.inbox.settle() == []
    assert invitations_to(app, "nia@example.com") == 0

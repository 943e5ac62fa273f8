"""A database that cannot be reached is an outage: 503 + Retry-After on every visitor path, never a 500.

"Unreachable" is real: on PostgreSQL a loopback port nothing listens on, on SQLite a database file
in a directory that does not exist (the driver cannot open it). The tokens are the real ones of a
link made on the working database, so every guard passes and the request reaches the count.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
from conftest import ENGINE
from live_support import free_port
from share_support import make_link, short_code

from maestro_web.extensions import db

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def unreachable_app(app, tmp_path):
    from maestro_web import create_app

    if ENGINE == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    else:
        url = f"sqlite:///{tmp_path}/no-such-directory/maestro.db"
    down = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False}, environ={})
    yield down
    with down.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("suffix", ["", "/embed", "/download.svg", "/download.png"])
def test_every_long_link_path_answers_503_with_retry_after(app, unreachable_app, owner, graph, suffix, caplog):
    made = make_link(app, graph, owner)
    path = made.path.replace("?", f"{suffix}?", 1)
    caplog.set_level(logging.INFO)
    response = unreachable_app.test_client().get(path)
    assert response.status_code == 503, response.status_code
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in caplog.text
    assert made.token not in caplog.text


@pytest.mark.parametrize("query", ["&ext=png", "&ext=svg"])
def test_the_image_link_answers_503_too(app, unreachable_app, owner, graph, query):
    made = make_link(app, graph, owner)
    response = unreachable_app.test_client().get(made.path + query)
    assert response.status_code == 503, response.status_code
    assert response.headers["Retry-After"].isdigit()


def test_the_short_link_answers_the_same(app, unreachable_app, owner, graph):
    made = make_link(app, graph, owner)
    response = unreachable_app.test_client().get(f"/analytics/s/{short_code(app, made.id)}")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


def test_a_signed_share_token_naming_a_lone_surrogate_is_an_unknown_link(app, owner, graph):
    """A correctly signed token whose `jti` no link can have (a lone UTF-16 surrogate cannot even be
    sent to PostgreSQL) is an unknown link: 404, like any other."""
    from maestro_web.models.base import utcnow
    from maestro_web.security.share_tokens import mint_share_token

    make_link(app, graph, owner)
    ring = app.config["KEY_RINGS"]["public-analytics"]
    forged = mint_share_token(ring, graph.public_id, "\ud800", utcnow(), utcnow() + timedelta(days=1))
    client = app.test_client()
    for suffix in ("", "/embed", "/download.svg", "/ticket", "/live"):
        response = client.get(f"/analytics/graphs/public/{graph.public_id}{suffix}?token={quote(forged)}")
        assert response.status_code == 404, (suffix, response.status_code)
    response = client.get(f"/analytics/graphs/public/{graph.public_id}?token={quote(forged)}&ext=png")
    assert response.status_code == 404


@pytest.mark.skipif(ENGINE != "postgresql", reason="pg_terminate_backend and the counting engine are PostgreSQL's")
def test_a_view_whose_connection_the_administrator_ended_is_served_and_counted_once(app, client, owner, graph):
    """Found by bench/soak.py: pg_terminate_backend under load failed the views whose counting
    connection passed the pool's liveness check just before the server's goodbye arrived (503). The
    statement is now run again on a new connection, since a terminated one ran nothing."""
    import sqlalchemy as sa
    from conftest import POSTGRES_ADMIN_URL

    from maestro_web.models import ShareLink
    from maestro_web.models.counting import counting_engine

    made = make_link(app, graph, owner)
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    ended: list[int] = []

    def end_it_after_the_liveness_check(dbapi_connection, record, proxy) -> None:
        if not ended:  # the first checkout only: the retry's connection is left alone
            ended.append(dbapi_connection.info.backend_pid)
            with admin.connect() as conn:  # waits (up to 5 s) until that backend has exited
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": ended[0]}).scalar()

    with app.app_context():
        engine = counting_engine()
    sa.event.listen(engine, "checkout", end_it_after_the_liveness_check)
    try:
        response = client.get(made.path)
    finally:
        sa.event.remove(engine, "checkout", end_it_after_the_liveness_check)
        admin.dispose()
    assert ended, "the counting connection was never checked out"
    assert response.status_code == 200, response.status_code
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).view_count == 1

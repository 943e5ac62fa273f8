"""Redis is a real dependency: when REDIS_URL is set and Redis cannot be reached,
every rate-limited action fails closed with 503 + Retry-After, and /healthz says so.

"Unreachable" is a real refused connection: a loopback port that nothing listens on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from conftest import PASSWORD, form_csrf, session_cookie
from mail_support import free_port

from maestro_web.models import User
from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.web.rate_limits import STORAGE_DOWN_RETRY_AFTER

MESSAGE = "the rate-limit service cannot be reached"


@pytest.fixture
def closed_port() -> int:
    return free_port()  # bound and released: connecting to it is refused


@pytest.fixture
def app_settings(closed_port: int) -> dict[str, Any]:
    url = f"redis://127.0.0.1:{closed_port}/0"
    return {
        "REDIS_URL": url,
        "RATELIMIT_STORAGE_URI": url,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": f"maestro-test-{uuid.uuid4().hex}",
    }


def assert_fails_closed(response, json: bool = False) -> None:
    assert response.status_code == 503, response.status_code
    assert response.headers["Retry-After"] == str(STORAGE_DOWN_RETRY_AFTER)
    if json:
        assert response.json["error"] == "unavailable"
        assert MESSAGE in response.json["message"]
    else:
        assert MESSAGE in response.text
    assert "Set-Cookie" not in response.headers or "_access=" not in response.headers.get("Set-Cookie", "")


def test_healthz_names_redis_as_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert response.headers["Retry-After"]


def test_login_form_and_token_api_fail_closed(app, client, make_user):
    make_user(email="ada@example.com")
    page = client.get("/auth/login")
    assert page.status_code == 200  # pages without a limit still work
    login = client.post(
        "/auth/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": form_csrf(page.text)}
    )
    assert_fails_closed(login)
    assert session_cookie(client, "access") is None and session_cookie(client, "refresh") is None
    assert_fails_closed(
        client.post("/api/auth/token", json={"email": "ada@example.com", "password": PASSWORD}), json=True
    )
    assert_fails_closed(client.post("/users/auth", json={"email": "ada@example.com", "password": PASSWORD}), json=True)


def test_forgot_register_and_reset_fail_closed_and_do_nothing(app, client):
    forgot = client.get("/auth/forgot")
    assert_fails_closed(
        client.post("/auth/forgot", data={"email": "ada@example.com", "csrf_token": form_csrf(forgot.text)})
    )
    register = client.get("/auth/register")
    answer = client.post(
        "/auth/register", data={"name": "Ada", "email": "new@example.com", "csrf_token": form_csrf(register.text)}
    )
    assert_fails_closed(answer)
    with app.app_context():
        assert User.get_by_email("new@example.com") is None  # nothing half-done
    assert_fails_closed(
        client.post(
            "/auth/reset",
            data={
                "reset_token": "x",
                "password": PASSWORD,
                "confirm": PASSWORD,
                "csrf_token": form_csrf(register.text),
            },
        )
    )


def test_worker_endpoints_fail_closed(app, client):
    token = mint_worker_token(app.config["KEY_RINGS"]["analytics"])
    assert_fails_closed(client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"}), json=True)


def test_share_link_failures_fail_closed_and_valid_links_still_open(app, client, make_user, make_graph):
    from share_support import make_link

    owner = make_user()
    graph = make_graph(owner)
    link = make_link(app, graph, owner)
    # A wrong token is counted against the client's budget: that needs Redis.
    wrong = client.get(f"/analytics/graphs/public/{graph.public_id}", query_string={"token": "garbage"})
    assert_fails_closed(wrong)
    # A valid link costs no rate-limit work, so it keeps working.
    assert client.get(link.path).status_code == 200


def test_the_log_says_redis_is_down_without_its_address(client, closed_port, caplog):
    with caplog.at_level(logging.ERROR):
        client.post("/api/auth/token", json={"email": "ada@example.com", "password": PASSWORD})
        client.get("/healthz")
    lines = [record.getMessage() for record in caplog.records]
    assert any("Rate-limit storage unavailable on POST /api/auth/token: ConnectionError" in line for line in lines), (
        lines
    )
    assert any("Health check: Redis unavailable" in line for line in lines), lines
    assert not any(str(closed_port) in line or "ada@example.com" in line for line in lines)
    assert not any(
        record.levelno >= logging.ERROR and record.exc_info for record in caplog.records
    )  # no traceback: an answer, not a crash

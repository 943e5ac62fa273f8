"""Discovery command tokens at every edge (SPEC §3, §11): accepted only on the two endpoints of a
crawl, of the graph in their `graph` claim; every other context's token refused there, and a command
token refused everywhere else."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from conftest import api_headers
from discovery_app_support import COMPOSE, NO_SERVICE, command_headers, crawl_row, result, start_crawl_row
from token_support import new_ring, sign, token_claims

from maestro_web.models import Role
from maestro_web.security import discovery_tokens, live_tickets, share_tokens, socket_tokens
from maestro_web.security.discovery_tokens import CommandTokenError, issue_command_token, verify_command_token
from maestro_web.security.worker_tokens import mint_worker_token

pytestmark = pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE)


# --- the module ------------------------------------------------------------------------------------


def test_issue_and_verify():
    ring = new_ring("session")
    claims = verify_command_token(issue_command_token(ring, user_id="u1", graph_id="g1", token_version=1), ring)
    assert claims["aud"] == "maestro-discovery" and claims["sub"] == "u1" and claims["graph"] == "g1"
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"exp": -5, "iat": -60}, "token expired"),
        ({"aud": "maestro-web"}, "invalid token"),
        ({"aud": ["maestro-discovery", "maestro-web"]}, "invalid token"),
        ({"iss": "maestro-analytics"}, "invalid token"),
        ({"graph": None}, "invalid token"),
        ({"sub": None}, "invalid token"),
        ({"graph": 7}, "token has no valid graph"),
        ({"iat": 0, "exp": 1000}, "token lifetime is longer than fifteen minutes"),
    ],
)
def test_refused_claims(changes, message):
    now = int(time.time())  # "exp"/"iat" are given as seconds from now: made when the test runs, not at collection
    changes = {name: now + value if name in ("exp", "iat") else value for name, value in changes.items()}
    ring = new_ring("session")
    claims = token_claims("maestro-server", "maestro-discovery", 900, **{"sub": "u1", "graph": "g1", **changes})
    with pytest.raises(CommandTokenError, match=message):
        verify_command_token(sign(claims, ring), ring)


def test_tampered_other_key_none_alg_and_junk_are_refused():
    ring = new_ring("session")
    token = issue_command_token(ring, user_id="u1", graph_id="g1", token_version=1)
    head, body, signature = token.split(".")
    for bad in (
        f"{head}.{body}.{signature[:-2]}AA",
        issue_command_token(new_ring("session"), user_id="u1", graph_id="g1", token_version=1),
        pyjwt.encode({"sub": "u1"}, key=None, algorithm="none"),
        "x" * 5000,
        "",
        "é.é.é",
    ):
        with pytest.raises(CommandTokenError):
            verify_command_token(bad, ring)
    with pytest.raises(ValueError):
        issue_command_token(ring, user_id="u1", graph_id="g1", token_version=1, ttl=901)


# --- the app's endpoints -----------------------------------------------------------------------------


@pytest.fixture
def world(app, client, make_user, make_graph):
    owner = make_user(email="owner@example.com", name="Owner")
    writer = make_user(email="writer@example.com", name="Wendy")
    graph = make_graph(owner, grants={writer: Role.WRITE})
    other = make_graph(owner, name="Other")
    headers = api_headers(client, owner)
    source = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        json={"kind": "compose", "label": "C", "input": COMPOSE.decode()},
    ).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], writer)
    base = f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawls/{crawl}"
    return {
        "owner": owner,
        "writer": writer,
        "graph": graph,
        "other": other,
        "source": source,
        "crawl": crawl,
        "input": base + "/input",
        "result": base,
        "headers": headers,
    }


def _call(client, world, which, headers):
    if which == "input":
        return client.get(world["input"], headers=headers)
    return client.put(world["result"], headers=headers, json=result(nodes=["web"]))


@pytest.mark.parametrize("which", ["input", "result"])
def test_a_valid_command_token_is_accepted(app, client, world, which):
    response = _call(client, world, which, command_headers(app, world["writer"], world["graph"].public_id))
    assert response.status_code == 200, response.text
    if which == "input":
        assert response.data == COMPOSE and response.headers["X-Maestro-Source-Kind"] == "compose"


def _other_contexts(app, world):
    rings = app.config["KEY_RINGS"]
    graph_id = world["graph"].public_id
    now = datetime.now(UTC)
    session = world["headers"]["Authorization"]
    return {
        "missing": None,
        "session access token": session,
        "share token": "JWT "
        + share_tokens.mint_share_token(rings[share_tokens.CONTEXT], graph_id, "link", now, now + timedelta(hours=1)),
        "worker token": "JWT " + mint_worker_token(rings["analytics"], graph_id),
        "socket token": "JWT "
        + socket_tokens.issue_socket_token(rings[socket_tokens.CONTEXT], issuer="maestro-discovery"),
        "live ticket": "JWT "
        + live_tickets.issue_ticket(
            rings[live_tickets.CONTEXT], sub=world["writer"].public_id, channels=[f"graph:{graph_id}"]
        )[0],
        "expired": "JWT "
        + issue_command_token(
            rings["session"],
            user_id=world["writer"].public_id,
            graph_id=graph_id,
            token_version=1,
            ttl=60,
            now=time.time() - 120,
        ),
        "tampered": command_headers(app, world["writer"], graph_id)["Authorization"][:-3] + "abc",
        "foreign key": "JWT "
        + issue_command_token(
            new_ring("session"), user_id=world["writer"].public_id, graph_id=graph_id, token_version=1
        ),
    }


@pytest.mark.parametrize("which", ["input", "result"])
def test_every_other_token_is_401(app, client, world, which):
    for name, value in _other_contexts(app, world).items():
        headers = {"Authorization": value} if value else {}
        response = _call(client, world, which, headers)
        assert response.status_code == 401, (name, response.status_code, response.text)
    assert crawl_row(app, world["crawl"]).status == "running"  # nothing happened to it


@pytest.mark.parametrize("which", ["input", "result"])
def test_a_token_for_another_graph_is_403(app, client, world, which):
    response = _call(client, world, which, command_headers(app, world["writer"], world["other"].public_id))
    assert response.status_code == 403 and "another graph" in response.json["message"]
    assert crawl_row(app, world["crawl"]).status == "running"


@pytest.mark.parametrize("which", ["input", "result"])
def test_a_user_who_lost_write_gets_403_and_the_crawl_fails_saying_so(app, client, world, which):
    headers = command_headers(app, world["writer"], world["graph"].public_id)
    changed = client.put(
        f"/api/graphs/{world['graph'].public_id}/roles",
        headers=world["headers"],
        json={"email": "writer@example.com", "role": "read"},
    )
    assert changed.status_code == 200
    response = _call(client, world, which, headers)
    assert response.status_code == 403
    crawl = crawl_row(app, world["crawl"])
    assert crawl.status == "failed" and "Wendy no longer has the Write role" in crawl.message


def test_a_command_token_is_refused_by_the_rest_of_the_api(app, client, world):
    headers = command_headers(app, world["owner"], world["graph"].public_id)
    graph_id = world["graph"].public_id
    for method, path in (
        ("get", f"/api/graphs/{graph_id}"),
        ("get", f"/api/graphs/{graph_id}/sources"),
        ("post", f"/api/graphs/{graph_id}/sources/{world['source']['id']}/crawl"),
        ("get", "/api/me"),
        ("get", f"/api/graphs/{graph_id}/dependencies"),
    ):
        assert getattr(client, method)(path, headers=headers).status_code == 401, path
    # nor by the browser pages as a cookie
    client.set_cookie("maestro_access", headers["Authorization"].split()[1])
    assert client.get(f"/graphs/{graph_id}").status_code == 302


def test_a_second_reader_of_the_input_gets_409(app, client, world):
    headers = command_headers(app, world["writer"], world["graph"].public_id)
    assert client.get(world["input"], headers=headers).status_code == 200
    second = client.get(world["input"], headers=headers)
    assert second.status_code == 409 and "Another discovery process" in second.json["message"]
    assert discovery_tokens.CONTEXT == "session"


@pytest.mark.parametrize("which", ["input", "result"])
def test_a_password_change_ends_an_outstanding_command_token(app, client, auth, world, which):
    from conftest import PASSWORD

    headers = command_headers(app, world["writer"], world["graph"].public_id)
    auth.login(world["writer"].email)
    values = auth.form_values("/account")
    changed = client.post(
        "/account/password",
        data={
            **values,
            "current_password": PASSWORD,
            "new_password": "another good password",
            "confirm": "another good password",
        },
    )
    assert changed.status_code == 302
    response = _call(client, world, which, headers)
    assert response.status_code == 401 and "sessions have ended" in response.json["message"], response.text
    assert crawl_row(app, world["crawl"]).status == "running"  # the sweep ends it (test_discovery_api)
    # A token minted after the change works again.
    fresh = _call(client, world, which, command_headers(app, world["writer"], world["graph"].public_id))
    assert fresh.status_code == 200, fresh.text


@pytest.mark.parametrize("which", ["input", "result"])
def test_a_password_reset_ends_an_outstanding_command_token(app, world, which):
    from test_password_reset import open_link, step1_for, submit_new_password

    headers = command_headers(app, world["writer"], world["graph"].public_id)
    browser = app.test_client()
    page = open_link(browser, token=step1_for(app, world["writer"]))
    assert submit_new_password(browser, page.get_data(as_text=True)).status_code == 302
    response = _call(app.test_client(), world, which, headers)
    assert response.status_code == 401 and "sessions have ended" in response.json["message"], response.text


def test_a_command_token_without_the_users_token_version_is_401(app, client, world):
    claims = token_claims(
        "maestro-server", "maestro-discovery", 900, sub=world["writer"].public_id, graph=world["graph"].public_id
    )
    response = client.get(
        world["input"], headers={"Authorization": "JWT " + sign(claims, app.config["KEY_RINGS"]["session"])}
    )
    assert response.status_code == 401

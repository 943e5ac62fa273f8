"""Personal API tokens (SPEC §3.1) at their edges: create (shown once), list, use, revoke; missing,
tampered, expired, revoked, another context's token, another user's token id; last use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import PASSWORD, api_headers, session_cookie_name
from flask_jwt_extended import create_access_token

from maestro_web.extensions import db


def create(client, headers, name="discovery", days=30):
    response = client.post("/api/tokens", headers=headers, json={"name": name, "expires_in_days": days})
    assert response.status_code == 201, response.json
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_shown_once_listed_without_it_and_acts_for_its_user(client, make_user):
    user = make_user()
    headers = api_headers(client, user)
    made = create(client, headers, name="  report service ", days=365)
    assert set(made) == {"id", "name", "token", "created_at", "expires_at"}
    assert made["name"] == "report service"
    assert client.get("/api/me", headers=bearer(made["token"])).json["id"] == user.public_id
    listed = client.get("/api/tokens", headers=headers).json["tokens"]
    assert [row["id"] for row in listed] == [made["id"]]
    assert "token" not in listed[0] and made["token"] not in str(listed)
    assert listed[0]["status"] == "active"
    assert listed[0]["expires_at"] == made["expires_at"]
    # A personal token can itself manage tokens ("session or API auth").
    assert client.get("/api/tokens", headers=bearer(made["token"])).status_code == 200


def test_the_jwt_scheme_works_too_and_the_token_is_a_user_session_jwt(client, make_user):
    user = make_user()
    made = create(client, api_headers(client, user))
    assert client.get("/api/me", headers={"Authorization": f"JWT {made['token']}"}).status_code == 200
    import jwt as pyjwt

    claims = pyjwt.decode(made["token"], options={"verify_signature": False})
    assert claims["aud"] == "maestro-web" and claims["type"] == "access" and claims["kind"] == "personal"
    assert claims["sub"] == user.public_id and "email" not in claims
    assert claims["exp"] - claims["iat"] == 30 * 86400


@pytest.mark.parametrize(
    "body, field",
    [
        ({"expires_in_days": 30}, "name"),
        ({"name": "x"}, "expires_in_days"),
        ({"name": "   ", "expires_in_days": 30}, "name"),
        ({"name": "x" * 101, "expires_in_days": 30}, "name"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 366}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "30"}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 30.5}, "expires_in_days"),
        ({"name": "x", "expires_in_days": True}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 30, "scope": "all"}, "scope"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(client, make_user, body, field):
    user = make_user()
    headers = api_headers(client, user)
    response = client.post("/api/tokens", headers=headers, json=body)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert client.get("/api/tokens", headers=headers).json["tokens"] == []


def test_missing_tampered_and_garbage_tokens_are_401(client, make_user):
    made = create(client, api_headers(client, make_user()))
    token = made["token"]
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for headers in (
        {},
        bearer(""),
        bearer("nonsense"),
        bearer(f"{head}.{payload}.{flipped}"),
        bearer(f"{head}.{payload[:-3]}abc.{signature}"),
    ):
        response = client.get("/api/me", headers=headers)
        assert response.status_code == 401, headers
        assert set(response.json) == {"error", "message"}
    assert client.post("/api/tokens", json={"name": "x", "expires_in_days": 1}).status_code == 401


def test_revoked_token_is_refused_on_its_next_use_and_leaves_the_list(client, make_user):
    user = make_user()
    headers = api_headers(client, user)
    made = create(client, headers)
    other = create(client, headers, name="other")
    assert client.get("/api/me", headers=bearer(made["token"])).status_code == 200
    response = client.delete(f"/api/tokens/{made['id']}", headers=headers)
    assert response.status_code == 204
    assert client.get("/api/me", headers=bearer(made["token"])).status_code == 401
    assert [row["id"] for row in client.get("/api/tokens", headers=headers).json["tokens"]] == [other["id"]]
    assert client.get("/api/me", headers=bearer(other["token"])).status_code == 200
    # Deleting it again is a 404 like any unknown id.
    assert client.delete(f"/api/tokens/{made['id']}", headers=headers).status_code == 404


def test_a_token_may_revoke_itself_through_auth_revoke(client, make_user):
    user = make_user()
    headers = api_headers(client, user)
    made = create(client, headers)
    assert client.post("/api/auth/revoke", headers=bearer(made["token"])).status_code == 200
    assert client.get("/api/me", headers=bearer(made["token"])).status_code == 401
    assert client.get("/api/tokens", headers=headers).json["tokens"] == []


def test_another_users_token_id_is_404_and_stays_usable(client, make_user):
    ada, bob = make_user(), make_user(name="Bob")
    made = create(client, api_headers(client, ada))
    bob_headers = api_headers(client, bob)
    assert client.delete(f"/api/tokens/{made['id']}", headers=bob_headers).status_code == 404
    assert client.delete("/api/tokens/no-such-token", headers=bob_headers).status_code == 404
    assert client.get("/api/tokens", headers=bob_headers).json["tokens"] == []
    assert client.get("/api/me", headers=bearer(made["token"])).json["id"] == ada.public_id


def test_an_expired_token_is_401(app, client, make_user):
    from maestro_web.models import PersonalToken, User
    from maestro_web.security.session_jwt import issue_personal_token

    user = make_user()
    with app.test_request_context():
        row, _token = issue_personal_token(User.get_by_public_id(user.public_id), "old", 1)
        db.session.commit()
        # The same row's token, signed as if it had been made long ago.
        expired = create_access_token(
            identity=User.get_by_public_id(user.public_id),
            expires_delta=timedelta(seconds=-60),
            additional_claims={"jti": row.jti, "kind": "personal"},
        )
        assert PersonalToken.get_by_jti(row.jti) is not None
    assert client.get("/api/me", headers=bearer(expired)).status_code == 401
    assert client.get("/api/me", headers=bearer(_token)).status_code == 200


def test_a_personal_claim_without_its_row_is_refused(app, client, make_user):
    from maestro_web.models import User

    user = make_user()
    with app.test_request_context():
        forged = create_access_token(
            identity=User.get_by_public_id(user.public_id), additional_claims={"jti": "not-a-row", "kind": "personal"}
        )
    assert client.get("/api/me", headers=bearer(forged)).status_code == 401


def test_tokens_of_other_contexts_are_refused(app, client, make_user, make_graph):
    from maestro_web.security.discovery_tokens import issue_command_token
    from maestro_web.security.live_tickets import issue_ticket
    from maestro_web.security.socket_tokens import issue_socket_token
    from maestro_web.security.worker_tokens import mint_worker_token

    user = make_user()
    headers = api_headers(client, user)
    graph = make_graph(user)
    link = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={}).json
    share_token = link["url"].split("token=")[1].split("&")[0]
    rings = app.config["KEY_RINGS"]
    others = {
        "share": share_token,
        "worker": mint_worker_token(rings["analytics"]),
        "socket": issue_socket_token(rings["socket"], issuer="maestro-server"),
        # Signed with the very secret of user sessions, but for the live server (another audience).
        # The user secret too, for the discovery service (its own audience).
        "discovery command": issue_command_token(
            rings["session"], user_id=user.public_id, graph_id=graph.public_id, token_version=user.token_version
        ),
        "live ticket": issue_ticket(rings["session"], sub=user.public_id, channels=[f"user:{user.public_id}"])[0],
    }
    for context, token in others.items():
        assert client.get("/api/tokens", headers=bearer(token)).status_code == 401, context
        assert (
            client.post("/api/tokens", headers=bearer(token), json={"name": "x", "expires_in_days": 1}).status_code
            == 401
        ), context


def test_a_personal_token_is_not_a_browser_session(app, client, make_user):
    user = make_user()
    made = create(client, api_headers(client, user))
    access = client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD}).json["access_token"]
    browser = app.test_client()
    browser.set_cookie(session_cookie_name(app, "access"), access)
    assert browser.get("/account").status_code == 200  # the same cookie with a session's access token
    client.set_cookie(session_cookie_name(app, "access"), made["token"])
    response = client.get("/account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    # ...nor a refresh token.
    assert client.post("/api/auth/refresh", headers=bearer(made["token"])).status_code == 401


def test_a_password_change_ends_personal_tokens(app, client, make_user):
    from maestro_web.models import User

    user = make_user()
    headers = api_headers(client, user)
    made = create(client, headers)
    with app.app_context():
        row = User.get_by_public_id(user.public_id)
        row.set_password("another long password")
        db.session.commit()
    assert client.get("/api/me", headers=bearer(made["token"])).status_code == 401
    fresh = api_headers(client, user, password="another long password")
    listed = client.get("/api/tokens", headers=fresh).json["tokens"]
    assert [(row["id"], row["status"]) for row in listed] == [(made["id"], "ended")]


def test_last_use_is_written_at_most_once_a_minute(app, client, make_user):
    from sqlalchemy import event

    from maestro_web.models import PersonalToken

    user = make_user()
    headers = api_headers(client, user)
    made = create(client, headers)
    assert client.get("/api/tokens", headers=headers).json["tokens"][0]["last_used_at"] is None
    updates: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE PERSONAL_TOKENS"):
            updates.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert client.get("/api/me", headers=bearer(made["token"])).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(updates) == 1
    first = client.get("/api/tokens", headers=headers).json["tokens"][0]["last_used_at"]
    assert first is not None
    # A minute later the next use writes again.
    with app.app_context():
        row = db.session.scalar(db.select(PersonalToken).where(PersonalToken.public_id == made["id"]))
        row.last_used_at = row.last_used_at - timedelta(seconds=61)
        db.session.commit()
        earlier = row.last_used_at
    client.get("/api/me", headers=bearer(made["token"]))
    later = client.get("/api/tokens", headers=headers).json["tokens"][0]["last_used_at"]
    assert later > earlier.isoformat()

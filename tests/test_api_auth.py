"""The token API: issue, use with either scheme, refresh, revoke; Maestro's /users/auth."""

from __future__ import annotations

import pytest


def tokens(client, email, password="correct horse battery"):
    response = client.post("/api/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return response.json


def test_token_endpoint_returns_the_documented_shape(client, make_user):
    user = make_user()
    body = tokens(client, user.email)
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900


@pytest.mark.parametrize("scheme", ["JWT", "Bearer", "jwt", "bearer"])
def test_both_authorization_schemes_are_accepted(client, make_user, scheme):
    user = make_user()
    access = tokens(client, user.email)["access_token"]
    response = client.get("/api/me", headers={"Authorization": f"{scheme} {access}"})
    assert response.status_code == 200
    assert response.json == {"id": user.public_id, "name": "Ada", "email": user.email}


@pytest.mark.parametrize("header", ["", "Basic abc", "Token x", "JWT", "Bearer "])
def test_bad_authorization_headers_are_401_json(client, header):
    response = client.get("/api/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert set(response.json) == {"error", "message"}


def test_refresh_token_is_not_an_access_token_and_vice_versa(client, make_user):
    user = make_user()
    body = tokens(client, user.email)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {body['refresh_token']}"}).status_code == 401
    assert (
        client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401
    )
    refreshed = client.post("/api/auth/refresh", headers={"Authorization": f"JWT {body['refresh_token']}"})
    assert refreshed.status_code == 200
    assert (
        client.get("/api/me", headers={"Authorization": f"Bearer {refreshed.json['access_token']}"}).status_code == 200
    )


def test_revoke_kills_access_and_given_refresh_token(client, make_user):
    user = make_user()
    body = tokens(client, user.email)
    response = client.post(
        "/api/auth/revoke",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        json={"refresh_token": body["refresh_token"]},
    )
    assert response.status_code == 200 and response.json == {"revoked": True}
    assert client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401
    assert (
        client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {body['refresh_token']}"}).status_code
        == 401
    )


def test_revoke_without_a_token_is_401(client):
    assert client.post("/api/auth/revoke").status_code == 401
    assert client.post("/api/auth/revoke", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_token_endpoint_bad_input_names_the_fields(client):
    response = client.post("/api/auth/token", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert response.json["fields"] == {"password": "This field is required."}
    response = client.post("/api/auth/token", data="email=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    response = client.post("/api/auth/token", data="[1, 2", content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "bad_request"
    response = client.post("/api/auth/token", json={"email": 5, "password": ["x"]})
    assert response.status_code == 422 and set(response.json["fields"]) == {"email", "password"}


def test_wrong_credentials_are_401_with_one_message(client, make_user):
    user = make_user()
    wrong = client.post("/api/auth/token", json={"email": user.email, "password": "wrong password"})
    unknown = client.post("/api/auth/token", json={"email": "no@example.com", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json


def test_maestro_users_auth_alias(client, make_user):
    user = make_user(email="maestro@example.com")
    response = client.post("/users/auth", json={"email": "MAESTRO@example.com", "password": "correct horse battery"})
    assert response.status_code == 200
    assert response.json["user"] == {"id": user.public_id, "name": "Ada", "email": "maestro@example.com"}
    assert client.get("/api/me", headers={"Authorization": f"JWT {response.json['token']}"}).status_code == 200


def test_api_ignores_session_cookies(auth, client, make_user):
    """The API reads only Authorization, so a logged-in browser's cookies grant nothing there."""
    user = make_user()
    auth.login(user.email)
    assert client.get("/account").status_code == 200
    assert client.get("/api/me").status_code == 401

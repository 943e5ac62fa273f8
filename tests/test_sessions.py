"""User sessions at their edges (SPEC §3.1): refresh, expiry, logout, revocation, CSRF, next."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from conftest import PASSWORD, delete_session_cookie, form_csrf, session_cookie, session_cookie_name, set_session_cookie
from flask_jwt_extended import create_access_token, create_refresh_token
from itsdangerous import BadSignature

from maestro_web import create_app
from maestro_web.config import SECRET_SPECS
from maestro_web.models import User

ACCESS, REFRESH = "access", "refresh"  # kinds of session cookie; names and paths come from the app


def set_session(app, client, user, access_delta, refresh_delta, csrf="fixed-csrf"):
    with app.app_context():
        fresh_user = User.get_by_public_id(user.public_id)
        claims = {"csrf": csrf}
        access = create_access_token(identity=fresh_user, expires_delta=access_delta, additional_claims=claims)
        refresh = create_refresh_token(identity=fresh_user, expires_delta=refresh_delta, additional_claims=claims)
    set_session_cookie(client, ACCESS, access)
    set_session_cookie(client, REFRESH, refresh)
    return access, refresh


def test_login_sets_httponly_lax_cookies_without_personal_data(auth, client, make_user):
    user = make_user(email="ada@example.com")
    response = auth.login("ada@example.com")
    assert response.status_code == 302
    set_cookies = response.headers.getlist("Set-Cookie")
    access_header = next(h for h in set_cookies if h.startswith(f"{session_cookie_name(client.application, ACCESS)}="))
    assert "HttpOnly" in access_header and "SameSite=Lax" in access_header
    payload = pyjwt.decode(session_cookie(client, ACCESS), options={"verify_signature": False})
    assert payload["sub"] == user.public_id
    assert {"jti", "type", "exp", "iat"} <= set(payload)
    assert "ada@example.com" not in json.dumps(payload) and "Ada" not in json.dumps(payload)
    assert pyjwt.get_unverified_header(session_cookie(client, ACCESS))["kid"]


def test_expired_access_with_valid_refresh_serves_page_and_renews_access(app, client, make_user):
    """The refresh cookie is not sent to /account: the page sends the browser through the session
    path (307), where it renews the access cookie, and back (307) to the page."""
    user = make_user()
    old_access, _ = set_session(app, client, user, timedelta(seconds=-5), timedelta(hours=1))
    response = client.get("/account?tab=1", follow_redirects=True)
    assert response.status_code == 200
    assert user.email in response.text
    assert [(step.status_code, step.location) for step in response.history] == [
        (307, "/auth/session/refresh?next=/account?tab%3D1"),
        (307, "/account?tab=1"),
    ]
    new_access = session_cookie(client, ACCESS)
    assert new_access and new_access != old_access
    assert pyjwt.decode(new_access, options={"verify_signature": False})["exp"] > time.time()
    assert client.get("/account").status_code == 200  # renewed: no detour any more


def test_access_near_expiry_is_renewed_implicitly(app, client, make_user):
    user = make_user()
    old_access, _ = set_session(app, client, user, timedelta(seconds=60), timedelta(hours=1))
    assert client.get("/account").status_code == 200  # the valid access token renews itself, on any page
    assert session_cookie(client, ACCESS) != old_access


def test_missing_access_cookie_with_valid_refresh_is_refreshed_on_the_session_path(app, client, make_user):
    """A page without an access cookie cannot know of a refresh cookie (never sent to it): the login
    page. The session path, where the refresh cookie is sent, still renews."""
    user = make_user()
    set_session(app, client, user, timedelta(minutes=10), timedelta(hours=1))
    delete_session_cookie(client, ACCESS)
    assert "/auth/login" in client.get("/account").location
    set_session(app, client, user, timedelta(minutes=10), timedelta(hours=1))
    delete_session_cookie(client, ACCESS)
    response = client.get("/auth/session/refresh?next=/account")
    assert (response.status_code, response.location) == (307, "/account")
    assert session_cookie(client, ACCESS)
    assert client.get("/account").status_code == 200


def test_post_with_expired_access_but_valid_refresh_is_accepted(app, client, auth, make_user):
    """307 twice: the form is posted again, with its body and CSRF values, once the access is renewed."""
    user = make_user()
    set_session(app, client, user, timedelta(minutes=10), timedelta(hours=1))
    values = auth.form_values("/account")
    set_session(app, client, user, timedelta(seconds=-5), timedelta(hours=1))
    # What a browser does with a 307 (the test client would not send the body again): the same POST.
    steps = []
    location = "/account"
    while True:
        response = client.post(location, data={**values, "name": "Renamed"})
        steps.append((response.status_code, response.location))
        if response.status_code != 307:
            break
        location = response.location
    assert steps == [(307, "/auth/session/refresh?next=/account"), (307, "/account"), (302, "/account")]
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Renamed"


def test_the_refresh_cookie_is_sent_to_the_session_path_only(app, auth, client, make_user):
    """Set at login with Path=/auth/session: the renewal and logout read it, no other page receives it."""
    seen: dict[str, str] = {}

    @app.before_request
    def note_cookies() -> None:
        from flask import request

        seen[request.path] = request.headers.get("Cookie", "")

    user = make_user()
    response = auth.login(user.email)
    refresh_header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{session_cookie_name(app, REFRESH)}=")
    )
    assert "Path=/auth/session;" in refresh_header or refresh_header.endswith("Path=/auth/session")
    access_header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{session_cookie_name(app, ACCESS)}=")
    )
    assert "Path=/;" in access_header and "Domain" not in access_header
    assert client.get_cookie(session_cookie_name(app, REFRESH), path="/") is None
    assert session_cookie(client, REFRESH)
    for path in ("/account", "/graphs/", "/auth/session/refresh"):
        client.get(path)
    refresh_name = session_cookie_name(app, REFRESH)
    assert refresh_name not in seen["/account"] and refresh_name not in seen["/graphs/"]
    assert refresh_name in seen["/auth/session/refresh"]


def test_logout_at_the_old_address_still_logs_out_and_revokes_both(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    access, refresh = session_cookie(client, ACCESS), session_cookie(client, REFRESH)
    values = auth.form_values("/account")
    answer = client.post("/auth/logout", data=values)
    assert (answer.status_code, answer.location) == (307, "/auth/session/logout")
    assert client.post(answer.location, data=values).status_code == 302  # what a browser does with the 307
    assert session_cookie(client, ACCESS) is None and session_cookie(client, REFRESH) is None
    set_session_cookie(client, REFRESH, refresh)
    assert "/auth/login" in client.get("/auth/session/refresh?next=/account").location
    assert client.get("/api/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_both_expired_redirects_to_login_and_clears_cookies(app, client, make_user):
    user = make_user()
    set_session(app, client, user, timedelta(seconds=-5), timedelta(seconds=-1))
    response = client.get("/account?tab=1", follow_redirects=True)
    assert [step.status_code for step in response.history] == [307, 302]
    assert response.history[-1].location == "/auth/login?next=/account?tab%3D1"
    assert session_cookie(client, ACCESS) is None and session_cookie(client, REFRESH) is None


def test_no_cookies_redirects_to_login(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_logout_revokes_access_and_refresh(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    access, refresh = session_cookie(client, ACCESS), session_cookie(client, REFRESH)
    assert auth.logout().status_code == 302
    assert session_cookie(client, ACCESS) is None
    # Replaying the old cookies does not bring the session back, whichever one is used.
    set_session_cookie(client, ACCESS, access)
    assert client.get("/account").status_code == 302
    delete_session_cookie(client, ACCESS)
    set_session_cookie(client, REFRESH, refresh)
    assert client.get("/account").status_code == 302
    # Nor through the API.
    assert client.get("/api/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_password_change_logs_out_other_browsers(app, make_user):
    from conftest import AuthActions

    user = make_user()
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login(user.email)
    AuthActions(second).login(user.email)
    assert second.get("/account").status_code == 200
    values = AuthActions(first).form_values("/account")
    response = first.post(
        "/account/password",
        data={
            **values,
            "current_password": "correct horse battery",
            "new_password": "new password 42",
            "confirm": "new password 42",
        },
    )
    assert response.status_code == 302
    assert first.get("/account").status_code == 200  # this browser got a new session
    response = second.get("/account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_password_change_needs_the_current_password(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    values = auth.form_values("/account")
    response = client.post(
        "/account/password",
        data={
            **values,
            "current_password": "wrong one!",
            "new_password": "new password 42",
            "confirm": "new password 42",
        },
    )
    assert response.status_code == 422
    assert "The current password is wrong." in response.text
    with app.app_context():
        assert User.get_by_public_id(user.public_id).check_password("correct horse battery")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(app, client, auth, make_user, alg):
    user = make_user()
    auth.login(user.email)
    payload = pyjwt.decode(session_cookie(client, ACCESS), options={"verify_signature": False})
    forged = (
        f"{_b64({'alg': alg, 'typ': 'JWT', 'kid': app.config['KEY_RINGS']['session'].current_kid})}.{_b64(payload)}."
    )
    set_session_cookie(client, ACCESS, forged)
    delete_session_cookie(client, REFRESH)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"JWT {forged}"}).status_code == 401


def test_tampered_payload_is_refused(app, client, auth, make_user):
    user = make_user()
    other = make_user()
    auth.login(user.email)
    header, payload, signature = session_cookie(client, ACCESS).split(".")
    claims = pyjwt.decode(session_cookie(client, ACCESS), options={"verify_signature": False})
    claims["sub"] = other.public_id
    forged = f"{header}.{_b64(claims)}.{signature}"
    set_session_cookie(client, ACCESS, forged)
    delete_session_cookie(client, REFRESH)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_signed_with_a_different_key_is_refused(app, client, make_user):
    user = make_user()
    now = int(time.time())
    claims = {
        "sub": user.public_id,
        "jti": "j",
        "type": "access",
        "iat": now,
        "exp": now + 600,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": 1,
        "csrf": "c",
    }
    forged = pyjwt.encode(
        claims,
        "another key entirely, long enough!",
        algorithm="HS256",
        headers={"kid": app.config["KEY_RINGS"]["session"].current_kid},
    )
    set_session_cookie(client, ACCESS, forged)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_without_exp_is_refused(app, client, make_user):
    user = make_user()
    ring = app.config["KEY_RINGS"]["session"]
    now = int(time.time())
    claims = {
        "sub": user.public_id,
        "jti": "j",
        "type": "access",
        "iat": now,
        "aud": "maestro-web",
        "iss": "maestro-server",
        "ver": 1,
    }
    forged = pyjwt.encode(claims, ring.current, algorithm="HS256", headers={"kid": ring.current_kid})
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_post_without_flask_wtf_csrf_is_rejected_and_changes_nothing(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    values = auth.form_values("/account")
    response = client.post("/account", data={"jwt_csrf": values["jwt_csrf"], "name": "Changed"})
    assert response.status_code == 400
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Ada"


def test_post_without_jwt_double_submit_is_rejected_and_changes_nothing(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    values = auth.form_values("/account")
    response = client.post("/account", data={"csrf_token": values["csrf_token"], "name": "Changed"})
    assert response.status_code == 400
    assert "did not come from this site" in response.text
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Ada"
    # A wrong double-submit value is rejected too, and the session survives both.
    response = client.post("/account", data={"csrf_token": values["csrf_token"], "jwt_csrf": "nope", "name": "X"})
    assert response.status_code == 400
    assert client.get("/account").status_code == 200


def test_flask_wtf_value_does_not_satisfy_the_jwt_check(app, auth, client, make_user):
    """The two layers have distinct names, so one cannot stand in for the other."""
    user = make_user()
    auth.login(user.email)
    values = auth.form_values("/account")
    response = client.post(
        "/account", data={"csrf_token": values["csrf_token"], "jwt_csrf": values["csrf_token"], "name": "X"}
    )
    assert response.status_code == 400
    response = client.post(
        "/account", data={"csrf_token": values["jwt_csrf"], "jwt_csrf": values["jwt_csrf"], "name": "X"}
    )
    assert response.status_code == 400
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Ada"


def test_both_csrf_values_present_succeeds(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    response = client.post("/account", data={**auth.form_values("/account"), "name": "Grace"})
    assert response.status_code == 302
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Grace"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil.example", "http:/evil", "javascript:alert(1)"]
)
def test_next_to_another_site_is_ignored(auth, make_user, target):
    user = make_user()
    response = auth.login(user.email, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_relative_path_is_followed(auth, make_user):
    user = make_user()
    response = auth.login(user.email, next_url="/account")
    assert response.headers["Location"] == "/account"


def test_api_client_gets_json_401(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    response = client.get("/api/me", headers={"Authorization": "Bearer aaaa.bbbb.cccc"})
    assert response.status_code == 401 and response.is_json


def test_the_cookie_session_serializer_is_made_once_per_key_set(app):
    """security/cookie_sessions.py: one serializer while the keys stay, a new one when they change,
    and a cookie signed under the old key still opens through SECRET_KEY_FALLBACKS."""
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    signed = first.dumps({"_flashes": [("info", "kept")]})
    old_key = app.secret_key
    app.secret_key = "a-new-flask-secret-key-for-this-test-0123456789"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    rotated = interface.get_signing_serializer(app)
    assert rotated is not first
    assert rotated.loads(signed) == {"_flashes": [("info", "kept")]}
    app.config["SECRET_KEY_FALLBACKS"] = []
    with pytest.raises(BadSignature):
        interface.get_signing_serializer(app).loads(signed)


def test_production_cookies_carry_the_host_and_secure_prefixes(database_url, make_user, tmp_path):
    """Over https in production: `__Host-` (Secure, Path=/, no Domain: no sibling subdomain can set or
    shadow it) for the access and Flask session cookies, `__Secure-` for the refresh cookie, whose
    path is the session path. The test suite's own apps (http) keep the plain names."""

    environ = {spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS}
    environ.update(
        MAESTRO_ENV="production", MAESTRO_BASE_URL="https://maestro.example.com", REDIS_URL="redis://127.0.0.1:6379/15"
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
        },
        environ=environ,
    )
    user = make_user(email="ada@example.com")
    client = app.test_client()
    page = client.get("/auth/login", base_url="https://localhost")
    # Over https Flask-WTF also wants a same-site Referer, as a browser sends one.
    response = client.post(
        "/auth/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/auth/login"},
        data={"email": user.email, "password": PASSWORD, "csrf_token": form_csrf(page.text)},
    )
    assert response.status_code == 302
    headers = {
        header.split("=", 1)[0]: header  # the Flask session cookie comes with the form's CSRF token
        for header in (*page.headers.getlist("Set-Cookie"), *response.headers.getlist("Set-Cookie"))
    }
    assert set(headers) >= {"__Host-maestro_access", "__Secure-maestro_refresh", "__Host-maestro_session"}
    for name in ("__Host-maestro_access", "__Host-maestro_session"):
        attributes = [part.strip() for part in headers[name].split(";")[1:]]
        assert "Secure" in attributes and "Path=/" in attributes, headers[name]
        assert not any(part.lower().startswith("domain=") for part in attributes), headers[name]
    refresh = [part.strip() for part in headers["__Secure-maestro_refresh"].split(";")[1:]]
    assert "Secure" in refresh and "HttpOnly" in refresh and "Path=/auth/session" in refresh
    assert not any("csrf" in name for name in headers)  # no CSRF cookie: the value travels in the forms
    assert client.get("/account", base_url="https://localhost").status_code == 200

"""User sessions at their edges (SPEC §3.1): refresh, expiry, logout, revocation, CSRF, next."""
from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from itsdangerous import BadSignature
from flask_jwt_extended import create_access_token, create_refresh_token

from maestro_web.models import User

ACCESS, REFRESH = "maestro_access", "maestro_refresh"


def cookie(client, name):
    found = client.get_cookie(name)
    return found.value if found else None


def set_session(app, client, user, access_delta, refresh_delta, csrf="fixed-csrf"):
    with app.app_context():
        fresh_user = User.get_by_public_id(user.public_id)
        claims = {"csrf": csrf}
        access = create_access_token(identity=fresh_user, expires_delta=access_delta, additional_claims=claims)
        refresh = create_refresh_token(identity=fresh_user, expires_delta=refresh_delta, additional_claims=claims)
    client.set_cookie(ACCESS, access)
    client.set_cookie(REFRESH, refresh)
    return access, refresh


def test_login_sets_httponly_lax_cookies_without_personal_data(auth, client, make_user):
    user = make_user(email="ada@example.com")
    response = auth.login("ada@example.com")
    assert response.status_code == 302
    set_cookies = response.headers.getlist("Set-Cookie")
    access_header = next(h for h in set_cookies if h.startswith(f"{ACCESS}="))
    assert "HttpOnly" in access_header and "SameSite=Lax" in access_header
    payload = pyjwt.decode(cookie(client, ACCESS), options={"verify_signature": False})
    assert payload["sub"] == user.public_id
    assert {"jti", "type", "exp", "iat"} <= set(payload)
    assert "ada@example.com" not in json.dumps(payload) and "Ada" not in json.dumps(payload)
    assert pyjwt.get_unverified_header(cookie(client, ACCESS))["kid"]


def test_expired_access_with_valid_refresh_serves_page_and_renews_access(app, client, make_user):
    user = make_user()
    old_access, _ = set_session(app, client, user, timedelta(seconds=-5), timedelta(hours=1))
    response = client.get("/account")
    assert response.status_code == 200
    assert user.email in response.text
    new_access = cookie(client, ACCESS)
    assert new_access and new_access != old_access
    assert pyjwt.decode(new_access, options={"verify_signature": False})["exp"] > time.time()


def test_access_near_expiry_is_renewed_implicitly(app, client, make_user):
    user = make_user()
    old_access, _ = set_session(app, client, user, timedelta(seconds=60), timedelta(hours=1))
    assert client.get("/account").status_code == 200
    assert cookie(client, ACCESS) != old_access


def test_missing_access_cookie_with_valid_refresh_is_refreshed(app, client, make_user):
    user = make_user()
    set_session(app, client, user, timedelta(minutes=10), timedelta(hours=1))
    client.delete_cookie(ACCESS)
    assert client.get("/account").status_code == 200
    assert cookie(client, ACCESS)


def test_post_with_expired_access_but_valid_refresh_is_accepted(app, client, auth, make_user):
    user = make_user()
    set_session(app, client, user, timedelta(minutes=10), timedelta(hours=1))
    values = auth.form_values("/account")
    set_session(app, client, user, timedelta(seconds=-5), timedelta(hours=1))
    response = client.post("/account", data={**values, "name": "Renamed"})
    assert response.status_code == 302
    with app.app_context():
        assert User.get_by_public_id(user.public_id).name == "Renamed"


def test_both_expired_redirects_to_login_and_clears_cookies(app, client, make_user):
    user = make_user()
    set_session(app, client, user, timedelta(seconds=-5), timedelta(seconds=-1))
    response = client.get("/account?tab=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    assert response.headers["Location"] == "/auth/login?next=/account?tab%3D1"
    assert cookie(client, ACCESS) is None and cookie(client, REFRESH) is None


def test_no_cookies_redirects_to_login(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_logout_revokes_access_and_refresh(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    access, refresh = cookie(client, ACCESS), cookie(client, REFRESH)
    assert auth.logout().status_code == 302
    assert cookie(client, ACCESS) is None
    # Replaying the old cookies does not bring the session back, whichever one is used.
    client.set_cookie(ACCESS, access)
    assert client.get("/account").status_code == 302
    client.delete_cookie(ACCESS)
    client.set_cookie(REFRESH, refresh)
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
    response = first.post("/account/password", data={
        **values, "current_password": "correct horse battery", "new_password": "new password 42",
        "confirm": "new password 42"})
    assert response.status_code == 302
    assert first.get("/account").status_code == 200  # this browser got a new session
    response = second.get("/account")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_password_change_needs_the_current_password(app, auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    values = auth.form_values("/account")
    response = client.post("/account/password", data={
        **values, "current_password": "wrong one!", "new_password": "new password 42", "confirm": "new password 42"})
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
    payload = pyjwt.decode(cookie(client, ACCESS), options={"verify_signature": False})
    forged = f"{_b64({'alg': alg, 'typ': 'JWT', 'kid': app.config['KEY_RINGS']['session'].current_kid})}.{_b64(payload)}."
    client.set_cookie(ACCESS, forged)
    client.delete_cookie(REFRESH)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"JWT {forged}"}).status_code == 401


def test_tampered_payload_is_refused(app, client, auth, make_user):
    user = make_user()
    other = make_user()
    auth.login(user.email)
    header, payload, signature = cookie(client, ACCESS).split(".")
    claims = pyjwt.decode(cookie(client, ACCESS), options={"verify_signature": False})
    claims["sub"] = other.public_id
    forged = f"{header}.{_b64(claims)}.{signature}"
    client.set_cookie(ACCESS, forged)
    client.delete_cookie(REFRESH)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_signed_with_a_different_key_is_refused(app, client, make_user):
    user = make_user()
    now = int(time.time())
    claims = {"sub": user.public_id, "jti": "j", "type": "access", "iat": now, "exp": now + 600,
              "aud": "maestro-web", "iss": "maestro-server", "ver": 1, "csrf": "c"}
    forged = pyjwt.encode(claims, "another key entirely, long enough!", algorithm="HS256",
                          headers={"kid": app.config["KEY_RINGS"]["session"].current_kid})
    client.set_cookie(ACCESS, forged)
    assert client.get("/account").status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_without_exp_is_refused(app, client, make_user):
    user = make_user()
    ring = app.config["KEY_RINGS"]["session"]
    now = int(time.time())
    claims = {"sub": user.public_id, "jti": "j", "type": "access", "iat": now,
              "aud": "maestro-web", "iss": "maestro-server", "ver": 1}
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
    response = client.post("/account", data={"csrf_token": values["csrf_token"], "jwt_csrf": values["csrf_token"], "name": "X"})
    assert response.status_code == 400
    response = client.post("/account", data={"csrf_token": values["jwt_csrf"], "jwt_csrf": values["jwt_csrf"], "name": "X"})
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


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "http:/evil", "javascript:alert(1)"])
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

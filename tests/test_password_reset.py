"""Forgot password (SPEC §3.4): real SMTP, two tokens of two contexts, each usable once."""

from __future__ import annotations

import base64
import logging
import time
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
from conftest import PASSWORD, form_csrf, set_session_cookie
from flask_jwt_extended import create_access_token
from mail_support import SmtpServer, free_port, reset_link

from maestro_web.mail import wait_for_pending
from maestro_web.security import registration_tokens, reset_tokens
from maestro_web.security.reset_tokens import ResetTokenExpired, ResetTokenInvalid
from maestro_web.security.signing import KeyRing

NEW_PASSWORD = "a brand new passphrase"
REFUSED = "This reset link has expired or was already used"


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback, and the app configured to send through it."""
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        yield server.inbox


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com", name="Ada")


def ask_for_link(client, email):
    page = client.get("/auth/forgot")
    assert page.status_code == 200
    return client.post("/auth/forgot", data={"email": email, "csrf_token": form_csrf(page.text)})


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def open_link(client, link_path: str | None = None, token: str | None = None):
    """Open an e-mailed link as a browser does: the link answers 303 to /auth/reset (the token
    leaves the address bar), and that address shows the form."""
    if link_path is None:
        first = client.get("/auth/reset", query_string={"token": token})
    else:
        first = client.get(link_path)
    assert first.status_code == 303, first.status_code
    assert first.headers["Location"] == "/auth/reset"
    assert first.headers["Cache-Control"] == "no-store" and first.headers["Referrer-Policy"] == "no-referrer"
    return client.get("/auth/reset")


def step2_of(html: str) -> str:
    import re

    match = re.search(r'name="reset_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="reset_token" name="reset_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "no reset_token field on the page"
    return match.group(1)


def submit_new_password(client, page_html, password=NEW_PASSWORD, confirm=None, reset_token=None):
    return client.post(
        "/auth/reset",
        data={
            "csrf_token": form_csrf(page_html),
            "reset_token": reset_token if reset_token is not None else step2_of(page_html),
            "password": password,
            "confirm": confirm if confirm is not None else password,
        },
    )


def login_status(app, email, password):
    from conftest import AuthActions

    return AuthActions(app.test_client()).login(email, password).status_code


def ring(app, context):
    return app.config["KEY_RINGS"][context]


def _token_for(app, user, mint, context, now, key_ring):
    """A token of one step for `user`'s current password, minted with any clock or key."""
    with app.app_context():
        from maestro_web.models import User

        row = User.get_by_public_id(user.public_id)
        return mint(key_ring or ring(app, context), row.public_id, reset_tokens.fingerprint_of(row), now=now)


def step1_for(app, user, now=None, key_ring=None):
    return _token_for(app, user, reset_tokens.mint_step1, "crypto-forgot", now, key_ring)


def step2_for(app, user, now=None, key_ring=None):
    return _token_for(app, user, reset_tokens.mint_step2, "forgot", now, key_ring)


def assert_refused_page(response, status):
    assert response.status_code == status
    assert REFUSED in response.text
    assert 'href="/auth/forgot"' in response.text
    assert 'name="password"' not in response.text  # never a form
    assert response.headers["Cache-Control"] == "no-store"


# --- the whole flow --------------------------------------------------------------------------------


def test_request_mail_reset_and_every_old_credential_dies(app, client, auth, ada, smtp):
    other_browser = app.test_client()
    from conftest import AuthActions

    assert AuthActions(other_browser).login("ada@example.com").status_code == 302
    assert other_browser.get("/account").status_code == 200
    api_tokens = client.post("/api/auth/token", json={"email": "ada@example.com", "password": PASSWORD}).json
    assert (
        client.get("/api/graphs", headers={"Authorization": f"Bearer {api_tokens['access_token']}"}).status_code == 200
    )

    response = ask_for_link(client, "ADA@example.com ")
    assert response.status_code == 200
    assert "Check your e-mail" in response.text
    messages = smtp.settle()
    assert len(messages) == 1
    message = messages[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Reset your Maestro Web password"
    assert message["From"] == app.config["MAIL_DEFAULT_SENDER"]
    link = reset_link(message)
    assert link.startswith(app.config["MAESTRO_BASE_URL"] + "/auth/reset?token=")
    token = link.split("token=", 1)[1]
    # The link names neither the account nor the address, not even inside the (encrypted) token.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in (ada.public_id, "ada@example.com", "ada"):
        assert secret not in link.lower().replace("/auth/reset", "")
        assert secret.encode() not in raw

    page = open_link(client, path_of(link))
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Choose a new password" in page.text

    # Bad input re-renders the form (422) and changes nothing.
    bad = submit_new_password(client, page.text, password="short")
    assert bad.status_code == 422
    assert "Use 8 to 128 characters." in bad.text
    mismatch = submit_new_password(client, page.text, confirm="something else entirely")
    assert mismatch.status_code == 422 and "The passwords differ." in mismatch.text
    assert login_status(app, "ada@example.com", PASSWORD) == 302

    done = submit_new_password(client, page.text)
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/auth/login")

    assert login_status(app, "ada@example.com", PASSWORD) == 401
    assert login_status(app, "ada@example.com", NEW_PASSWORD) == 302
    # The session opened before the reset is over.
    logged_out = other_browser.get("/account")
    assert logged_out.status_code == 302 and "/auth/login" in logged_out.headers["Location"]
    # ...and so are the API tokens issued before it, access and refresh.
    assert (
        client.get("/api/graphs", headers={"Authorization": f"Bearer {api_tokens['access_token']}"}).status_code == 401
    )
    assert (
        client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {api_tokens['refresh_token']}"}).status_code
        == 401
    )

    # Both tokens are single-use: the link and the form are dead now.
    assert_refused_page(client.get(path_of(link)), 410)
    assert_refused_page(submit_new_password(client, page.text, password="yet another passphrase"), 410)
    assert login_status(app, "ada@example.com", NEW_PASSWORD) == 302


def test_unknown_address_gets_the_same_answer_and_no_mail(app, ada, smtp):
    known = ask_for_link(app.test_client(), "ada@example.com")
    unknown = ask_for_link(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert known.headers.get("Cache-Control") == unknown.headers.get("Cache-Control")
    messages = smtp.settle()
    assert [m["To"] for m in messages] == ["ada@example.com"]


def test_a_malformed_address_is_a_field_error_and_sends_nothing(app, client, ada, smtp):
    response = ask_for_link(client, "not-an-address")
    assert response.status_code == 422
    assert "Enter a valid e-mail address." in response.text
    assert 'value="not-an-address"' in response.text  # keeps what was typed
    empty = ask_for_link(client, "")
    assert empty.status_code == 422 and "Enter your e-mail address." in empty.text
    assert smtp.settle() == []


def test_the_link_comes_from_the_configured_base_url_not_the_request(app, ada, smtp):
    client = app.test_client()
    page = client.get("/auth/forgot", headers={"Host": "evil.example"})
    client.post(
        "/auth/forgot",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        data={"email": "ada@example.com", "csrf_token": form_csrf(page.text)},
    )
    [message] = smtp.settle()
    link = reset_link(message)
    assert link.startswith(app.config["MAESTRO_BASE_URL"] + "/auth/reset?token=")
    assert "evil.example" not in message.as_string()


def test_a_second_link_dies_when_the_first_is_used(app, client, ada, smtp):
    ask_for_link(client, "ada@example.com")
    ask_for_link(client, "ada@example.com")
    first, second = (reset_link(m) for m in smtp.settle())
    assert first != second
    page = open_link(client, path_of(first))
    assert submit_new_password(client, page.text).status_code == 302
    assert_refused_page(client.get(path_of(second)), 410)


def test_changing_the_password_on_the_account_page_kills_an_outstanding_link(app, client, auth, ada):
    link_path = "/auth/reset?token=" + step1_for(app, ada)
    assert open_link(client, link_path).status_code == 200
    auth.login("ada@example.com")
    values = auth.form_values("/account")
    response = client.post(
        "/account/password",
        data={**values, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert_refused_page(app.test_client().get(link_path), 410)


# --- the tokens at their edges ---------------------------------------------------------------------


def test_step1_token_round_trip_and_frozen_clock_expiry(app, ada):
    issued = 1_800_000_000
    token = step1_for(app, ada, now=issued)
    key_ring = ring(app, "crypto-forgot")
    assert reset_tokens.verify_step1(token, key_ring, now=issued + 1799)["user"] == ada.public_id
    with pytest.raises(ResetTokenExpired):
        reset_tokens.verify_step1(token, key_ring, now=issued + 1801)
    with pytest.raises(ResetTokenInvalid):  # "issued" far in the future
        reset_tokens.verify_step1(token, key_ring, now=issued - 3600)


def test_a_registration_link_sealed_under_the_same_secret_is_no_reset_link(app, client, ada):
    key_ring = ring(app, "crypto-forgot")  # both links derive their key from this secret, each for its purpose
    registration = registration_tokens.mint(key_ring, "ada@example.com", "Ada")
    with pytest.raises(ResetTokenInvalid):
        reset_tokens.verify_step1(registration, key_ring)
    assert_refused_page(client.get("/auth/reset?token=" + registration), 400)


def test_step2_token_round_trip_and_frozen_clock_expiry(app, ada):
    issued = 1_800_000_000
    token = step2_for(app, ada, now=issued)
    key_ring = ring(app, "forgot")
    assert reset_tokens.verify_step2(token, key_ring, now=issued + 599)["user"] == ada.public_id
    with pytest.raises(ResetTokenExpired):
        reset_tokens.verify_step2(token, key_ring, now=issued + 600)
    with pytest.raises(ResetTokenInvalid):
        reset_tokens.verify_step2(token, key_ring, now=issued - 3600)


def test_expired_tokens_get_the_friendly_page_with_410(app, client, ada):
    old_link = "/auth/reset?token=" + step1_for(app, ada, now=time.time() - 31 * 60)
    assert_refused_page(client.get(old_link), 410)
    page = open_link(client, "/auth/reset?token=" + step1_for(app, ada))
    old_step2 = step2_for(app, ada, now=time.time() - 11 * 60)
    assert_refused_page(submit_new_password(client, page.text, reset_token=old_step2), 410)
    assert login_status(app, "ada@example.com", PASSWORD) == 302


def flip(token: str, index: int) -> str:
    swapped = "A" if token[index] != "A" else "B"
    return token[:index] + swapped + token[index + 1 :]


def test_tampered_tokens_are_refused_with_400(app, client, ada):
    step1 = step1_for(app, ada)
    for index in (10, len(step1) // 2, len(step1) - 5):
        assert_refused_page(client.get("/auth/reset", query_string={"token": flip(step1, index)}), 400)
    page = open_link(client, token=step1)
    step2 = step2_of(page.text)
    header, payload, signature = step2.split(".")
    claims = pyjwt.decode(step2, options={"verify_signature": False})
    forged_payload = (
        base64.urlsafe_b64encode(pyjwt.api_jws.json.dumps({**claims, "exp": claims["exp"] + 86400}).encode())
        .rstrip(b"=")
        .decode()
    )
    for forged in (
        f"{header}.{forged_payload}.{signature}",
        flip(step2, len(step2) - 3),
        pyjwt.encode({**claims}, "", algorithm="none"),
    ):
        assert_refused_page(submit_new_password(client, page.text, reset_token=forged), 400)
    for missing in ("", "garbage", "x" * 5000):
        assert_refused_page(client.get("/auth/reset", query_string={"token": missing}), 400)
        assert_refused_page(submit_new_password(client, page.text, reset_token=missing), 400)
    assert_refused_page(client.get("/auth/reset"), 400)
    assert login_status(app, "ada@example.com", PASSWORD) == 302


def test_each_token_works_only_in_its_own_step_and_context(app, client, ada, make_graph):
    step1 = step1_for(app, ada)
    step2 = step2_for(app, ada)
    page = open_link(client, token=step1)
    assert page.status_code == 200
    # Step 1 as step 2, step 2 as step 1.
    assert_refused_page(submit_new_password(client, page.text, reset_token=step1), 400)
    assert_refused_page(client.get("/auth/reset", query_string={"token": step2}), 400)
    # A session token in either step.
    with app.app_context():
        from maestro_web.models import User

        session_token = create_access_token(User.get_by_public_id(ada.public_id))
    assert_refused_page(client.get("/auth/reset", query_string={"token": session_token}), 400)
    assert_refused_page(submit_new_password(client, page.text, reset_token=session_token), 400)
    # A share token as step 2.
    from share_support import make_link

    graph = make_graph(ada)
    share = make_link(app, graph, ada)
    assert_refused_page(submit_new_password(client, page.text, reset_token=share.token), 400)
    # Either reset token as a session (API and cookie) or as a share token.
    for token in (step1, step2):
        assert app.test_client().get("/api/graphs", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        browser = app.test_client()
        set_session_cookie(browser, "access", token)
        answer = browser.get("/account")
        assert answer.status_code == 302 and "/auth/login" in answer.headers["Location"]
        public = app.test_client().get(f"/analytics/graphs/public/{graph.public_id}", query_string={"token": token})
        assert public.status_code == 404
    assert login_status(app, "ada@example.com", PASSWORD) == 302


def test_a_step2_token_signed_with_the_forgot_key_but_another_audience_is_refused(app, client, ada):
    """Even a token made with the right key is refused unless it says it is a reset token."""
    key_ring = ring(app, "forgot")
    good = pyjwt.decode(step2_for(app, ada), options={"verify_signature": False})
    page = open_link(client, token=step1_for(app, ada))
    for changes in ({"aud": "maestro-web"}, {"iss": "maestro-server"}, {"exp": good["iat"] + 86400}):
        forged = pyjwt.encode(
            {**good, **changes}, key_ring.current, algorithm="HS256", headers={"kid": key_ring.current_kid}
        )
        assert_refused_page(submit_new_password(client, page.text, reset_token=forged), 400)
    # The session key cannot sign a reset token, even with a perfect payload.
    session_ring = ring(app, "session")
    forged = pyjwt.encode(good, session_ring.current, algorithm="HS256", headers={"kid": session_ring.current_kid})
    assert_refused_page(submit_new_password(client, page.text, reset_token=forged), 400)


def test_tokens_signed_with_a_previous_key_are_still_accepted(app, client, ada):
    old1, old2 = "an-old-crypto-forgot-secret-of-48-characters-xx", "an-old-forgot-jwt-secret-of-48-characters-xxxxx"
    step1 = step1_for(app, ada, key_ring=KeyRing("crypto-forgot", old1))
    step2 = step2_for(app, ada, key_ring=KeyRing("forgot", old2))
    # Before the rotation is configured, the old keys are unknown...
    assert_refused_page(client.get("/auth/reset", query_string={"token": step1}), 400)
    rings = app.config["KEY_RINGS"]
    rings["crypto-forgot"] = KeyRing("crypto-forgot", rings["crypto-forgot"].current, (old1,))
    rings["forgot"] = KeyRing("forgot", rings["forgot"].current, (old2,))
    # ...after it, they verify (and the form the app makes is signed with the current key).
    page = open_link(client, token=step1)
    assert page.status_code == 200
    issued = step2_of(page.text)
    assert pyjwt.get_unverified_header(issued)["kid"] == rings["forgot"].current_kid
    assert submit_new_password(client, page.text, reset_token=step2).status_code == 302
    assert login_status(app, "ada@example.com", NEW_PASSWORD) == 302


# --- mail delivery and limits ----------------------------------------------------------------------


def test_a_failing_smtp_server_gets_the_same_answer_and_is_logged(app, client, ada, caplog):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nothing listens there
    with caplog.at_level(logging.INFO):
        response = ask_for_link(client, "ada@example.com")
        assert wait_for_pending(timeout=15)
    assert response.status_code == 200 and "Check your e-mail" in response.text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("could not send 'Reset your Maestro Web password'" in line for line in errors), errors
    assert not any("token=" in r.getMessage() and "[redacted]" not in r.getMessage() for r in caplog.records)


def test_without_mail_server_the_message_goes_to_the_outbox_and_no_token_is_logged(app, client, ada, caplog):
    app.config.update(MAIL_SERVER=None)
    with caplog.at_level(logging.INFO):
        assert ask_for_link(client, "ada@example.com").status_code == 200
        assert wait_for_pending(timeout=15)
    from email import message_from_bytes, policy
    from pathlib import Path

    files = sorted((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    link = reset_link(message_from_bytes(files[0].read_bytes(), policy=policy.default))
    token = link.split("token=", 1)[1]
    lines = [r.getMessage() for r in caplog.records]
    assert any(str(files[0]) in line for line in lines), lines
    assert not any(token in line for line in lines)
    assert open_link(client, path_of(link)).status_code == 200


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True, MAESTRO_FORGOT_ADDRESS_RATE_LIMIT="2 per hour", MAESTRO_FORGOT_RATE_LIMIT="100 per hour"
)
def test_requests_are_limited_per_address_known_or_not(app, ada, smtp):
    client = app.test_client()
    for email in ("ada@example.com", "nobody@example.com"):
        assert ask_for_link(client, email).status_code == 200
        assert ask_for_link(client, email.upper()).status_code == 200
        limited = ask_for_link(client, email)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
    assert ask_for_link(client, "someone.else@example.com").status_code == 200
    assert len(smtp.settle()) == 2  # the two allowed requests for Ada, nothing after the limit


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True, MAESTRO_FORGOT_RATE_LIMIT="3 per hour", MAESTRO_FORGOT_ADDRESS_RATE_LIMIT="100 per hour"
)
def test_requests_are_limited_per_client_address(app, smtp):
    client = app.test_client()
    for number in range(3):
        assert ask_for_link(client, f"person{number}@example.com").status_code == 200
    limited = ask_for_link(client, "person9@example.com")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert client.get("/auth/forgot").status_code == 200  # only POSTs count
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert ask_for_link(other, "person9@example.com").status_code == 200


# --- the token leaves the address bar; the owner hears of every change -----------------------------


def test_the_link_token_leaves_the_address_bar_and_stays_with_that_browser(app, client, ada):
    step1 = step1_for(app, ada)
    opened = client.get("/auth/reset", query_string={"token": step1})
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/auth/reset"  # no token in the address any more
    form_page = client.get("/auth/reset")
    assert form_page.status_code == 200 and "Choose a new password" in form_page.text
    assert step1 not in form_page.text  # the page holds only the short-lived step 2 token
    # Another browser without this one's session cookie gets no form.
    assert_refused_page(app.test_client().get("/auth/reset"), 400)
    # Reloading the form works while the link lives, and each view carries a fresh step 2 token.
    again = client.get("/auth/reset")
    assert again.status_code == 200 and step2_of(again.text) != step2_of(form_page.text)
    assert submit_new_password(client, again.text).status_code == 302
    # After the reset, this browser has nothing left to reset with.
    assert_refused_page(client.get("/auth/reset"), 400)
    assert login_status(app, "ada@example.com", NEW_PASSWORD) == 302


def test_a_link_that_dies_after_it_was_opened_shows_no_form(app, client, auth, ada):
    assert open_link(client, token=step1_for(app, ada)).status_code == 200
    other = app.test_client()
    from conftest import AuthActions

    AuthActions(other).login("ada@example.com")
    values = AuthActions(other).form_values("/account")
    assert (
        other.post(
            "/account/password",
            data={**values, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        ).status_code
        == 302
    )
    assert_refused_page(client.get("/auth/reset"), 410)


def assert_password_changed_mail(message, how: str, app) -> None:
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your Maestro Web password was changed"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    forgot = app.config["MAESTRO_BASE_URL"] + "/auth/forgot"
    assert how in text and how in html
    assert forgot in text and f'href="{forgot}"' in html
    assert "token=" not in text and "token=" not in html  # a notice, not a key


def test_a_reset_mails_a_password_changed_notice(app, client, ada, smtp):
    ask_for_link(client, "ada@example.com")
    [link_message] = smtp.settle()
    page = open_link(client, path_of(reset_link(link_message)))
    assert submit_new_password(client, page.text).status_code == 302
    messages = smtp.settle()
    assert len(messages) == 2
    assert_password_changed_mail(messages[1], "with a password reset link", app)


def test_a_change_on_the_account_page_mails_a_password_changed_notice(app, client, auth, ada, smtp):
    auth.login("ada@example.com")
    values = auth.form_values("/account")
    wrong = client.post(
        "/account/password",
        data={**values, "current_password": "not my password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert smtp.settle() == []  # nothing changed, nothing said
    response = client.post(
        "/account/password",
        data={**values, "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    [message] = smtp.settle()
    assert_password_changed_mail(message, "on the account page", app)


def test_no_reset_token_or_address_in_any_log_line(app, client, ada, smtp, caplog):
    with caplog.at_level(logging.DEBUG):
        ask_for_link(client, "ada@example.com")
        [message] = smtp.settle()
        link = reset_link(message)
        step1 = link.split("token=", 1)[1]
        page = open_link(client, path_of(link))
        step2 = step2_of(page.text)
        assert submit_new_password(client, page.text).status_code == 302
        assert len(smtp.settle()) == 2
    lines = [record.getMessage() for record in caplog.records]
    assert any("password reset for user" in line for line in lines), lines
    for line in lines:
        assert step1 not in line and step2 not in line and "ada@example.com" not in line


@pytest.mark.app_settings(RATELIMIT_ENABLED=True, MAESTRO_RESET_RATE_LIMIT="3 per hour")
def test_new_password_submissions_are_limited_per_client(app, client, ada):
    page = open_link(client, token=step1_for(app, ada))
    for _ in range(3):
        assert submit_new_password(client, page.text, password="short").status_code == 422
    limited = submit_new_password(client, page.text)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert login_status(app, "ada@example.com", PASSWORD) == 302  # the limited request changed nothing
    assert client.get("/auth/reset").status_code == 200  # only POSTs count

"""The Account page: personal API tokens (created and shown once, revoked after a confirmation),
login sessions (listed with their device, ended one by one or all but this one), change of e-mail
(a link to the new address, a notice to the old; the address changes only when the link is used)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import PASSWORD, AuthActions, api_headers, form_csrf
from mail_support import SmtpServer, link_path

from maestro_web.extensions import db
from maestro_web.models import EmailChange, LoginSession, PersonalToken, User

FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0"
CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


def browser(app, user, user_agent: str):
    """Another browser, logged in through the real form with its own User-Agent."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert AuthActions(client).login(user.email).status_code == 302
    return client


def post_form(client, path: str, data: dict | None = None, page: str = "/account"):
    return client.post(path, data={**AuthActions(client).form_values(page), **(data or {})})


def session_ids(text: str) -> list[str]:
    return re.findall(r'data-session="([^"]+)"', text)


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_made_on_the_page_is_shown_once_and_works(app, client, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    answer = post_form(laptop, "/account/tokens", {"token-name": "discovery service", "token-expires_in_days": "90"})
    assert answer.status_code == 201
    assert answer.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token-value"[^>]*value="([^"]+)"', answer.text).group(1)
    assert "shown this once" in answer.text
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json["id"] == user.public_id
    again = laptop.get("/account")
    assert "discovery service" in again.text and token not in again.text
    assert "Set-Cookie" not in answer.headers or token not in str(answer.headers.getlist("Set-Cookie"))
    with app.app_context():
        row = db.session.scalar(db.select(PersonalToken))
        assert (row.expires_at - row.created_at) == timedelta(days=90)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"token-name": "", "token-expires_in_days": "30"}, "Name the token"),
        ({"token-name": "x" * 101, "token-expires_in_days": "30"}, "Field cannot be longer than 100 characters."),
        ({"token-name": "ok", "token-expires_in_days": "366"}, "Not a valid choice"),
        ({"token-name": "ok", "token-expires_in_days": "forever"}, "Not a valid choice"),
    ],
)
def test_bad_token_forms_are_422_and_make_nothing(app, make_user, data, message):
    laptop = browser(app, make_user(), FIREFOX_MAC)
    answer = post_form(laptop, "/account/tokens", data)
    assert answer.status_code == 422
    assert message in answer.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(PersonalToken.id))) == 0


def test_revoking_on_the_page_asks_first_then_refuses_the_token(app, client, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    made = client.post("/api/tokens", headers=api_headers(client, user), json={"name": "ci", "expires_in_days": 7}).json
    confirm = laptop.get(f"/account/tokens/{made['id']}/revoke")
    assert confirm.status_code == 200 and "Revoke the token “ci”?" in confirm.text
    assert "never been used" in confirm.text
    answer = laptop.post(
        f"/account/tokens/{made['id']}/revoke",
        data={
            "csrf_token": form_csrf(confirm.text),
            "jwt_csrf": re.search(r'name="jwt_csrf" value="([^"]+)"', confirm.text).group(1),
        },
    )
    assert answer.status_code == 302
    assert client.get("/api/me", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 401
    assert "ci" not in re.findall(r'class="token-name">([^<]+)<', laptop.get("/account").text)


def test_another_users_token_and_session_ids_are_404_on_the_page(app, client, make_user):
    ada, bob = make_user(), make_user(name="Bob")
    made = client.post("/api/tokens", headers=api_headers(client, ada), json={"name": "ci", "expires_in_days": 7}).json
    ada_laptop = browser(app, ada, FIREFOX_MAC)
    ada_session = session_ids(ada_laptop.get("/account").text)[0]
    bob_laptop = browser(app, bob, CHROME_LINUX)
    assert bob_laptop.get(f"/account/tokens/{made['id']}/revoke").status_code == 404
    assert post_form(bob_laptop, f"/account/tokens/{made['id']}/revoke").status_code == 404
    assert bob_laptop.get(f"/account/sessions/{ada_session}/logout").status_code == 404
    assert post_form(bob_laptop, f"/account/sessions/{ada_session}/logout").status_code == 404
    assert client.get("/api/me", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 200
    assert ada_laptop.get("/account").status_code == 200


# --- sessions ------------------------------------------------------------------------------------


def test_sessions_are_listed_with_their_device_and_this_one_marked(app, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    browser(app, user, CHROME_LINUX)
    page = laptop.get("/account").text
    assert len(session_ids(page)) == 2
    devices = re.findall(r'class="session-device">([^<]+)<', page)
    assert devices == ["Firefox on macOS", "Chrome on Linux"]  # this browser first
    assert page.count("This browser") == 1 and 'aria-current="true"' in page


def test_logging_out_another_session_ends_it_at_its_next_request(app, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    phone = browser(app, user, CHROME_LINUX)
    assert phone.get("/account").status_code == 200
    ids = session_ids(laptop.get("/account").text)
    other = ids[1]
    answer = post_form(laptop, f"/account/sessions/{other}/logout")
    assert answer.status_code == 302
    # Its access token is still within its 15 minutes, yet refused; and its refresh token too.
    refused = phone.get("/account")
    assert refused.status_code == 302 and "/auth/login" in refused.headers["Location"]
    assert laptop.get("/account").status_code == 200
    assert session_ids(laptop.get("/account").text) == [ids[0]]


def test_log_out_all_others_keeps_this_one_and_ends_api_sessions_too(app, client, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    phone = browser(app, user, CHROME_LINUX)
    api = api_headers(client, user)
    personal = client.post("/api/tokens", headers=api, json={"name": "ci", "expires_in_days": 7}).json
    assert len(session_ids(laptop.get("/account").text)) == 3
    confirm = laptop.get("/account/sessions/logout-others")
    assert "2 other sessions are logged out at once" in confirm.text
    assert post_form(laptop, "/account/sessions/logout-others").status_code == 302
    assert phone.get("/account").status_code == 302
    assert client.get("/api/me", headers=api).status_code == 401
    # Personal tokens are not sessions: they keep working.
    assert client.get("/api/me", headers={"Authorization": f"Bearer {personal['token']}"}).status_code == 200
    assert len(session_ids(laptop.get("/account").text)) == 1


def test_log_out_this_one_is_the_ordinary_logout(app, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    this = session_ids(laptop.get("/account").text)[0]
    moved = post_form(laptop, f"/account/sessions/{this}/logout")
    # ...on the session path, where the browser sends its refresh cookie too (revoked with it).
    assert moved.status_code == 307 and moved.headers["Location"].endswith("/auth/session/logout")
    answer = post_form(laptop, "/auth/session/logout")
    assert answer.status_code == 302 and "/auth/login" in answer.headers["Location"]
    assert laptop.get("/account").status_code == 302
    with app.app_context():
        assert LoginSession.get_by_public_id(this).ended_at is not None


def test_ending_a_session_also_refuses_a_refresh_of_its_api_tokens(app, client, make_user):
    user = make_user()
    pair = client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD}).json
    laptop = browser(app, user, FIREFOX_MAC)
    api_session = session_ids(laptop.get("/account").text)[1]
    assert post_form(laptop, f"/account/sessions/{api_session}/logout").status_code == 302
    assert (
        client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"}).status_code
        == 401
    )


def test_a_refreshed_api_access_token_stays_in_its_session(app, client, make_user):
    user = make_user()
    pair = client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD}).json
    fresh = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"}).json
    laptop = browser(app, user, FIREFOX_MAC)
    api_session = session_ids(laptop.get("/account").text)[1]
    post_form(laptop, f"/account/sessions/{api_session}/logout")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 401


def test_a_password_change_ends_the_other_sessions_and_lists_only_the_new_one(app, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    phone = browser(app, user, CHROME_LINUX)
    answer = post_form(
        laptop,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "a new password", "confirm": "a new password"},
    )
    assert answer.status_code == 302
    assert phone.get("/account").status_code == 302
    assert len(session_ids(laptop.get("/account").text)) == 1


def test_last_seen_is_written_at_most_once_a_minute(app, make_user):
    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    with app.app_context():
        row = db.session.scalar(db.select(LoginSession))
        row.last_seen_at = row.last_seen_at - timedelta(minutes=5)
        db.session.commit()
        moved = row.last_seen_at
    laptop.get("/account")
    with app.app_context():
        first = db.session.scalar(db.select(LoginSession.last_seen_at))
    assert first > moved
    laptop.get("/account")
    with app.app_context():
        assert db.session.scalar(db.select(LoginSession.last_seen_at)) == first


# --- change of e-mail ----------------------------------------------------------------------------


def ask_email_change(app, client, new_email: str, password: str = PASSWORD):
    with SmtpServer() as server:
        saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        try:
            answer = post_form(
                client, "/account/email", {"email-new_email": new_email, "email-current_password": password}
            )
            messages = server.inbox.settle()
        finally:
            app.config.update(saved)
    return answer, messages


def email_link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    match = re.search(r"(https?://\S+/auth/email/confirm\?token=[A-Za-z0-9_=\-]+)", text)
    assert match, text
    assert f'href="{match.group(1)}"' in html
    return match.group(1)


def open_and_confirm(client, link: str):
    page = client.get(link_path(link))
    if page.status_code != 200:
        return page
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    data = {"token": token, "csrf_token": form_csrf(page.text)}
    jwt_value = re.search(r'name="jwt_csrf" value="([^"]+)"', page.text)
    if jwt_value:
        data["jwt_csrf"] = jwt_value.group(1)
    return client.post("/auth/email/confirm", data=data)


def current_email(app, user) -> str:
    with app.app_context():
        return User.get_by_public_id(user.public_id).email


def test_change_of_email_mails_a_link_and_a_notice_and_changes_only_at_the_link(app, make_user):
    user = make_user(email="ada@example.com")
    laptop = browser(app, user, FIREFOX_MAC)
    answer, messages = ask_email_change(app, laptop, " Ada.Lovelace@Example.org ")
    assert answer.status_code == 302
    by_address = {message["To"]: message for message in messages}
    assert set(by_address) == {"ada.lovelace@example.org", "ada@example.com"}
    notice = by_address["ada@example.com"].get_body(preferencelist=("plain",)).get_content()
    assert "ada.lovelace@example.org" in notice and "/auth/email/confirm" not in notice
    link = email_link(by_address["ada.lovelace@example.org"])
    assert current_email(app, user) == "ada@example.com"
    assert "ada.lovelace@example.org" in laptop.get("/account").text  # pending, said on the page
    # Opening the link changes nothing by itself (mail scanners open links).
    assert laptop.get(link_path(link)).status_code == 200
    assert current_email(app, user) == "ada@example.com"
    assert open_and_confirm(laptop, link).status_code == 302
    assert current_email(app, user) == "ada.lovelace@example.org"
    with app.app_context():
        stored = db.session.scalar(db.select(EmailChange))
        assert link.split("token=")[1] not in stored.token_hash  # only the digest is kept
    # Single use.
    assert open_and_confirm(laptop, link).status_code == 410
    # The new address logs in; the old one no longer does.
    assert AuthActions(app.test_client()).login("ada.lovelace@example.org").status_code == 302
    assert AuthActions(app.test_client()).login("ada@example.com").status_code == 401


def test_the_link_works_in_a_browser_that_is_not_logged_in(app, make_user):
    user = make_user(email="ada@example.com")
    laptop = browser(app, user, FIREFOX_MAC)
    _, messages = ask_email_change(app, laptop, "new@example.org")
    link = email_link(next(m for m in messages if m["To"] == "new@example.org"))
    answer = open_and_confirm(app.test_client(), link)
    assert answer.status_code == 302 and "/auth/login" in answer.headers["Location"]
    assert current_email(app, user) == "new@example.org"


def test_wrong_password_same_address_and_bad_address_change_nothing(app, make_user):
    user = make_user(email="ada@example.com")
    laptop = browser(app, user, FIREFOX_MAC)
    for data, message in (
        ({"new_email": "new@example.org", "current_password": "wrong password"}, "The current password is wrong."),
        ({"new_email": "ADA@example.com", "current_password": PASSWORD}, "That is already your address."),
        ({"new_email": "not-an-address", "current_password": PASSWORD}, "Enter a valid e-mail address."),
        ({"new_email": "", "current_password": PASSWORD}, "Enter the new e-mail address."),
    ):
        answer = post_form(laptop, "/account/email", {f"email-{name}": value for name, value in data.items()})
        assert answer.status_code == 422, data
        assert message in answer.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(EmailChange.id))) == 0


def test_expired_tampered_and_superseded_links_are_refused(app, make_user):
    user = make_user(email="ada@example.com")
    laptop = browser(app, user, FIREFOX_MAC)
    _, first = ask_email_change(app, laptop, "first@example.org")
    _, second = ask_email_change(app, laptop, "second@example.org")
    old_link = email_link(next(m for m in first if m["To"] == "first@example.org"))
    new_link = email_link(next(m for m in second if m["To"] == "second@example.org"))
    assert open_and_confirm(laptop, old_link).status_code == 410  # asking again replaced it
    assert laptop.get(link_path(new_link)[:-3] + "abc").status_code == 410
    assert laptop.get("/auth/email/confirm").status_code == 410
    with app.app_context():
        row = db.session.scalar(db.select(EmailChange).where(EmailChange.new_email == "second@example.org"))
        row.expires_at = row.created_at - timedelta(seconds=1)
        db.session.commit()
    assert open_and_confirm(laptop, new_link).status_code == 410
    assert current_email(app, user) == "ada@example.com"


def test_an_address_taken_meanwhile_is_refused_at_the_link(app, make_user):
    user = make_user(email="ada@example.com")
    laptop = browser(app, user, FIREFOX_MAC)
    _, messages = ask_email_change(app, laptop, "grace@example.org")
    make_user(email="grace@example.org", name="Grace")
    link = email_link(next(m for m in messages if m["To"] == "grace@example.org"))
    assert open_and_confirm(laptop, link).status_code == 409
    assert current_email(app, user) == "ada@example.com"


def test_prune_sessions_deletes_only_what_ended_long_ago(app, runner, make_user):
    from maestro_web.models import RevokedToken
    from maestro_web.models.base import utcnow

    user = make_user()
    laptop = browser(app, user, FIREFOX_MAC)
    browser(app, user, CHROME_LINUX)
    long_ago = utcnow() - timedelta(days=40)
    with app.app_context():
        _laptop_row, old = db.session.scalars(db.select(LoginSession).order_by(LoginSession.id)).all()
        old.ended_at = long_ago  # the Chrome session, logged out long ago
        db.session.add(RevokedToken(jti="old", token_type="access", user_id=old.user_id, expires_at=long_ago))
        db.session.add(
            RevokedToken(
                jti="recent", token_type="access", user_id=old.user_id, expires_at=utcnow() + timedelta(minutes=5)
            )
        )
        db.session.commit()
    result = runner.invoke(args=["users", "prune-sessions", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 login session(s), 0 e-mail change link(s) and 1 revoked token(s)" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(LoginSession.id))) == 1
        assert RevokedToken.is_revoked("recent") and not RevokedToken.is_revoked("old")
    assert laptop.get("/account").status_code == 200

"""Registration and login with bad input, rate limits, and the users CLI."""

from __future__ import annotations

import time

import pytest
from conftest import form_csrf
from mail_support import confirm_link, finish_registration, link_path, register, registration_mail
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.models import User


def register_form(client, **fields):
    page = client.get("/auth/register")
    data = {"name": "Ada", "email": "ada@example.com", "csrf_token": form_csrf(page.text), **fields}
    return client.post("/auth/register", data=data)


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def test_register_mails_a_link_and_the_link_makes_the_account_and_logs_in(app, client):
    response = register(app, client, "Ada@Example.com", "long enough")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    with app.app_context():
        user = User.get_by_email("ada@example.com")
        assert user.email == "ada@example.com" and user.name == "Ada"
        assert user.password_hash.startswith("$argon2id$")
        assert "long enough" not in user.password_hash


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com "])
def test_registering_a_taken_address_answers_like_a_new_one_and_mails_its_owner(app, client, make_user, email):
    """Before, the form said "An account with this e-mail already exists.": an account census."""
    make_user(email="ada@example.com", name="Ada Owner")
    taken, to_owner = registration_mail(app, client, email)
    new, to_new = registration_mail(app, app.test_client(), "grace@example.com")
    assert taken.status_code == new.status_code == 200
    assert taken.text == new.text  # the same page, word for word
    assert "already exists" not in taken.text
    assert [message["Subject"] for message in to_owner] == [
        "Someone tried to register with your address on Maestro Web"
    ]
    note = to_owner[0].get_body(preferencelist=("plain",)).get_content()
    assert "/auth/login" in note and "/auth/forgot" in note and "/auth/register/confirm" not in note
    assert [message["Subject"] for message in to_new] == ["Confirm your address to finish your Maestro Web account"]
    assert user_count(app) == 1


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": ""}, "Enter your name."),
        ({"email": ""}, "Enter your e-mail address."),
        ({"email": "not-an-address"}, "Enter a valid e-mail address."),
    ],
)
def test_register_bad_input_shows_the_field_and_keeps_what_was_typed(app, client, fields, message):
    response = register_form(
        client, name=fields.get("name", "Typed Name"), **{k: v for k, v in fields.items() if k != "name"}
    )
    assert response.status_code == 422
    assert message in response.text
    if fields.get("name", "Typed Name"):
        assert 'value="Typed Name"' in response.text
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "password, confirm, message",
    [
        ("short", "short", "Use 8 to 128 characters."),
        ("x" * 129, "x" * 129, "Use 8 to 128 characters."),
        ("", "", "Choose a password."),
        ("long enough", "different!", "The passwords differ."),
    ],
)
def test_a_bad_password_at_the_link_shows_the_form_again(app, client, password, confirm, message):
    answer, messages = registration_mail(app, client, "ada@example.com")
    response = finish_registration(client, confirm_link(messages[0]), password, confirm)
    assert response.status_code == 422
    assert message in response.text
    assert "long enough" not in response.text  # passwords are never echoed back
    assert user_count(app) == 0


def test_passwords_of_8_and_128_characters_are_accepted(app, client):
    assert register(app, client, "a@example.com", "x" * 8).status_code == 302
    assert register(app, app.test_client(), "b@example.com", "y" * 128).status_code == 302


def test_the_link_works_once_and_nowhere_else(app, client):
    from maestro_web.security import registration_tokens, reset_tokens

    _, messages = registration_mail(app, client, "ada@example.com")
    link = confirm_link(messages[0])
    assert finish_registration(client, link, "long enough").status_code == 302
    again = app.test_client().get(link_path(link))
    assert again.status_code == 409 and "already has an account" in again.text
    assert user_count(app) == 1
    ring = app.config["KEY_RINGS"]["crypto-forgot"]
    client = app.test_client()  # a visitor, not the new account's browser
    tampered = link_path(link)[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB")
    assert client.get(tampered).status_code == 400
    old = registration_tokens.mint(ring, "old@example.com", "Old", now=time.time() - registration_tokens.LIFETIME - 60)
    assert client.get(f"/auth/register/confirm?token={old}").status_code == 410
    # A reset link's token (same secret, another purpose) is no registration link.
    reset = reset_tokens.mint_step1(ring, "u1", "fingerprint")
    assert client.get(f"/auth/register/confirm?token={reset}").status_code == 400
    posted = client.post(
        "/auth/register/confirm",
        data={
            "registration_token": old,
            "password": "long enough",
            "confirm": "long enough",
            "csrf_token": form_csrf(client.get("/auth/register").text),
        },
    )
    assert posted.status_code == 410
    assert user_count(app) == 1


def test_wrong_password_and_unknown_email_get_the_same_answer(auth, make_user):
    make_user(email="ada@example.com")
    wrong = auth.login("ada@example.com", password="wrong password")
    unknown = auth.login("nobody@example.com", password="wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail or password." in wrong.text
    import re

    def no_csrf(html: str) -> str:
        return re.sub(r'value="[^"]*"', "", html.replace("ada@example.com", "").replace("nobody@example.com", ""))

    assert no_csrf(wrong.text) == no_csrf(unknown.text)


def test_login_with_empty_fields_names_them(auth):
    response = auth.login("", password="")
    assert response.status_code == 422
    assert "Enter your e-mail address." in response.text and "Enter your password." in response.text


def test_logged_in_user_visiting_login_is_sent_on(auth, client, make_user):
    user = make_user()
    auth.login(user.email)
    response = client.get("/auth/login?next=/account")
    assert response.status_code == 302 and response.headers["Location"] == "/account"


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True, MAESTRO_LOGIN_RATE_LIMIT="3 per minute", MAESTRO_ACCOUNT_RATE_LIMIT="100 per minute"
)
def test_login_rate_limit_per_ip_answers_429_with_retry_after(auth, client, make_user):
    make_user(email="ada@example.com")
    for _ in range(3):
        assert auth.login("ada@example.com", password="wrong password").status_code == 401
    response = auth.login("ada@example.com")  # even the right password is refused now
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many requests" in response.text
    # The token API shares the same budget.
    api = client.post("/api/auth/token", json={"email": "ada@example.com", "password": "x"})
    assert api.status_code == 429 and api.json["error"] == "too_many_requests"


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True, MAESTRO_LOGIN_RATE_LIMIT="100 per minute", MAESTRO_ACCOUNT_RATE_LIMIT="2 per minute"
)
def test_login_rate_limit_per_account_across_addresses(app, make_user):
    make_user(email="ada@example.com")
    for n in range(2):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
        assert c.post("/api/auth/token", json={"email": "ADA@example.com", "password": "nope"}).status_code == 401
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    # The budget is spent: a new address gets its one try checked (the owner is never locked out),
    # and once it has failed, the account's budget refuses it too.
    assert c.post("/api/auth/token", json={"email": "ada@example.com", "password": "nope"}).status_code == 401
    assert c.post("/api/auth/token", json={"email": "ada@example.com", "password": "nope"}).status_code == 429
    for n in range(2):
        guesser = app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
        assert guesser.post("/api/auth/token", json={"email": "ada@example.com", "password": "nope"}).status_code == 429
    # Another account from that address is not affected.
    assert c.post("/api/auth/token", json={"email": "bob@example.com", "password": "nope"}).status_code == 401


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True,
    MAESTRO_TRUSTED_PROXIES=1,
    MAESTRO_LOGIN_RATE_LIMIT="2 per minute",
    MAESTRO_ACCOUNT_RATE_LIMIT="100 per minute",
)
def test_behind_one_trusted_proxy_the_limit_keys_on_the_forwarded_client(app, client):
    def attempt(forwarded_for):
        return client.post(
            "/api/auth/token",
            json={"email": "x@example.com", "password": "nope"},
            headers={"X-Forwarded-For": forwarded_for},
        )

    assert attempt("203.0.113.1").status_code == 401
    assert attempt("203.0.113.1").status_code == 401
    assert attempt("203.0.113.1").status_code == 429
    # Same proxy (same REMOTE_ADDR), another real client: its own budget.
    assert attempt("203.0.113.2").status_code == 401
    # A client cannot escape by prepending a fake address: only the last hop is trusted.
    assert attempt("198.51.100.7, 203.0.113.1").status_code == 429


@pytest.mark.app_settings(
    RATELIMIT_ENABLED=True, MAESTRO_LOGIN_RATE_LIMIT="2 per minute", MAESTRO_ACCOUNT_RATE_LIMIT="100 per minute"
)
def test_without_trusted_proxies_forwarded_for_is_ignored(client):
    def attempt(forwarded_for):
        return client.post(
            "/api/auth/token",
            json={"email": "x@example.com", "password": "nope"},
            headers={"X-Forwarded-For": forwarded_for},
        )

    assert attempt("203.0.113.1").status_code == 401
    assert attempt("203.0.113.2").status_code == 401
    assert attempt("203.0.113.3").status_code == 429


def test_cli_users_create_with_password_on_stdin(app, runner):
    result = runner.invoke(
        args=["users", "create", "Cli@Example.com", "--name", "Cli", "--password-stdin"], input="a fine password\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created user cli@example.com" in result.output
    with app.app_context():
        user = User.get_by_email("cli@example.com")
        assert user.name == "Cli" and user.check_password("a fine password")
    again = runner.invoke(args=["users", "create", "cli@example.com", "--password-stdin"], input="another one\n")
    assert again.exit_code != 0 and "already exists" in again.output


def test_cli_users_create_refuses_short_password(app, runner):
    result = runner.invoke(args=["users", "create", "s@example.com", "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "8 to 128" in result.output
    assert user_count(app) == 0

"""The account flow in a real headless Chromium (Playwright), against a live server."""

from __future__ import annotations

from datetime import timedelta

import jwt as pyjwt
import pytest
from conftest import PASSWORD, session_cookie_name
from flask_jwt_extended import create_access_token
from mail_support import SmtpServer, confirm_link
from playwright.sync_api import expect

from maestro_web.models import User

pytestmark = pytest.mark.browser


def test_register_logout_login_change_password_logs_out_other_browser(browser, live_server, app):
    base = live_server.url
    first = browser.new_context()
    page = first.new_page()

    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        page.goto(f"{base}/auth/register")
        page.fill("#name", "Ada Lovelace")
        page.fill("#email", "ada@example.com")
        page.click("main button[type=submit]")
        expect(page.locator("h1")).to_have_text("Check your e-mail")
        messages = server.inbox.settle()
    assert len(messages) == 1
    page.goto(confirm_link(messages[0]).replace(app.config["MAESTRO_BASE_URL"], base))
    expect(page.locator("h1")).to_have_text("Choose your password")
    page.fill("#password", "analytical engine")
    page.fill("#confirm", "analytical engine")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/graphs/")
    assert "your account is ready" in page.text_content("main")
    assert "Ada Lovelace" in page.text_content("header.topbar")

    page.click("text=Log out")
    page.wait_for_url(f"{base}/auth/login")
    assert "You are logged out." in page.text_content("main")

    # A bad password first: the form says so and keeps the e-mail.
    page.fill("#email", "ada@example.com")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    # click() returns once the navigation starts: wait for the new page, not the old one.
    page.wait_for_selector("text=Wrong e-mail or password.")
    assert page.input_value("#email") == "ada@example.com"
    page.fill("#password", "analytical engine")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/graphs/")

    # A second browser logs in as the same user.
    second = browser.new_context()
    other = second.new_page()
    other.goto(f"{base}/auth/login?next=/account")
    other.fill("#email", "ada@example.com")
    other.fill("#password", "analytical engine")
    other.click("button[type=submit]")
    other.wait_for_url(f"{base}/account")

    page.goto(f"{base}/account")
    page.fill("#current_password", "analytical engine")
    page.fill("#new_password", "difference engine")
    page.fill("#confirm", "difference engine")
    page.click("text=Change password")
    page.wait_for_url(f"{base}/account")
    assert "Every other session has been logged out." in page.text_content("main")

    other.goto(f"{base}/account")
    assert other.url.startswith(f"{base}/auth/login?next=/account")
    assert [c for c in second.cookies() if c["name"] == session_cookie_name(app, "access")] == []

    # The first browser is still in, and the new password works.
    page.reload()
    assert page.url == f"{base}/account"
    first.close()
    second.close()


def test_a_form_posted_after_the_access_token_expired_goes_through_the_refresh_path(
    app, browser, live_server, make_user
):
    """Chromium sends the refresh cookie to the session path only; a form submitted with an expired
    access cookie is sent there (307), renewed, and posted again (307) with its body and CSRF values."""
    user = make_user(email="ada@example.com", name="Ada")
    base = live_server.url
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/auth/login?next=/account")
    page.fill("#email", "ada@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/account")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    refresh = cookies[session_cookie_name(app, "refresh")]
    assert refresh["path"] == "/auth/session" and cookies[session_cookie_name(app, "access")]["path"] == "/"

    # The form is on the page; meanwhile the access token expires (same session, same CSRF value).
    access = cookies[session_cookie_name(app, "access")]
    csrf = pyjwt.decode(access["value"], options={"verify_signature": False})["csrf"]
    with app.app_context():
        expired = create_access_token(
            identity=User.get_by_public_id(user.public_id),
            expires_delta=timedelta(seconds=-5),
            additional_claims={"csrf": csrf},
        )
    context.add_cookies([{**access, "value": expired}])
    page.fill("#name", "Ada Byron")
    page.locator("form", has=page.locator("#name")).locator("button[type=submit]").click()
    expect(page.locator("header.topbar")).to_contain_text("Ada Byron")
    assert page.url == f"{base}/account"
    renewed = {cookie["name"]: cookie["value"] for cookie in context.cookies()}[session_cookie_name(app, "access")]
    assert renewed != expired
    context.close()

"""Forgot password in a real headless Chromium, reading the link from a real SMTP server."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, log_in
from mail_support import SmtpServer, reset_link
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase"


def test_forgot_password_from_login_page_to_new_password(app, browser, live_server, make_user):
    base = live_server.url
    make_user(email="grace@example.com", name="Grace")
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)

        # A session that was open before the reset, in another browser.
        other = browser.new_context().new_page()
        log_in(other, base, "grace@example.com", PASSWORD, lands=None)
        expect(other).to_have_url(f"{base}/graphs/")

        page = browser.new_context().new_page()
        page.goto(f"{base}/auth/login")
        page.click("text=Forgot your password?")
        expect(page).to_have_url(f"{base}/auth/forgot")
        page.fill("#email", "grace@example.com")
        page.click("main button[type=submit]")
        expect(page.locator("main")).to_contain_text("Check your e-mail")

        [message] = smtp.inbox.settle()
        link = reset_link(message)
        # The configured base URL is the production address; the test server listens elsewhere.
        link_path = link[link.index("/auth/reset") :]
        page.goto(base + link_path)
        # The token left the address bar (and so the history and any Referer) at once.
        expect(page).to_have_url(f"{base}/auth/reset")
        expect(page.locator("h1")).to_have_text("Choose a new password")
        page.reload()  # the form survives a reload: the link is kept for this browser
        expect(page.locator("h1")).to_have_text("Choose a new password")

        # Another browser, without this one's session, gets no form at the bare address.
        stranger = browser.new_context().new_page()
        refused = stranger.goto(f"{base}/auth/reset")
        assert refused is not None and refused.status == 400
        expect(stranger.locator("main")).to_contain_text("This reset link has expired or was already used")

        page.fill("#password", NEW_PASSWORD)
        page.fill("#confirm", "not the same")
        page.click("main button[type=submit]")
        expect(page.locator("main")).to_contain_text("The passwords differ.")
        page.fill("#password", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("main button[type=submit]")
        expect(page).to_have_url(f"{base}/auth/login")
        expect(page.locator("main")).to_contain_text("Your password is changed")

        messages = smtp.inbox.settle()
    assert [m["Subject"] for m in messages] == [
        "Reset your Maestro Web password",
        "Your Maestro Web password was changed",
    ]
    assert messages[1]["To"] == "grace@example.com"

    log_in(page, base, "grace@example.com", PASSWORD, lands=None)
    expect(page.locator("main")).to_contain_text("Wrong e-mail or password.")
    log_in(page, base, "grace@example.com", NEW_PASSWORD, lands=None)
    expect(page).to_have_url(f"{base}/graphs/")

    other.goto(f"{base}/account")
    expect(other).to_have_url(f"{base}/auth/login?next=/account")

    response = page.goto(base + link_path)
    assert response is not None and response.status == 410
    expect(page.locator("main")).to_contain_text("This reset link has expired or was already used")

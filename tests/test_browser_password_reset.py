"""Forgot password in a real headless Chromium, reading the link from a real SMTP server."""
from __future__ import annotations

import pytest

from conftest import PASSWORD
from mail_support import SmtpServer, reset_link

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase"


def log_in(page, base, password):
    page.goto(f"{base}/auth/login")
    page.fill("#email", "grace@example.com")
    page.fill("#password", password)
    page.click("main button[type=submit]")


def test_forgot_password_from_login_page_to_new_password(app, browser, live_server, make_user):
    base = live_server.url
    make_user(email="grace@example.com", name="Grace")
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)

        # A session that was open before the reset, in another browser.
        other = browser.new_context().new_page()
        log_in(other, base, PASSWORD)
        other.wait_for_url(f"{base}/graphs/")

        page = browser.new_context().new_page()
        page.goto(f"{base}/auth/login")
        page.click("text=Forgot your password?")
        page.wait_for_url(f"{base}/auth/forgot")
        page.fill("#email", "grace@example.com")
        page.click("main button[type=submit]")
        page.wait_for_selector("text=Check your e-mail")

        [message] = smtp.inbox.settle()
    link = reset_link(message)
    # The configured base URL is the production address; the test server listens elsewhere.
    page.goto(base + link[link.index("/auth/reset"):])
    assert page.text_content("h1").strip() == "Choose a new password"
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", "not the same")
    page.click("main button[type=submit]")
    # click() returns once the navigation starts: wait for the re-rendered form.
    page.wait_for_selector("text=The passwords differ.")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/auth/login")
    assert "Your password is changed" in page.text_content("main")

    log_in(page, base, PASSWORD)
    page.wait_for_selector("text=Wrong e-mail or password.")
    log_in(page, base, NEW_PASSWORD)
    page.wait_for_url(f"{base}/graphs/")

    other.goto(f"{base}/account")
    assert other.url.startswith(f"{base}/auth/login")

    response = page.goto(base + link[link.index("/auth/reset"):])
    assert response.status == 410
    assert "This reset link has expired or was already used" in page.text_content("main")

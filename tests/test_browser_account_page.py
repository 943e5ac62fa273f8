"""The Account page in a real headless Chromium: a personal API token created, copied, used and revoked;
another browser logged out from here; screenshots at 1280 and 390 px, light and dark.

Every wait is Playwright's auto-waiting `expect`, or the page's DOMContentLoaded before a click that a
deferred script answers (conftest.scripts_ready, conftest.ask_to_confirm).
"""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, ask_to_confirm, log_in, scripts_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0"


def test_create_copy_use_and_revoke_a_token(browser, live_server, make_user):
    base = live_server.url
    user = make_user(email="ada@example.com")
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    log_in(page, base, user.email, next_url="/account")

    page.fill("#token-name", "report service")
    page.select_option("#token-expires_in_days", label="90 days")
    page.click("text=Create token")
    shown = page.locator("#new-token-value")
    expect(shown).to_be_visible()
    expect(page.locator("#new-token")).to_contain_text("shown this once")
    token = shown.input_value()
    assert token.count(".") == 2

    # The page is the answer to the POST: the copy button answers once static/copy.js has run.
    scripts_ready(page)
    page.click("#new-token button[data-copy]")
    expect(page.locator("#new-token button[data-copy]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token

    # The token acts for its user in the JSON API.
    api = context.request
    me = api.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json()["email"] == "ada@example.com"

    # Never shown again; listed with its last use.
    page.goto(f"{base}/account")
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator("#tokens li[data-token]", has_text="report service")
    expect(row).to_contain_text("last used just now")
    assert token not in page.content()

    # Revoke asks first; Cancel changes nothing.
    dialog = ask_to_confirm(page, row.get_by_role("button", name="Revoke"))
    expect(dialog).to_contain_text("Revoke the token “report service”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert api.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}).status == 200

    ask_to_confirm(page, row.get_by_role("button", name="Revoke")).get_by_role(
        "button", name="Revoke the token"
    ).click()
    expect(page.locator(".flash")).to_contain_text("is revoked")
    expect(page.locator("#tokens li[data-token]")).to_have_count(0)
    assert api.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}).status == 401
    context.close()


def test_log_out_another_browser_from_the_account_page(browser, live_server, make_user):
    base = live_server.url
    user = make_user(email="ada@example.com")
    laptop_context = browser.new_context(user_agent=FIREFOX_MAC)
    laptop = laptop_context.new_page()
    log_in(laptop, base, user.email, next_url="/account")
    here_context = browser.new_context()
    here = here_context.new_page()
    log_in(here, base, user.email, next_url="/account")

    sessions = here.locator("#sessions li[data-session]")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("This browser")
    other = here.locator("#sessions li[data-session]", has_text="Firefox on macOS")
    expect(other).to_contain_text("last seen just now")

    ask_to_confirm(here, other.get_by_role("button", name="Log out")).get_by_role("button", name="Log out").click()
    expect(here.locator(".flash")).to_contain_text("Firefox on macOS is logged out.")
    expect(sessions).to_have_count(1)

    # The other browser is out at its next click (its access token had minutes left).
    laptop.goto(f"{base}/graphs/")
    expect(laptop).to_have_url(re.compile(r"/auth/login"))
    here.goto(f"{base}/graphs/")
    expect(here).to_have_url(f"{base}/graphs/")
    laptop_context.close()
    here_context.close()


def test_screenshots_of_the_account_page(shots, browser, live_server, app, client, make_user):
    base = live_server.url
    user = make_user(email="ada.lovelace@example.com", name="Ada Lovelace")
    headers = {
        "Authorization": "Bearer "
        + client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD}).json["access_token"]
    }
    for name, days in (("discovery service", 365), ("nightly report export to the finance team's warehouse", 30)):
        assert (
            client.post("/api/tokens", headers=headers, json={"name": name, "expires_in_days": days}).status_code == 201
        )
    phone = browser.new_context(user_agent=FIREFOX_MAC)
    log_in(phone.new_page(), base, user.email, next_url="/account")
    wide = []
    for scheme in shots.schemes:
        for width, height in ((1280, 900), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = context.new_page()
            log_in(page, base, user.email, next_url="/account")
            page.fill("#token-name", "ci")
            page.click("text=Create token")
            expect(page.locator("#new-token-value")).to_be_visible()
            shots(page, f"account-{width}-{scheme}.png", full_page=True)
            for part in ("new-token", "tokens", "sessions"):  # each part at full size, for a closer look
                shots(page.locator(f"#{part}"), f"account-{part}-{width}-{scheme}.png")
            if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
                wide.append(f"{width} px ({scheme})")
            session = page.locator("#sessions li[data-session]", has_text="Firefox on macOS")
            ask_to_confirm(page, session.get_by_role("button", name="Log out"))
            shots(page, f"account-confirm-{width}-{scheme}.png")
            context.close()
    phone.close()
    assert not wide, wide

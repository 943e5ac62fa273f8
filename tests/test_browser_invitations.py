"""Invitations in headless Chromium (SPEC §4): invite an address without an account, follow the mailed
link as that person, and find the graph in the new account's list; the role select; the last Admin.

The mail goes through a real SMTP server on loopback (tests/mail_support.py). Screenshots of the
Access page at 1280 and 390 px, light and dark, go to the test's `shots` folder (with MAESTRO_SHOTS set, conftest.py) for a person to look at.
"""

from __future__ import annotations

import re

import pytest
from axe_support import AXE_PATH, RUN_AXE
from conftest import PASSWORD, log_in
from mail_support import SmtpServer, link_path
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
TIMEOUT = 30_000  # the machine is shared and slow at times: generous, never a fixed sleep


def serious_violations(page, axe_js: str) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is (the script served by Playwright's router)."""
    page.context.route("**" + AXE_PATH, lambda route: route.fulfill(body=axe_js, content_type="text/javascript"))
    page.add_script_tag(url=page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + AXE_PATH)
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in ("serious", "critical")]


def test_invite_register_through_the_mail_then_change_the_role(
    shots, browser, live_server, app, make_user, make_graph, axe_source
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout")
    access = f"{base}/graphs/{graph.public_id}/access"
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        admin = browser.new_context().new_page()
        log_in(admin, base, owner.email, timeout=TIMEOUT)
        admin.goto(access)
        # The only Admin: Remove is disabled and says why before anyone clicks.
        owner_row = admin.locator("table.roles tbody tr", has_text="owner@example.com")
        expect(owner_row.get_by_role("button", name="Remove")).to_be_disabled()
        expect(owner_row).to_contain_text("The only Admin: make someone else Admin first.")
        expect(owner_row.locator("select")).to_be_disabled()

        admin.fill("#email", "newbie@example.com")
        admin.select_option("#role", "3")
        admin.click("button:has-text('Grant')")
        expect(admin.locator(".flash, [role=status], main").first).to_contain_text(
            "newbie@example.com has no account yet", timeout=TIMEOUT
        )
        pending = admin.locator("table.invitations tbody tr", has_text="newbie@example.com")
        expect(pending).to_contain_text("Write")

        messages = [message for message in smtp.inbox.settle() if message["To"] == "newbie@example.com"]
        assert len(messages) == 1
        text = messages[0].get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"https?://\S+/auth/invitation\?token=[A-Za-z0-9_\-]+", text)
        assert link, text

        newbie = browser.new_context().new_page()
        newbie.goto(base + link_path(link.group(0)))
        expect(newbie.locator("#invited-email")).to_have_value("newbie@example.com")
        assert serious_violations(newbie, axe_source) == []
        shots(newbie, "invitation-join-1280-light.png", full_page=True)
        newbie.fill("#name", "Nia")
        newbie.fill("#password", PASSWORD)
        newbie.fill("#confirm", PASSWORD)
        newbie.click("main button[type=submit]")
        newbie.wait_for_url(f"{base}/graphs/{graph.public_id}", timeout=TIMEOUT)
        newbie.goto(f"{base}/graphs/")
        row = newbie.locator("table.graphs tbody tr", has_text="Checkout")
        expect(row).to_be_visible(timeout=TIMEOUT)
        newbie.goto(f"{base}/graphs/{graph.public_id}")
        expect(newbie.locator(".facts")).to_contain_text("Write")

        # The Admin sees the person, no pending invitation, and changes the role with the row's select.
        admin.goto(access)
        expect(admin.locator("table.invitations")).to_have_count(0)
        person = admin.locator("table.roles tbody tr", has_text="newbie@example.com")
        expect(person.locator("select")).to_have_value("3")
        person.locator("select").select_option("1")
        person.get_by_role("button", name="Change").click()
        expect(admin.locator("main")).to_contain_text("newbie@example.com now has the Read role.", timeout=TIMEOUT)
        expect(admin.locator("table.roles tbody tr", has_text="newbie@example.com").locator("select")).to_have_value(
            "1"
        )
        # Still the only Admin after that.
        expect(
            admin.locator("table.roles tbody tr", has_text="owner@example.com").get_by_role("button", name="Remove")
        ).to_be_disabled()
        newbie.reload()
        expect(newbie.locator(".facts")).to_contain_text("Read")

        # A pending invitation for the screenshots.
        admin.fill("#email", "someone.else@example.com")
        admin.click("button:has-text('Grant')")
        expect(admin.locator("table.invitations tbody tr", has_text="someone.else@example.com")).to_be_visible(
            timeout=TIMEOUT
        )

    cookies = admin.context.cookies()
    for width, height in ((1280, 900), (390, 844)):
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            context.add_cookies(cookies)
            page = context.new_page()
            page.goto(access)
            expect(page.locator("table.roles")).to_be_visible()
            expect(page.locator("table.invitations")).to_contain_text("someone.else@example.com")
            shots(page, f"access-{width}-{scheme}.png", full_page=True)
            # Nothing scrolls sideways on a phone.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (width, scheme)
            if width == 1280:  # people, the only Admin's disabled controls, a pending invitation: no serious finding
                assert serious_violations(page, axe_source) == [], scheme
            context.close()

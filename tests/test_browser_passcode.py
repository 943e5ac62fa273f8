"""A passcode link in a real headless Chromium: the form, a wrong passcode, the right
one, the picture; the owner's passcode block. Waits are Playwright's auto-waiting `expect` only.
Screenshots go to each test's `shots` folder (with MAESTRO_SHOTS set, conftest.py) for a person to look at (1280 and 390 px wide)."""

from __future__ import annotations

import pytest
from conftest import log_in
from playwright.sync_api import expect
from share_support import draw, link_row, make_link

pytestmark = pytest.mark.browser

PASSCODE = "open sesame 42"


def shot(shots, page, name: str) -> None:
    shots(page, f"{name}.png", full_page=True)


def test_visitor_enters_the_passcode_and_sees_the_picture(shots, app, browser, live_server, make_user, make_graph):
    # Links are built from the configured analytics URL; here it is the test server (the form's
    # Origin is checked against it).
    app.config["MAESTRO_ANALYTICS_URL"] = f"{live_server.url}/analytics"
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner, passcode=PASSCODE)

    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        response = page.goto(made.url)
        assert response is not None and response.status == 401
        expect(page.locator("h1")).to_have_text("Passcode required")
        expect(page.locator("svg")).to_have_count(0)
        shot(shots, page, f"passcode-form-{width}")

        page.fill("#passcode", "not the right one")
        page.click("main button[type=submit]")
        expect(page.locator("#passcode-error")).to_contain_text("That passcode is not right")
        expect(page.locator("#passcode")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#passcode")).to_have_value("")  # never kept
        shot(shots, page, f"passcode-wrong-{width}")

        page.fill("#passcode", PASSCODE)
        page.click("main button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Checkout")
        expect(page.locator(".panzoom svg")).to_have_count(1)
        expect(page.locator(".panzoom")).to_contain_text("checkout-api")
        assert page.url == made.url  # back at the link itself, after the 303
        assert [cookie["httpOnly"] for cookie in context.cookies()] == [True]
        shot(shots, page, f"passcode-opened-{width}")
        context.close()
    assert link_row(app, made.id).view_count == 2  # one per shown page, none for the forms


def test_owner_sees_and_sets_the_passcode_on_the_link_page(shots, app, browser, live_server, make_user, make_graph):
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/graphs/{graph.public_id}/shares/{made.id}")
        block = page.locator("#passcode-settings")
        if width == 1280:
            expect(block).to_contain_text("Passcode: off")
            page.fill("#passcode-settings input[name=passcode]", "short")
            block.locator("button:has-text('Set passcode')").click()
            expect(page.locator("#passcode-error")).to_contain_text("8 to 128 characters")
            page.fill("#passcode-settings input[name=passcode]", PASSCODE)
            page.locator("#passcode-settings button:has-text('Set passcode')").click()
            expect(page.locator(".flash-success")).to_contain_text("Passcode set")
        expect(page.locator("#passcode-settings")).to_contain_text("Passcode: on")
        expect(page.locator("#passcode-settings button:has-text('Remove passcode')")).to_be_visible()
        page.locator("#passcode-settings").scroll_into_view_if_needed()
        shot(shots, page, f"passcode-owner-{width}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        context.close()
    assert link_row(app, made.id).has_passcode

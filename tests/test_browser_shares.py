"""Share links in a real headless Chromium: create, open without an account, revoke, reload."""

from __future__ import annotations

import pytest
from conftest import ask_to_confirm
from share_support import draw

pytestmark = pytest.mark.browser


def test_owner_shares_visitor_sees_owner_revokes_visitor_sees_revoked(app, browser, live_server, make_user, make_graph):
    base = live_server.url
    owner_user = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner_user, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)

    owner = browser.new_context().new_page()
    owner.goto(f"{base}/auth/login")
    owner.fill("#email", "owner@example.com")
    owner.fill("#password", "correct horse battery")
    owner.click("main button[type=submit]")
    owner.wait_for_url(f"{base}/graphs/")
    owner.goto(f"{base}/graphs/{graph.public_id}")
    owner.click("nav.tabs >> text=Shares")
    owner.fill("#label", "Board meeting")
    owner.click("details.share-options summary")
    owner.select_option("#expires", "1d")
    owner.click("main button:has-text('Create link')")
    owner.wait_for_selector("#share-url")
    url = owner.input_value("#share-url")
    assert "/analytics/graphs/public/" in url and "token=" in url
    # The QR picture loads after the page; wait for it rather than reading its size too early.
    owner.wait_for_function(
        "() => { const img = document.querySelector(\"img[alt='QR code of this link']\");"
        " return img && img.complete && img.naturalWidth > 0; }"
    )

    # The configured base URL is the production address; the test server listens elsewhere.
    visitor_url = base + url[url.index("/analytics/") :]
    visitor_context = browser.new_context()  # no cookies: an anonymous visitor
    visitor = visitor_context.new_page()
    response = visitor.goto(visitor_url)
    assert response.status == 200
    assert visitor.text_content("h1").strip().startswith("Checkout")
    assert visitor.locator(".panzoom svg").count() == 1
    assert "checkout-api" in visitor.text_content(".panzoom")
    assert "expires" in visitor.text_content(".graph-head")
    assert visitor_context.cookies() == []

    revoke = owner.locator("main form[data-confirm] button:has-text('Revoke')")
    ask_to_confirm(owner, revoke).locator("button:has-text('Revoke the link')").click()  # the confirmation
    owner.wait_for_selector("text=Link revoked")
    response = visitor.reload()
    assert response.status == 410
    assert "This link was revoked" in visitor.text_content("main")
    assert visitor.locator("svg").count() == 0

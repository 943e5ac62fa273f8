"""Graphs in a real headless Chromium: a spec error, its fix, and read-only sharing."""

from __future__ import annotations

import pytest
from conftest import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_spec_error_fix_then_share_read_only(browser, live_server, make_user):
    base = live_server.url
    make_user(email="owner@example.com", name="Owner")
    make_user(email="reader@example.com", name="Reader")

    owner = browser.new_context().new_page()
    log_in(owner, base, "owner@example.com")
    owner.click("text=New graph")
    owner.fill("#name", "Checkout")
    spec = "web -> api\napi -> \napi -> db [kind=database]"
    owner.fill("#spec", spec)
    owner.click("main button[type=submit]")
    expect(owner.locator("#spec-error")).to_contain_text("line 2")
    assert "target" in owner.text_content("#spec-error")
    expect(owner.locator("#spec")).to_have_value(spec)  # the text is kept
    expect(owner.locator("#name")).to_have_value("Checkout")

    fixed = "web -> api\napi -> db [kind=database]"
    owner.fill("#spec", fixed)
    expect(owner.locator("#spec")).to_have_value(fixed)
    owner.click("main button[type=submit]")
    expect(owner.locator("main")).to_contain_text("Graph created")
    owner.click("header.topbar nav >> text=Graphs")
    row = owner.locator("table.graphs tr", has_text="Checkout")
    assert row.locator(".badge").text_content() == "Queued"  # plain words, never the internal "process"

    row.locator("a").click()
    owner.click("nav.tabs >> text=Access")
    owner.fill("#email", "reader@example.com")
    owner.select_option("#role", "1")
    owner.click("button:has-text('Grant')")
    owner.wait_for_selector("text=reader@example.com now has the Read role.")
    graph_url = owner.url.rsplit("/access", 1)[0]

    reader = browser.new_context().new_page()
    log_in(reader, base, "reader@example.com")
    assert "Checkout" in reader.text_content("table.graphs")
    reader.goto(graph_url)
    assert reader.locator("nav.tabs >> text=Edit").count() == 0
    assert reader.locator("text=Re-run analysis").count() == 0
    assert "Read" in reader.text_content(".facts")
    reader.goto(graph_url + "/edit")
    assert "Not allowed" in reader.text_content("main")

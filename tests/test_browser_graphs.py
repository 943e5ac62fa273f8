"""Graphs in a real headless Chromium: a spec error, its fix, and read-only sharing."""

from __future__ import annotations

import pytest
from conftest import log_in

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
    error = owner.text_content("#spec-error")
    assert "line 2" in error and "target" in error
    assert owner.input_value("#spec") == spec  # the text is kept
    assert owner.input_value("#name") == "Checkout"

    owner.fill("#spec", "web -> api\napi -> db [kind=database]")
    owner.click("main button[type=submit]")
    owner.wait_for_selector("text=Graph created")
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

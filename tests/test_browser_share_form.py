"""The share form, confirmations and copy buttons in a real headless Chromium:
the custom date appears only when chosen and shows the visitor's local time; the sites box only with
embedding on; the revoke <dialog> opens, Cancel changes nothing, Confirm revokes; "Copy" puts the short
link on the clipboard and says "Copied". Screenshots of the changed pages at 1280 and 390 px, light and
dark, in its `shots` folder (with MAESTRO_SHOTS set) for a person to look at. Every wait is Playwright's auto-waiting `expect`."""

from __future__ import annotations

import re

import pytest
from conftest import ask_to_confirm, log_in
from playwright.sync_api import expect
from share_support import draw, link_row, make_link

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, live_server, make_user, make_graph):
    owner = make_user(email="owner@example.com", name="Owner")
    ana = make_user(email="ana@example.com", name="Ana")
    graph = make_graph(owner, name="Web shop", spec="web -> api\napi -> db", grants={ana: Role.WRITE})
    draw(app, graph.public_id)
    board = make_link(app, graph, owner, label="For the board")
    make_link(app, graph, ana, label="Ana's partners")
    with app.app_context():
        ShareLink.get_by_public_id(board.id).view_count = 5
        db.session.commit()
    return {
        "base": live_server.url,
        "graph": graph,
        "board": board,
        "ana": ana,
        "shares": f"{live_server.url}/graphs/{graph.public_id}/shares",
    }


def test_custom_date_and_sites_appear_only_when_chosen_with_the_local_time(browser, site):
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    page = context.new_page()
    log_in(page, site["base"])
    page.goto(site["shares"])
    custom = page.locator("#custom_expiry")
    origins = page.locator("#allowed_origins")
    expect(custom).to_be_hidden()
    expect(origins).to_be_hidden()
    page.click("details.share-options summary")  # the options fold away until asked for
    page.select_option("#expires", "custom")
    expect(custom).to_be_visible()
    custom.fill("2026-12-24T10:30")
    local = page.locator("[data-local-time-of=custom_expiry]")
    expect(local).to_have_text(re.compile(r"Your local time: .*24 Dec 2026.*19:30.*\(Asia/Tokyo\)"))
    page.select_option("#expires", "1d")
    expect(custom).to_be_hidden()
    page.check("#embeddable")
    expect(origins).to_be_visible()
    page.uncheck("#embeddable")
    expect(origins).to_be_hidden()
    # Sites typed, then embedding turned off: the server asks, and the box is shown with the question.
    page.check("#embeddable")
    origins.fill("https://wiki.example.com")
    page.uncheck("#embeddable")
    page.fill("#label", "Wiki")
    page.click("main button:has-text('Create link')")
    expect(page.locator("#allowed_origins-error")).to_have_text(
        "You listed sites but embedding is off: turn embedding on, or clear the sites."
    )
    expect(origins).to_be_visible()
    expect(origins).to_have_value("https://wiki.example.com")
    context.close()


def test_the_revoke_dialog_cancel_changes_nothing_confirm_revokes(app, browser, site):
    page = browser.new_page()
    log_in(page, site["base"])
    board = site["board"]
    page.goto(f"{site['shares']}/{board.id}")
    dialog = page.locator("dialog#confirm-revoke")
    expect(dialog).to_be_hidden()
    ask_to_confirm(page, page.locator("form[data-confirm] button", has_text="Revoke"))
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("It was opened 5 times")
    expect(dialog.locator("[data-confirm-cancel]")).to_be_focused()
    dialog.locator("[data-confirm-cancel]").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{site['shares']}/{board.id}")
    assert link_row(app, board.id).revoked_at is None
    ask_to_confirm(page, page.locator("form[data-confirm] button", has_text="Revoke"))
    dialog.locator("button", has_text="Revoke the link").click()
    expect(page.locator(".flash")).to_contain_text("Link revoked")
    assert link_row(app, board.id).revoked_at is not None
    # Revoke all and removing access ask the same way, with their numbers.
    page.goto(site["shares"])
    ask_to_confirm(page, page.locator("form[data-confirm] button", has_text="Revoke all links of this graph"))
    expect(page.locator("dialog#confirm-revoke-all")).to_contain_text(
        "1 active link of this graph stops working immediately"
    )
    page.keyboard.press("Escape")
    expect(page.locator("dialog#confirm-revoke-all")).to_be_hidden()
    page.goto(f"{site['base']}/graphs/{site['graph'].public_id}/access")
    expect(
        ask_to_confirm(page, page.locator("tr", has_text="Ana").locator("form[data-confirm] button"))
    ).to_contain_text("Ana loses access to “Web shop”; the 1 active link Ana created stops working.")
    page.close()


def test_copy_button_puts_the_short_link_on_the_clipboard(browser, site):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    log_in(page, site["base"])
    page.goto(f"{site['base']}/shares")
    row = page.locator("tr", has_text="For the board")
    field = row.locator("input[readonly]")
    expect(field).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    row.locator("button[data-copy]").click()
    expect(row.locator("button[data-copy]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == field.input_value()
    expect(row.locator("button[data-copy]")).to_have_text("Copy")  # back after a moment
    context.close()


def test_screenshots_of_the_changed_pages(shots, browser, site):
    """Each changed page at 1280 and 390 px, light and dark; none scrolls sideways."""
    g, board, ana = site["graph"].public_id, site["board"], site["ana"]
    pages = [
        ("share-form", f"/graphs/{g}/shares", "form"),
        ("link", f"/graphs/{g}/shares/{board.id}", None),
        ("link-dialog", f"/graphs/{g}/shares/{board.id}", "dialog"),
        ("confirm-revoke", f"/graphs/{g}/shares/{board.id}/revoke", None),
        ("confirm-revoke-all", f"/graphs/{g}/shares/revoke-all", None),
        ("confirm-remove-access", f"/graphs/{g}/access/{ana.public_id}/remove", None),
        ("access", f"/graphs/{g}/access", None),
        ("my-links", "/shares", None),
    ]
    wide = []
    for scheme in shots.schemes:
        for width, height in ((1280, 800), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = context.new_page()
            log_in(page, site["base"])
            for name, path, extra in pages:
                page.goto(site["base"] + path)
                expect(page.locator("main")).to_be_visible()
                if extra == "form":
                    page.click("details.share-options summary")
                    page.select_option("#expires", "custom")
                    page.fill("#custom_expiry", "2026-12-24T10:30")
                    page.check("#embeddable")
                    expect(page.locator("[data-local-time-of=custom_expiry]")).to_be_visible()
                if extra == "dialog":
                    ask_to_confirm(page, page.locator("form[data-confirm] button", has_text="Revoke"))
                shots(page, f"{name}-{width}-{scheme}.png", full_page=extra != "dialog")
                if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
                    wide.append(f"{name} at {width} px ({scheme})")
            context.close()
    assert not wide, wide

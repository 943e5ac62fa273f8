"""The spec editor in a real headless Chromium: error marks on their own lines, arrow typos named,
an empty new graph asks for a line (or an example), a second graph of the same name is a warning."""

from __future__ import annotations

import os

import pytest
from conftest import log_in, try_the_example
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
TIMEOUT = 30_000


def gutter_geometry(page):
    """Per gutter line: its number, whether it is marked, and its top relative to the textarea's
    first text line; plus the textarea's line height."""
    return page.evaluate("""() => {
        const textarea = document.querySelector('#spec');
        const style = getComputedStyle(textarea);
        const first = textarea.getBoundingClientRect().top + parseFloat(style.borderTopWidth) + parseFloat(style.paddingTop);
        const spans = Array.from(document.querySelectorAll('.spec-editor .gutter span'));
        return {lineHeight: parseFloat(style.lineHeight),
                lines: spans.map(s => ({n: s.textContent, bad: s.classList.contains('bad'),
                                        top: s.getBoundingClientRect().top - first}))};
    }""")


def test_error_marks_stand_beside_their_lines(browser, live_server, make_user):
    base = live_server.url
    make_user(email="owner@example.com", name="Owner")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT)
    log_in(page, base, "owner@example.com")
    page.goto(f"{base}/graphs/new")
    page.fill("#name", "Checkout")
    page.fill("#spec", "web -> api\napi ->\napi -> db\ncron\ncheckout => payments\npayments -> bank\nbank")
    page.click("main button[type=submit]")
    errors = page.locator("[id^=spec-error]")
    expect(errors).to_have_text(
        ["line 2: expected a target after '->'", "line 5: found '=>': did you mean '->'?"], timeout=TIMEOUT
    )
    expect(page.locator(".spec-editor .gutter .bad")).to_have_text(["2", "5"])

    geometry = gutter_geometry(page)
    height = geometry["lineHeight"]
    assert [line["n"] for line in geometry["lines"]] == [str(n) for n in range(1, 8)]
    for index, line in enumerate(geometry["lines"]):
        # Line n's number (marked or not) starts where the textarea's line n starts, to a pixel.
        assert abs(line["top"] - index * height) <= 1.5, (line, index * height, geometry)

    # Typing a line above keeps the numbers on their lines too (the marks are the server's, cleared on a redraw only).
    page.fill("#spec", "web -> api\napi -> db\ndb")
    expect(page.locator(".spec-editor .gutter span")).to_have_count(3)
    lines = gutter_geometry(page)["lines"]
    assert all(abs(line["top"] - index * height) <= 1.5 for index, line in enumerate(lines)), lines


def test_keys_typed_before_the_editor_arrives_land_in_the_spec(browser, live_server, make_user):
    """The editor script is deferred and wraps the textarea, which blurs it. Someone already typing when
    it arrives (or Playwright's fill, which focuses and selects, then inserts) keeps focus and selection."""
    base = live_server.url
    make_user(email="owner@example.com", name="Owner")
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT)
    log_in(page, base, "owner@example.com")

    def editor_script(url):
        return "/static/spec-editor.js" in url

    page.route(editor_script, lambda route: route.abort())  # held back until the text is selected
    page.goto(f"{base}/graphs/new")
    spec = page.locator("#spec")
    page.fill("#spec", "web -> old")
    spec.evaluate("textarea => { textarea.focus(); textarea.setSelectionRange(7, 10); }")  # "old"
    expect(page.locator(".spec-editor")).to_have_count(0)

    page.unroute(editor_script)
    page.add_script_tag(url=f"{base}/static/spec-editor.js")
    expect(page.locator(".spec-editor .gutter span")).to_have_count(1)
    expect(spec).to_be_focused()
    page.keyboard.insert_text("api")
    expect(spec).to_have_value("web -> api")


def test_empty_spec_asks_for_a_line_or_an_example_and_same_name_warns(browser, live_server, make_user, make_graph):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    make_graph(owner, name="Web shop")
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(TIMEOUT)
    log_in(page, base, "owner@example.com")
    page.goto(f"{base}/graphs/new")
    page.click("main button[type=submit]")
    expect(page.locator("#spec-error")).to_contain_text("Add at least one line", timeout=TIMEOUT)

    try_the_example(page)
    expect(page.locator("#spec")).to_have_value(lambda_value_containing("->"))
    expect(page.locator("#name")).to_have_value("Web shop")
    page.click("main button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Graph created", timeout=TIMEOUT)
    expect(page.locator(".flash-warning")).to_contain_text("You now have 2 graphs named “Web shop”")


def lambda_value_containing(text: str):
    import re

    return re.compile(".*" + re.escape(text) + ".*", re.DOTALL)


def test_delete_asks_for_the_name_then_the_trash_restores(browser, live_server, make_user, make_graph):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout")
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(TIMEOUT)
    log_in(page, base, "owner@example.com")
    page.goto(f"{base}/graphs/{graph.public_id}/delete")
    page.fill("#confirm_name", "Checkou")
    page.click("button.danger")
    expect(page.locator("#confirm_name-error")).to_have_text(
        "Type the name, “Checkout”, to delete the graph.", timeout=TIMEOUT
    )
    page.fill("#confirm_name", "Checkout")
    page.click("button.danger")
    expect(page.locator(".flash-success")).to_contain_text("moved to the Trash", timeout=TIMEOUT)
    expect(page.locator("table.graphs")).to_have_count(0)

    page.click("p.trash-link a")
    row = page.locator("table.trash tbody tr", has_text="Checkout")
    expect(row).to_have_count(1)
    expect(row.locator("time").first).to_have_text("just now")
    row.locator("button", has_text="Restore").click()
    expect(page.locator(".flash-success")).to_contain_text("restored", timeout=TIMEOUT)
    expect(page.locator("h1")).to_contain_text("Checkout")


@pytest.mark.skipif(not os.environ.get("MAESTRO_SHOTS"), reason="screenshots on demand: MAESTRO_SHOTS=/tmp/dir")
def test_screenshots_of_the_changed_pages(shots, app, browser, live_server, make_user, make_graph):
    from share_support import draw, make_link

    from maestro_web.extensions import db
    from maestro_web.models import Graph

    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout", spec="web -> api\napi -> db")
    draw(app, graph.public_id)
    with app.app_context():
        row = Graph.get_by_public_id(graph.public_id)
        row.description, row.show_description = "Where orders go: the web shop, its API and the database.", True
        db.session.commit()
    link = make_link(app, graph, owner)
    gone = make_graph(owner, name="Old inventory")
    with app.app_context():
        Graph.get_by_public_id(gone.public_id).soft_delete()
        db.session.commit()
    for scheme in ("light", "dark"):
        for width in (1280, 390):
            page = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme).new_page()
            page.set_default_timeout(TIMEOUT)
            log_in(page, base, "owner@example.com")
            name = f"{width}-{scheme}"
            page.goto(f"{base}/graphs/new")
            page.fill("#name", "Checkout")
            page.fill("#spec", "web -> api\napi ->\napi -> db\ncron\ncheckout => payments\npayments -> bank")
            page.click("main button[type=submit]")
            expect(page.locator("[id^=spec-error]")).to_have_count(2)
            shots(page, f"new-errors-{name}.png", full_page=True)
            page.goto(f"{base}/graphs/{graph.public_id}")
            shots(page, f"detail-{name}.png", full_page=True)
            page.goto(f"{base}/graphs/{graph.public_id}/edit")
            shots(page, f"edit-{name}.png", full_page=True)
            page.goto(f"{base}/graphs/{graph.public_id}/delete")
            page.fill("#confirm_name", "nope")
            page.click("button.danger")
            expect(page.locator("#confirm_name-error")).to_be_visible()
            shots(page, f"delete-{name}.png", full_page=True)
            page.goto(f"{base}/graphs/trash")
            shots(page, f"trash-{name}.png", full_page=True)
            visitor = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme).new_page()
            visitor.goto(base + link.path)
            expect(visitor.locator(".graph-description")).to_be_visible(timeout=TIMEOUT)
            shots(visitor, f"public-{name}.png", full_page=True)
            visitor.context.close()
            page.context.close()

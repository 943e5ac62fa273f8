"""Plain words and a current look in a real headless Chromium: status words, relative
times with the exact UTC time on hover, the skip link and current page, form errors tied to their
inputs, "Try an example" and the spec editor's marked lines, figure chips lighting their nodes, and
screenshots of every page at 1280 and 390 px, light and dark, in its `shots` folder (with MAESTRO_SHOTS set, conftest.py) for a person to look at.

Every wait is Playwright's auto-waiting `expect`.
"""

from __future__ import annotations

import re

import pytest
from conftest import log_in, try_the_example
from look_support import build_site
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

INTERNAL = re.compile(r"\b(process|finished|warning|error)\b")


def test_screenshots_of_every_page_and_nothing_scrolls_sideways_on_a_phone(
    shots, browser, live_server, app, make_user, make_graph
):
    site = build_site(app, live_server.url, make_user, make_graph)
    wide: list[str] = []
    taken = 0
    for scheme in shots.schemes:
        for width, height in ((1280, 800), (390, 844)):
            for logged_in in (False, True):
                context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
                page = context.new_page()
                if logged_in:
                    log_in(page, site.base)
                for name, path, owner in site.all():
                    if owner != logged_in:
                        continue
                    page.goto(site.base + path)
                    expect(page.locator("main")).to_be_visible()
                    shots(page, f"{name}-{width}-{scheme}.png", full_page=True)
                    taken += 1
                    # The page itself never scrolls sideways (tables scroll in their own box).
                    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
                        wide.append(f"{name} at {width} px ({scheme})")
                context.close()
    assert taken == 20 * 2 * len(shots.schemes)
    assert not wide, wide


def test_statuses_in_plain_words_and_times_relative_with_utc_on_hover(browser, live_server, app, make_user, make_graph):
    site = build_site(app, live_server.url, make_user, make_graph)
    page = browser.new_page()
    log_in(page, site.base)
    queued = make_graph(make_user(email="x@example.com"), name="Not drawn yet")
    page.goto(site.base + "/graphs/")
    row = page.locator("table.graphs tr", has_text="Web shop")
    expect(row.locator(".badge")).to_have_text("Ready")
    created = row.locator("time[data-relative]")
    expect(created).to_have_text(re.compile(r"^(just now|\d+ minutes? ago)$"))
    expect(created).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(page.locator("select[name=status] option[value=process]")).to_have_text("Queued")
    for name, path, owner in site.all():
        if owner:
            page.goto(site.base + path)
            expect(page.locator("main")).to_be_visible()
            badges = page.locator(".badge").all_text_contents()
            assert not [b for b in badges if INTERNAL.search(b)], (name, badges)
    page.goto(site.base + site.owner[7][1])  # the link page: expires in about a day
    expect(page.locator("dd time[data-relative]").nth(1)).to_have_text(re.compile(r"^in (23 hours|1 day)$"))
    assert queued.name == "Not drawn yet"
    page.close()


def test_skip_link_current_page_and_announced_flashes(browser, live_server, app, make_user, make_graph):
    site = build_site(app, live_server.url, make_user, make_graph)
    page = browser.new_page()
    page.goto(site.base + "/auth/login")
    expect(page.locator("header.topbar a[aria-current=page]")).to_have_text("Log in")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    log_in(page, site.base)
    expect(page.locator("header.topbar a[aria-current=page]")).to_have_text("Graphs")
    page.goto(site.base + "/shares")
    expect(page.locator("header.topbar a[aria-current=page]")).to_have_text("My shared links")
    page.goto(site.base + "/graphs/new")
    page.fill("#name", "Flash")
    page.fill("#spec", "web -> api")  # a new graph starts with at least one line
    page.click("main button[type=submit]")
    flashes = page.locator(".flashes[aria-live=polite]")
    expect(flashes).to_contain_text("Graph created")
    page.close()


def test_form_errors_are_tied_to_their_inputs(browser, live_server, app, make_user, make_graph):
    site = build_site(app, live_server.url, make_user, make_graph)
    page = browser.new_page()
    page.goto(site.base + "/auth/register")
    page.fill("#name", "Ada")
    page.fill("#email", "not-an-address")
    page.click("main button[type=submit]")
    email = page.locator("#email")
    expect(email).to_have_attribute("aria-invalid", "true")
    described = email.get_attribute("aria-describedby") or ""
    assert described, "no aria-describedby"
    for ident in described.split():
        expect(page.locator(f"#{ident}")).not_to_be_empty()
    expect(page.locator(f"#{described.split()[-1]}")).to_contain_text("e-mail")
    expect(page.locator("#name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).to_have_value("Ada")
    page.close()


def test_try_an_example_then_a_spec_error_marks_its_line(browser, live_server, app, make_user, make_graph):
    site = build_site(app, live_server.url, make_user, make_graph)
    page = browser.new_page()
    log_in(page, site.base)
    page.goto(site.base + "/graphs/new")
    try_the_example(page)
    expect(page.locator("#name")).to_have_value("Web shop")
    spec = page.locator("#spec")
    expect(spec).to_have_value(re.compile(r"web \[kind=frontend\] -> api"))
    statements = "\n".join(line for line in spec.input_value().split("\n") if not line.startswith("#"))
    names = set(re.findall(r"[a-z][a-z-]*(?= \[|\s*->|$)", statements, re.M)) - {"kind"}
    assert len(names) == 16, sorted(names)
    gutter = page.locator(".spec-editor .gutter")
    expect(gutter.locator("span")).to_have_count(len(spec.input_value().split("\n")))
    page.fill("#spec", "web -> api\napi -> \napi -> db\n -> x")
    page.click("main button[type=submit]")
    expect(page.locator("#spec-error")).to_contain_text("line 2")
    expect(gutter.locator("span")).to_have_count(4)
    expect(gutter.locator("span.bad")).to_have_text(["2", "4"])
    expect(spec).to_have_attribute("aria-invalid", "true")
    page.fill("#spec", "")
    try_the_example(page)
    page.click("main button[type=submit]")
    expect(page.locator(".flashes")).to_contain_text("Graph created", timeout=30_000)
    page.close()


def test_entry_point_and_kind_chips_light_their_nodes(browser, live_server, app, make_user, make_graph):
    site = build_site(app, live_server.url, make_user, make_graph)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, site.base)
    page.goto(site.base + site.owner[3][1])  # the picture
    figures = page.locator("section.figures")
    expect(figures.locator("dd small").first).not_to_be_empty()
    svg = page.locator("[data-panzoom] svg")
    web = figures.locator(".chip[data-highlight-nodes]", has_text="web")
    web.focus()
    page.keyboard.press("Enter")  # reachable without a mouse
    expect(web).to_have_attribute("aria-pressed", "true")
    expect(svg).to_have_class(re.compile(r"\bhas-set\b"))
    expect(svg.locator("g.node.is-picked")).to_have_count(1)
    expect(svg.locator('g.node.is-picked[data-node="web"]')).to_have_count(1)
    database = figures.locator(".chip[data-highlight-kind=database]")
    expect(database).to_contain_text("3")
    database.click()
    expect(web).to_have_attribute("aria-pressed", "false")
    expect(svg.locator("g.node.is-picked")).to_have_count(3)
    expect(svg.locator('g.node.is-picked[data-kind="database"]')).to_have_count(3)
    page.keyboard.press("Escape")
    expect(svg.locator("g.node.is-picked")).to_have_count(0)
    expect(svg).not_to_have_class(re.compile(r"\bhas-set\b"))
    # Another script may ask for a set through the same event.
    page.evaluate("document.dispatchEvent(new CustomEvent('picture:highlight', {detail: {nodes: ['api', 'cart']}}))")
    expect(svg.locator("g.node.is-picked")).to_have_count(2)
    page.close()

"""The owner's day in Chromium: share in one click from the Overview and the Picture, the same tab bar on
every graph page (no tab moves), the picture on the Overview, link words that are exactly true
(7 days, revoked when, stopped with its reason), and every list as cards on a 390 px phone with all its
actions on screen. Screenshots of each page at 1280 and 390 px, light and dark, go to the test's `shots` folder (with MAESTRO_SHOTS set, conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import log_in
from playwright.sync_api import expect
from share_support import draw, make_link
from sqlalchemy import update

from maestro_web.extensions import db
from maestro_web.models import Role, ShareLink
from maestro_web.models.graph import Graph, GraphRole
from maestro_web.models.user import User

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)


def _shoot(shots, page, name: str, width: int, scheme: str) -> None:
    shots(page, f"{name}-{width}-{scheme}.png", full_page=True)


# The controls inside a card (table.cards) that a tap at their centre does not reach (another element on top).
_COVERED_CONTROLS = """() => Array.from(document.querySelectorAll('table.cards input, table.cards button, table.cards select, table.cards a'))
  .filter((el) => el.offsetParent !== null && !el.closest('thead'))  // the head is for screen readers there
  .map((el) => { el.scrollIntoView({block: 'center'}); const r = el.getClientRects()[0];  // a wrapped link: its first line
                 const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                 return hit === el || el.contains(hit) || (hit && hit.control === el) ? null : el.outerHTML.slice(0, 120); })
  .filter((html) => html !== null)"""


def _site(app, make_user, make_graph):
    """A drawn graph with links in every state: active, paused, revoked, used up, and one whose creator
    (Bob) lost Write."""
    owner = make_user(email="owner@example.com", name="Alice Owner")
    bob = make_user(email="bob@example.com", name="Bob Writer")
    graph = make_graph(owner, name="Payments platform", spec="web -> api\napi -> db\napi -> queue\nworker -> queue")
    draw(app, graph.public_id)
    with app.app_context():
        row = Graph.get_by_public_id(graph.public_id)
        db.session.add(
            GraphRole(
                graph_id=row.id,
                user_id=User.get_by_public_id(bob.public_id).id,
                role=int(Role.WRITE),
                graph_status=row.status,
            )
        )
        db.session.commit()
    stopped = make_link(app, graph, bob, label="Bob's link", lifetime=timedelta(days=7))
    revoked = make_link(app, graph, owner, label="Revoked one", lifetime=timedelta(days=7))
    paused = make_link(app, graph, owner, label="Paused one", lifetime=timedelta(days=7))
    make_link(
        app,
        graph,
        owner,
        label="A link with a rather long label for the board meeting",
        lifetime=timedelta(days=7),
        max_views=5,
    )
    with app.app_context():
        ShareLink.get_by_public_id(revoked.id).revoke()
        ShareLink.get_by_public_id(paused.id).pause()
        row = Graph.get_by_public_id(graph.public_id)
        db.session.execute(
            update(GraphRole)
            .where(GraphRole.graph_id == row.id, GraphRole.user_id == User.get_by_public_id(bob.public_id).id)
            .values(role=int(Role.READ))
        )
        db.session.commit()
    return graph, stopped, revoked


def test_share_in_one_click_from_the_overview_and_the_picture(app, browser, live_server, make_user, make_graph):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout", spec="web -> api\napi -> db")
    draw(app, graph.public_id)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(page, base)
    for start in (f"/graphs/{graph.public_id}", f"/analytics/graphs/{graph.public_id}"):
        page.goto(base + start)
        if start.startswith("/graphs/"):  # the Overview shows the picture, in the viewer
            expect(page.locator(".overview-picture .panzoom svg")).to_have_count(1)
        page.click(".graph-tabs button:has-text('Share')")
        expect(page.locator(".flash-success")).to_contain_text("Link created")
        expect(page.locator("h1")).to_contain_text(re.compile(r"Shared link, \d{1,2} [A-Z][a-z]{2}"))
        expect(page.locator("h1 .badge")).to_have_text("Active")
        # Copy, the QR code and the image link, at once, and an expiry that reads exactly 7 days.
        expect(page.locator("#share-short-url")).to_have_value(re.compile(r"^https?://"))
        expect(page.locator("button[data-copy='#share-short-url']")).to_be_visible()
        expect(page.locator("img[alt='QR code of this link']")).to_be_visible()
        expect(page.locator("#image-url")).to_have_value(re.compile(r"ext=png"))
        expect(page.locator("dt:has-text('Expires') + dd time").first).to_have_text("in 7 days")
    with app.app_context():
        links = ShareLink.query.all()
        assert len(links) == 2 and {link.mode for link in links} == {"live"}
        assert all(
            abs((link.expires_at - link.created_at) - timedelta(days=7)) < timedelta(seconds=5) for link in links
        )

    # The form: options folded away; an empty label gets the same default.
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    options = page.locator("details.share-options")
    expect(options).not_to_have_attribute("open", "")
    expect(page.locator("#max_views")).to_be_hidden()
    page.click("main button:has-text('Create link')")
    expect(page.locator("h1")).to_contain_text("Shared link, ")
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    page.locator("details.share-options summary").click()
    page.fill("#max_views", "0")
    page.click("main button:has-text('Create link')")
    expect(page.locator("details.share-options")).to_have_attribute("open", "")  # its error is shown
    expect(page.locator("#max_views")).to_be_visible()


def test_the_share_button_needs_write_and_a_post(app, client, auth, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner, name="Shop", grants={reader: Role.READ})
    auth.login("reader@example.com")
    overview = client.get(f"/graphs/{graph.public_id}").text
    assert "/shares/quick" not in overview
    values = auth.form_values(f"/graphs/{graph.public_id}")
    assert client.post(f"/graphs/{graph.public_id}/shares/quick", data=values).status_code == 403
    with app.app_context():
        assert ShareLink.query.count() == 0


def test_every_graph_page_has_the_same_tabs_at_the_same_places(app, browser, live_server, make_user, make_graph):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Checkout", spec="web -> api")
    draw(app, graph.public_id)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(page, base)
    g = graph.public_id
    places = {}
    for name, path in (
        ("Overview", f"/graphs/{g}"),
        ("Picture", f"/analytics/graphs/{g}"),
        ("Edit", f"/graphs/{g}/edit"),
        ("Sources", f"/graphs/{g}/sources"),
        ("Shares", f"/graphs/{g}/shares"),
        ("Reports", f"/graphs/{g}/reports"),
        ("Access", f"/graphs/{g}/access"),
    ):
        page.goto(base + path)
        tabs = page.locator("nav.tabs a")
        expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text(name)
        places[name] = [
            (round(box["x"]), round(box["width"])) for box in (tabs.nth(i).bounding_box() for i in range(tabs.count()))
        ]
    assert len({tuple(p) for p in places.values()}) == 1, places


def test_drawing_badge_and_the_created_banner_goes_when_drawn(app, client, auth, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Shop")
    auth.login("owner@example.com")
    assert 'data-status="process">Queued<' in client.get(f"/graphs/{graph.public_id}").text
    with app.app_context():
        run = Graph.get_by_public_id(graph.public_id).current_run()
        run.state = "claimed"
        db.session.commit()
    for path in (f"/graphs/{graph.public_id}", f"/analytics/graphs/{graph.public_id}"):
        html = client.get(path).text
        assert 'data-status="claimed">Drawing<' in html and ">Queued<" not in html.split("</h1>")[0]


def test_link_words_are_exactly_true(app, browser, live_server, make_user, make_graph):
    base = live_server.url
    graph, stopped, revoked = _site(app, make_user, make_graph)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(page, base)
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    row = page.locator(f"tr[data-link='{stopped.id}']")
    expect(row.locator("[data-link-status] .badge")).to_have_text("Stopped")
    expect(row.locator("[data-link-status]")).to_contain_text("Its creator no longer has Write")
    expect(row.locator(".badge-active")).to_have_count(0)
    gone = page.locator(f"tr[data-link='{revoked.id}']")
    expect(gone.locator("td[data-label='Revoked']")).to_contain_text(re.compile(r"Revoked\s+just now"))
    expect(gone).not_to_contain_text("in 7 days")
    expect(page.locator("td[data-label='Expires'] time").first).to_have_text("in 7 days")
    page.goto(f"{base}/graphs/{graph.public_id}/shares/{revoked.id}")
    expect(page.locator("dt:has-text('Revoked') + dd")).to_contain_text("just now")
    expect(page.locator("dt:has-text('Expires')")).to_have_count(0)
    # The actions cell is a table cell: its top and bottom are the row's.
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    for tr in page.locator("table.shares tbody tr").all():
        row_box, cell_box = tr.bounding_box(), tr.locator("td.row-actions").bounding_box()
        assert abs(row_box["y"] - cell_box["y"]) < 1 and abs(row_box["height"] - cell_box["height"]) < 1


def test_every_list_fits_a_phone_and_pages_are_shot(shots, app, browser, live_server, make_user, make_graph):
    base = live_server.url
    graph, stopped, revoked = _site(app, make_user, make_graph)
    g = graph.public_id
    for scheme in shots.schemes:
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            page = context.new_page()
            log_in(page, base)
            for name, path in (
                ("graph-list", "/graphs/"),
                ("overview", f"/graphs/{g}"),
                ("picture", f"/analytics/graphs/{g}"),
                ("edit", f"/graphs/{g}/edit"),
                ("shares", f"/graphs/{g}/shares"),
                ("link", f"/graphs/{g}/shares/{stopped.id}"),
                ("link-revoked", f"/graphs/{g}/shares/{revoked.id}"),
                ("my-links", "/shares?status=all"),
            ):
                page.goto(base + path)
                expect(page.locator("main h1")).to_be_visible()
                if width == 390:
                    # Nothing wider than the screen: every value and every action within reach.
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
                    for cell in page.locator("table.cards td[data-label], table.cards td.row-actions button").all():
                        if cell.is_visible():
                            box = cell.bounding_box()
                            assert box["x"] >= 0 and box["x"] + box["width"] <= 391, (name, cell.text_content())
                    # Every control of a card is the element a tap at its centre reaches (My shared links' row
                    # checkbox once sat under the next cell, so the bulk actions could not be reached on a phone).
                    covered = page.evaluate(_COVERED_CONTROLS)
                    assert covered == [], (name, covered)
                _shoot(shots, page, name, width, scheme)
            if width == 390:
                page.goto(f"{base}/graphs/{g}/shares")
                row = page.locator("table.shares tbody tr").filter(has_text="Paused one")
                row.scroll_into_view_if_needed()
                for label in ("Status", "Views", "Expires", "Created"):
                    expect(row.locator(f"td[data-label='{label}']")).to_be_in_viewport()
                expect(row.locator("button:has-text('Resume')")).to_be_in_viewport()
                expect(row.locator("form[data-confirm] button")).to_be_in_viewport()
                # The table's header (and its "Select all") is hidden on a phone: the bulk actions bring their own.
                page.goto(f"{base}/shares")
                select_all = page.get_by_label("Select all", exact=True)
                select_all.scroll_into_view_if_needed()
                expect(select_all).to_be_in_viewport()
                select_all.check()
                boxes = page.locator("table.cards td.row-select input[name='link']")
                expect(boxes.first).to_be_checked()
                for box in boxes.all():
                    expect(box).to_be_checked()
                expect(page.get_by_label("Select all links on this page")).to_be_checked()  # the two agree
                page.goto(f"{base}/graphs/")
                expect(page.locator("td[data-label='Created']").first).to_be_in_viewport()
                expect(page.locator("td[data-label='Status'] .badge").first).to_be_in_viewport()
            context.close()

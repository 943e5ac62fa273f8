"""The visitor's page in a real headless Chromium: one page on every path, and every change of the link
reaching it, with a real live server process and without one (SPEC §5, §8, §10; docs/live-pages.md).

Waits are Playwright's auto-waiting `expect` only, with generous timeouts: the machine is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from live_support import free_port
from playwright.sync_api import expect
from share_support import Made, draw, link_row, make_link, short_code
from worker_support import post_result

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRole, Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.security.worker_tokens import mint_worker_token

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Without a live server: nothing listens on the port, the page checks its link's state every second.
DOWN_SETTINGS = {"MAESTRO_LIVE_URL": f"ws://127.0.0.1:{free_port()}/live", "MAESTRO_PUBLIC_STATE_POLL": 1}
WAIT = 30_000  # ms
PASSCODE = "open sesame 42"


_contexts: list = []


@pytest.fixture(autouse=True)
def pages() -> Iterator[None]:
    """Every page a test opens is closed when it ends: none stays connected to a live server, or polls a later test's app."""
    yield
    while _contexts:
        _contexts.pop().close()


@pytest.fixture
def people(owner, writer):
    return owner, writer


@pytest.fixture
def shop(app, people, make_graph):
    owner, writer = people
    graph = make_graph(owner, name="Shop", spec="web -> api", grants={writer: Role.WRITE})
    draw(app, graph.public_id)
    return graph


def visitor(browser, width: int = 1280, dark: bool = False):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light")
    _contexts.append(context)
    return context.new_page()


def mark_no_reload(page) -> None:
    page.evaluate("() => { window.__sameDocument = true; }")


def same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def change(app, link_id: str, how: Callable[[ShareLink], None]) -> None:
    """Change the link's row through the ORM, as the owner's pages do (so its live events go out)."""
    with app.app_context():
        how(ShareLink.get_by_public_id(link_id))
        db.session.commit()


def redraw(app, graph_id: str, label: str) -> None:
    """A new picture for the graph (a worker's result for a new run)."""
    with app.app_context():
        Graph.get_by_public_id(graph_id).queue_run()
        db.session.commit()
    ring = app.config["KEY_RINGS"]["analytics"]
    client = app.test_client()
    job = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {mint_worker_token(ring)}"}).json
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 40" width="200" height="40" role="img">'
        f'<title>{label}</title><g class="node" data-node="{label}"><rect x="1" y="1" width="150" height="30"/>'
        f'<text x="5" y="20">{label}</text></g></svg>'
    )
    response = post_result(
        client, ring, graph_id, json={"run_id": job["run_id"], "status": "finished", "svg": svg, "info": {"nodes": 1}}
    )
    assert response.status_code == 201, response.text


# --- 1. one page on every path ------------------------------------------------------------------------


def open_long(page, base: str, app, graph, made: Made) -> None:
    page.goto(base + made.path)


def open_short(page, base: str, app, graph, made: Made) -> None:
    page.goto(f"{base}/analytics/s/{short_code(app, made.id)}")


def open_embed(page, base: str, app, graph, made: Made) -> None:
    page.goto(base + made.path.replace("?token=", "/embed?token="))


def open_with_passcode(page, base: str, app, graph, made: Made) -> None:
    page.goto(f"{base}/analytics/s/{short_code(app, made.id)}")
    page.fill("#passcode", PASSCODE)
    page.click("button[type=submit]")


PATHS = [
    ("long", open_long, {}),
    ("short", open_short, {}),
    ("embed", open_embed, {}),
    ("passcode", open_with_passcode, {"passcode": PASSCODE}),
]


@pytest.mark.parametrize("name,opener,options", PATHS, ids=[row[0] for row in PATHS])
def test_every_path_is_the_same_page_with_the_same_features(
    app, browser, live_server, live, people, shop, name, opener, options
):
    base = live_server.url
    owner, _ = people
    made = make_link(app, shop, owner, **options)
    page = visitor(browser)
    opener(page, base, app, shop, made)

    # Live updates, really subscribed.
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    # Figures and the expiry.
    expect(page.locator('[data-live-region="figures"]')).to_contain_text("Nodes")
    expect(page.locator(".graph-head")).to_contain_text("this link expires")
    # Downloads, on the address the page was opened at, each a file.
    for fmt in ("svg", "png"):
        href = page.locator(f'[data-download="{fmt}"]').get_attribute("href")
        assert href is not None
        answer = page.request.get(base + href)
        assert answer.status == 200 and "attachment" in answer.headers["content-disposition"], (name, fmt)
    # The image link in the OpenGraph tags, a PNG.
    assert page.locator('meta[property="og:title"]').get_attribute("content") == "Shop"
    image = page.locator('meta[property="og:image"]').get_attribute("content")
    assert image is not None and image.endswith("ext=png")
    png = page.request.get(base + "/analytics" + image.split("/analytics", 1)[1])
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    # The views: the page, two downloads and the image link, each counted once.
    assert link_row(app, made.id).view_count == 4

    # A redraw arrives without a reload, and counts no view.
    mark_no_reload(page)
    redraw(app, shop.public_id, "redrawn-payments")
    expect(page.locator("[data-live-picture] svg")).to_contain_text("redrawn-payments", timeout=WAIT)
    assert link_row(app, made.id).view_count == 4
    # The owner revokes it: the page turns into the refusal by itself.
    change(app, made.id, lambda link: link.revoke())
    expect(page.locator("main")).to_contain_text("This link was revoked", timeout=WAIT)
    expect(page.locator("main svg")).to_have_count(0)
    assert same_document(page)


# --- 2. every change of the link reaches the open page --------------------------------------------------


def demote_creator(app, made: Made) -> None:
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        grant = db.session.scalars(
            db.select(GraphRole).where(GraphRole.graph_id == link.graph_id, GraphRole.user_id == link.creator_id)
        ).one()
        grant.role = int(Role.READ)  # through the ORM, as the roles page does
        db.session.commit()


def delete_graph(app, made: Made) -> None:
    change(app, made.id, lambda link: setattr(link.graph, "deleted_at", utcnow()))


STOPS = [
    ("paused", lambda app, made: change(app, made.id, lambda link: link.pause()), "Temporarily unavailable"),
    ("revoked", lambda app, made: change(app, made.id, lambda link: link.revoke()), "This link was revoked"),
    ("creator lost Write", demote_creator, "can no longer share this graph"),
    ("graph deleted", delete_graph, "was deleted"),
]


def open_page(browser, base: str, made: Made, live_on: bool):
    page = visitor(browser)
    page.goto(base + made.path)
    expect(page.locator("[data-live-indicator]")).to_have_text(
        "Live updates on" if live_on else "Live updates off", timeout=WAIT
    )
    expect(page.locator("[data-live-picture] svg")).to_contain_text("checkout-api")
    mark_no_reload(page)
    return page


@pytest.mark.parametrize("name,stop,words", STOPS, ids=[row[0] for row in STOPS])
def test_each_stop_reaches_an_open_page_through_the_live_server(
    app, browser, live_server, live, people, shop, name, stop, words
):
    made = make_link(app, shop, people[1])  # made by the writer, who may lose Write
    page = open_page(browser, live_server.url, made, live_on=True)
    stop(app, made)
    expect(page.locator("main")).to_contain_text(words, timeout=WAIT)
    expect(page.locator("main svg")).to_have_count(0)
    assert same_document(page)


@pytest.mark.app_settings(**DOWN_SETTINGS)
@pytest.mark.parametrize("name,stop,words", STOPS, ids=[row[0] for row in STOPS])
def test_each_stop_reaches_an_open_page_without_the_live_server(
    app, browser, live_server, people, shop, name, stop, words
):
    made = make_link(app, shop, people[1])
    page = open_page(browser, live_server.url, made, live_on=False)
    stop(app, made)
    expect(page.locator("main")).to_contain_text(words, timeout=WAIT)
    expect(page.locator("main svg")).to_have_count(0)
    assert same_document(page)


def test_pause_resume_reload_revoke_reaches_the_page_through_the_live_server(
    app, browser, live_server, live, people, shop
):
    """The reproduced sequence: a ticket handed out again after a pause had been cut off by it."""
    made = make_link(app, shop, people[0])
    page = open_page(browser, live_server.url, made, live_on=True)
    change(app, made.id, lambda link: link.pause())
    expect(page.locator("main")).to_contain_text("Temporarily unavailable", timeout=WAIT)
    change(app, made.id, lambda link: link.resume())
    # The paused page comes back by itself, and listens again.
    expect(page.locator("[data-live-picture] svg")).to_contain_text("checkout-api", timeout=WAIT)
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    assert same_document(page)
    page.reload()
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    mark_no_reload(page)
    change(app, made.id, lambda link: link.revoke())
    expect(page.locator("main")).to_contain_text("This link was revoked", timeout=WAIT)
    expect(page.locator("main svg")).to_have_count(0)
    assert same_document(page)


@pytest.mark.app_settings(**DOWN_SETTINGS)
def test_pause_resume_reload_revoke_reaches_the_page_without_the_live_server(app, browser, live_server, people, shop):
    made = make_link(app, shop, people[0])
    page = open_page(browser, live_server.url, made, live_on=False)
    change(app, made.id, lambda link: link.pause())
    expect(page.locator("main")).to_contain_text("Temporarily unavailable", timeout=WAIT)
    change(app, made.id, lambda link: link.resume())
    expect(page.locator("[data-live-picture] svg")).to_contain_text("checkout-api", timeout=WAIT)
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates off")  # never "on" without a server
    assert same_document(page)
    page.reload()
    mark_no_reload(page)
    change(app, made.id, lambda link: link.revoke())
    expect(page.locator("main")).to_contain_text("This link was revoked", timeout=WAIT)
    assert same_document(page)


def test_a_page_opened_while_paused_comes_back_when_resumed(app, browser, live_server, live, people, shop):
    app.config["MAESTRO_PUBLIC_STATE_POLL"] = 1
    made = make_link(app, shop, people[0])
    change(app, made.id, lambda link: link.pause())
    page = visitor(browser)
    page.goto(live_server.url + made.path)
    expect(page.locator("h1")).to_have_text("Temporarily unavailable")
    change(app, made.id, lambda link: link.resume())
    expect(page.locator("[data-live-picture] svg")).to_contain_text("checkout-api", timeout=WAIT)


def open_shortly_before_expiry(app, browser, base: str, shop, creator, live_on: bool):
    """A page open, live indicator settled, on a link that expires a few seconds later; and its expiry.

    The link's life starts at 4 s and doubles while the page could not open before it ended (a busy
    machine), so the test waits seconds, not the 20 s a fixed life needed to be safe under load."""
    indicator = "Live updates on" if live_on else "Live updates off"
    for seconds in (4, 8, 16, 32, 64):
        made = make_link(app, shop, creator, lifetime=timedelta(seconds=seconds))
        expires_at = link_row(app, made.id).expires_at
        page = visitor(browser)
        page.goto(base + made.path)
        settled = page.locator(f"[data-live-indicator]:text-is('{indicator}'), main:has-text('This link has expired')")
        expect(settled.first).to_be_visible(timeout=WAIT)
        if page.locator("[data-live-picture] svg").count() and utcnow() < expires_at - timedelta(seconds=1):
            expect(page.locator("[data-live-picture] svg")).to_contain_text("checkout-api")
            mark_no_reload(page)
            return page, expires_at
    pytest.fail("the page never opened before its link expired, even with a 64 s life")


def test_an_open_page_turns_into_the_refusal_at_its_expiry(app, browser, live_server, live, people, shop):
    page, expires_at = open_shortly_before_expiry(app, browser, live_server.url, shop, people[0], live_on=True)
    expect(page.locator("main")).to_contain_text("This link has expired", timeout=WAIT)
    assert utcnow() >= expires_at  # by the page's own timer, not before
    assert same_document(page)


@pytest.mark.app_settings(**DOWN_SETTINGS)
def test_without_the_live_server_an_open_page_expires_too(app, browser, live_server, people, shop):
    app.config["MAESTRO_PUBLIC_STATE_POLL"] = 3600  # the expiry timer alone
    page, expires_at = open_shortly_before_expiry(app, browser, live_server.url, shop, people[0], live_on=False)
    expect(page.locator("main")).to_contain_text("This link has expired", timeout=WAIT)
    assert utcnow() >= expires_at
    assert same_document(page)


def test_a_used_up_link_keeps_the_pages_it_allowed(app, browser, live_server, live, people, shop):
    """Used up stops new views; the pages already open are the views it allowed and stay (docs/sharing.md)."""
    made = make_link(app, shop, people[0], max_views=2)
    first = open_page(browser, live_server.url, made, live_on=True)
    second = open_page(browser, live_server.url, made, live_on=True)
    assert link_row(app, made.id).view_count == 2
    redraw(app, shop.public_id, "after-the-last-view")
    for page in (first, second):
        expect(page.locator("[data-live-picture] svg")).to_contain_text("after-the-last-view", timeout=WAIT)
    third = visitor(browser)
    third.goto(live_server.url + made.path)
    expect(third.locator("h1")).to_have_text("This link was used up")


# --- 3. screenshots: the page and each refusal, 1280 and 390 px, light and dark ---------------------------


@pytest.mark.app_settings(**DOWN_SETTINGS)
def test_screenshots_of_the_page_and_each_refusal(shots, app, browser, live_server, people, shop):
    base = live_server.url
    owner, writer = people
    links = {"page": make_link(app, shop, owner)}
    for state, how in (
        ("paused", lambda link: link.pause()),
        ("revoked", lambda link: link.revoke()),
        ("expired", lambda link: setattr(link, "expires_at", utcnow() - timedelta(seconds=1))),
    ):
        links[state] = make_link(app, shop, owner)
        change(app, links[state].id, how)
    links["used-up"] = make_link(app, shop, owner, max_views=1)
    app.test_client().get(links["used-up"].path)
    links["creator-lost-write"] = make_link(app, shop, writer)
    demote_creator(app, links["creator-lost-write"])
    paths = {name: made.path for name, made in links.items()}
    paths["unknown"] = links["page"].path[:-6] + "AAAAAA"
    for name, path in paths.items():
        for width in (1280, 390):
            for scheme in shots.schemes:
                page = visitor(browser, width, scheme == "dark")
                page.goto(base + path)
                expect(page.locator("h1")).to_be_visible()
                shots(page, f"{name}-{width}-{scheme}.png", full_page=True)
                _contexts.remove(page.context)
                page.context.close()

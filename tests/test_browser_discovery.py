"""Discovery in a real headless Chromium (SPEC §11, §13): paste a Compose file, press Crawl, watch the
crawl, see the new picture arrive without a reload, point at an edge to see why it is there; after a
re-crawl, the Changes page and the "added since" highlight. Real processes throughout: the app, the
live server, the discovery service and an analytics worker. Screenshots go to the test's `shots` folder (with MAESTRO_SHOTS set, conftest.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import requests
from conftest import PASSWORD
from discovery_app_support import ServiceProcess, start_discovery_service
from live_support import free_port
from playwright.sync_api import expect
from worker_support import start_worker

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WAIT = 60_000  # ms: generous, the machine is shared

COMPOSE = """services:
  web:
    image: nginx:1.27
    depends_on: [api]
  api:
    image: example/shop-api
    environment:
      DATABASE_URL: postgres://shop@db:5432/shop
  db:
    image: postgres:16
"""
COMPOSE_WITH_CACHE = (
    COMPOSE.replace(
        "      DATABASE_URL: postgres://shop@db:5432/shop\n",
        "      DATABASE_URL: postgres://shop@db:5432/shop\n      REDIS_URL: redis://cache:6379/0\n",
    )
    + "  cache:\n    image: redis:7\n"
)


@pytest.fixture
def service(app, live_server, live) -> Iterator[ServiceProcess]:
    with start_discovery_service(
        app.config, live_server.url, port=free_port(), publish_url=live.publish_url
    ) as process:
        app.config["MAESTRO_DISCOVERY_URL"] = process.url
        yield process


@pytest.fixture
def worker(app, live_server, live) -> Iterator[subprocess.Popen[str]]:
    process = start_worker(
        app, live_server.url, "--poll-interval", "0.5", publish_url=live.publish_url, stdout=subprocess.DEVNULL
    )
    yield process
    process.terminate()
    process.wait(timeout=20)


def shot(shots, page, name: str) -> None:
    shots(page, f"{name}.png", full_page=True)


def record_crawl_lines(page) -> None:
    """Every text the crawl lines take, and a flag that a reload would wipe."""
    page.evaluate("""() => {
        window.__sameDocument = true;
        window.__crawlTexts = [];
        new MutationObserver(() => {
            document.querySelectorAll('[data-crawl-line]').forEach((line) => window.__crawlTexts.push(line.textContent.trim()));
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")


def test_paste_crawl_watch_the_picture_arrive_and_see_why(
    shots, app, open_page, live_server, live, service, worker, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")

    sources = open_page(base, owner.email)
    sources.goto(f"{base}/graphs/{graph.public_id}/sources")
    expect(sources.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    sources.select_option("#kind", "compose")
    sources.fill("#label", "Shop compose")
    sources.fill("#input", COMPOSE)
    shot(shots, sources, "sources-add")
    sources.click("text=Add source")
    expect(sources.locator(".flash")).to_contain_text("Source “Shop compose” added")
    expect(sources.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)

    picture = sources.context.new_page()
    picture.goto(f"{base}/analytics/graphs/{graph.public_id}")
    expect(picture.locator("[data-live-picture] svg g.node").first).to_be_visible(timeout=WAIT)  # the hand lines
    expect(picture.locator('g.node[data-node="db"]')).to_have_count(0)
    expect(picture.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    picture.evaluate("() => { window.__sameDocument = true; }")

    record_crawl_lines(sources)
    sources.click("button:has-text('Crawl')")
    line = sources.locator("[data-crawl-line]")
    expect(line).to_contain_text("5 added, 0 removed", timeout=WAIT)
    expect(line.locator("[data-crawl-status]")).to_have_attribute("data-crawl-status", "ok")
    texts = sources.evaluate("window.__crawlTexts")
    assert any(text.startswith("Crawling") for text in texts), texts  # the progress was shown
    assert sources.evaluate("window.__sameDocument") is True
    shot(shots, sources, "sources-after-crawl")

    # the owner's open picture page gets the new picture without a reload
    expect(picture.locator('g.node[data-node="db"]')).to_have_count(1, timeout=WAIT)
    assert picture.evaluate("window.__sameDocument") is True
    edge = picture.locator('g.edge[data-source="api"][data-target="db"]')
    expect(edge).to_have_count(1)
    edge.focus()
    tip = picture.locator("[data-evidence-tip]")
    expect(tip).to_be_visible(timeout=WAIT)
    expect(tip).to_contain_text("api → db")
    expect(tip).to_contain_text("Found by “Shop compose”")
    expect(tip).to_contain_text("DATABASE_URL")
    shot(shots, picture, "picture-evidence")
    picture.keyboard.press("Escape")
    expect(tip).to_be_hidden()
    # pointing at the hand-typed edge tells that too
    hand = picture.locator('g.edge[data-source="web"][data-target="api"]')
    hand.dispatch_event("mouseover", {"clientX": 300, "clientY": 300})
    expect(tip).to_contain_text("Typed by hand")

    # the overview page says why on hover / focus as well
    overview = sources.context.new_page()
    overview.goto(f"{base}/graphs/{graph.public_id}")
    item = overview.locator(".dependency-list li", has=overview.locator('.dep[data-source="api"][data-target="db"]'))
    why = item.locator(".dep-why")
    expect(why).to_be_hidden()
    item.locator(".dep").hover()
    expect(why).to_be_visible()
    expect(why).to_contain_text("DATABASE_URL")
    shot(shots, overview, "overview-evidence")

    # a re-crawl of a changed file: the Changes page says what it added, the picture highlights it
    http = requests.Session()
    token = http.post(f"{base}/api/auth/token", json={"email": owner.email, "password": PASSWORD}, timeout=10).json()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    source_id = sources.locator("[data-source-id]").get_attribute("data-source-id")
    patched = http.patch(
        f"{base}/api/graphs/{graph.public_id}/sources/{source_id}", json={"input": COMPOSE_WITH_CACHE}, timeout=10
    )
    assert patched.status_code == 200, patched.text
    sources.reload()
    expect(sources.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    sources.click("button:has-text('Crawl')")
    expect(sources.locator("[data-crawl-line]")).to_contain_text("2 added", timeout=WAIT)

    changes = sources.context.new_page()
    changes.goto(f"{base}/graphs/{graph.public_id}/changes")
    newest = changes.locator("section.version").first
    expect(newest).to_contain_text("crawl of “Shop compose”")
    expect(newest.locator("ul.added")).to_contain_text("cache")
    expect(newest.locator("ul.added")).to_contain_text("api → cache")
    shot(shots, changes, "changes")
    # the re-crawl's picture reaches the picture page left open; the highlight is then asked of it
    expect(picture.locator('g.edge[data-source="api"][data-target="cache"]')).to_have_count(1, timeout=WAIT)
    assert picture.evaluate("window.__sameDocument") is True
    changes.locator("section.version").nth(1).locator("text=Highlight what was added since this version").click()
    expect(changes.locator('g.edge.is-added[data-source="api"][data-target="cache"]')).to_have_count(1, timeout=WAIT)
    expect(changes.locator('g.node.is-added[data-node="cache"]')).to_have_count(1)
    expect(changes.locator('g.node.is-added[data-node="db"]')).to_have_count(0)
    expect(changes.locator(".since-card")).to_contain_text("Nothing was removed since then.")
    shot(shots, changes, "picture-added-since")

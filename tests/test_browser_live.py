"""Live pages in a real headless Chromium, with a real live server process and a real worker (SPEC §8).

Waits are Playwright's auto-waiting `expect` only. Screenshots of the changed pages go to each test's `shots` folder (with MAESTRO_SHOTS set, conftest.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
from live_support import LiveProcess, free_port, start_live_server
from playwright.sync_api import expect
from share_support import draw, make_link
from worker_support import post_result, start_worker

from maestro_web import live_events
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, Role
from maestro_web.public import routes as public_routes
from maestro_web.security.worker_tokens import mint_worker_token
from maestro_web.shares import routes as shares_routes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# The restart test stops its live server: it has one of its own, on another port (the other tests share
# the session's, `live`).
RESTART_PORT = free_port()
RESTART_SETTINGS = {
    "MAESTRO_LIVE_URL": f"ws://127.0.0.1:{RESTART_PORT}/live",
    "MAESTRO_LIVE_PUBLISH": True,
    "MAESTRO_LIVE_PUBLISH_URL": f"http://127.0.0.1:{RESTART_PORT}/publish",
}
WAIT = 30_000  # ms: generous, the machine is shared


@pytest.fixture
def own_live(app, live_server) -> Iterator[LiveProcess]:
    """A live server of this test alone, on RESTART_PORT (the restart test stops it)."""
    live_events.init_app(app)
    with start_live_server(app.config, port=RESTART_PORT, base_url=live_server.url) as server:
        yield server


def shot(shots, page, name: str) -> None:
    shots(page, f"{name}.png", full_page=True)


def mark_no_reload(page) -> None:
    """A flag that a reload would wipe, and a counter of swapped pictures."""
    page.evaluate("""() => {
        window.__sameDocument = true;
        window.__replaced = 0;
        document.addEventListener('picture:replaced', () => { window.__replaced += 1; });
    }""")


def test_a_graph_goes_from_queued_to_drawn_without_a_reload(
    shots, app, open_page, live_server, live, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web [kind=frontend] -> api [kind=service]\napi -> db [kind=database]")

    picture = open_page(base, owner.email)
    picture.goto(f"{base}/analytics/graphs/{graph.public_id}")
    expect(picture.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    expect(picture.locator("[data-live-run-text]")).to_have_text("Queued for the analytics worker.")
    expect(picture.locator("[data-live-run-age]")).to_contain_text("queued ")
    expect(picture.locator("[data-live-run-age]")).to_contain_text(" s ago")
    expect(picture.locator("[data-live-picture] svg")).to_have_count(0)
    mark_no_reload(picture)
    shot(shots, picture, "picture-queued")

    overview = picture.context.new_page()
    overview.goto(f"{base}/graphs/{graph.public_id}")
    expect(overview.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    mark_no_reload(overview)
    shot(shots, overview, "overview-queued")

    worker = start_worker(app, base, "--once", publish_url=live.publish_url)
    try:
        expect(picture.locator("[data-live-picture] svg g.node").first).to_be_visible(timeout=60_000)
        expect(picture.locator("header.graph-head .badge")).to_have_attribute("data-status", "finished", timeout=WAIT)
        expect(picture.locator("[data-live-run-text]")).to_have_text("Drawn.")
        expect(picture.locator(".figures")).to_contain_text("Nodes")
        expect(overview.locator("h1 .badge")).to_have_attribute("data-status", "finished", timeout=WAIT)
        expect(overview.locator("[data-live-region=facts] .badge")).to_have_attribute("data-status", "finished")
        picture.wait_for_function("window.__replaced >= 1", timeout=WAIT, polling=100)
        assert picture.evaluate("window.__sameDocument") is True  # no reload happened
        assert overview.evaluate("window.__sameDocument") is True
        shot(shots, picture, "picture-drawn")
        shot(shots, overview, "overview-drawn")
    finally:
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr


def test_the_owner_is_told_when_no_worker_claims_for_a_minute(
    shots, app, open_page, live_server, live, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    reader = make_user(email="reader@example.com", name="Reader")
    # Queued 90 s ago, never claimed: its run.queued went out then, so a page opened now does not
    # replay it (data-live-since reaches back 2 s), and none is published here.
    publisher = app.extensions.pop(live_events.EXTENSION)
    graph = make_graph(owner, name="Shop", spec="web -> api", grants={reader: Role.READ})
    app.extensions[live_events.EXTENSION] = publisher
    with app.app_context():
        run = Graph.get_by_public_id(graph.public_id).current_run()
        run.queued_at = run.queued_at - timedelta(seconds=90)
        db.session.commit()

    page = open_page(base, owner.email)
    page.goto(f"{base}/graphs/{graph.public_id}")
    expect(page.locator("[data-live-no-worker]")).to_be_visible(timeout=WAIT)
    expect(page.locator("[data-live-no-worker]")).to_contain_text("No analytics worker has picked this up yet")
    expect(page.locator("[data-live-run-age]")).to_contain_text("queued 1 min")
    shot(shots, page, "overview-no-worker")

    other = open_page(base, reader.email)
    other.goto(f"{base}/analytics/graphs/{graph.public_id}")
    expect(other.locator("[data-live-run-age]")).to_contain_text("queued 1 min", timeout=WAIT)
    expect(other.locator("[data-live-no-worker]")).to_be_hidden()  # only those who can act are told


def post_picture(app, graph_id: str, label: str) -> None:
    """A worker's result for the graph's queued run, drawn with one labelled box."""
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


def test_a_public_page_redraws_then_becomes_the_refusal_when_revoked(
    shots, app, auth, client, open_page, live_server, live, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)

    visitor = open_page(base)
    visitor.goto(base + made.path)
    expect(visitor.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    expect(visitor.locator("[data-live-picture] svg")).to_contain_text("checkout-api")
    mark_no_reload(visitor)
    shot(shots, visitor, "public-live")

    with app.app_context():
        Graph.get_by_public_id(graph.public_id).queue_run()
        db.session.commit()
    post_picture(app, graph.public_id, "redrawn-payments")
    expect(visitor.locator("[data-live-picture] svg")).to_contain_text("redrawn-payments", timeout=WAIT)
    visitor.wait_for_function("window.__replaced >= 1", timeout=WAIT, polling=100)

    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    assert client.post(f"{page}/revoke", data=auth.form_values(page)).status_code == 302
    expect(visitor.locator("main")).to_contain_text("This link was revoked", timeout=WAIT)
    expect(visitor.locator("main svg")).to_have_count(0)
    assert visitor.evaluate("window.__sameDocument") is True
    shot(shots, visitor, "public-revoked")


def test_a_paused_embed_becomes_temporarily_unavailable(
    app, auth, client, open_page, live_server, live, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)
    visitor = open_page(base)
    visitor.goto(base + made.path.replace("?token=", "/embed?token="))
    expect(visitor.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    auth.login(owner.email)
    page = f"/graphs/{graph.public_id}/shares/{made.id}"
    assert client.post(f"{page}/pause", data=auth.form_values(page)).status_code == 302
    expect(visitor.locator("main")).to_contain_text("Temporarily unavailable", timeout=WAIT)


def test_the_shares_page_counts_views_as_they_happen(shots, app, open_page, live_server, live, make_user, make_graph):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner, label="For the board")

    page = open_page(base, owner.email)
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    views = page.locator(f'[data-link-views="{made.id}"]')
    expect(views).to_have_text("0")
    mark_no_reload(page)
    assert requests.get(base + made.path, timeout=10).status_code == 200
    expect(views).to_have_text("1", timeout=WAIT)
    expect(page.locator(f'[data-link-last-viewed="{made.id}"] time')).to_have_count(1)
    assert requests.get(base + made.path, timeout=10).status_code == 200
    expect(views).to_have_text("2", timeout=WAIT)
    assert page.evaluate("window.__sameDocument") is True
    shot(shots, page, "shares-live")

    mine = page.context.new_page()
    mine.goto(f"{base}/shares")
    expect(mine.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    link_page = page.context.new_page()
    link_page.goto(f"{base}/graphs/{graph.public_id}/shares/{made.id}")
    expect(link_page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    assert requests.get(base + made.path, timeout=10).status_code == 200
    expect(mine.locator(f'[data-link-views="{made.id}"]')).to_have_text("3", timeout=WAIT)
    expect(link_page.locator(f'[data-link-views="{made.id}"]')).to_have_text("3", timeout=WAIT)
    shot(shots, link_page, "link-live")


@pytest.mark.app_settings(MAESTRO_LIVE_URL=f"ws://127.0.0.1:{free_port()}/live")
def test_without_a_live_server_pages_work_and_say_live_updates_off(
    shots, app, open_page, live_server, make_user, make_graph
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)

    page = open_page(base, owner.email)
    page.goto(f"{base}/analytics/graphs/{graph.public_id}")
    expect(page.locator("[data-live-picture] svg")).to_be_visible()
    expect(page.locator("[data-live-indicator]")).to_contain_text("Live updates off")
    expect(page.locator("[data-live]")).to_have_attribute("data-live-state", "off")
    shot(shots, page, "picture-live-off")

    visitor = open_page(base)
    visitor.goto(base + made.path)
    expect(visitor.locator("[data-live-picture] svg")).to_be_visible()
    expect(visitor.locator("[data-live-indicator]")).to_contain_text("Live updates off")
    # The page keeps trying in the background and stays usable meanwhile.
    expect(page.locator("a", has_text="Back to the graph")).to_be_visible()


@pytest.mark.app_settings(**RESTART_SETTINGS, MAESTRO_LIVE_TICKET_TTL=62)
def test_a_page_renews_its_ticket_and_reconnects_after_the_live_server_restarts(
    app, open_page, live_server, own_live, make_user, make_graph
):
    base = live_server.url
    live = own_live
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)
    page = open_page(base, owner.email)
    page.goto(f"{base}/graphs/{graph.public_id}/shares")
    indicator = page.locator("[data-live-indicator]")
    expect(indicator).to_have_text("Live updates on", timeout=WAIT)
    mark_no_reload(page)

    # A 62 s ticket is renewed a minute before it ends: a new ticket, a new hello, same connection.
    with page.expect_request(lambda request: "/live/ticket" in request.url, timeout=WAIT):
        pass
    assert requests.get(base + made.path, timeout=10).status_code == 200
    expect(page.locator(f'[data-link-views="{made.id}"]')).to_have_text("1", timeout=WAIT)

    live.stop()
    expect(indicator).to_contain_text("Live updates off", timeout=WAIT)
    with start_live_server(app.config, port=RESTART_PORT, base_url=base):
        expect(indicator).to_have_text("Live updates on", timeout=60_000)  # backoff, then back
        assert requests.get(base + made.path, timeout=10).status_code == 200
        expect(page.locator(f'[data-link-views="{made.id}"]')).to_have_text("2", timeout=WAIT)
    assert page.evaluate("window.__sameDocument") is True


def while_answering(action) -> Callable:
    """A wrapper of a function the page's view calls, running `action` (in its own thread, as another
    process would) right after its first call, and waiting until the live server accepted the events
    it published: what the page read before is then out of date, and its event came before the page
    could subscribe."""
    done: list[BaseException | None] = []

    def wrap(function: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            found = function(*args, **kwargs)
            if not done:
                errors: list[BaseException] = []

                def act() -> None:
                    try:
                        action()
                    except BaseException as error:  # re-raised below, in the view's thread
                        errors.append(error)

                worker = threading.Thread(target=act)
                worker.start()
                worker.join()
                done.append(errors[0] if errors else None)
                if errors:
                    raise errors[0]
            return found

        return wrapped

    wrap.done = done  # type: ignore[attr-defined]
    return wrap


def published(app, action) -> Callable[[], None]:
    def run() -> None:
        action()
        assert app.extensions[live_events.EXTENSION].flush(5)

    return run


def test_a_run_finishing_while_the_picture_page_is_read_reaches_it_once_subscribed(
    shots, app, open_page, live_server, live, make_user, make_graph, monkeypatch
):
    """The picture page reads the picture, then the run's state: a run finishing between the two reads
    shows as finished next to no picture, and its run.finished was published before the page
    subscribed. The page's first subscription replays from just before its request (data-live-since)."""
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    page = open_page(base, owner.email)
    wrap = while_answering(published(app, lambda: post_picture(app, graph.public_id, "drawn-meanwhile")))
    monkeypatch.setattr(GraphResult, "latest_for", wrap(GraphResult.latest_for))

    sent = page.goto(f"{base}/analytics/graphs/{graph.public_id}").text()
    assert wrap.done == [None]  # the run finished between the two reads:
    assert 'data-live-run-state="finished"' in sent and "drawn-meanwhile" not in sent  # finished, no picture
    expect(page.locator("[data-live-picture] svg")).to_contain_text("drawn-meanwhile", timeout=WAIT)
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on")
    shot(shots, page, "picture-drawn-while-read")


def test_a_picture_drawn_while_the_public_page_is_sent_reaches_it_once_subscribed(
    shots, app, open_page, live_server, live, make_user, make_graph, monkeypatch
):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner)

    def redraw() -> None:
        with app.app_context():
            Graph.get_by_public_id(graph.public_id).queue_run()
            db.session.commit()
        post_picture(app, graph.public_id, "redrawn-meanwhile")

    # The page is rendered; its ticket is the last thing the view adds before sending it.
    wrap = while_answering(published(app, redraw))
    monkeypatch.setattr(public_routes, "share_ticket", wrap(public_routes.share_ticket))
    visitor = open_page(base)
    sent = visitor.goto(base + made.path).text()
    assert wrap.done == [None] and "checkout-api" in sent and "redrawn-meanwhile" not in sent
    expect(visitor.locator("[data-live-picture] svg")).to_contain_text("redrawn-meanwhile", timeout=WAIT)
    expect(visitor.locator("[data-live-indicator]")).to_have_text("Live updates on")
    shot(shots, visitor, "public-drawn-while-sent")


@pytest.mark.parametrize(
    ("page_of", "reads_the_links"),
    [
        (lambda graph: f"/graphs/{graph.public_id}/shares", "links_of_graph"),
        (lambda graph: "/shares", "links_of_user"),
    ],
    ids=["graph's shares", "my shared links"],
)
def test_a_view_counted_while_a_share_list_is_read_reaches_it_once_subscribed(
    app, open_page, live_server, live, make_user, make_graph, monkeypatch, page_of, reads_the_links
):
    """A share list reads its links, then renders them: a view counted in between is missing from the
    page, and its share.viewed was published before the page subscribed. The list's first
    subscription replays from just before its request (data-live-since), so the count catches up."""
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Shop", spec="web -> api")
    draw(app, graph.public_id)
    made = make_link(app, graph, owner, label="For the board")

    def a_visitor_opens_the_link() -> None:
        assert app.test_client().get(made.path).status_code == 200

    wrap = while_answering(published(app, a_visitor_opens_the_link))
    monkeypatch.setattr(shares_routes, reads_the_links, wrap(getattr(shares_routes, reads_the_links)))
    page = open_page(base, owner.email)
    sent = page.goto(base + page_of(graph)).text()
    assert wrap.done == [None]  # the view was counted after the list was read:
    assert re.search(rf'data-link-views="{made.id}"[^>]*>0<', sent)  # the page was sent with none
    views = page.locator(f'[data-link-views="{made.id}"]')
    expect(views).to_have_text("1", timeout=WAIT)
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on")


def test_the_overview_draws_the_picture_and_the_created_banner_goes(app, open_page, live_server, live, make_user):
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    page = open_page(base, owner.email)
    page.goto(f"{base}/graphs/new")
    page.fill("#name", "Shop")
    page.fill("#spec", "web -> api\napi -> db")
    page.click("main form button[type=submit]")
    banner = page.locator("[data-until-drawn]")
    expect(banner).to_contain_text("Graph created")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    expect(page.locator(".overview-picture svg")).to_have_count(0)
    mark_no_reload(page)
    worker = start_worker(app, base, "--once", publish_url=live.publish_url)
    try:
        expect(page.locator(".overview-picture .panzoom svg g.node").first).to_be_visible(timeout=60_000)
        expect(banner).to_have_count(0, timeout=WAIT)  # "will draw it shortly" came true: it goes
        expect(page.locator("h1 .badge")).to_have_attribute("data-status", "finished", timeout=WAIT)
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
    finally:
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr


def test_a_creator_losing_write_stops_their_link_live_on_every_open_page(
    shots, app, auth, client, open_page, live_server, live, make_user, make_graph
):
    """The owners' tables (the Admin's "Links of this graph", the creator's "My shared links")
    and the link's page turn to "Stopped" with its reason, and the visitor's open page to the refusal,
    without a reload, the moment an Admin takes Write from the link's creator."""
    base = live_server.url
    owner = make_user(email="owner@example.com", name="Owner")
    bob = make_user(email="bob@example.com", name="Bob Writer")
    graph = make_graph(owner, name="Shop", spec="web -> api", grants={bob: Role.WRITE})
    draw(app, graph.public_id)
    made = make_link(app, graph, bob, label="Bob's link")
    reason = "Its creator no longer has Write on this graph."

    admin = open_page(base, owner.email)
    admin.goto(f"{base}/graphs/{graph.public_id}/shares")
    link_page = admin.context.new_page()
    link_page.goto(f"{base}/graphs/{graph.public_id}/shares/{made.id}")
    creator = open_page(base, bob.email)
    creator.goto(f"{base}/shares")
    visitor = open_page(base)
    visitor.goto(base + made.path)
    for page in (admin, link_page, creator, visitor):
        expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
        mark_no_reload(page)
    statuses = {page: page.locator(f'[data-link-status="{made.id}"]').first for page in (admin, link_page, creator)}
    for status in statuses.values():
        expect(status.locator(".badge")).to_have_text("Active")

    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    response = client.post(f"{access}/{bob.public_id}/role", data={**auth.form_values(access), "role": int(Role.READ)})
    assert response.status_code == 302

    for status in statuses.values():
        expect(status.locator(".badge")).to_have_text("Stopped", timeout=WAIT)
        expect(status.locator(".link-reason")).to_have_text(reason)
        expect(status.locator(".badge-active")).to_have_count(0)
    expect(visitor.locator("main h1")).to_have_text("This link no longer works", timeout=WAIT)
    expect(visitor.locator("main")).to_contain_text("The person who shared it can no longer share this graph.")
    expect(visitor.locator("main svg")).to_have_count(0)
    for page in (admin, link_page, creator, visitor):
        assert page.evaluate("window.__sameDocument") is True  # no reload anywhere
    for page, name in (
        (admin, "stopped-live-shares"),
        (link_page, "stopped-live-link"),
        (creator, "stopped-live-mine"),
        (visitor, "stopped-live-visitor"),
    ):
        shot(shots, page, name)

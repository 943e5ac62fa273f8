"""Snapshot links (SPEC §10): a snapshot shows the result pinned when it was made,
picture and figures, whatever the graph has drawn since; that result outlives history pruning while
the link's row exists; a snapshot whose result is gone is refused, never shown a newer picture.

Results come in through the real worker endpoints (claim, then post), as the worker sends them.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from conftest import PASSWORD, api_headers
from live_support import LiveClient
from playwright.sync_api import expect
from share_support import BREAKS, draw, link_row, lose_pinned_result, make_link, visit
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.ingest.jobs import RESULT_HISTORY
from maestro_web.models import Graph, GraphResult, Role, ShareLink
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import Outcome
from maestro_web.pictures import svg_to_png
from maestro_web.security.live_tickets import issue_ticket


def picture(word: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 220 40" width="220" height="40">'
        f'<rect x="1" y="1" width="200" height="30" fill="#abc"/><text x="5" y="20">{word}</text></svg>'
    )


def redraw(app, graph_id: str, word: str, nodes: int, status: str = "finished") -> None:
    """Queue a run of the graph and let the worker endpoints store a new result for it."""
    with app.app_context():
        Graph.get_by_public_id(graph_id).queue_run()
        db.session.commit()
    draw(app, graph_id, svg=picture(word), msg=f"run {word}", status=status, info={"nodes": nodes, "edges": nodes - 1})


@pytest.fixture
def graph(app, owner, writer, make_graph):
    """A graph drawn once ("alpha-drawing", 2 nodes), shared with a writer who makes the links."""
    graph = make_graph(owner, name="Checkout", spec="web -> api", grants={writer: Role.WRITE})
    draw(app, graph.public_id, svg=picture("alpha-drawing"), msg="run alpha", info={"nodes": 2, "edges": 1})
    return graph


@pytest.fixture
def snapshot(app, graph, writer):
    """A snapshot link made on the first picture, then a newer result ("beta-drawing", 7 nodes, warning)."""
    made = make_link(app, graph, writer, label="Monday report", mode="snapshot")
    redraw(app, graph.public_id, "beta-drawing", 7, status="warning")
    return made


def pinned_of(app, link_id: str) -> GraphResult:
    with app.app_context():
        result = ShareLink.get_by_public_id(link_id).pinned_result
        assert result is not None
        db.session.expunge(result)
        return result


def result_ids(app, graph_id: str) -> list[int]:
    with app.app_context():
        graph = Graph.get_by_public_id(graph_id)
        return list(
            db.session.scalars(select(GraphResult.id).where(GraphResult.graph_id == graph.id).order_by(GraphResult.id))
        )


# --- what a visitor sees ----------------------------------------------------------------------------


def test_a_snapshot_shows_its_pinned_picture_and_figures_and_a_live_link_the_newest(app, graph, writer, snapshot):
    live = make_link(app, graph, writer, label="Wall screen")
    visitor = app.test_client()
    for path in (snapshot.path, snapshot.path.replace("?token=", "/embed?token=")):
        page = visitor.get(path)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "alpha-drawing" in text and "beta-drawing" not in text
        assert "Snapshot as of" in text and "picture as of" not in text
        assert "<dt>Nodes</dt><dd>2<small>" in text  # the pinned result's figures, not the graph's 7
        assert 'data-status="finished"' in text  # the pinned result's status, not the graph's "warning"
    pinned = pinned_of(app, snapshot.id)
    assert f'datetime="{pinned.created_at.isoformat()}"' in visitor.get(snapshot.path).get_data(as_text=True)

    text = visitor.get(live.path).get_data(as_text=True)
    assert "beta-drawing" in text and "alpha-drawing" not in text
    assert "picture as of" in text and "Snapshot as of" not in text
    assert "<dt>Nodes</dt><dd>7<small>" in text and 'data-status="warning"' in text
    assert link_row(app, snapshot.id).view_count == 3 and link_row(app, live.id).view_count == 1  # counts exact


def test_svg_png_download_and_og_image_of_a_snapshot_are_the_pinned_picture(app, graph, writer, snapshot):
    live = make_link(app, graph, writer, label="Wall screen")
    visitor = app.test_client()
    pinned = pinned_of(app, snapshot.id)

    svg = visitor.get(snapshot.path + "&ext=svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "alpha-drawing" in svg.get_data(as_text=True) and "beta-drawing" not in svg.get_data(as_text=True)
    png = visitor.get(snapshot.path + "&ext=png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data == svg_to_png(pinned.svg)
    assert visitor.get(live.path + "&ext=png").data != png.data  # the live link's is the newer picture
    download = visitor.get(snapshot.path.replace("?token=", "/download.svg?token="))
    assert download.status_code == 200 and "alpha-drawing" in download.get_data(as_text=True)
    page = visitor.get(snapshot.path).get_data(as_text=True)
    assert f'<meta property="og:image" content="{snapshot.url}&amp;ext=png">' in page
    assert link_row(app, snapshot.id).view_count == 4


def test_the_live_refresh_and_the_owner_preview_keep_the_pinned_picture(app, auth, client, graph, writer, snapshot):
    visitor = app.test_client()
    page = visitor.get(snapshot.path).get_data(as_text=True)  # one counted view, whose page redraws
    refreshed = visitor.get(html.unescape(re.search(r'data-live-refresh-url="([^"]+)"', page).group(1)))
    assert refreshed.status_code == 200
    assert "alpha-drawing" in refreshed.get_data(as_text=True) and "beta-drawing" not in refreshed.get_data(
        as_text=True
    )
    auth.login(writer.email)
    preview = client.get(f"/analytics/graphs/{graph.public_id}/shares/{snapshot.id}/preview")
    assert preview.status_code == 200
    assert "alpha-drawing" in preview.get_data(as_text=True) and "Snapshot as of" in preview.get_data(as_text=True)
    assert link_row(app, snapshot.id).view_count == 1  # the page was a view; its redraw and the preview are not
    private = client.get(f"/analytics/graphs/{graph.public_id}")  # the graph's own page: the newest
    assert "beta-drawing" in private.get_data(as_text=True)


def test_the_owners_pages_and_the_api_say_snapshot_as_of_or_live(app, auth, client, graph, writer, snapshot):
    live = make_link(app, graph, writer, label="Wall screen")
    pinned = pinned_of(app, snapshot.id)
    when = pinned.created_at.strftime("%Y-%m-%d %H:%M UTC")
    auth.login(writer.email)
    link_page = client.get(f"/graphs/{graph.public_id}/shares/{snapshot.id}").get_data(as_text=True)
    assert f'Snapshot as of <time datetime="{pinned.created_at.isoformat()}">{when}</time>' in link_page
    assert 'data-link-mode="live"' in client.get(f"/graphs/{graph.public_id}/shares/{live.id}").get_data(as_text=True)
    for page in (f"/graphs/{graph.public_id}/shares", "/shares"):
        text = client.get(page).get_data(as_text=True)
        assert text.count('data-link-mode="snapshot"') == 1 and text.count('data-link-mode="live"') == 1, page
        assert when in text
    body = client.get(f"/api/graphs/{graph.public_id}/shares", headers=api_headers(client, writer)).json
    modes = {item["id"]: (item["mode"], item["snapshot_as_of"]) for item in body["items"]}
    assert modes == {snapshot.id: ("snapshot", pinned.created_at.isoformat()), live.id: ("live", None)}


def test_snapshot_through_the_api_pins_the_newest_picture_and_needs_one(app, client, owner, graph, make_graph):
    headers = api_headers(client, owner)
    created = client.post(
        f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"label": "Board", "mode": "snapshot"}
    )
    assert created.status_code == 201 and created.json["mode"] == "snapshot"
    assert created.json["snapshot_as_of"] == pinned_of(app, created.json["id"]).created_at.isoformat()

    undrawn = make_graph(owner, name="Fresh", spec="a -> b")
    refused = client.post(f"/api/graphs/{undrawn.public_id}/shares", headers=headers, json={"mode": "snapshot"})
    assert refused.status_code == 422 and set(refused.json["fields"]) == {"mode"}
    bad = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"mode": "frozen"})
    assert bad.status_code == 422 and "mode" in bad.json["fields"]
    with app.app_context():
        assert db.session.scalar(select(func.count(ShareLink.id))) == 1  # nothing stored for the refusals


# --- pruning ----------------------------------------------------------------------------------------


def test_history_pruning_keeps_a_pinned_result_until_its_link_is_pruned(app, runner, graph, writer, snapshot):
    pinned = pinned_of(app, snapshot.id)
    for n in range(RESULT_HISTORY + 1):
        redraw(app, graph.public_id, f"gamma-{n}", 3)
    kept = result_ids(app, graph.public_id)
    assert pinned.id in kept and len(kept) == RESULT_HISTORY + 1  # the newest five, and the pinned one
    page = app.test_client().get(snapshot.path)
    assert page.status_code == 200 and "alpha-drawing" in page.get_data(as_text=True)

    with app.app_context():  # the link ended long ago: `flask shares prune` deletes its row
        link = ShareLink.get_by_public_id(snapshot.id)
        link.revoke()
        link.revoked_at = utcnow() - timedelta(days=40)
        db.session.commit()
    result = runner.invoke(args=["shares", "prune"])
    assert result.exit_code == 0 and "Deleted 1 share link" in result.output
    assert pinned.id in result_ids(app, graph.public_id)  # nothing else deletes results...
    redraw(app, graph.public_id, "delta", 3)  # ...until the next ingest prunes the history
    kept = result_ids(app, graph.public_id)
    assert pinned.id not in kept and len(kept) == RESULT_HISTORY


# --- refusals ---------------------------------------------------------------------------------------


def test_a_snapshot_whose_result_was_deleted_is_refused_never_a_newer_picture(
    app, auth, client, graph, writer, snapshot
):
    with app.app_context():
        lose_pinned_result(ShareLink.get_by_public_id(snapshot.id))
        db.session.commit()
    visitor = app.test_client()
    for suffix in ("", "&ext=svg", "&ext=png"):
        response = visitor.get(snapshot.path + suffix)
        assert response.status_code == 410, suffix
        text = response.get_data(as_text=True)
        assert "This snapshot is no longer available" in text and "beta-drawing" not in text
    for path in (
        snapshot.path.replace("?token=", "/download.png?token="),
        snapshot.path.replace("?token=", "/live?token="),
        snapshot.path.replace("?token=", "/ticket?token="),
    ):
        assert visitor.get(path).status_code == 410, path
    assert link_row(app, snapshot.id).view_count == 0  # nothing counted

    auth.login(writer.email)
    preview = client.get(f"/analytics/graphs/{graph.public_id}/shares/{snapshot.id}/preview")
    assert preview.status_code == 410 and "beta-drawing" not in preview.get_data(as_text=True)
    page = client.get(f"/graphs/{graph.public_id}/shares/{snapshot.id}").get_data(as_text=True)
    assert "Snapshot no longer available" in page
    with app.app_context():
        assert ShareLink.get_by_public_id(snapshot.id).status() == "active"  # its state is the owner's to change


@pytest.mark.parametrize(
    "outcome", [o for o in BREAKS if o is not Outcome.SNAPSHOT_GONE], ids=lambda o: o.value.replace(" ", "-")
)
def test_a_snapshot_is_refused_on_the_same_edges_as_a_live_link(app, graph, snapshot, outcome):
    breaks, status = BREAKS[outcome]
    with app.app_context():
        breaks(ShareLink.get_by_public_id(snapshot.id))
        db.session.commit()
    views = link_row(app, snapshot.id).view_count
    for suffix in ("", "&ext=svg", "&ext=png"):
        response = app.test_client().get(snapshot.path + suffix)
        assert response.status_code == status, suffix
        assert "-drawing" not in response.get_data(as_text=True)
    assert link_row(app, snapshot.id).view_count == views


def test_a_snapshot_token_under_another_graphs_id_is_unknown(app, owner, graph, snapshot, make_graph):
    other = make_graph(owner, name="Billing", spec="pay -> bank")
    response = app.test_client().get(snapshot.path.replace(graph.public_id, other.public_id))
    assert response.status_code == 404 and "-drawing" not in response.get_data(as_text=True)
    assert link_row(app, snapshot.id).view_count == 0


# --- live events ------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_new_picture_is_announced_to_live_links_only(app, auth, client, graph, writer, snapshot, live):
    wall = make_link(app, graph, writer, label="Wall screen")
    channels = [f"share:{snapshot.id}", f"share:{wall.id}"]
    ticket, _ = issue_ticket(app.config["KEY_RINGS"]["session"], sub=None, channels=channels)
    with LiveClient(live.ws_url) as listener:
        assert listener.hello(ticket)["type"] == "welcome"
        for channel in channels:
            assert listener.subscribe(channel) == {"type": "subscribed", "channel": channel}
        redraw(app, graph.public_id, "epsilon-drawing", 4)
        frame = listener.recv(10)
        assert (frame["channel"], frame["event"]) == (f"share:{wall.id}", "run.finished")
        # The snapshot's channel heard nothing of the picture: its next event is the pause.
        auth.login(writer.email)
        page = f"/graphs/{graph.public_id}/shares/{snapshot.id}"
        assert client.post(f"{page}/pause", data=auth.form_values(page)).status_code == 302
        frame = listener.recv(10)
        assert (frame["channel"], frame["event"]) == (f"share:{snapshot.id}", "share.changed")


# --- the page in a browser --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_the_snapshot_page_and_the_owners_pages_in_a_browser(
    shots, app, browser, live_server, graph, writer, snapshot, width
):
    base = live_server.url
    make_link(app, graph, writer, label="Wall screen")
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(base + snapshot.path)
    expect(page.locator(".snapshot-note")).to_contain_text("Snapshot as of")
    expect(page.locator("[data-live-picture] svg")).to_contain_text("alpha-drawing")
    expect(page.locator(".figures")).to_contain_text("2")
    shots(page, f"snapshot-{width}.png", full_page=True)

    page.goto(f"{base}/auth/login")
    page.fill("#email", writer.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/graphs/")
    page.goto(f"{base}/graphs/{graph.public_id}/shares/{snapshot.id}")
    expect(page.locator("[data-link-mode=snapshot]")).to_contain_text("Snapshot as of")
    shots(page, f"snapshot-link-{width}.png", full_page=True)
    page.goto(f"{base}/shares")
    expect(page.locator("[data-link-mode]")).to_have_text([re.compile("^Live$"), re.compile("^Snapshot as of ")])
    shots(page, f"snapshot-my-links-{width}.png", full_page=True)
    page.context.close()


# --- the version a snapshot was made from (SPEC §13) ---------------------------------------------------


def test_a_snapshot_link_keeps_the_version_it_was_made_from(app, auth, client, owner, graph, writer):
    headers = api_headers(client, owner)
    assert (
        client.patch(
            f"/api/graphs/{graph.public_id}", headers=headers, json={"spec": "web -> api\napi -> db"}
        ).status_code
        == 200
    )  # version 2
    made = make_link(app, graph, writer, label="Version two", mode="snapshot")
    live = make_link(app, graph, writer, label="Live one")
    assert (
        client.patch(
            f"/api/graphs/{graph.public_id}", headers=headers, json={"spec": "web -> api\napi -> db\napi -> cache"}
        ).status_code
        == 200
    )  # version 3
    newest = client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"][0]["version"]
    assert newest == 3
    assert link_row(app, made.id).snapshot_version == 2 and link_row(app, live.id).snapshot_version is None

    items = {
        item["id"]: item for item in client.get(f"/api/graphs/{graph.public_id}/shares", headers=headers).json["items"]
    }
    assert items[made.id]["version"] == 2 and items[live.id]["version"] is None
    created = client.post(f"/api/graphs/{graph.public_id}/shares", headers=headers, json={"mode": "snapshot"})
    assert created.status_code == 201 and created.json["version"] == 3

    public = visit(app, made)  # the counted fast path
    assert public.status_code == 200
    assert 'data-version="2">version 2</span>' in public.get_data(as_text=True)
    assert "version 3" not in public.get_data(as_text=True)
    assert "data-version" not in visit(app, live).get_data(as_text=True)

    auth.login(writer.email)
    owner_page = client.get(f"/graphs/{graph.public_id}/shares/{made.id}").get_data(as_text=True)
    assert 'data-version="2">version 2</span>' in owner_page
    changes = client.get(f"/graphs/{graph.public_id}/changes").get_data(as_text=True)
    marks = re.findall(r'id="version-(\d+)".*?(?:data-snapshot-links="(\d+)"|</h2>)', changes, re.S)
    assert marks == [("3", "1"), ("2", "1"), ("1", "")], marks

"""Every route that shows a graph's content to a visitor counts a view or refuses, by the one counting
statement (models/share_rules.py): one table of paths, long link and short link, each tried with max
views, a passcode and a snapshot. The routes that show nothing of the graph (the live ticket, the
state check) count nothing and show nothing.
"""

from __future__ import annotations

import html
import re

import pytest
from share_support import BREAKS, draw, link_row, make_link, short_code

from maestro_web.models.share_rules import Outcome
from maestro_web.public.routes import REFUSALS

PASSCODE = "open sesame 42"
NAME = "Checkout"


def picture(word: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 220 40" width="220" height="40">'
        f'<rect x="1" y="1" width="200" height="30" fill="#abc"/><text x="5" y="20">{word}</text></svg>'
    )


# (name, path from the link's long base and short base, what the answer shows of the graph)
LONG = [
    ("page", "{long}?token={token}", "page"),
    ("embed", "{long}/embed?token={token}", "page"),
    ("svg", "{long}?token={token}&ext=svg", "svg"),
    ("png", "{long}?token={token}&ext=png", "png"),
    ("download.svg", "{long}/download.svg?token={token}", "svg"),
    ("download.png", "{long}/download.png?token={token}", "png"),
    ("live", "{long}/live?token={token}", "page"),
]
SHORT = [
    ("short page", "{short}", "page"),
    ("short svg", "{short}?ext=svg", "svg"),
    ("short png", "{short}?ext=png", "png"),
    ("short download.svg", "{short}/download.svg", "svg"),
    ("short download.png", "{short}/download.png", "png"),
    ("short live", "{short}/live", "page"),
]
CONTENT_PATHS = LONG + SHORT
QUIET_PATHS = ["{long}/ticket?token={token}", "{long}/state?token={token}", "{short}/ticket", "{short}/state"]


def path_of(app, graph, made, template: str) -> str:
    return template.format(
        long=f"/analytics/graphs/public/{graph.public_id}",
        token=made.token,
        short=f"/analytics/s/{short_code(app, made.id)}",
    )


def shows(response, what: str, word: str = "checkout-api") -> bool:
    if what == "png":
        return response.mimetype == "image/png" and response.data.startswith(b"\x89PNG")
    text = response.get_data(as_text=True)
    return word in text and (what == "svg" or NAME in text)


@pytest.mark.parametrize("name,template,what", CONTENT_PATHS, ids=[row[0] for row in CONTENT_PATHS])
def test_a_one_view_link_shows_once_on_every_path_then_is_used_up(app, graph, owner, name, template, what):
    made = make_link(app, graph, owner, max_views=1)
    path = path_of(app, graph, made, template)
    first = app.test_client().get(path)
    assert first.status_code == 200 and shows(first, what), (name, first.status_code)
    assert link_row(app, made.id).view_count == 1  # the one view, spent by whichever path showed it
    again = app.test_client().get(path)
    assert again.status_code == 410 and "This link was used up" in again.get_data(as_text=True)
    assert "checkout-api" not in again.get_data(as_text=True)
    assert link_row(app, made.id).view_count == 1


@pytest.mark.parametrize("name,template,what", CONTENT_PATHS, ids=[row[0] for row in CONTENT_PATHS])
def test_a_passcode_link_shows_nothing_on_any_path_before_the_passcode(app, graph, owner, name, template, what):
    made = make_link(app, graph, owner, passcode=PASSCODE)
    response = app.test_client().get(path_of(app, graph, made, template))
    assert response.status_code == 401, name
    text = response.get_data(as_text=True)
    assert "checkout-api" not in text and NAME not in text and "<svg" not in text
    assert link_row(app, made.id).view_count == 0


@pytest.mark.parametrize("name,template,what", CONTENT_PATHS, ids=[row[0] for row in CONTENT_PATHS])
def test_a_snapshot_shows_its_pinned_picture_on_every_path(app, graph, owner, name, template, what):
    draw_again = picture("beta-drawing")
    made = make_link(app, graph, owner, mode="snapshot")
    with app.app_context():
        from maestro_web.extensions import db
        from maestro_web.models import Graph

        Graph.get_by_public_id(graph.public_id).queue_run()
        db.session.commit()
    draw(app, graph.public_id, svg=draw_again)
    response = app.test_client().get(path_of(app, graph, made, template))
    assert response.status_code == 200 and shows(response, what), name
    if what != "png":
        assert "beta-drawing" not in response.get_data(as_text=True)
    assert link_row(app, made.id).view_count == 1


def test_the_page_redraws_with_its_receipt_without_counting_and_only_its_own_link(app, graph, owner):
    made, other = make_link(app, graph, owner, max_views=1), make_link(app, graph, owner)
    for page_path in (made.path, f"/analytics/s/{short_code(app, made.id)}"):
        visitor = app.test_client()
        page = visitor.get(page_path)
        if page_path != made.path:  # the one view was spent by the long link: the short one is used up
            assert page.status_code == 410
            continue
        refresh = html.unescape(re.search(r'data-live-refresh-url="([^"]+)"', page.text).group(1))
        for _ in range(3):
            redrawn = visitor.get(refresh)
            assert redrawn.status_code == 200 and "checkout-api" in redrawn.text
        assert link_row(app, made.id).view_count == 1  # the redraws of a counted page are not views
        # The receipt names its link: on another link's address it opens nothing uncounted.
        seen = re.search(r"seen=([A-Za-z0-9_-]+)", refresh).group(1)
        foreign = app.test_client().get(f"{other.path.replace('?token=', '/live?token=')}&seen={seen}")
        assert foreign.status_code == 200 and link_row(app, other.id).view_count == 1


@pytest.mark.parametrize("template", QUIET_PATHS)
def test_the_ticket_and_the_state_count_nothing_and_show_nothing(app, graph, owner, template):
    made = make_link(app, graph, owner, max_views=1)
    response = app.test_client().get(path_of(app, graph, made, template))
    assert response.status_code == 200 and response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "checkout-api" not in text and NAME not in text and "Nodes" not in text
    assert link_row(app, made.id).view_count == 0
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("outcome", list(BREAKS), ids=[outcome.value for outcome in BREAKS])
def test_the_state_says_each_state_in_one_word(app, graph, owner, outcome):
    made = make_link(app, graph, owner)
    breaks, status = BREAKS[outcome]
    with app.app_context():
        from maestro_web.extensions import db
        from maestro_web.models import ShareLink

        breaks(ShareLink.get_by_public_id(made.id))
        db.session.commit()
    for path in (made.path.replace("?token=", "/state?token="), f"/analytics/s/{short_code(app, made.id)}/state"):
        body = app.test_client().get(path).json
        assert body["state"] == outcome.visitor_sees
        assert REFUSALS[body["state"]][0] == status
        assert set(body) <= {"state", "expires_at"}
    assert link_row(app, made.id).view_count == (3 if outcome is Outcome.USED_UP else 0)


def test_the_state_of_a_viewable_link_and_of_a_locked_one(app, graph, owner):
    open_link, locked = make_link(app, graph, owner), make_link(app, graph, owner, passcode=PASSCODE)
    body = app.test_client().get(open_link.path.replace("?token=", "/state?token=")).json
    assert body["state"] == "active" and body["expires_at"].startswith(
        link_row(app, open_link.id).expires_at.isoformat()[:16]
    )
    assert app.test_client().get(locked.path.replace("?token=", "/state?token=")).json["state"] == "locked"

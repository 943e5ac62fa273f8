"""Plain words (maestro_web/web/words.py): status words, relative times, and pages that use them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from maestro_web.models.graph import GRAPH_STATUSES
from maestro_web.web.words import STATUS_WORDS, relative_time, status_key, status_word, utc_text

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_every_graph_status_has_a_plain_word_and_unknown_ones_never_leak():
    assert [status_word(s) for s in GRAPH_STATUSES] == ["Queued", "Ready", "Ready with warnings", "Failed"]
    assert status_word("claimed") == "Drawing"
    assert status_word("used up") == "Used up" and status_key("used up") == "used_up"
    assert status_word("<b>internal</b>") == "Unknown" and status_key("x y") == "unknown"
    assert not [w for w in STATUS_WORDS.values() if re.search(r"\b(process|finished|warning|error)\b", w)]


@pytest.mark.parametrize(
    "delta, words",
    [
        (timedelta(seconds=-10), "just now"),
        (timedelta(seconds=10), "in a few seconds"),
        (timedelta(minutes=-3, seconds=-20), "3 minutes ago"),
        (timedelta(minutes=-1), "1 minute ago"),
        (timedelta(hours=-2, minutes=-59), "3 hours ago"),
        (timedelta(days=6, hours=23), "in 7 days"),
        (timedelta(days=7), "in 7 days"),
        (timedelta(days=-45), "16 Oct 2026"),
        (timedelta(days=400), "4 Jan 2028"),
    ],
)
def test_relative_time_rounds_to_the_nearest_unit(delta, words):
    assert relative_time(NOW + delta, NOW) == words


def test_naive_times_are_utc_and_the_exact_time_says_utc():
    naive = datetime(2026, 11, 30, 2, 57)
    assert relative_time(naive, NOW) == "3 minutes ago"
    assert utc_text(naive) == "2026-11-30 02:57 UTC"
    assert utc_text(datetime(2026, 11, 30, 4, 57, tzinfo=timezone(timedelta(hours=2)))) == "2026-11-30 02:57 UTC"


def test_pages_show_words_and_times_not_internal_states(client, auth, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Shop")
    auth.login("owner@example.com")
    html = client.get("/graphs/").text
    assert re.search(r'<span class="badge badge-process" data-status="process">Queued</span>', html)
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d UTC" data-relative>just now</time>', html
    )
    overview = client.get(f"/graphs/{graph.public_id}").text
    assert ">process<" not in overview and "Queued" in overview
    picture = client.get(f"/analytics/graphs/{graph.public_id}").text
    assert 'data-status="process">Queued<' in picture
    assert 'data-status-words="' in picture and "&#34;Ready with warnings&#34;" in picture


def test_a_visitor_never_sees_the_runs_internal_message(app, client, make_user, make_graph):
    from share_support import make_link

    from maestro_web.extensions import db
    from maestro_web.models import Graph

    owner = make_user(email="owner@example.com")
    graph = make_graph(owner, name="Shop")
    with app.app_context():
        row = Graph.get_by_public_id(graph.public_id)
        row.status, row.message = "error", "Traceback: KeyError in layout at worker.py:12"
        db.session.commit()
    link = make_link(app, graph, owner)
    page = client.get(link.path).text
    assert "Failed" in page and "KeyError" not in page and "Traceback" not in page

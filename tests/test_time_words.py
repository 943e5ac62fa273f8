"""The words of a time are the same from the server (words.relative_time) and from the browser
(static/time.js), case by case, and they are exactly true: a 7-day link made just now reads "in 7 days",
an hour's "in 1 hour", a far date reads as its date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from node_support import run_static_script

from maestro_web.web.words import relative_time

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)

# (seconds from NOW, the words): the edges of every unit, both directions.
CASES = [
    (0, "just now"),
    (-44, "just now"),
    (44, "in a few seconds"),
    (45, "in 1 minute"),
    (-45, "1 minute ago"),
    (89, "in 1 minute"),
    (90, "in 2 minutes"),
    (-3 * 60 - 20, "3 minutes ago"),
    (3600 - 1, "in 1 hour"),
    (3600 - 31, "in 59 minutes"),
    (3600 - 30, "in 1 hour"),
    (3600, "in 1 hour"),
    (5400 - 1, "in 1 hour"),
    (5400, "in 2 hours"),
    (-(2 * 3600 + 59 * 60), "3 hours ago"),
    (86400 - 1, "in 1 day"),
    (int(23.5 * 3600) - 1, "in 23 hours"),
    (int(23.5 * 3600), "in 1 day"),
    (7 * 86400 - 1, "in 7 days"),
    (7 * 86400 - 5, "in 7 days"),
    (6 * 86400 + 23 * 3600, "in 7 days"),
    (7 * 86400, "in 7 days"),
    (30 * 86400, "in 30 days"),
    (int(30.5 * 86400) - 1, "in 30 days"),
    (int(30.5 * 86400), "6 Jan 2027"),
    (90 * 86400, "6 Mar 2027"),
    (453 * 86400, "3 Mar 2028"),
    (-45 * 86400, "22 Oct 2026"),
    (-400 * 86400, "1 Nov 2025"),
]


@pytest.mark.parametrize("seconds, words", CASES)
def test_the_server_says_what_a_person_would(seconds, words):
    assert relative_time(NOW + timedelta(seconds=seconds), NOW) == words


def test_the_browser_says_the_same_words_case_by_case():
    now_ms = int(NOW.timestamp() * 1000)
    answers = run_static_script(
        "time.js",
        "args.cases.map(s => window.maestroTime.relative(args.now + s * 1000, args.now))",
        {"now": now_ms, "cases": [seconds for seconds, _ in CASES]},
    )
    assert answers == [words for _, words in CASES]
    assert answers == [relative_time(NOW + timedelta(seconds=seconds), NOW) for seconds, _ in CASES]


def test_a_link_made_just_now_for_seven_days_or_an_hour_reads_whole():
    made = NOW
    for later in (0, 1, 29):  # the page may render a few seconds after the link was made
        at = made + timedelta(seconds=later)
        assert relative_time(made + timedelta(days=7), at) == "in 7 days"
        assert relative_time(made + timedelta(hours=1), at) == "in 1 hour"


def _durations() -> list[float]:
    """Seconds from NOW, both ways: every unit's whole counts and its half-way points (where rounding
    turns) with a second and a millisecond either side, up to past FAR_DAYS, and a few years away."""
    points: set[float] = set()
    for unit, counts in ((1, 120), (60, 61), (3600, 25), (86400, 46)):
        for count in range(counts):
            for at in (count * unit, count * unit + unit / 2):
                for offset in (-1, -0.001, 0, 0.001, 1):
                    points.add(round(at + offset, 3))
    points.update(days * 86400.0 for days in (100, 365, 366, 1000, 3653))
    return sorted({sign * p for p in points for sign in (1, -1)})


def test_the_browser_and_the_server_are_twins_over_a_table_of_durations():
    """static/time.js and words.relative_time are written twice (the page's first paint and its
    refresh): they must say the same words for every duration, not only for the cases above."""
    durations = _durations()
    assert len(durations) > 1500
    now_ms = int(NOW.timestamp() * 1000)
    answers = run_static_script(
        "time.js",
        "args.cases.map(s => window.maestroTime.relative(args.now + s * 1000, args.now))",
        {"now": now_ms, "cases": durations},
    )
    server = [relative_time(NOW + timedelta(seconds=seconds), NOW) for seconds in durations]
    differing = [(s, js, py) for s, js, py in zip(durations, answers, server) if js != py]
    assert not differing, differing[:10]

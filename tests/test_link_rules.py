"""The rules of "may this link be viewed?" (models/share_rules.py): the SQL that counts a view and the
Python that diagnoses a refusal give the same answer, rule by rule, on SQLite and on PostgreSQL.

Each case breaks exactly one rule of a link that is otherwise viewable, then asks both halves:
each rule's SQL condition (evaluated by the database on the row) against its Python predicate (on
the ORM row), the counting statement (which must count nothing), the diagnosis (which must name the
broken rule), and the public page (which must give the visitor that rule's answer).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from share_support import BREAKS, make_link
from sqlalchemy import select, update

from maestro_web.extensions import db
from maestro_web.models import Graph, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.models.counting import counting_engine
from maestro_web.models.share_rules import (
    RULES,
    Outcome,
    count_view,
    diagnose,
    picture_svg,
    python_verdicts,
    sql_verdicts,
    working_links,
)
from maestro_web.shares.queries import LINK_STATUSES, status_condition


@pytest.fixture
def other_graph(app, owner, make_graph):
    return make_graph(owner, name="Billing", spec="pay -> bank")


def _both_answers(app, link_id: str, graph_id: str):
    """(SQL verdicts, Python verdicts, diagnosis, view count) for one instant, without counting a view."""
    with app.app_context():
        now = utcnow()
        link = ShareLink.get_by_public_id(link_id)
        assert link is not None
        with counting_engine().connect() as connection:
            in_sql = sql_verdicts(connection, link_id, graph_id, now)
        in_python = python_verdicts(link, graph_id, now)
        return in_sql, in_python, diagnose(link, graph_id, now), link.view_count


def _working(app, graph_id: str) -> set[str]:
    """The graph's links that work now, by the one query every caller asks (share_rules.working_links)."""
    with app.app_context():
        graph_pk = db.session.scalar(select(Graph.id).where(Graph.public_id == graph_id))  # also a deleted one
        return set(db.session.scalars(working_links(graph_pk)))


def test_every_rule_is_in_the_table_once():
    broken = [rule.broken for rule in RULES]
    assert sorted(broken, key=lambda o: o.value) == sorted(
        set(Outcome) - {Outcome.VIEWABLE, Outcome.STOPPED}, key=lambda o: o.value
    )  # STOPPED: the owner's word


def test_a_valid_link_passes_every_rule_in_both_and_is_counted_once(app, graph, writer):
    made = make_link(app, graph, writer)
    in_sql, in_python, outcome, views = _both_answers(app, made.id, graph.public_id)
    assert in_sql == in_python == {rule.broken: True for rule in RULES}
    assert outcome is Outcome.VIEWABLE
    assert _working(app, graph.public_id) == {made.id}
    with app.app_context():
        counted = count_view(made.id, graph.public_id)
        assert counted is not None and counted.name == "Checkout" and picture_svg(counted.picture_id) is not None
        assert counted.expires_at.tzinfo is not None  # the UTC column type, also through raw SQL
        assert ShareLink.get_by_public_id(made.id).view_count == views + 1


@pytest.mark.parametrize("outcome", list(BREAKS), ids=lambda o: o.value.replace(" ", "-"))
def test_each_rule_breaks_alike_in_sql_and_in_python(app, graph, writer, outcome):
    made = make_link(app, graph, writer)
    breaks, status = BREAKS[outcome]
    with app.app_context():
        breaks(ShareLink.get_by_public_id(made.id))
        db.session.commit()

    in_sql, in_python, diagnosis, views = _both_answers(app, made.id, graph.public_id)
    assert in_sql == in_python  # the two halves agree on every rule...
    assert [o for o, holds in in_python.items() if not holds] == [outcome]  # ...and exactly this one is broken
    assert diagnosis is outcome
    assert made.id not in _working(app, graph.public_id)  # "is it working now?" for the whole graph says so too
    with app.app_context():
        assert count_view(made.id, graph.public_id) is None  # the counting statement refuses it
        assert ShareLink.get_by_public_id(made.id).view_count == views  # and counted nothing
    assert app.test_client().get(made.path).status_code == status  # what the visitor is told


def test_a_link_under_another_graphs_id_is_unknown_in_both(app, graph, other_graph, writer):
    made = make_link(app, graph, writer)
    in_sql, in_python, diagnosis, _ = _both_answers(app, made.id, other_graph.public_id)
    assert in_sql == in_python
    assert [o for o, holds in in_python.items() if not holds] == [Outcome.UNKNOWN]
    assert diagnosis is Outcome.UNKNOWN
    with app.app_context():
        assert count_view(made.id, other_graph.public_id) is None
        assert diagnose(None, graph.public_id) is Outcome.UNKNOWN  # no row at all


def test_the_edges_agree_expiry_at_the_same_instant_and_the_last_allowed_view(app, graph, writer):
    made = make_link(app, graph, writer, max_views=2)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        expires_at = link.expires_at
        with counting_engine().connect() as connection:
            for now, holds in ((expires_at - timedelta(microseconds=1), True), (expires_at, False)):
                assert sql_verdicts(connection, made.id, graph.public_id, now)[Outcome.EXPIRED] is holds
                assert python_verdicts(link, graph.public_id, now)[Outcome.EXPIRED] is holds
    # Two views allowed: the second is counted, the third is not, and both halves then say "used up".
    with app.app_context():
        assert count_view(made.id, graph.public_id) is not None
        assert count_view(made.id, graph.public_id) is not None
        assert count_view(made.id, graph.public_id) is None
    in_sql, in_python, diagnosis, views = _both_answers(app, made.id, graph.public_id)
    assert views == 2 and in_sql == in_python and diagnosis is Outcome.USED_UP
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).status() == "used up"


def test_two_broken_rules_are_reported_most_final_first(app, graph, writer):
    """A revoked link that is also paused and expired is "revoked" in the diagnosis and on the owner's pages."""
    made = make_link(app, graph, writer)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        for outcome in (Outcome.PAUSED, Outcome.EXPIRED, Outcome.REVOKED):
            BREAKS[outcome][0](link)
        db.session.commit()
    in_sql, in_python, diagnosis, _ = _both_answers(app, made.id, graph.public_id)
    assert in_sql == in_python
    assert {o for o, holds in in_python.items() if not holds} == {Outcome.REVOKED, Outcome.EXPIRED, Outcome.PAUSED}
    assert diagnosis is Outcome.REVOKED
    with app.app_context():
        assert ShareLink.get_by_public_id(made.id).status() == "revoked"


def test_the_datetime_columns_hand_back_aware_utc(app, graph, writer):
    made = make_link(app, graph, writer)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        values = [
            link.created_at,
            link.expires_at,
            link.max_expires_at,
            db.session.scalar(select(Graph.created_at).where(Graph.id == link.graph_id)),
            db.session.scalar(select(User.created_at).where(User.id == link.creator_id)),
        ]
        assert all(value.utcoffset() == timedelta(0) for value in values)


# Links in every state of the row alone, and in several at once (the most final state wins), set on
# the columns directly: the row methods refuse some of these combinations (pausing a revoked link).
_ROW_STATES: dict[str, dict[str, object]] = {
    "fresh": {},
    "revoked": {"revoked_at": utcnow()},
    "paused": {"paused_at": utcnow()},
    "expired": {"expires_at": utcnow() - timedelta(seconds=1)},
    "used up": {"max_views": 3, "view_count": 3},
    "paused and expired": {"paused_at": utcnow(), "expires_at": utcnow() - timedelta(seconds=1)},
    "paused and used up": {"paused_at": utcnow(), "max_views": 1, "view_count": 1},
    "expired and used up": {"expires_at": utcnow() - timedelta(seconds=1), "max_views": 2, "view_count": 5},
    "all four": {
        "revoked_at": utcnow(),
        "paused_at": utcnow(),
        "expires_at": utcnow() - timedelta(seconds=1),
        "max_views": 1,
        "view_count": 1,
    },
}


@pytest.mark.parametrize("status", LINK_STATUSES)
def test_the_list_filter_and_the_badge_agree_for_each_status(app, graph, writer, status):
    """shares/queries.py's status filter (row_status_sql) selects exactly the rows whose status() is `status`."""
    made = {name: make_link(app, graph, writer, label=name) for name in _ROW_STATES}
    with app.app_context():
        for name, values in _ROW_STATES.items():
            if values:
                db.session.execute(update(ShareLink).where(ShareLink.public_id == made[name].id).values(**values))
        db.session.commit()
        now = utcnow()
        filtered = set(db.session.scalars(select(ShareLink.label).where(status_condition(status, now))))
        badges = {link.label: link.status(now) for link in db.session.scalars(select(ShareLink))}
    assert filtered == {label for label, badge in badges.items() if badge == status}
    assert filtered  # every status is represented, so the comparison is never vacuous
    assert set(badges.values()) == set(LINK_STATUSES)

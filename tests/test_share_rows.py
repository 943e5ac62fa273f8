"""What a share link row does to itself (models/share.py): pause, resume, revoke, extend, and the
batched operations on many rows (revoke_matching, prune), on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from share_support import make_link

from maestro_web.extensions import db
from maestro_web.models import ShareLink
from maestro_web.models.base import utcnow
from maestro_web.models.share import ShareRefused
from maestro_web.refusals import Kind


@pytest.fixture
def graph(make_graph, owner):
    return make_graph(owner, name="Checkout", spec="web -> api")


def test_pause_resume_revoke_on_the_row(app, owner, graph):
    made = make_link(app, graph, owner)
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        link.pause()
        first_pause = link.paused_at
        link.pause()  # pausing twice keeps the first time
        assert link.paused_at == first_pause and link.status() == "paused"
        link.resume()
        assert link.paused_at is None and link.status() == "active"
        link.revoke()
        revoked_at = link.revoked_at
        link.revoke()
        assert link.revoked_at == revoked_at and link.status() == "revoked"
        for action in (link.pause, link.resume):
            with pytest.raises(ShareRefused) as refused:
                action()
            assert refused.value.kind is Kind.CONFLICT  # answered 409 (errors.STATUSES)
        db.session.commit()
        assert ShareLink.get_by_public_id(made.id).revoked_at == revoked_at  # aware UTC back from the column


def test_extend_checks_the_future_the_cap_and_the_tokens_own_limit(app, owner, graph):
    made = make_link(app, graph, owner)
    cap = timedelta(seconds=app.config["MAESTRO_SHARE_MAX_TTL"])
    with app.app_context():
        link = ShareLink.get_by_public_id(made.id)
        assert link.max_expires_at == link.created_at + cap
        with pytest.raises(ShareRefused, match="in the future") as past:
            link.extend(utcnow() - timedelta(minutes=1), cap)
        assert past.value.field == "expires_at" and past.value.kind is Kind.INVALID
        with pytest.raises(ShareRefused, match="can live at most"):
            link.extend(link.created_at + cap + timedelta(minutes=1), cap)
        # A cap raised after the link was made does not reach past its token's exp.
        with pytest.raises(ShareRefused, match="token cannot live that long"):
            link.extend(link.max_expires_at + timedelta(days=1), cap * 2)
        link.extend(link.max_expires_at, cap)
        db.session.commit()
        assert ShareLink.get_by_public_id(made.id).expires_at == ShareLink.get_by_public_id(made.id).max_expires_at
        link.revoke()
        with pytest.raises(ShareRefused) as revoked:
            link.extend(utcnow() + timedelta(days=1), cap)
        assert revoked.value.kind is Kind.CONFLICT


def test_revoke_matching_is_one_update_counting_only_unrevoked_links(app, owner, graph, make_graph):
    other = make_graph(owner, name="Billing", spec="pay -> bank")
    mine = [make_link(app, graph, owner, label=f"L{i}") for i in range(3)]
    theirs = make_link(app, other, owner, label="other graph")
    with app.app_context():
        ShareLink.get_by_public_id(mine[0].id).revoke()
        db.session.commit()
        graph_row_id = ShareLink.get_by_public_id(mine[0].id).graph_id
        assert ShareLink.revoke_matching(ShareLink.graph_id == graph_row_id) == 2
        db.session.commit()
        assert all(ShareLink.get_by_public_id(m.id).status() == "revoked" for m in mine)
        assert ShareLink.get_by_public_id(theirs.id).status() == "active"


def test_prune_deletes_in_batches_only_links_that_ended_before_the_cutoff(app, owner, graph):
    ended = [make_link(app, graph, owner, label=f"old {i}") for i in range(5)]
    recent = make_link(app, graph, owner, label="revoked today")
    active = make_link(app, graph, owner, label="active")
    with app.app_context():
        long_ago = utcnow() - timedelta(days=40)
        for index, made in enumerate(ended):  # some expired long ago, some revoked long ago
            link = ShareLink.get_by_public_id(made.id)
            if index % 2:
                link.expires_at = long_ago
            else:
                link.revoked_at = long_ago
        ShareLink.get_by_public_id(recent.id).revoke()
        db.session.commit()
        assert ShareLink.prune(utcnow() - timedelta(days=30), batch=2) == 5
        db.session.commit()
        assert [ShareLink.get_by_public_id(m.id) for m in ended] == [None] * 5
        assert ShareLink.get_by_public_id(recent.id) is not None
        assert ShareLink.get_by_public_id(active.id) is not None

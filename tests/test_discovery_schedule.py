"""`flask discovery schedule` (SPEC §11): due sources get their command for the user who set them up;
a schedule whose owner lost Write is switched off and the owner told."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import api_headers
from discovery_app_support import COMPOSE, NO_SERVICE

from maestro_web.extensions import db
from maestro_web.mail import wait_for_pending
from maestro_web.models import DiscoveryCrawl, DiscoverySource, Role
from maestro_web.models.base import utcnow

pytestmark = pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE)


def _scheduled(app, client, user, graph, label="Nightly"):
    headers = api_headers(client, user)
    source = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        json={"kind": "compose", "label": label, "input": COMPOSE.decode(), "schedule": "daily"},
    )
    assert source.status_code == 201, source.text
    with app.app_context():
        row = db.session.query(DiscoverySource).filter_by(public_id=source.json["id"]).one()
        assert row.next_crawl_at > utcnow() + timedelta(hours=23)
        row.next_crawl_at = utcnow() - timedelta(seconds=1)  # due now
        db.session.commit()
    return source.json["id"]


def test_a_due_source_is_crawled_and_its_next_time_set(app, client, runner, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner)
    source_id = _scheduled(app, client, owner, graph)
    result = runner.invoke(args=["discovery", "schedule", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent: 0, busy: 0, failed: 1, stopped: 0" in result.output  # no service runs here
    with app.app_context():
        source = db.session.query(DiscoverySource).filter_by(public_id=source_id).one()
        assert source.next_crawl_at > utcnow() + timedelta(hours=23)
        crawl = db.session.query(DiscoveryCrawl).filter_by(source_id=source.id).one()
        assert crawl.status == "failed" and "not reachable" in crawl.message
    # nothing is due any more
    assert "failed: 0" in runner.invoke(args=["discovery", "schedule", "--once"]).output


def test_a_schedule_whose_owner_lost_write_stops_and_tells_them(app, client, runner, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    writer = make_user(email="writer@example.com", name="Wendy")
    graph = make_graph(owner, name="Shop", grants={writer: Role.WRITE})
    source_id = _scheduled(app, client, writer, graph, label="Wendy's compose")
    client.put(
        f"/api/graphs/{graph.public_id}/roles",
        headers=api_headers(client, owner),
        json={"email": "writer@example.com", "role": "read"},
    )
    result = runner.invoke(args=["discovery", "schedule", "--once"])
    assert "stopped: 1" in result.output, result.output
    with app.app_context():
        source = db.session.query(DiscoverySource).filter_by(public_id=source_id).one()
        assert source.schedule == "off" and source.next_crawl_at is None
        assert db.session.query(DiscoveryCrawl).count() == 0
    assert wait_for_pending()
    mails = [path.read_text() for path in (Path(app.instance_path) / "outbox").glob("*.eml")]
    assert any("writer@example.com" in mail and "no longer have the Write role" in mail for mail in mails)

"""Scheduled crawls (SPEC §11): `flask discovery schedule` sends the commands that are due.

A source with a schedule is crawled for the user who set it up (its `created_by`), with that user's
command token, so the role rules decide as for a crawl started by hand. A schedule whose owner lost
Write (or whose owner is gone) is switched off, and the owner is told by e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from maestro_web.extensions import db
from maestro_web.graphs.quotas import QuotaExceeded
from maestro_web.mail import send_mail
from maestro_web.models import DiscoverySource, Graph, Role
from maestro_web.models.base import utcnow
from maestro_web.sources.commands import send_crawl_command
from maestro_web.sources.services import CrawlRefused, fail_crawl, next_crawl_at, start_crawl, sweep_stale_crawls

log = logging.getLogger(__name__)
BATCH = 100


@dataclass
class ScheduleRound:
    sent: int = 0
    busy: int = 0  # a crawl of the source was running already
    failed: int = 0  # the service could not be reached or refused
    stopped: int = 0  # schedules switched off: the owner lost Write
    swept: int = 0  # crawls still running long past the time limit, ended as failed


def send_due_crawls(config: Mapping[str, Any]) -> ScheduleRound:
    """One round: every due source of a live graph gets its command (and its next time)."""
    outcome = ScheduleRound()
    outcome.swept = sweep_stale_crawls(config["MAESTRO_DISCOVERY_TIMEOUT"])
    if outcome.swept:
        log.warning("%d crawl(s) whose discovery service stopped before finishing ended as failed", outcome.swept)
    due = list(
        db.session.scalars(
            select(DiscoverySource)
            .join(Graph, Graph.id == DiscoverySource.graph_id)
            .where(
                DiscoverySource.schedule != "off", DiscoverySource.next_crawl_at <= utcnow(), Graph.deleted_at.is_(None)
            )
            .order_by(DiscoverySource.next_crawl_at)
            .limit(BATCH)
        )
    )
    for source in due:
        owner = source.created_by
        role = source.graph.role_of(owner) if owner is not None else None
        if owner is None or role is None or role < Role.WRITE:
            source.schedule, source.next_crawl_at = "off", None
            db.session.commit()
            outcome.stopped += 1
            if owner is not None:
                send_mail(
                    owner.email,
                    f"Scheduled crawls of “{source.label}” stopped",
                    f"The scheduled crawls of the source “{source.label}” of the graph “{source.graph.name}” "
                    "have been stopped: you no longer have the Write role on that graph.",
                    f"<p>The scheduled crawls of the source <b>{_escape(source.label)}</b> of the graph "
                    f"<b>{_escape(source.graph.name)}</b> have been stopped: you no longer have the Write "
                    "role on that graph.</p>",
                )
            log.info("Schedule of source %s stopped: its owner lost Write", source.public_id)
            continue
        source.next_crawl_at = next_crawl_at(source.schedule)
        db.session.commit()
        try:
            crawl = start_crawl(source, owner, config["MAESTRO_DISCOVERY_TIMEOUT"])
        except (CrawlRefused, QuotaExceeded):  # running already, or the owner's run quota is spent: next time
            db.session.rollback()
            outcome.busy += 1
            continue
        problem = send_crawl_command(config, owner, source, crawl)
        if problem is not None:
            fail_crawl(crawl, problem)
            db.session.commit()
            outcome.failed += 1
            log.warning("Scheduled crawl of source %s not sent: %s", source.public_id, problem)
        else:
            outcome.sent += 1
    return outcome


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))

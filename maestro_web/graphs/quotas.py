"""Fair use: what one account may ask of the analytics worker (docs/operations.md "Quotas").

Worker time is shared by everyone. Without quotas, one user created 200 graphs of 2,000 nodes in a
few seconds and queued hours of work. Each quota is counted for the graph's **owner** (whoever
presses the button: a Writer re-running an owner's graph spends the owner's quota, as the owner's
graphs are what the worker draws) and refused (QuotaExceeded, answered 429 with a message naming it)
before anything is changed:

- MAESTRO_QUOTA_GRAPHS: graphs an account owns (deleted ones do not count);
- MAESTRO_QUOTA_QUEUED_RUNS: the owner's graphs waiting for or being drawn by a worker at once;
- MAESTRO_QUOTA_RUNS_PER_HOUR: runs queued for the owner's graphs in the last hour.

The counts are read, then the row is written: two requests racing may pass one over a quota. A
quota is a fairness bound, not a security boundary, so one over is harmless; the job claim's
round-robin across owners (ingest/jobs.py) keeps the queue fair whatever the counts.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRun, User
from maestro_web.models.base import utcnow
from maestro_web.refusals import Kind, Refused

OPEN_STATES = ("queued", "claimed")
HOUR = timedelta(hours=1)


class QuotaExceeded(Refused):
    """A quota spent (kind TOO_MANY); the message names the quota, `retry_after` says when it frees up."""

    kind = Kind.TOO_MANY

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


def check_new_graph(owner: User) -> None:
    """May `owner` create one more graph (and queue its first run)?"""
    limit = current_app.config["MAESTRO_QUOTA_GRAPHS"]
    owned = (
        db.session.scalar(select(func.count(Graph.id)).where(Graph.owner_id == owner.id, Graph.deleted_at.is_(None)))
        or 0
    )
    if owned >= limit:
        raise QuotaExceeded(
            f"You own {_count(owned, 'graph')}; the graph quota is {limit} per account. "
            "Delete graphs you no longer need to make new ones."
        )
    check_new_run(owner, None)


def check_new_run(owner: User, graph: Graph | None) -> None:
    """May one more run be queued for a graph of `owner` (`graph`, or a new one when None)?

    A run queued for a graph that already has an open run replaces it (Graph.queue_run), so that
    graph's open run is not counted against the queued-runs quota."""
    limit = current_app.config["MAESTRO_QUOTA_QUEUED_RUNS"]
    waiting = (
        select(func.count(GraphRun.id))
        .join(Graph, Graph.id == GraphRun.graph_id)
        .where(Graph.owner_id == owner.id, Graph.deleted_at.is_(None), GraphRun.state.in_(OPEN_STATES))
    )
    if graph is not None and graph.id is not None:
        waiting = waiting.where(GraphRun.graph_id != graph.id)
    count = db.session.scalar(waiting) or 0
    if count >= limit:
        waiting_now = f"{_count(count, 'graph')} of yours {'is' if count == 1 else 'are'} waiting"
        raise QuotaExceeded(
            f"{waiting_now} for the analytics worker; the queued-runs quota is {limit} at once. "
            "Try again when some of them are drawn.",
            60,
        )

    hourly = current_app.config["MAESTRO_QUOTA_RUNS_PER_HOUR"]
    since = utcnow() - HOUR
    recent = db.session.execute(
        select(func.count(GraphRun.id), func.min(GraphRun.queued_at))
        .join(Graph, Graph.id == GraphRun.graph_id)
        .where(Graph.owner_id == owner.id, GraphRun.queued_at >= since)
    ).one()
    if recent[0] >= hourly:
        oldest = recent[1] if recent[1] is not None else utcnow()
        wait = max(1, math.ceil((oldest + HOUR - utcnow()).total_seconds()))
        raise QuotaExceeded(
            f"Your graphs have had {_count(recent[0], 'run')} in the last hour; the runs-per-hour "
            f"quota is {hourly}. Try again in {_count(math.ceil(wait / 60), 'minute')}.",
            wait,
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"

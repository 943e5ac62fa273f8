"""Job claims and result ingest for the analytics worker (SPEC §5), independent of HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphResult, GraphRun, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.refusals import Kind, Refused

RESULT_HISTORY = 5  # results kept per graph, newest first
CLAIM_ATTEMPTS = 5
# Made once: building an alias adapts every column of the model, a measurable part of an ingest.
_NEWER_RUN = aliased(GraphRun)


class IngestRefused(Refused):
    """A worker's result that does not belong to the graph's current run."""

    kind = Kind.CONFLICT


@dataclass
class ResultInput:
    run_id: str
    status: str
    message: str = ""
    svg: str | None = None  # already validated and sanitised
    info: dict[str, Any] = field(default_factory=dict)
    total: int | None = None


def _claimable(now):  # type: ignore[no-untyped-def]
    # Queued, or claimed by a worker whose lease ran out (it died or hung).
    return or_(GraphRun.state == "queued", and_(GraphRun.state == "claimed", GraphRun.lease_expires_at < now))


def claim_next_run(lease_seconds: int) -> GraphRun | None:
    """Hand one claimable run to one worker only; None when there is nothing to do.

    Fair, not first in first out: the run goes to the owner whose runs a worker took least recently
    (an owner never served first), and within an owner to the oldest run. One user queueing a
    hundred runs and another queueing one later: the next claims alternate, so the second waits for
    one run, not a hundred. A claim stamps the owner's `last_claim_at` in the same transaction, which
    moves that owner to the back; ordering by that one column of the owner's row costs a join, not a
    look through the owner's whole history of runs.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent claimers pass each other. Everywhere
    (and alone on SQLite, which has no row locks) the UPDATE repeats the condition and checks the
    row count: whoever loses the race finds 0 rows and tries the next run.
    """
    for _ in range(CLAIM_ATTEMPTS):
        now = utcnow()
        found = db.session.execute(
            select(GraphRun, Graph.owner_id)
            .join(Graph, Graph.id == GraphRun.graph_id)
            .join(User, User.id == Graph.owner_id)
            .where(_claimable(now), Graph.deleted_at.is_(None))
            .order_by(User.last_claim_at.asc().nulls_first(), GraphRun.queued_at, GraphRun.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=GraphRun)
        ).first()
        if found is None:
            db.session.rollback()
            return None
        candidate, owner_id = found
        claimed = db.session.execute(
            update(GraphRun)
            .where(GraphRun.id == candidate.id, _claimable(now))
            .values(
                state="claimed",
                claimed_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=GraphRun.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
            db.session.execute(
                update(User)
                .where(User.id == owner_id)
                .values(last_claim_at=now)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            db.session.refresh(candidate)
            return candidate
        db.session.rollback()
    return None


def ingest_result(graph: Graph, data: ResultInput) -> tuple[GraphResult, bool]:
    """Store a worker's result for the graph's current run, flushed, for the caller to commit;
    (result, created).

    A repeat of a stored run answers the stored result; a run that is not the graph's current
    one is refused (IngestRefused) so a slow, stale worker cannot overwrite a newer picture.
    """
    # One statement finds the run, whether it has a result already and whether a newer run
    # replaced it: on PostgreSQL each statement is a round trip, and ingest makes many.
    found = db.session.execute(
        select(
            GraphRun,
            GraphResult.id,
            ~exists().where(_NEWER_RUN.graph_id == GraphRun.graph_id, _NEWER_RUN.id > GraphRun.id),
        )
        .outerjoin(GraphResult, GraphResult.run_id == GraphRun.id)
        .where(GraphRun.public_id == data.run_id, GraphRun.graph_id == graph.id)
    ).first()
    if found is None:
        raise IngestRefused("run_id is not a run of this graph.")
    run, stored_id, is_current = found
    if stored_id is not None:
        return db.session.get_one(GraphResult, stored_id), False
    if not is_current or run.state not in ("queued", "claimed"):
        raise IngestRefused("run_id is not the graph's current run; a newer run replaced it.")

    result = GraphResult(
        graph=graph, run=run, status=data.status, message=data.message, svg=data.svg, info=data.info, total=data.total
    )
    db.session.add(result)
    run.state = "failed" if data.status == "error" else "finished"
    run.finished_at = utcnow()
    graph.status = data.status
    graph.message = data.message
    graph.info = data.info
    try:
        db.session.flush()
    except IntegrityError:
        # The same run was stored by a concurrent repeat of this POST: answer that one.
        db.session.rollback()
        stored = GraphResult.get_for_run(run)
        if stored is None:
            raise
        return stored, False
    _prune_history(graph)
    return result, True


def _prune_history(graph: Graph) -> None:
    """Delete the graph's results older than the newest RESULT_HISTORY, except those a share link
    points at (a snapshot's pinned result), kept as long as that link's row exists (`flask shares
    prune` deletes ended links; the next ingest then lets their result go). One statement."""
    keep = (
        select(GraphResult.id)
        .where(GraphResult.graph_id == graph.id)
        .order_by(GraphResult.id.desc())
        .limit(RESULT_HISTORY)
    )
    pinned = exists().where(ShareLink.pinned_result_id == GraphResult.id)
    db.session.execute(
        delete(GraphResult)
        .where(GraphResult.graph_id == graph.id, GraphResult.id.not_in(keep.scalar_subquery()), ~pinned)
        .execution_options(synchronize_session=False)
    )

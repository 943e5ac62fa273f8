"""Workflows of a graph's discovery sources (SPEC §11): save a source, start a crawl, merge its result.

The merge never touches the hand-written spec: a source owns its discovered rows, and only a crawl
with status `ok` removes what that source no longer sees (`partial` and `failed` add and refresh).
The union stays within §4's limits: what would pass them is left out, named in the crawl's message,
and the crawl is `partial` (so it removes nothing either). A change of the union is a version
(SPEC §13) by the source and queues the analytics worker.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from maestro_web.domain.dependencies import Change, current_dependencies, difference, record_version
from maestro_web.domain.spec import MAX_EDGES, MAX_NODES
from maestro_web.extensions import db
from maestro_web.graphs.quotas import check_new_run
from maestro_web.models import DiscoveredEdge, DiscoveredNode, DiscoveryCrawl, DiscoverySource, Graph, User
from maestro_web.models.base import utcnow
from maestro_web.receipts import commit_for_other_processes
from maestro_web.refusals import Kind, Refused
from maestro_web.sources.intake import SourceInput

SCHEDULE_INTERVALS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
STALE_GRACE = timedelta(seconds=60)  # a crawl running longer than the service's time limit plus this has died
STOPPED_MESSAGE = "The discovery service stopped before finishing."
LEFT_OUT_NAMED = 5  # how many left-out names a message lists before "and N more"


class CrawlRefused(Refused):
    """A crawl that cannot start or a result that cannot be stored: its state forbids it now."""

    kind = Kind.CONFLICT


def next_crawl_at(schedule: str) -> Any:
    interval = SCHEDULE_INTERVALS.get(schedule)
    return utcnow() + interval if interval is not None else None


def create_source(
    graph: Graph, user: User, *, kind: str, label: str, parts: SourceInput, schedule: str
) -> DiscoverySource:
    """A new source of `graph` made of `parts` (intake.check_source with `required`)."""
    source = DiscoverySource(
        graph_id=graph.id,
        kind=kind,
        label=label.strip(),
        settings=parts.settings or {},
        input=parts.input,
        input_size=len(parts.input or b""),
        sealed_credentials=parts.sealed_credentials,
        key_id_end=parts.key_id_end,
        schedule=schedule,
        next_crawl_at=next_crawl_at(schedule),
        created_by_id=user.id,
    )
    db.session.add(source)
    db.session.flush()
    return source


def change_source(source: DiscoverySource, *, label: str | None, parts: SourceInput, schedule: str | None) -> None:
    """Change what was given (`parts` from intake.check_source without `required`); the rest stays.
    A new schedule counts from now."""
    if label is not None:
        source.label = label.strip()
    if parts.input is not None:
        source.input, source.input_size = parts.input, len(parts.input)
    if parts.settings is not None:
        source.settings = parts.settings
    if parts.sealed_credentials is not None:
        source.sealed_credentials, source.key_id_end = parts.sealed_credentials, parts.key_id_end
    if schedule is not None and schedule != source.schedule:
        source.schedule, source.next_crawl_at = schedule, next_crawl_at(schedule)


def delete_source(source: DiscoverySource, user: User) -> Change:
    """Remove the source and what it discovered; what only it saw leaves the graph (a version by `user`)."""
    graph = source.graph
    before = current_dependencies(graph)
    _delete_owned(source)
    db.session.delete(source)
    db.session.flush()
    change = difference(before, current_dependencies(graph))
    if record_version(graph, change, user=user) is not None:
        graph.queue_run()
    return change


def _delete_owned(source: DiscoverySource) -> None:
    db.session.execute(
        delete(DiscoveredEdge).where(DiscoveredEdge.source_id == source.id).execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(DiscoveredNode).where(DiscoveredNode.source_id == source.id).execution_options(synchronize_session=False)
    )


def running_crawl(source: DiscoverySource) -> DiscoveryCrawl | None:
    return db.session.scalar(
        select(DiscoveryCrawl).where(DiscoveryCrawl.source_id == source.id, DiscoveryCrawl.status == "running")
    )


def sweep_stale_crawls(time_limit: int, *, source: DiscoverySource | None = None, graph: Graph | None = None) -> int:
    """End as `failed` every crawl (of `source`, of `graph`, or anywhere) still `running` longer than
    the service's time limit plus a margin: its service died, and it would block the source forever.

    Committed (a read that sweeps must not lose it); returns how many crawls were ended."""
    stale_before = utcnow() - timedelta(seconds=time_limit) - STALE_GRACE
    where = [DiscoveryCrawl.status == "running", DiscoveryCrawl.started_at < stale_before]
    if source is not None:
        where.append(DiscoveryCrawl.source_id == source.id)
    if graph is not None:
        where.append(DiscoveryCrawl.graph_id == graph.id)
    ended = db.session.execute(
        update(DiscoveryCrawl)
        .where(*where)
        .values(status="failed", finished_at=utcnow(), message=STOPPED_MESSAGE)
        .execution_options(synchronize_session=False)
    )
    count = int(ended.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    if count:
        db.session.commit()
    return count


def start_crawl(source: DiscoverySource, user: User | None, time_limit: int) -> DiscoveryCrawl:
    """A new `running` crawl of `source`, committed; CrawlRefused when one is running already.

    A crawl still `running` long after the service's time limit belongs to a service that died: it
    is ended as `failed` first, so a source is never stuck. The partial unique index on running crawls
    settles two simultaneous starts: the loser is refused. A crawl may queue a run for the worker, so
    it counts against the graph owner's run quotas (QuotaExceeded, before anything starts)."""
    check_new_run(source.graph.owner, source.graph)
    sweep_stale_crawls(time_limit, source=source)
    if running_crawl(source) is not None:
        db.session.rollback()
        raise CrawlRefused("A crawl of this source is running; wait for it to finish.")
    crawl = DiscoveryCrawl(
        source_id=source.id, graph_id=source.graph_id, requested_by_id=user.id if user is not None else None
    )
    db.session.add(crawl)
    try:
        commit_for_other_processes()  # the service reads the row at once (receipts.py)
    except IntegrityError:
        db.session.rollback()
        raise CrawlRefused("A crawl of this source is running; wait for it to finish.") from None
    return crawl


def claim_crawl(crawl: DiscoveryCrawl, claim: str | None = None) -> None:
    """The discovery process that reads the input first owns the crawl; another reader is refused.

    A reader that sent a `claim` (a random string of its own) may read again with the same one: its
    first answer can be lost after the claim was committed (the app killed mid-answer), and without a
    second read the crawl would wait out the dead-service margin. Only the claim's digest is kept."""
    if crawl.status != "running":
        raise CrawlRefused("This crawl has ended.")
    digest = hashlib.sha256(claim.encode()).hexdigest() if claim else None
    if digest is not None and crawl.claimed_by is not None and hmac.compare_digest(crawl.claimed_by, digest):
        return  # the same process, asking again
    taken = db.session.execute(
        update(DiscoveryCrawl)
        .where(DiscoveryCrawl.id == crawl.id, DiscoveryCrawl.claimed_at.is_(None))
        .values(claimed_at=utcnow(), claimed_by=digest)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        db.session.rollback()
        raise CrawlRefused("Another discovery process has taken this crawl.")
    db.session.commit()


def fail_crawl(crawl: DiscoveryCrawl, message: str) -> None:
    """End a running crawl as `failed` with `message` (nothing discovered is touched)."""
    if crawl.status == "running":
        crawl.status = "failed"
        crawl.message = message
        crawl.finished_at = utcnow()


@dataclass
class CrawlResult:
    status: str  # ok | partial | failed
    message: str
    nodes: list[dict[str, Any]] = field(default_factory=list)  # {name, kind?, evidence?}
    edges: list[dict[str, Any]] = field(default_factory=list)  # {source, target, evidence, confidence, calls?, ...}


@dataclass
class _Budget:
    """How many new names and pairs the union may still take within §4's limits."""

    nodes: set[str]
    edges: set[tuple[str, str]]
    left_out_nodes: list[str] = field(default_factory=list)
    left_out_edges: list[tuple[str, str]] = field(default_factory=list)

    def take_node(self, name: str) -> bool:
        if name in self.nodes:
            return True
        if len(self.nodes) >= MAX_NODES:
            self.left_out_nodes.append(name)
            return False
        self.nodes.add(name)
        return True

    def take_edge(self, pair: tuple[str, str]) -> bool:
        if pair in self.edges:
            return True
        if len(self.edges) >= MAX_EDGES:
            self.left_out_edges.append(pair)
            return False
        self.edges.add(pair)
        return True

    def message(self) -> str:
        parts = []
        if self.left_out_nodes:
            parts.append(
                _left_out(f"{len(self.left_out_nodes):,} node(s) over the limit of {MAX_NODES:,}", self.left_out_nodes)
            )
        if self.left_out_edges:
            parts.append(
                _left_out(
                    f"{len(self.left_out_edges):,} edge(s) over the limit of {MAX_EDGES:,}",
                    [f"{s} -> {t}" for s, t in self.left_out_edges],
                )
            )
        return "Left out " + "; ".join(parts) + "." if parts else ""


def _left_out(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:LEFT_OUT_NAMED])
    more = f" and {len(names) - LEFT_OUT_NAMED:,} more" if len(names) > LEFT_OUT_NAMED else ""
    return f"{what}: {shown}{more}"


def apply_crawl(crawl: DiscoveryCrawl, result: CrawlResult) -> Change:
    """Merge a crawl's result into the graph (flushed; the caller commits) and end the crawl.

    Returns what the union gained and lost. The crawl's counts are of the source's own items
    (nodes and edges together): added, removed, refreshed (unchanged)."""
    source = crawl.source
    graph = source.graph
    before = current_dependencies(graph)
    now = utcnow()
    status, messages = result.status, [result.message] if result.message else []

    owned_nodes = {
        row.name: row for row in db.session.scalars(select(DiscoveredNode).where(DiscoveredNode.source_id == source.id))
    }
    owned_edges = {
        (row.source_name, row.target_name): row
        for row in db.session.scalars(select(DiscoveredEdge).where(DiscoveredEdge.source_id == source.id))
    }
    nodes_before, edges_before = before.keys()
    if status == "ok":
        # What only this source gave and it no longer sees frees its room in the budget.
        seen_nodes = {node["name"] for node in result.nodes} | {
            e[k] for e in result.edges for k in ("source", "target")
        }
        seen_edges = {(edge["source"], edge["target"]) for edge in result.edges}
        nodes_before -= {
            name for name in owned_nodes if name not in seen_nodes and before.nodes[name]["origins"] == [source.id]
        }
        edges_before -= {
            pair
            for pair in owned_edges
            if pair not in seen_edges and [o["source"] for o in before.edges[pair]] == [source.id]
        }
    budget = _Budget(nodes_before, edges_before)

    added = unchanged = 0
    kept_nodes: set[str] = set()
    wanted: dict[str, dict[str, Any]] = {node["name"]: node for node in result.nodes}
    for edge in result.edges:  # an edge's ends are nodes of the result even if the result forgot one
        for end in (edge["source"], edge["target"]):
            wanted.setdefault(end, {"name": end})
    for name, node in wanted.items():
        if not budget.take_node(name):
            continue
        kept_nodes.add(name)
        row = owned_nodes.get(name)
        if row is None:
            db.session.add(
                DiscoveredNode(
                    source_id=source.id,
                    graph_id=graph.id,
                    name=name,
                    kind=node.get("kind"),
                    evidence=list(node.get("evidence") or []),
                    last_seen=now,
                )
            )
            added += 1
        else:
            row.kind = node.get("kind")
            row.evidence = list(node.get("evidence") or [])
            row.last_seen = now
            unchanged += 1
    kept_edges: set[tuple[str, str]] = set()
    for edge in result.edges:
        pair = (edge["source"], edge["target"])
        if pair in kept_edges or pair[0] not in kept_nodes or pair[1] not in kept_nodes:
            if pair[0] not in kept_nodes or pair[1] not in kept_nodes:
                budget.left_out_edges.append(pair)
            continue
        if not budget.take_edge(pair):
            continue
        kept_edges.add(pair)
        values = {
            "evidence": list(edge.get("evidence") or []),
            "confidence": edge.get("confidence") or "inferred",
            "calls": edge.get("calls"),
            "p50_ms": edge.get("p50_ms"),
            "p99_ms": edge.get("p99_ms"),
            "last_seen": now,
        }
        edge_row = owned_edges.get(pair)
        if edge_row is None:
            db.session.add(
                DiscoveredEdge(
                    source_id=source.id, graph_id=graph.id, source_name=pair[0], target_name=pair[1], **values
                )
            )
            added += 1
        else:
            for key, value in values.items():
                setattr(edge_row, key, value)
            unchanged += 1

    left_out = budget.message()
    if left_out:
        messages.append(left_out)
        if status == "ok":
            status = "partial"  # nothing dropped silently, and nothing removed on the strength of it
    removed = 0
    if status == "ok":
        for pair, stale_edge in owned_edges.items():
            if pair not in kept_edges:
                db.session.delete(stale_edge)
                removed += 1
        for name, stale_node in owned_nodes.items():
            if name not in kept_nodes:
                db.session.delete(stale_node)
                removed += 1
    db.session.flush()

    crawl.status = status
    crawl.message = " ".join(messages)[:5000]
    crawl.finished_at = now
    crawl.added, crawl.removed, crawl.unchanged = added, removed, unchanged
    change = difference(before, current_dependencies(graph))
    if record_version(graph, change, source=source) is not None:
        graph.queue_run()
    return change

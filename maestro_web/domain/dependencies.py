"""A graph's dependencies: the hand-written spec united with what every source discovered (SPEC §11),
and the difference between two states of them (a version, SPEC §13).

Hand lines are never changed here; a discovered node or edge that the spec also names simply gains
one more origin. The worker is handed the union (`to_worker_spec`), capped at §4's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from maestro_web.domain.spec import MAX_EDGES, MAX_NODES, SpecError, parse_spec
from maestro_web.extensions import db
from maestro_web.models import DiscoveredEdge, DiscoveredNode, DiscoverySource, Graph, GraphVersion, User

HAND = "hand"


@dataclass
class Dependencies:
    """Nodes (name -> attributes and origins) and edges ((source, target) -> origins), in order."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def node(self, name: str, kind: str | None, origin: str | int) -> None:
        entry = self.nodes.setdefault(name, {"attributes": {}, "origins": []})
        if kind and "kind" not in entry["attributes"]:
            entry["attributes"]["kind"] = kind  # the hand spec's kind comes first and wins
        if origin not in entry["origins"]:
            entry["origins"].append(origin)

    def keys(self) -> tuple[set[str], set[tuple[str, str]]]:
        return set(self.nodes), set(self.edges)

    def to_worker_spec(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON form the analytics worker draws (SPEC §5): every node with its attributes, each edge
        once. Never more than §4's limits (a crawl is kept within them when it is merged)."""
        names = list(self.nodes)[:MAX_NODES]
        kept = set(names)
        edges = [pair for pair in self.edges if pair[0] in kept and pair[1] in kept][:MAX_EDGES]
        return {
            "nodes": [{"name": name, **self.nodes[name]["attributes"]} for name in names],
            "edges": [{"source": source, "target": target} for source, target in edges],
        }

    def to_json(self, source_ids: dict[int, str]) -> dict[str, Any]:
        """The §11 shape of `GET /api/graphs/<id>/dependencies`; origins name a source's public id or "hand"."""

        def origin(value: Any) -> Any:
            return source_ids.get(value, value) if isinstance(value, int) else value

        return {
            "nodes": [
                {
                    "name": name,
                    "kind": entry["attributes"].get("kind"),
                    "origins": [origin(o) for o in entry["origins"]],
                }
                for name, entry in self.nodes.items()
            ],
            "edges": [
                {
                    "source": source,
                    "target": target,
                    "origins": [{**item, "source": origin(item["source"])} for item in origins],
                }
                for (source, target), origins in self.edges.items()
            ],
        }


def hand_spec(graph: Graph) -> Dependencies:
    """The hand-written lines alone (an old spec that no longer parses counts as empty)."""
    result = Dependencies()
    try:
        parsed = parse_spec(graph.spec or "")
    except SpecError:
        return result
    for name, attributes in parsed.nodes.items():
        entry = result.nodes.setdefault(name, {"attributes": dict(attributes), "origins": [HAND]})
        entry["attributes"] = dict(attributes)
    for pair in parsed.edges:
        result.edges[pair] = [{"source": HAND, "evidence": [], "confidence": "declared", "last_seen": None}]
    return result


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def current_dependencies(graph: Graph, *, hand: Dependencies | None = None) -> Dependencies:
    """The union the worker draws: the hand spec, then each source's discovered nodes and edges
    (origins are "hand" or the source's row id; `to_json` turns ids into public ids)."""
    result = hand if hand is not None else hand_spec(graph)
    for node in db.session.scalars(
        select(DiscoveredNode)
        .where(DiscoveredNode.graph_id == graph.id)
        .order_by(DiscoveredNode.source_id, DiscoveredNode.id)
    ):
        result.node(node.name, node.kind, node.source_id)
    for edge in db.session.scalars(
        select(DiscoveredEdge)
        .where(DiscoveredEdge.graph_id == graph.id)
        .order_by(DiscoveredEdge.source_id, DiscoveredEdge.id)
    ):
        for name in (edge.source_name, edge.target_name):
            result.node(name, None, edge.source_id)
        item: dict[str, Any] = {
            "source": edge.source_id,
            "evidence": list(edge.evidence or []),
            "confidence": edge.confidence,
            "last_seen": _iso(edge.last_seen),
        }
        for extra in ("calls", "p50_ms", "p99_ms"):
            if getattr(edge, extra) is not None:
                item[extra] = getattr(edge, extra)
        result.edges.setdefault((edge.source_name, edge.target_name), []).append(item)
    return result


def source_public_ids(graph: Graph) -> dict[int, str]:
    rows = db.session.execute(
        select(DiscoverySource.id, DiscoverySource.public_id).where(DiscoverySource.graph_id == graph.id)
    )
    return {row_id: public_id for row_id, public_id in rows}


@dataclass(frozen=True)
class Change:
    """What one change added to and removed from a graph's dependencies."""

    added_nodes: list[str]
    added_edges: list[list[str]]
    removed_nodes: list[str]
    removed_edges: list[list[str]]

    @property
    def empty(self) -> bool:
        return not (self.added_nodes or self.added_edges or self.removed_nodes or self.removed_edges)


def difference(before: Dependencies, after: Dependencies) -> Change:
    nodes_before, edges_before = before.keys()
    nodes_after, edges_after = after.keys()
    return Change(
        added_nodes=[name for name in after.nodes if name not in nodes_before],
        added_edges=[[s, t] for (s, t) in after.edges if (s, t) not in edges_before],
        removed_nodes=[name for name in before.nodes if name not in nodes_after],
        removed_edges=[[s, t] for (s, t) in before.edges if (s, t) not in edges_after],
    )


def record_version(
    graph: Graph, change: Change, *, user: User | None = None, source: DiscoverySource | None = None
) -> GraphVersion | None:
    """A new version of `graph` when `change` changed anything (flushed by the caller's commit).

    Numbers come from max + 1 under the (graph, number) unique constraint: two changes of one graph
    committed at the same moment cannot both take the same number (the second fails and is retried
    by its caller's transaction, like any conflicting write)."""
    if change.empty:
        return None
    number = (
        db.session.scalar(select(func.max(GraphVersion.number)).where(GraphVersion.graph_id == graph.id)) or 0
    ) + 1
    version = GraphVersion(
        graph_id=graph.id,
        number=number,
        user_id=user.id if user is not None else None,
        source_id=source.id if source is not None else None,
        source_label=source.label if source is not None else None,
        source_public_id=source.public_id if source is not None else None,
        added={"nodes": change.added_nodes, "edges": change.added_edges},
        removed={"nodes": change.removed_nodes, "edges": change.removed_edges},
    )
    db.session.add(version)
    return version

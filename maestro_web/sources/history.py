"""What changed since a version (SPEC §13): the picture highlights what was added since then and
lists beside it what was removed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from maestro_web.domain.dependencies import Dependencies
from maestro_web.extensions import db
from maestro_web.models import Graph, GraphVersion


@dataclass
class SinceVersion:
    version: int
    added_nodes: list[str] = field(default_factory=list)
    added_edges: list[list[str]] = field(default_factory=list)
    removed_nodes: list[str] = field(default_factory=list)
    removed_edges: list[list[str]] = field(default_factory=list)


def changes_since(graph: Graph, version: int, now: Dependencies) -> SinceVersion | None:
    """Present now but not at `version` (added), and there at `version` but gone now (removed); None
    when the graph has no such version. Walks the later versions' differences, newest last."""
    later = list(
        db.session.scalars(
            select(GraphVersion)
            .where(GraphVersion.graph_id == graph.id, GraphVersion.number > version)
            .order_by(GraphVersion.number)
        )
    )
    exists = db.session.scalar(
        select(GraphVersion.id).where(GraphVersion.graph_id == graph.id, GraphVersion.number == version)
    )
    if exists is None:
        return None
    touched_nodes: dict[str, None] = {}
    touched_edges: dict[tuple[str, str], None] = {}
    for row in later:
        for part in (row.added, row.removed):
            touched_nodes.update(dict.fromkeys(part.get("nodes", [])))
            touched_edges.update(dict.fromkeys(tuple(pair) for pair in part.get("edges", [])))
    # An item touched after `version` was there then exactly when its first touch was a removal.
    first_touch: dict[object, str] = {}
    for row in later:
        for how, part in (("added", row.added), ("removed", row.removed)):
            for name in part.get("nodes", []):
                first_touch.setdefault(("n", name), how)
            for pair in part.get("edges", []):
                first_touch.setdefault(("e", tuple(pair)), how)
    nodes_now, edges_now = now.keys()
    result = SinceVersion(version)
    for name in touched_nodes:
        then = first_touch[("n", name)] == "removed"
        if name in nodes_now and not then:
            result.added_nodes.append(name)
        elif name not in nodes_now and then:
            result.removed_nodes.append(name)
    for pair in touched_edges:
        then = first_touch[("e", pair)] == "removed"
        if pair in edges_now and not then:
            result.added_edges.append(list(pair))
        elif pair not in edges_now and then:
            result.removed_edges.append(list(pair))
    return result

"""What the graph pages show of discovery: the dependencies with their evidence (overview) and each
source's discovered items, read-only, beside the spec editor (Edit page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from maestro_web.domain.dependencies import current_dependencies, source_public_ids
from maestro_web.extensions import db
from maestro_web.models import DiscoveredEdge, DiscoveredNode, DiscoverySource, Graph

SHOWN_EDGES = 300  # the overview lists this many dependencies; the picture and the API have them all


def dependencies_context(graph: Graph) -> dict[str, Any]:
    """`dependencies` (the §11 JSON shape, at most SHOWN_EDGES edges), `more` (how many were left
    out) and `source_labels` (public id -> label) for the overview's list."""
    body = current_dependencies(graph).to_json(source_public_ids(graph))
    labels = {source.public_id: source.label for source in DiscoverySource.list_for(graph)}
    edges = body["edges"]
    return {
        "dependencies": edges[:SHOWN_EDGES],
        "more_dependencies": max(0, len(edges) - SHOWN_EDGES),
        "source_labels": labels,
        "has_sources": bool(labels),
    }


@dataclass
class DiscoveredPanel:
    source: DiscoverySource
    nodes: list[DiscoveredNode] = field(default_factory=list)
    edges: list[DiscoveredEdge] = field(default_factory=list)


def discovered_by_source(graph: Graph | None) -> list[DiscoveredPanel]:
    """Each source of the graph with what it discovered, for the Edit page's read-only panels."""
    if graph is None:
        return []
    panels = {source.id: DiscoveredPanel(source) for source in DiscoverySource.list_for(graph)}
    for node in db.session.scalars(
        select(DiscoveredNode).where(DiscoveredNode.graph_id == graph.id).order_by(DiscoveredNode.name)
    ):
        panels[node.source_id].nodes.append(node)
    for edge in db.session.scalars(
        select(DiscoveredEdge)
        .where(DiscoveredEdge.graph_id == graph.id)
        .order_by(DiscoveredEdge.source_name, DiscoveredEdge.target_name)
    ):
        panels[edge.source_id].edges.append(edge)
    return list(panels.values())

"""Figures of a dependency graph, computed with networkx (SPEC §6).

Input is the spec as the job claim hands it out: ``{"nodes": [{"name", ...attrs}], "edges":
[{"source", "target"}]}``; an edge ``a -> b`` means "a depends on / calls b". Entry points are the
nodes nothing depends on (in-degree 0); the depth of a node is its shortest distance from one.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx

DEFAULT_KIND = "default"
MAX_CYCLES_COUNTED = 100
MAX_CYCLE_EXAMPLES = 3
MAX_LISTED = 50


@dataclass
class Analysis:
    """What the worker posts back for a graph: its status, a one-line message and the figures."""

    status: str  # finished | warning
    message: str
    info: dict[str, Any]


def build_graph(spec: dict[str, Any]) -> nx.DiGraph:
    """The networkx graph of a claimed spec: each node keeps its attributes (kind...) but its name."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for node in spec.get("nodes", []):
        attributes = {key: value for key, value in node.items() if key != "name"}
        graph.add_node(node["name"], **attributes)
    for edge in spec.get("edges", []):
        graph.add_edge(edge["source"], edge["target"])
    return graph


def kind_of(graph: nx.DiGraph, node: str) -> str:
    """The node's `kind` (it picks the box colour), DEFAULT_KIND when it has none."""
    return str(graph.nodes[node].get("kind") or DEFAULT_KIND)


def analyse(spec: dict[str, Any]) -> Analysis:
    """The figures of a spec, `warning` when it is empty or has cycles, `finished` otherwise.

    Bounded on hostile input: at most MAX_CYCLES_COUNTED cycles are enumerated, and every list in
    `info` is cut to MAX_LISTED (entry points), MAX_CYCLE_EXAMPLES or five items.
    """
    graph = build_graph(spec)
    if graph.number_of_nodes() == 0:
        return Analysis("warning", "Empty dependencies", {"nodes": 0, "edges": 0})

    entry_points = sorted(node for node in graph if not any(p != node for p in graph.predecessors(node)))
    depths = _depths(graph, entry_points)
    histogram = Counter(depths.values())
    self_loops = nx.number_of_selfloops(graph)
    cycles = list(itertools.islice(nx.simple_cycles(graph), MAX_CYCLES_COUNTED + 1))
    in_degrees = sorted(((degree, name) for name, degree in graph.in_degree() if degree), key=lambda x: (-x[0], x[1]))
    info: dict[str, Any] = {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "density": round(nx.density(graph), 4),
        "entry_points": entry_points[:MAX_LISTED],
        "depth_histogram": {str(depth): histogram[depth] for depth in sorted(histogram)},
        "max_depth": max(depths.values()) if depths else 0,
        "unreachable": graph.number_of_nodes() - len(depths),
        "kinds": dict(sorted(Counter(kind_of(graph, node) for node in graph).items())),
        "cycles": min(len(cycles), MAX_CYCLES_COUNTED),
        "cycles_capped": len(cycles) > MAX_CYCLES_COUNTED,
        "cycle_examples": [_cycle_text(cycle) for cycle in sorted(cycles, key=len)[:MAX_CYCLE_EXAMPLES]],
        "self_loops": self_loops,
        "components": nx.number_weakly_connected_components(graph),
        "top_dependencies": [[name, degree] for degree, name in in_degrees[:5]],
    }
    if cycles:
        count = f"more than {MAX_CYCLES_COUNTED}" if info["cycles_capped"] else str(len(cycles))
        plural = "cycle" if len(cycles) == 1 else "cycles"
        return Analysis("warning", f"{count} dependency {plural}, e.g. {info['cycle_examples'][0]}", info)
    return Analysis("finished", f"{info['nodes']} nodes, {info['edges']} edges", info)


def _depths(graph: nx.DiGraph, entry_points: list[str]) -> dict[str, int]:
    """Shortest distance of each node from the nearest entry point (nodes only on cycles have none)."""
    depths: dict[str, int] = {}
    frontier = list(entry_points)
    for node in frontier:
        depths[node] = 0
    while frontier:
        following = []
        for node in frontier:
            for successor in graph.successors(node):
                if successor not in depths:
                    depths[successor] = depths[node] + 1
                    following.append(successor)
        frontier = following
    return depths


def _cycle_text(cycle: list[str]) -> str:
    """A cycle as `a → b → a`, its middle elided when it is longer than eight names."""
    names = list(cycle) + [cycle[0]]
    if len(names) > 8:
        names = names[:4] + ["…"] + names[-2:]
    return " → ".join(names)

"""Draw a dependency graph as a layered, left-to-right SVG diagram (SPEC §6).

Layout: strongly connected components are collapsed so cycles do not break the layering; each node
sits one column right of the deepest thing that depends on it (longest path from the entry points);
nodes inside a column are ordered by the mean position of their neighbours (a few barycenter sweeps)
to cut down on crossing arrows. Boxes are coloured by kind, with a legend; the drawing keeps a fixed
font size and grows instead (the pages pan and zoom), so labels stay readable with hundreds of nodes.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import networkx as nx

from maestro_web.worker.analysis import build_graph, kind_of

SVG_NS = "http://www.w3.org/2000/svg"
FONT_SIZE = 12
CHAR_WIDTH = 7.2  # average advance of the sans-serif font at FONT_SIZE
BOX_HEIGHT = 26
BOX_PADDING = 10
ROW_GAP = 12
COLUMN_GAP = 70
MARGIN = 20
HEADER = 56
MAX_LABEL = 32
SWEEPS = 4

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#bab0ac", "#ff9da7")
KNOWN_KINDS = {"default": "#8c9bab", "service": "#4e79a7", "database": "#f28e2b", "frontend": "#59a14f",
               "queue": "#b07aa1", "cache": "#76b7b2", "external": "#9c755f"}


def colour_of(kind: str) -> str:
    if kind in KNOWN_KINDS:
        return KNOWN_KINDS[kind]
    digest = hashlib.sha256(kind.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def layers(graph: nx.DiGraph) -> list[list[str]]:
    """Columns of nodes, left to right, each ordered to reduce crossings."""
    if graph.number_of_nodes() == 0:
        return []
    condensed = nx.condensation(graph)
    level: dict[int, int] = {}
    for component in nx.topological_sort(condensed):
        level[component] = max((level[p] + 1 for p in condensed.predecessors(component)), default=0)
    columns: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for component, members in condensed.nodes(data="members"):
        columns[level[component]].extend(sorted(members))
    for column in columns:
        column.sort()
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        order = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for index in order:
            reference = columns[index - 1] if forward else columns[index + 1]
            position = {name: i for i, name in enumerate(reference)}
            neighbours = graph.predecessors if forward else graph.successors

            def barycenter(name: str, current: int) -> float:
                placed = [position[n] for n in neighbours(name) if n in position]
                return sum(placed) / len(placed) if placed else current

            column = columns[index]
            columns[index] = [name for _, _, name in sorted(
                (barycenter(name, i), i, name) for i, name in enumerate(column))]
    return columns


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def _box_width(name: str) -> float:
    return round(len(_label(name)) * CHAR_WIDTH + 2 * BOX_PADDING, 1)


def render_svg(spec: dict[str, Any], title: str | None = None) -> str:
    graph = build_graph(spec)
    columns = layers(graph)
    widths = [max((_box_width(name) for name in column), default=0) for column in columns]
    tallest = max((len(column) for column in columns), default=0)
    kinds = sorted({kind_of(graph, node) for node in graph})

    positions: dict[str, tuple[float, float, float]] = {}  # name -> (x, y, width)
    x = MARGIN
    for column, width in zip(columns, widths):
        offset = (tallest - len(column)) * (BOX_HEIGHT + ROW_GAP) / 2  # centre short columns
        for row, name in enumerate(column):
            positions[name] = (x, HEADER + offset + row * (BOX_HEIGHT + ROW_GAP), _box_width(name))
        x += width + COLUMN_GAP
    legend_width = sum(len(kind) * CHAR_WIDTH + 40 for kind in kinds)
    width = max(x - COLUMN_GAP + MARGIN, legend_width + 2 * MARGIN, 240)
    height = HEADER + max(tallest, 1) * (BOX_HEIGHT + ROW_GAP) + MARGIN

    svg = ET.Element("svg", {
        "xmlns": SVG_NS, "viewBox": f"0 0 {width:.0f} {height:.0f}", "width": f"{width:.0f}",
        "height": f"{height:.0f}", "font-family": "Helvetica, Arial, sans-serif", "font-size": str(FONT_SIZE),
        "role": "img", "aria-label": f"Dependency diagram{': ' + title if title else ''}",
    })
    defs = ET.SubElement(svg, "defs")
    for marker_id, colour in (("arrow", "#5f6b7a"), ("arrow-back", "#c0392b")):
        marker = ET.SubElement(defs, "marker", {"id": marker_id, "markerWidth": "10", "markerHeight": "8",
                                                "refX": "9", "refY": "4", "orient": "auto", "markerUnits": "userSpaceOnUse"})
        ET.SubElement(marker, "path", {"d": "M0,0 L10,4 L0,8 z", "fill": colour})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "#ffffff"})
    heading = ET.SubElement(svg, "text", {"x": str(MARGIN), "y": "22", "font-size": "15", "font-weight": "bold", "fill": "#1f2933"})
    heading.text = title or "Dependencies"
    _legend(svg, kinds)
    if not positions:
        empty = ET.SubElement(svg, "text", {"x": str(MARGIN), "y": str(HEADER + 16), "fill": "#52606d"})
        empty.text = "No dependencies yet"

    edges = ET.SubElement(svg, "g", {"class": "edges", "fill": "none", "stroke-width": "1.4"})
    for source, target in graph.edges():
        _edge(edges, positions[source], positions[target], source == target)
    nodes = ET.SubElement(svg, "g", {"class": "nodes"})
    for name, (nx_, ny, box) in positions.items():
        group = ET.SubElement(nodes, "g", {"class": "node"})
        ET.SubElement(group, "title").text = f"{name} ({kind_of(graph, name)})"
        ET.SubElement(group, "rect", {"x": f"{nx_:.1f}", "y": f"{ny:.1f}", "width": f"{box:.1f}", "height": str(BOX_HEIGHT),
                                      "rx": "5", "fill": colour_of(kind_of(graph, name)), "stroke": "#1f2933", "stroke-width": "0.8"})
        label = ET.SubElement(group, "text", {"x": f"{nx_ + box / 2:.1f}", "y": f"{ny + BOX_HEIGHT / 2 + 4:.1f}",
                                              "text-anchor": "middle", "fill": "#ffffff"})
        label.text = _label(name)
    return ET.tostring(svg, encoding="unicode")


def _legend(svg: ET.Element, kinds: list[str]) -> None:
    x = MARGIN
    for kind in kinds:
        ET.SubElement(svg, "rect", {"x": f"{x:.1f}", "y": "32", "width": "12", "height": "12", "rx": "2", "fill": colour_of(kind)})
        ET.SubElement(svg, "text", {"x": f"{x + 16:.1f}", "y": "42", "fill": "#52606d", "font-size": "11"}).text = kind
        x += len(kind) * CHAR_WIDTH + 40


def _edge(group: ET.Element, source: tuple[float, float, float], target: tuple[float, float, float], loop: bool) -> None:
    sx, sy, sw = source
    tx, ty, tw = target
    middle = BOX_HEIGHT / 2
    if loop:  # a self loop: a small arc over the box
        x0, x1, y = sx + sw * 0.6, sx + sw * 0.85, sy
        d = f"M{x0:.1f},{y:.1f} C{x0:.1f},{y - 22:.1f} {x1:.1f},{y - 22:.1f} {x1:.1f},{y:.1f}"
        ET.SubElement(group, "path", {"d": d, "stroke": "#c0392b", "marker-end": "url(#arrow-back)"})
        return
    if tx > sx:  # forward: right side of the source to the left side of the target
        x0, y0, x1, y1 = sx + sw, sy + middle, tx, ty + middle
        bend = max((x1 - x0) / 2, 20)
        d = f"M{x0:.1f},{y0:.1f} C{x0 + bend:.1f},{y0:.1f} {x1 - bend:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        ET.SubElement(group, "path", {"d": d, "stroke": "#5f6b7a", "marker-end": "url(#arrow)"})
        return
    # backward or within a column (a cycle): a dashed arc below the boxes
    x0, y0, x1, y1 = sx + sw / 2, sy + BOX_HEIGHT, tx + tw / 2, ty + BOX_HEIGHT
    dip = max(y0, y1) + 24 + abs(x1 - x0) * 0.05
    d = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{dip:.1f} {x1:.1f},{dip:.1f} {x1:.1f},{y1:.1f}"
    ET.SubElement(group, "path", {"d": d, "stroke": "#c0392b", "stroke-dasharray": "4 3", "marker-end": "url(#arrow-back)"})

"""Draw a dependency graph as a layered, left-to-right SVG diagram (SPEC §6, §9).

layout.py decides where boxes and edges go (Graphviz dot, or a simple grid when dot cannot); this
module writes OUR SVG from that geometry, in the machine-readable structure of §9:

- root `<svg viewBox role="img">` whose first child is a `<title>`;
- `<g class="node" data-node="name" data-kind="kind">` with `<title>name</title>`, a `<rect x y
  width height>` and a `<text>` label (one or two lines, then an ellipsis);
- `<g class="edge" data-source="a" data-target="b">` with one `<path d>` running from the source
  box to the target box and a `<polygon class="arrowhead">` at the target end; cycle-closing
  ("back") edges and self-loops carry `class="edge back"` and are dashed and red;
- no transforms anywhere: every coordinate is in the root's user space.

Labels are 13 px and take black or white, whichever contrasts more with the box (≥ 4.5:1 for any
colour, see `text_colour`).
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import networkx as nx

from maestro_web.worker.analysis import build_graph, kind_of
from maestro_web.worker.layout import Box, Layout, Route, columns_of, layout

SVG_NS = "http://www.w3.org/2000/svg"
FONT_SIZE = 13
CHAR_WIDTH = 7.6  # generous average advance of a sans-serif font at FONT_SIZE, so labels fit their box
LINE_CHARS = 22  # characters per label line before wrapping
LINE_HEIGHT = 16
BOX_PADDING = 10
MIN_BOX_WIDTH = 48
MARGIN = 20
MAX_FAN_IN_HEIGHT = 72
ARROW_LENGTH = 9.0
ARROW_HALF_WIDTH = 4.5

DARK_TEXT = "#000000"  # pure black and white: one of them reaches 4.5:1 on any colour
LIGHT_TEXT = "#ffffff"
EDGE_COLOUR = "#4b5563"
BACK_COLOUR = "#c0392b"
INK = "#1f2933"
MUTED_INK = "#3e4c59"

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#bab0ac", "#ff9da7")
KNOWN_KINDS = {
    "default": "#cbd2d9",
    "service": "#4e79a7",
    "database": "#f28e2b",
    "frontend": "#59a14f",
    "queue": "#b07aa1",
    "cache": "#76b7b2",
    "external": "#9c755f",
}

# Kept for callers of the old module: the simple layout's column order.
layers = columns_of


@dataclass
class Picture:
    """The drawn SVG, which layout engine placed it, and why the simpler one stood in (if it did)."""

    svg: str
    engine: str  # "dot" or "simple"
    warning: str | None  # set when the simpler layout had to be drawn, saying why


def colour_of(kind: str) -> str:
    """The fill of a box: a fixed colour for known kinds, otherwise one picked from PALETTE by a hash
    of the kind, so a kind keeps its colour on every graph and every run."""
    if kind in KNOWN_KINDS:
        return KNOWN_KINDS[kind]
    digest = hashlib.sha256(kind.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(fill: str) -> str:
    """Dark or white text, whichever reads better on `fill` (never below 4.5:1 for any fill)."""
    return DARK_TEXT if contrast(DARK_TEXT, fill) >= contrast(LIGHT_TEXT, fill) else LIGHT_TEXT


def label_lines(name: str) -> list[str]:
    """The name on one or two lines of at most LINE_CHARS, broken after a separator if one is near."""
    if len(name) <= LINE_CHARS:
        return [name]
    cut = max(name.rfind(separator, 0, LINE_CHARS) for separator in " -_./:")
    if cut < LINE_CHARS // 2:
        first, rest = name[:LINE_CHARS], name[LINE_CHARS:]
    else:
        first, rest = name[: cut + 1].rstrip(), name[cut + 1 :]
    if len(rest) > LINE_CHARS:
        rest = rest[: LINE_CHARS - 1] + "…"
    return [first, rest]


def box_size(name: str, incoming: int = 0) -> tuple[float, float]:
    """Wide enough for the label; tall enough for the label and, up to a point, for edges arriving
    side by side (6 units apart), so a box many things depend on shows each arrow apart."""
    lines = label_lines(name)
    width = max(MIN_BOX_WIDTH, round(max(len(line) for line in lines) * CHAR_WIDTH + 2 * BOX_PADDING))
    return float(width), float(max(12 + LINE_HEIGHT * len(lines), min(MAX_FAN_IN_HEIGHT, 6 * incoming + 6)))


def _n(value: float) -> str:
    """A coordinate, short: one decimal, no trailing .0."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def render(
    spec: dict[str, Any], title: str | None = None, *, dot: str | None = None, timeout: float | None = None
) -> Picture:
    """The picture of a spec, and a warning when the simpler layout had to stand in for dot."""
    graph = build_graph(spec)
    sizes = {name: box_size(name, sum(1 for source in graph.predecessors(name) if source != name)) for name in graph}
    placed = layout(graph, sizes, dot=dot, timeout=timeout)
    return Picture(_svg(graph, placed, title), placed.engine, placed.note)


def render_svg(spec: dict[str, Any], title: str | None = None) -> str:
    """Just the SVG text of `render` (tests and benchmarks)."""
    return render(spec, title).svg


def _svg(graph: nx.DiGraph, placed: Layout, title: str | None) -> str:
    """The §9 document: title, heading, legend and notes, then the edges and the boxes, each
    coordinate shifted by (dx, dy) to sit centred below the header (never a transform)."""
    kinds = sorted({kind_of(graph, node) for node in graph})
    notes: list[str] = []
    if placed.note:
        notes.append(placed.note)
    header = 62 + 18 * len(notes)
    legend_width = sum(len(kind) * CHAR_WIDTH + 36 for kind in kinds) + (
        260 if placed.back_edges or _has_loop(graph) else 0
    )
    note_width = max((len(note) * 6.8 for note in notes), default=0)
    width = max(placed.width + 2 * MARGIN, legend_width + 2 * MARGIN, note_width + 2 * MARGIN, 280)
    height = header + max(placed.height, 40) + MARGIN
    dx, dy = MARGIN + max(0.0, (width - 2 * MARGIN - placed.width) / 2), float(header)
    name = title or "Dependencies"

    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {width:.0f} {height:.0f}",
            "width": f"{width:.0f}",
            "height": f"{height:.0f}",
            "font-family": "Helvetica, Arial, sans-serif",
            "font-size": str(FONT_SIZE),
            "role": "img",
        },
    )
    ET.SubElement(svg, "title").text = f"Dependency diagram: {name}"
    ET.SubElement(svg, "rect", {"class": "background", "width": "100%", "height": "100%", "fill": "#ffffff"})
    ET.SubElement(
        svg,
        "text",
        {"class": "heading", "x": str(MARGIN), "y": "24", "font-size": "16", "font-weight": "bold", "fill": INK},
    ).text = name
    _legend(svg, kinds, bool(placed.back_edges) or _has_loop(graph))
    for index, note in enumerate(notes):
        ET.SubElement(
            svg,
            "text",
            {"class": "note", "x": str(MARGIN), "y": str(66 + 18 * index), "font-size": "12", "fill": BACK_COLOUR},
        ).text = note
    if not placed.boxes:
        ET.SubElement(
            svg, "text", {"x": str(MARGIN), "y": str(header + 20), "fill": MUTED_INK}
        ).text = "No dependencies yet"

    edges = ET.SubElement(svg, "g", {"class": "edges", "fill": "none"})
    for (source, target), route in placed.routes.items():
        back = source == target or (source, target) in placed.back_edges
        _edge(edges, source, target, route, back, dx, dy)
    nodes = ET.SubElement(svg, "g", {"class": "nodes"})
    for node, box in placed.boxes.items():
        _node(nodes, node, kind_of(graph, node), box, dx, dy)
    return ET.tostring(svg, encoding="unicode")


def _has_loop(graph: nx.DiGraph) -> bool:
    return any(source == target for source, target in graph.edges())


def _legend(svg: ET.Element, kinds: list[str], cycles: bool) -> None:
    x = float(MARGIN)
    for kind in kinds:
        ET.SubElement(
            svg,
            "rect",
            {
                "x": _n(x),
                "y": "36",
                "width": "14",
                "height": "14",
                "rx": "3",
                "fill": colour_of(kind),
                "stroke": INK,
                "stroke-width": "0.6",
            },
        )
        ET.SubElement(svg, "text", {"x": _n(x + 19), "y": "47.5", "fill": MUTED_INK, "font-size": "12"}).text = kind
        x += len(kind) * CHAR_WIDTH + 36
    if cycles:
        ET.SubElement(
            svg,
            "path",
            {
                "d": f"M{_n(x)},43 L{_n(x + 30)},43",
                "stroke": BACK_COLOUR,
                "stroke-width": "2",
                "stroke-dasharray": "6 4",
                "fill": "none",
            },
        )
        ET.SubElement(
            svg, "text", {"x": _n(x + 36), "y": "47.5", "fill": MUTED_INK, "font-size": "12"}
        ).text = "dashed red: an edge that closes a cycle"


def _node(group: ET.Element, name: str, kind: str, box: Box, dx: float, dy: float) -> None:
    fill = colour_of(kind)
    node = ET.SubElement(group, "g", {"class": "node", "data-node": name, "data-kind": kind})
    ET.SubElement(node, "title").text = name
    x, y = box.x + dx, box.y + dy
    ET.SubElement(
        node,
        "rect",
        {
            "x": _n(x),
            "y": _n(y),
            "width": _n(box.width),
            "height": _n(box.height),
            "rx": "5",
            "fill": fill,
            "stroke": INK,
            "stroke-width": "1",
        },
    )
    lines = label_lines(name)
    centre_x, centre_y = x + box.width / 2, y + box.height / 2
    first_baseline = centre_y - (len(lines) - 1) * LINE_HEIGHT / 2 + FONT_SIZE * 0.35
    label = ET.SubElement(
        node,
        "text",
        {
            "x": _n(centre_x),
            "y": _n(first_baseline),
            "text-anchor": "middle",
            "font-size": str(FONT_SIZE),
            "fill": text_colour(fill),
        },
    )
    if len(lines) == 1:
        label.text = lines[0]
        return
    for index, text in enumerate(lines):
        ET.SubElement(label, "tspan", {"x": _n(centre_x), "y": _n(first_baseline + index * LINE_HEIGHT)}).text = text


def _edge(group: ET.Element, source: str, target: str, route: Route, back: bool, dx: float, dy: float) -> None:
    colour = BACK_COLOUR if back else EDGE_COLOUR
    edge = ET.SubElement(
        group, "g", {"class": "edge back" if back else "edge", "data-source": source, "data-target": target}
    )
    sx, sy = route.start
    parts = [f"M{_n(sx + dx)},{_n(sy + dy)}"]
    for c1, c2, end in route.segments:
        if route.straight:
            parts.append(f"L{_n(end[0] + dx)},{_n(end[1] + dy)}")
        else:
            parts.append(
                f"C{_n(c1[0] + dx)},{_n(c1[1] + dy)} {_n(c2[0] + dx)},{_n(c2[1] + dy)} {_n(end[0] + dx)},{_n(end[1] + dy)}"
            )
    attributes = {"d": " ".join(parts), "stroke": colour, "stroke-width": "1.8" if back else "1.4"}
    if back:
        attributes["stroke-dasharray"] = "6 4"
    ET.SubElement(edge, "path", attributes)
    tip_x, tip_y = route.end
    base_x, base_y = route.arrow_base()
    length = math.hypot(tip_x - base_x, tip_y - base_y) or 1.0
    ux, uy = (tip_x - base_x) / length, (tip_y - base_y) / length
    back_x, back_y = tip_x - ux * ARROW_LENGTH, tip_y - uy * ARROW_LENGTH
    corners = [
        (tip_x, tip_y),
        (back_x - uy * ARROW_HALF_WIDTH, back_y + ux * ARROW_HALF_WIDTH),
        (back_x + uy * ARROW_HALF_WIDTH, back_y - ux * ARROW_HALF_WIDTH),
    ]
    ET.SubElement(
        edge,
        "polygon",
        {
            "class": "arrowhead",
            "fill": colour,
            "points": " ".join(f"{_n(px + dx)},{_n(py + dy)}" for px, py in corners),
        },
    )

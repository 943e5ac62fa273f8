"""Where boxes and edges go: Graphviz `dot` when it can, a plain grid layout when it cannot (SPEC §9).

`dot` is run as a subprocess with a time limit (`-Tjson0`); its node centres and edge splines are
read back and the SVG is drawn by render.py, never taken from dot. When `dot` is missing, fails or
would take too long, `simple_layout` places nodes in a grid of layered columns and routes every edge
only through the free channels between columns and between rows, so the picture still never puts
an edge under a box; the Layout then carries a note saying why it is the simpler one.

Coordinates are SVG user units (1 dot point = 1 unit), y downwards, origin at the top left of the
drawing area; render.py shifts them below its header.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

Point = tuple[float, float]

DOT_TIMEOUT = float(os.environ.get("MAESTRO_DOT_TIMEOUT", "40"))  # seconds; the whole run must stay ≤ 60 s
DOT_MAX_EDGES = 6000  # beyond this dot takes minutes on one core: don't start it just to kill it
POINTS_PER_INCH = 72.0

# The simple layout's grid.
COLUMN_GAP = 64  # vertical channel between columns, where edges change rows
ROW_GUTTER = 20  # horizontal channel between rows, where edges cross columns
LANES = 7  # parallel tracks inside a channel, so edges sharing one stay apart


class LayoutUnavailable(Exception):
    """dot could not lay this graph out (missing, failed, too slow); the message says why."""


@dataclass
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass
class Route:
    """An edge as a start point and cubic Bézier segments (control, control, end), source to target."""

    start: Point
    segments: list[tuple[Point, Point, Point]]
    straight: bool = False  # every segment is a line: drawn as a polyline

    @property
    def end(self) -> Point:
        return self.segments[-1][2] if self.segments else self.start

    def arrow_base(self) -> Point:
        """A point before the end on the same tangent, for the arrowhead's direction."""
        if not self.segments:
            return self.start
        c1, c2, end = self.segments[-1]
        for candidate in (c2, c1, self.segments[-2][2] if len(self.segments) > 1 else self.start):
            if abs(candidate[0] - end[0]) + abs(candidate[1] - end[1]) > 0.5:
                return candidate
        return self.start


@dataclass
class Layout:
    boxes: dict[str, Box]
    routes: dict[tuple[str, str], Route]
    width: float
    height: float
    engine: str  # "dot" or "simple"
    note: str | None = None  # why the simple layout was used
    back_edges: set[tuple[str, str]] = field(default_factory=set)


def line(a: Point, b: Point) -> tuple[Point, Point, Point]:
    """A straight segment written as a cubic Bézier."""
    return (
        (a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3),
        (a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3),
        b,
    )


def layout(
    graph: nx.DiGraph, sizes: dict[str, tuple[float, float]], *, dot: str | None = None, timeout: float | None = None
) -> Layout:
    """dot's layout of `graph` (node sizes given), or the simple one with a note saying why."""
    try:
        return dot_layout(graph, sizes, dot=dot, timeout=DOT_TIMEOUT if timeout is None else timeout)
    except LayoutUnavailable as exc:
        result = simple_layout(graph, sizes)
        result.note = str(exc)
        return result


# --- dot ------------------------------------------------------------------------------------------


def dot_command(dot: str | None = None) -> str | None:
    """The dot executable to use (MAESTRO_DOT overrides the PATH lookup), or None if there is none."""
    wanted = dot or os.environ.get("MAESTRO_DOT") or "dot"
    return shutil.which(wanted)


def dot_source(graph: nx.DiGraph, sizes: dict[str, tuple[float, float]]) -> tuple[str, list[str]]:
    """The graph in dot's language with ids n0, n1, ... (no quoting of user text), and the id order."""
    names = list(graph.nodes)
    ids = {name: f"n{index}" for index, name in enumerate(names)}
    lines = [
        "digraph G {",
        "rankdir=LR; nodesep=0.3; ranksep=0.75; splines=spline; outputorder=edgesfirst;",
        'node [shape=box, fixedsize=true, label=""]; edge [arrowsize=1];',
    ]
    for name in names:
        width, height = sizes[name]
        lines.append(f"{ids[name]} [width={width / POINTS_PER_INCH:.4f}, height={height / POINTS_PER_INCH:.4f}];")
    for source, target in graph.edges():
        lines.append(f"{ids[source]} -> {ids[target]};")
    lines.append("}")
    return "\n".join(lines), names


def dot_layout(
    graph: nx.DiGraph, sizes: dict[str, tuple[float, float]], *, dot: str | None = None, timeout: float = DOT_TIMEOUT
) -> Layout:
    executable = dot_command(dot)
    if executable is None:
        raise LayoutUnavailable("Graphviz dot is not installed on the worker, so a simpler layout was drawn.")
    if graph.number_of_edges() > DOT_MAX_EDGES:
        raise LayoutUnavailable(
            f"{graph.number_of_edges():,} edges are too many for the detailed layout in time, "
            "so a simpler layout was drawn."
        )
    source, names = dot_source(graph, sizes)
    try:
        done = subprocess.run(
            [executable, "-Tjson0"], input=source.encode(), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise LayoutUnavailable(
            f"The detailed layout took longer than {timeout:.0f} s, so a simpler layout was drawn."
        ) from None
    except OSError as exc:
        raise LayoutUnavailable(
            f"Graphviz dot could not run ({exc.strerror}), so a simpler layout was drawn."
        ) from None
    if done.returncode != 0:
        raise LayoutUnavailable(f"Graphviz dot failed (exit {done.returncode}), so a simpler layout was drawn.")
    try:
        return _read_dot_json(json.loads(done.stdout), names)
    except (ValueError, KeyError, IndexError, TypeError):
        raise LayoutUnavailable("Graphviz dot answered something unreadable, so a simpler layout was drawn.") from None


def _numbers(text: str) -> Point:
    x, y = text.split(",")[:2]
    return float(x), float(y)


def _read_dot_json(data: dict[str, Any], names: list[str]) -> Layout:
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    height = y1 - y0

    def flip(point: Point) -> Point:  # dot's y grows upwards
        return point[0] - x0, height - (point[1] - y0)

    boxes: dict[str, Box] = {}
    gvid_name: dict[int, str] = {}
    for obj in data.get("objects", []):
        name = names[int(obj["name"][1:])]
        gvid_name[int(obj["_gvid"])] = name
        cx, cy = flip(_numbers(obj["pos"]))
        width, box_height = float(obj["width"]) * POINTS_PER_INCH, float(obj["height"]) * POINTS_PER_INCH
        boxes[name] = Box(cx - width / 2, cy - box_height / 2, width, box_height)
    if len(boxes) != len(names):
        raise ValueError("dot lost nodes")

    routes: dict[tuple[str, str], Route] = {}
    back: set[tuple[str, str]] = set()
    for edge in data.get("edges", []):
        source, target = gvid_name[int(edge["tail"])], gvid_name[int(edge["head"])]
        start_tip: Point | None = None
        end_tip: Point | None = None
        points: list[Point] = []
        for token in edge["pos"].split():
            if token.startswith("e,"):
                end_tip = flip(_numbers(token[2:]))
            elif token.startswith("s,"):
                start_tip = flip(_numbers(token[2:]))
            else:
                points.append(flip(_numbers(token)))
        if len(points) < 4 or (len(points) - 1) % 3:
            raise ValueError("dot gave an edge that is not a cubic B-spline")
        segments = [(points[i], points[i + 1], points[i + 2]) for i in range(1, len(points) - 1, 3)]
        start = points[0]
        if start_tip is not None:
            segments.insert(0, line(start_tip, start))
            start = start_tip
        if end_tip is not None:
            segments.append(line(points[-1], end_tip))
        routes[(source, target)] = Route(start, segments)
        if source != target and boxes[target].x + boxes[target].width / 2 <= boxes[source].x + boxes[source].width / 2:
            back.add((source, target))
    _spread_heads(boxes, routes)
    return Layout(boxes, routes, x1 - x0, height, "dot", back_edges=back)


def _spread_heads(boxes: dict[str, Box], routes: dict[tuple[str, str], Route]) -> None:
    """Edges that dot sends into one box meet near its centre line; spread them along its left side.

    Only the end of each edge moves: its arrow slides onto the box's left side (in the order the
    edges arrive, so they do not cross) and its last curve bends to follow, the far end of that
    curve staying where dot put it. A bent curve that would touch another box is left as dot drew it.
    """
    arriving: dict[str, list[tuple[float, tuple[str, str]]]] = {}
    for (source, target), route in routes.items():
        box = boxes[target]
        if source == target or len(route.segments) < 2:
            continue
        start_of_curve = route.segments[-3][2] if len(route.segments) > 2 else route.start
        if start_of_curve[0] >= box.x:  # arrives from above, below or the right: not this side's
            continue
        arriving.setdefault(target, []).append((route.segments[-2][0][1], (source, target)))
    obstacles = _BoxGrid(boxes)
    for target, edges in arriving.items():
        if len(edges) < 2:
            continue
        box = boxes[target]
        for rank, (_, key) in enumerate(sorted(edges)):
            route = routes[key]
            y = box.y + box.height * (rank + 1) / (len(edges) + 1)
            tip, foot = (box.x, y), (box.x - 10.0, y)
            begin = route.segments[-3][2] if len(route.segments) > 2 else route.start
            c1 = route.segments[-2][0]
            c2 = (foot[0] - max(8.0, (foot[0] - begin[0]) / 3), y)
            curve = (c1, c2, foot)
            if obstacles.touches(begin, curve, allowed={key[0], key[1]}):
                continue
            route.segments[-2] = curve
            route.segments[-1] = line(foot, tip)


class _BoxGrid:
    """Boxes bucketed by cell, to test quickly whether a curve touches any box but its own two."""

    CELL = 64.0

    def __init__(self, boxes: dict[str, Box]) -> None:
        self.boxes = boxes
        self.cells: dict[tuple[int, int], list[str]] = {}
        for name, box in boxes.items():
            for cx in range(int(box.x // self.CELL), int(box.right // self.CELL) + 1):
                for cy in range(int(box.y // self.CELL), int(box.bottom // self.CELL) + 1):
                    self.cells.setdefault((cx, cy), []).append(name)

    def touches(self, start: Point, curve: tuple[Point, Point, Point], allowed: set[str]) -> bool:
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = start, *curve
        # The control polygon is at least as long as the curve: a sample every 4 units or less.
        length = sum(abs(bx - ax) + abs(by - ay) for (ax, ay), (bx, by) in zip((start, *curve), curve))
        steps = max(16, int(length / 4))
        for step in range(1, steps + 1):
            t = step / steps
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
            px, py = a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3
            for name in self.cells.get((int(px // self.CELL), int(py // self.CELL)), []):
                box = self.boxes[name]
                if name not in allowed and box.x - 2 < px < box.right + 2 and box.y - 2 < py < box.bottom + 2:
                    return True
        return False


# --- the simple grid layout ------------------------------------------------------------------------


def feedback_edges(graph: nx.DiGraph) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first walk from the entry points (self-loops included)."""
    state: dict[str, int] = {}  # 1 on the walk's stack, 2 done
    back: set[tuple[str, str]] = set()
    roots = [node for node in graph if graph.in_degree(node) == 0] + list(graph)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(graph.successors(root)))]
        while stack:
            node, successors = stack[-1]
            for following in successors:
                if following not in state:
                    state[following] = 1
                    stack.append((following, iter(graph.successors(following))))
                    break
                if state[following] == 1:
                    back.add((node, following))
            else:
                state[node] = 2
                stack.pop()
    return back


def columns_of(graph: nx.DiGraph, sweeps: int = 4) -> list[list[str]]:
    """Columns of nodes, left to right (cycle-closing edges turned around), ordered to reduce crossings."""
    if graph.number_of_nodes() == 0:
        return []
    dag: nx.DiGraph = nx.DiGraph()
    dag.add_nodes_from(graph)
    back = feedback_edges(graph)
    dag.add_edges_from(edge for edge in graph.edges() if edge not in back)
    level: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        level[node] = max((level[p] + 1 for p in dag.predecessors(node)), default=0)
    columns: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for node in sorted(graph):
        columns[level[node]].append(node)
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        order = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for index in order:
            reference = columns[index - 1] if forward else columns[index + 1]
            position = {name: i for i, name in enumerate(reference)}
            neighbours = dag.predecessors if forward else dag.successors

            def barycenter(name: str, current: int) -> float:
                placed = [position[n] for n in neighbours(name) if n in position]  # noqa: B023 (used in this pass)
                return sum(placed) / len(placed) if placed else current

            columns[index] = [
                name for _, _, name in sorted((barycenter(name, i), i, name) for i, name in enumerate(columns[index]))
            ]
    return columns


def _lane(key: str, size: float) -> float:
    """A stable offset inside a channel of `size`, so edges sharing it are told apart."""
    return size * (1 + zlib.crc32(key.encode()) % LANES) / (LANES + 1)


def simple_layout(graph: nx.DiGraph, sizes: dict[str, tuple[float, float]]) -> Layout:
    """Boxes on a grid of layered columns; edges run only in the channels between columns and rows."""
    columns = columns_of(graph)
    tallest = max((len(column) for column in columns), default=0)
    cell = max((h for _, h in sizes.values()), default=0) + ROW_GUTTER
    column_left: list[float] = []
    column_right: list[float] = []
    x = float(COLUMN_GAP)
    for column in columns:
        width = max(sizes[name][0] for name in column)
        column_left.append(x)
        column_right.append(x + width)
        x += width + COLUMN_GAP
    boxes: dict[str, Box] = {}
    row_of: dict[str, int] = {}
    column_index: dict[str, int] = {}
    for index, column in enumerate(columns):
        first_row = (tallest - len(column)) // 2  # centre short columns on the grid
        for offset, name in enumerate(column):
            row = first_row + offset
            width, height = sizes[name]
            boxes[name] = Box(column_left[index], ROW_GUTTER + row * cell, width, height)
            row_of[name], column_index[name] = row, index

    def gutter_above(row: int, key: str) -> float:
        return ROW_GUTTER + row * cell - ROW_GUTTER + _lane(key, ROW_GUTTER)

    # Spread the edges leaving (right side) and entering (left side) each box, ordered by the other end.
    outgoing: dict[str, list[str]] = {name: [] for name in boxes}
    incoming: dict[str, list[str]] = {name: [] for name in boxes}
    for source, target in graph.edges():
        if source != target:
            outgoing[source].append(target)
            incoming[target].append(source)

    def spread(box: Box, others: list[str], other: str) -> float:
        ordered = sorted(others, key=lambda name: (boxes[name].y, name))
        return box.y + box.height * (ordered.index(other) + 1) / (len(ordered) + 1)

    routes: dict[tuple[str, str], Route] = {}
    back: set[tuple[str, str]] = set()
    for source, target in graph.edges():
        s, t = boxes[source], boxes[target]
        key = f"{source}\x00{target}"
        right_channel = column_right[column_index[source]] + _lane(key, COLUMN_GAP)
        if source == target:
            # Out of the right side, up into the gutter above, back down onto the box's top.
            top_x = s.x + s.width * 0.75
            gutter = gutter_above(row_of[source], key)
            points = [
                (s.right, s.y + s.height * 0.3),
                (right_channel, s.y + s.height * 0.3),
                (right_channel, gutter),
                (top_x, gutter),
                (top_x, s.y),
            ]
        else:
            exit_y, entry_y = spread(s, outgoing[source], target), spread(t, incoming[target], source)
            left_channel = column_left[column_index[target]] - COLUMN_GAP + _lane(key, COLUMN_GAP)
            if column_index[target] == column_index[source] + 1:
                points = [(s.right, exit_y), (right_channel, exit_y), (right_channel, entry_y), (t.x, entry_y)]
            else:
                gutter = gutter_above(row_of[target], key)
                points = [
                    (s.right, exit_y),
                    (right_channel, exit_y),
                    (right_channel, gutter),
                    (left_channel, gutter),
                    (left_channel, entry_y),
                    (t.x, entry_y),
                ]
            if column_index[target] <= column_index[source]:
                back.add((source, target))
        routes[(source, target)] = Route(points[0], [line(a, b) for a, b in zip(points, points[1:])], straight=True)
    width = (column_right[-1] if column_right else 0) + COLUMN_GAP
    height = ROW_GUTTER + max(tallest, 1) * cell
    return Layout(boxes, routes, width, height, "simple", back_edges=back)

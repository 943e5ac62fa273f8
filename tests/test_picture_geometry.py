"""The picture tells the truth (SPEC §9): parse the worker's SVG and check its geometry.

For each spec and each layout engine (Graphviz dot, and the simple grid that stands in when dot is
missing): no sampled point of any edge path lies inside a box other than the edge's own two ends,
every path starts on its source box and ends on its target box, the drawn edges are exactly the
spec's, self-loops are drawn, and labels are ≥ 12 px with contrast ≥ 4.5:1 on their box.
"""

from __future__ import annotations

import random
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from maestro_web.domain.spec import parse_spec
from maestro_web.ingest.svg import sanitize_svg
from maestro_web.worker.render import KNOWN_KINDS, PALETTE, Picture, render, text_colour

NS = "{http://www.w3.org/2000/svg}"
END_TOLERANCE = 2.0  # how far a path's end may sit from its box's outline
SHRINK = 1.0  # boxes shrunk by this much before testing that an edge stays out of them

WEB_SHOP = """\
browser [kind=frontend] -> cdn [kind=external]
browser -> web [kind=frontend]
web -> api [kind=service]
api -> auth [kind=service]
api -> catalog [kind=service]
api -> cart [kind=service]
api -> orders [kind=service]
orders -> payments [kind=service]
payments -> stripe [kind=external]
orders -> queue [kind=queue]
worker [kind=service] -> queue
worker -> db [kind=database]
worker -> mailer [kind=service]
catalog -> search [kind=service]
catalog -> db
cart -> cache [kind=cache]
orders -> db
auth -> db
"""

CYCLE = "a -> b\nb -> c\nc -> a\nc -> c\nlonely"


def platform_spec() -> str:
    """50 nodes: 10 entry services fanning into shared layers, with a hot database and cache (fan-in)."""
    lines = []
    for i in range(10):
        lines += [f"edge-{i} [kind=frontend] -> gateway-{i % 3}", f"edge-{i} -> auth-service"]
    for g in range(3):
        lines += [f"gateway-{g} -> service-{s}" for s in range(g * 6, g * 6 + 6)]
    for s in range(18):
        lines += [f"service-{s} -> store-{s % 12} [kind=database]", f"service-{s} -> shared-cache [kind=cache]"]
        if s % 3 == 0:
            lines.append(f"service-{s} -> events-bus [kind=queue]")
    lines += [
        "auth-service -> shared-cache",
        "events-bus -> analytics-sink [kind=external]",
        "auth-service -> user-directory-with-a-rather-long-name-for-wrapping [kind=database]",
        "store-0 -> backup-vault [kind=external]",
        "store-1 -> backup-vault",
        "edge-0 -> status-page [kind=external]",
    ]
    return "\n".join(lines)


def random_dag_spec(nodes: int = 300, seed: int = 12) -> str:
    rng = random.Random(seed)
    lines = [f"n{i}" for i in range(nodes)]
    for i in range(nodes):
        for j in rng.sample(range(i + 1, nodes + 1), k=min(2, nodes - i)):
            if j < nodes:
                lines.append(f"n{i} -> n{j}")
    return "\n".join(lines)


SPECS = {"web-shop": WEB_SHOP, "cycle": CYCLE, "platform": platform_spec(), "random-dag-300": random_dag_spec()}
HAS_DOT = shutil.which("dot") is not None
ENGINES = [pytest.param("dot", marks=pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot is not installed")), "simple"]


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float

    def contains(self, px: float, py: float, inset: float = 0.0) -> bool:
        return self.x + inset < px < self.x + self.w - inset and self.y + inset < py < self.y + self.h - inset

    def distance(self, px: float, py: float) -> float:
        """Distance from a point to the box's outline."""
        dx = max(self.x - px, 0.0, px - (self.x + self.w))
        dy = max(self.y - py, 0.0, py - (self.y + self.h))
        if dx or dy:
            return (dx * dx + dy * dy) ** 0.5
        return min(px - self.x, self.x + self.w - px, py - self.y, self.y + self.h - py)


class BoxIndex:
    """Boxes bucketed by grid cell, so each sampled point is tested only against boxes near it."""

    CELL = 64.0

    def __init__(self, boxes: dict[str, Rect]) -> None:
        self.cells: dict[tuple[int, int], list[str]] = {}
        for name, box in boxes.items():
            for cx in range(int(box.x // self.CELL), int((box.x + box.w) // self.CELL) + 1):
                for cy in range(int(box.y // self.CELL), int((box.y + box.h) // self.CELL) + 1):
                    self.cells.setdefault((cx, cy), []).append(name)

    def near(self, x: float, y: float) -> list[str]:
        return self.cells.get((int(x // self.CELL), int(y // self.CELL)), [])


def sample_path(d: str, step: float = 2.0) -> list[tuple[float, float]]:
    """Points along an SVG path of M, L and C commands (absolute), at most `step` apart on lines."""
    tokens = re.findall(r"[MLC]|-?\d+(?:\.\d+)?", d)
    points: list[tuple[float, float]] = []
    command, numbers = "", []
    current = (0.0, 0.0)

    def flush() -> None:
        nonlocal current
        if command == "M":
            current = (numbers[0], numbers[1])
            points.append(current)
        elif command == "L":
            (x0, y0), (x1, y1) = current, (numbers[0], numbers[1])
            count = max(2, int(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / step))
            points.extend((x0 + (x1 - x0) * t / count, y0 + (y1 - y0) * t / count) for t in range(1, count + 1))
            current = (x1, y1)
        elif command == "C":
            p0, p1, p2, p3 = current, numbers[0:2], numbers[2:4], numbers[4:6]
            for i in range(1, 41):
                t = i / 40
                a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
                points.append(
                    (a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1])
                )
            current = (p3[0], p3[1])

    arity = {"M": 2, "L": 2, "C": 6}
    for token in tokens:
        if token in arity:
            command, numbers = token, []
            continue
        numbers.append(float(token))
        if len(numbers) == arity[command]:
            flush()
            numbers = []
            if command == "M":
                command = "L"  # implicit lineto after a moveto, as SVG reads it
    return points


def _rendered(name: str, engine: str) -> Picture:
    spec = parse_spec(SPECS[name]).to_dict()
    return render(spec, title=name, dot=None if engine == "dot" else "/nonexistent/dot")


@pytest.fixture(scope="module")
def pictures() -> dict[tuple[str, str], Picture]:
    return {}


def picture_of(pictures: dict, name: str, engine: str) -> Picture:
    if (name, engine) not in pictures:
        pictures[(name, engine)] = _rendered(name, engine)
    return pictures[(name, engine)]


def parse(svg: str):
    root = ET.fromstring(svg)
    boxes: dict[str, Rect] = {}
    for group in root.iter(f"{NS}g"):
        if group.get("class") == "node":
            rect = group.find(f"{NS}rect")
            boxes[group.get("data-node")] = Rect(*(float(rect.get(k)) for k in ("x", "y", "width", "height")))
    edges = [g for g in root.iter(f"{NS}g") if "edge" in (g.get("class") or "").split()]
    return root, boxes, edges


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(SPECS))
def test_edges_run_from_their_source_to_their_target_and_never_under_another_box(pictures, name, engine):
    picture = picture_of(pictures, name, engine)
    assert picture.engine == engine
    root, boxes, edges = parse(picture.svg)
    spec = parse_spec(SPECS[name]).to_dict()
    assert set(boxes) == {node["name"] for node in spec["nodes"]}
    drawn = {(edge.get("data-source"), edge.get("data-target")) for edge in edges}
    assert drawn == {(edge["source"], edge["target"]) for edge in spec["edges"]}
    assert len(edges) == len(drawn)  # each edge drawn once

    index = BoxIndex(boxes)
    for edge in edges:
        source, target = edge.get("data-source"), edge.get("data-target")
        paths = edge.findall(f"{NS}path")
        assert len(paths) == 1, f"{source} -> {target} has {len(paths)} paths"
        assert edge.find(f"{NS}polygon") is not None, f"{source} -> {target} has no arrowhead"
        points = sample_path(paths[0].get("d"))
        assert len(points) >= 2
        assert boxes[source].distance(*points[0]) <= END_TOLERANCE, f"{source} -> {target} starts off its source box"
        assert boxes[target].distance(*points[-1]) <= END_TOLERANCE, f"{source} -> {target} ends off its target box"
        for point in points:
            for other in index.near(*point):
                if other not in (source, target) and boxes[other].contains(*point, inset=SHRINK):
                    pytest.fail(f"{source} -> {target} passes under {other} at {point}")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_cycle_points_the_right_way_and_the_self_loop_is_drawn(pictures, engine):
    root, boxes, edges = parse(picture_of(pictures, "cycle", engine).svg)
    by_pair = {(e.get("data-source"), e.get("data-target")): e for e in edges}
    loop = by_pair[("c", "c")]
    points = sample_path(loop.find(f"{NS}path").get("d"))
    c = boxes["c"]
    # A visible loop leaves the box's outline and comes back to it.
    assert max(c.distance(*p) for p in points if not c.contains(*p)) > 10
    assert "back" in loop.get("class").split() and loop.find(f"{NS}path").get("stroke-dasharray")
    # Exactly one edge of a -> b -> c -> a closes the cycle: drawn dashed, the others solid.
    dashed = {
        pair for pair in (("a", "b"), ("b", "c"), ("c", "a")) if by_pair[pair].find(f"{NS}path").get("stroke-dasharray")
    }
    assert len(dashed) == 1
    # Arrowheads point into their target: the polygon's tip touches the target box.
    for (_source, target), edge in by_pair.items():
        corners = [tuple(map(float, p.split(","))) for p in edge.find(f"{NS}polygon").get("points").split()]
        assert boxes[target].distance(*corners[0]) <= END_TOLERANCE
    # `lonely` touches no edge.
    assert all("lonely" not in pair for pair in by_pair)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["web-shop", "platform"])
def test_structure_of_section_nine_survives_the_sanitizer(pictures, name, engine):
    svg = picture_of(pictures, name, engine).svg
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("role") == "img" and re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox"))
    assert root[0].tag == f"{NS}title" and name in root[0].text
    assert not [el for el in root.iter() if el.get("transform")], "no transforms below the root"
    for group in root.iter(f"{NS}g"):
        if group.get("class") == "node":
            assert group.find(f"{NS}title").text == group.get("data-node")  # the full name
    assert sanitize_svg(svg) == svg  # nothing of it is dropped on the way to a page


@pytest.mark.parametrize("engine", ENGINES)
def test_labels_are_large_enough_and_contrast_with_their_box(pictures, engine):
    root, boxes, _ = parse(picture_of(pictures, "platform", engine).svg)
    checked = 0
    for group in root.iter(f"{NS}g"):
        if group.get("class") != "node":
            continue
        text = group.find(f"{NS}text")
        fill = group.find(f"{NS}rect").get("fill")
        assert float(text.get("font-size") or root.get("font-size")) >= 12
        assert wcag_contrast(text.get("fill"), fill) >= 4.5, (group.get("data-node"), text.get("fill"), fill)
        checked += 1
    assert checked == len(boxes) == 50


def test_long_names_wrap_to_two_lines_then_an_ellipsis(pictures):
    root, _, _ = parse(picture_of(pictures, "platform", "simple").svg)
    name = "user-directory-with-a-rather-long-name-for-wrapping"
    group = next(g for g in root.iter(f"{NS}g") if g.get("data-node") == name)
    lines = [span.text for span in group.find(f"{NS}text").findall(f"{NS}tspan")]
    assert len(lines) == 2 and lines[1].endswith("…") and name.startswith(lines[0] + lines[1][:-1])


def wcag_contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio, computed here independently of the renderer's own function."""

    def luminance(colour: str) -> float:
        r, g, b_ = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("fill", sorted(set(PALETTE) | set(KNOWN_KINDS.values())))
def test_every_kind_colour_gets_text_with_contrast_of_at_least_four_and_a_half(fill):
    assert wcag_contrast(text_colour(fill), fill) >= 4.5


def test_without_dot_the_simpler_picture_says_why():
    picture = render(parse_spec(CYCLE).to_dict(), title="cycle", dot="/nonexistent/dot")
    assert picture.engine == "simple" and "Graphviz dot is not installed" in picture.warning
    assert "simpler layout" in picture.svg  # written on the picture too


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot is not installed")
def test_a_layout_past_its_time_budget_falls_back_instead_of_hanging():
    picture = render(parse_spec(random_dag_spec(300)).to_dict(), title="big", timeout=0.001)
    assert picture.engine == "simple" and "took longer than" in picture.warning


def test_the_checker_itself_sees_a_path_under_a_box_and_a_path_ending_off_its_box():
    boxes = {"a": Rect(0, 0, 40, 20), "mailer": Rect(100, 0, 40, 20), "queue": Rect(200, 0, 40, 20)}
    straight_through = sample_path("M40,10 C100,10 140,10 200,10")
    index = BoxIndex(boxes)
    assert any("mailer" in index.near(*p) and boxes["mailer"].contains(*p, inset=SHRINK) for p in straight_through)
    assert boxes["queue"].distance(*sample_path("M40,10 L190,10")[-1]) > END_TOLERANCE


def test_any_node_name_keeps_its_data_attributes_through_the_sanitizer():
    names = ['a"b&<c>', "metadata:store", "back\\slash", "javascript:alert(1)", "ünïcødé ☃"]
    spec = {
        "nodes": [{"name": n} for n in names],
        "edges": [{"source": names[i], "target": names[i + 1]} for i in range(4)],
    }
    svg = render(spec, title="odd names").svg
    clean = sanitize_svg(svg)
    assert clean == svg
    root, boxes, edges = parse(clean)
    assert set(boxes) == set(names)
    assert {(e.get("data-source"), e.get("data-target")) for e in edges} == {(names[i], names[i + 1]) for i in range(4)}
    assert "<c>" not in clean and "&lt;c&gt;" in clean  # escaped, never markup


def test_a_worker_without_dot_still_posts_a_picture_and_ends_the_run_with_a_warning(monkeypatch):
    from maestro_web.worker.runner import build_result

    monkeypatch.setenv("MAESTRO_DOT", "/nonexistent/dot")  # the worker's own setting, read per run
    job = {"graph_id": "g", "run_id": "r", "name": "Web shop", "spec": parse_spec(WEB_SHOP).to_dict()}
    result = build_result(job)
    assert result["status"] == "warning"
    assert (
        result["msg"]
        == "16 nodes, 18 edges. Graphviz dot is not installed on the worker, so a simpler layout was drawn."
    )
    root, boxes, edges = parse(result["svg"])
    assert len(boxes) == 16 and len(edges) == 18

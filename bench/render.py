"""Benchmark: how long the reference worker takes to draw a graph (SPEC §9), and what the picture costs after.

    .venv/bin/python -m bench.render [--repeat 5] [--skip-forced-dot]

For each graph: `analyse` (networkx figures), `render` (layout + our SVG) — together what
`build_result` spends before posting, the §9 goals being ≤ 2 s for 60 nodes and ≤ 60 s for the
2,000-node / 10,000-edge limit — then the SVG's size, `sanitize_svg` (what ingest does with it) and
`svg_to_png` (a Download PNG, capped at MAX_PIXELS). Times are the median of `--repeat` runs for
graphs under 500 nodes, one run above. Graphs are generated from a fixed seed:

- platform-60: 8 frontends, 3 gateways, 30 services fanning into 12 stores, a cache, a queue (fan-in);
- random DAG of 300 nodes / ~600 edges, and of 1,000 / 3,000 (dot's layout, growing fast);
- the limit, 2,000 nodes / 10,000 edges: above layout.DOT_MAX_EDGES, so the simple layout at once;
- the limit with dot forced (the edge cap lifted): dot runs until layout.DOT_TIMEOUT, is killed, and
  the simple layout is drawn — the worst case of a run, which must still end within 60 s;
- platform-60 without dot (what a worker without Graphviz draws).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from maestro_web.ingest.svg import sanitize_svg
from maestro_web.pictures import Unrenderable, clear_cache, svg_to_png
from maestro_web.worker import layout as layout_module
from maestro_web.worker.analysis import analyse
from maestro_web.worker.render import render


def platform_spec(services: int = 30) -> dict[str, Any]:
    kinds: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for i in range(8):
        kinds[f"web-{i}"] = "frontend"
        edges.append((f"web-{i}", f"gateway-{i % 3}"))
    for s in range(services):
        edges.append((f"gateway-{s % 3}", f"service-{s}"))
        edges.append((f"service-{s}", f"store-{s % 12}"))
        kinds[f"store-{s % 12}"] = "database"
        if s % 2 == 0:
            edges.append((f"service-{s}", "shared-cache"))
        if s % 3 == 0:
            edges.append((f"service-{s}", "events"))
    kinds.update(
        {
            "shared-cache": "cache",
            "events": "queue",
            "analytics-sink": "external",
            "vault": "external",
            "directory": "database",
            "auth": "service",
        }
    )
    edges += [
        ("events", "analytics-sink"),
        ("store-0", "vault"),
        ("gateway-0", "auth"),
        ("auth", "directory"),
        ("auth", "audit-log"),
    ]
    names = sorted({n for edge in edges for n in edge})
    return {
        "nodes": [{"name": n, **({"kind": kinds[n]} if n in kinds else {})} for n in names],
        "edges": [{"source": a, "target": b} for a, b in edges],
    }


def random_dag(nodes: int, edges: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < edges:
        a, b = rng.randrange(nodes), rng.randrange(nodes)
        if a < b:
            pairs.add((a, b))
    return {
        "nodes": [{"name": f"service-{i}"} for i in range(nodes)],
        "edges": [{"source": f"service-{a}", "target": f"service-{b}"} for a, b in sorted(pairs)],
    }


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _cold_png(svg: str) -> bytes:
    """A Download PNG's first render (a fresh process cache and folder); empty if it is refused."""
    clear_cache()
    with tempfile.TemporaryDirectory() as folder:
        try:
            return svg_to_png(svg, folder)
        except Unrenderable:  # above MAX_PNG_SVG_BYTES: the route answers 422 with the SVG link
            return b""


def measure(name: str, spec: dict[str, Any], repeat: int, dot: str | None = None) -> dict[str, Any]:
    runs = repeat if len(spec["nodes"]) < 500 else 1
    analysis_time, _ = timed(lambda: analyse(spec), runs)
    render_time, picture = timed(lambda: render(spec, title=name, dot=dot), runs)
    sanitize_time, clean = timed(lambda: sanitize_svg(picture.svg), runs)
    png_time, png = timed(lambda: _cold_png(clean), runs)
    return {
        "name": name,
        "nodes": len(spec["nodes"]),
        "edges": len(spec["edges"]),
        "engine": picture.engine,
        "analyse": analysis_time,
        "render": render_time,
        "total": analysis_time + render_time,
        "svg_kb": len(picture.svg.encode()) / 1024,
        "sanitize": sanitize_time,
        "png": png_time,
        "png_kb": len(png) / 1024,
        "warning": picture.warning or "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-forced-dot", action="store_true", help="skip the ~40 s worst case")
    args = parser.parse_args()

    version = (
        subprocess.run(["dot", "-V"], capture_output=True, text=True, check=False).stderr.strip()
        if layout_module.dot_command()
        else "dot not installed"
    )
    print(
        f"Machine: {platform.platform()}, Python {platform.python_version()}, {version}; "
        f"DOT_TIMEOUT {layout_module.DOT_TIMEOUT:.0f} s, DOT_MAX_EDGES {layout_module.DOT_MAX_EDGES:,}\n"
    )
    rows = [
        measure("platform-60", platform_spec(), args.repeat),
        measure("random DAG 300", random_dag(300, 600), args.repeat),
        measure("random DAG 1,000", random_dag(1000, 3000), args.repeat),
        measure("limit 2,000 / 10,000", random_dag(2000, 10000), args.repeat),
        measure("platform-60, no dot", platform_spec(), args.repeat, dot="/nonexistent/dot"),
    ]
    if not args.skip_forced_dot:
        cap = layout_module.DOT_MAX_EDGES
        layout_module.DOT_MAX_EDGES = 10**9  # let dot try the limit, to show the timeout and the fallback
        try:
            rows.append(measure("limit, dot forced", random_dag(2000, 10000), 1))
        finally:
            layout_module.DOT_MAX_EDGES = cap
    print(
        "| graph | nodes | edges | layout | analyse s | render s | analyse + render s | SVG KB | sanitize s | PNG s | PNG KB |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['nodes']:,} | {r['edges']:,} | {r['engine']} | {r['analyse']:.2f} | {r['render']:.2f} | "
            f"**{r['total']:.2f}** | {r['svg_kb']:,.0f} | {r['sanitize']:.2f} | {r['png']:.2f} | {r['png_kb']:,.0f} |"
        )
    for r in rows:
        if r["warning"]:
            print(f"\n{r['name']}: run ends `warning`: “{r['warning']}”")


if __name__ == "__main__":
    main()

"""Benchmark: the image link's PNG (`&ext=png`) for 16, 60 and 300 nodes, cold and cached.

    .venv/bin/python -m bench.png                 # 7 cold renders and 2,000 cached answers per picture
    .venv/bin/python -m bench.png --cold 3 --cached 500

Each picture is drawn by the reference worker (`maestro_web.worker.render`, the layout a worker
with Graphviz posts) from bench/render.py's fixed-seed graphs, then sanitized as ingest stores it
(`sanitize_svg`). Then, for the function the image link and the PNG download share,
`pictures.svg_to_png` (resvg in a limited child process, scaled within MAX_SIDE / MAX_PIXELS, outcomes
cached per process and in a folder shared by the app's processes):

- cold: the process's cache cleared and a fresh folder before each call, so every call starts a
  child that parses and rasterizes (a picture's first request); wall time and the child's CPU time
  (the CPU time barely moves when other work shares the cores, the wall time does);
- cached: the same picture again, each call with its own copy of the SVG text, as each request
  reads it afresh from the database (so the cache's hash and compare of the whole text are counted).

Medians. It also checks the caps on each picture: the SVG under MAX_PNG_SVG_BYTES (else the route
answers 422 without rendering), the PNG within MAX_SIDE and MAX_PIXELS (read from its IHDR), and
the cold time, the bound a request can spend rasterizing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import format_table, machine_busy, machine_description
from bench.render import platform_spec, random_dag
from maestro_web.ingest.svg import sanitize_svg
from maestro_web.pictures import MAX_PIXELS, MAX_PNG_SVG_BYTES, MAX_SIDE, clear_cache, svg_to_png
from maestro_web.worker.render import render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pictures() -> list[tuple[str, dict[str, Any]]]:
    """Three sizes: a small graph, the SPEC §9 reference size, a big one."""
    return [
        ("random DAG 16", random_dag(16, 24)),
        ("platform-60", platform_spec()),
        ("random DAG 300", random_dag(300, 600)),
    ]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@dataclass
class Row:
    name: str
    nodes: int
    edges: int
    svg_bytes: int
    cold_ms: float
    cold_max_ms: float
    cold_cpu_ms: float
    cached_us: float
    png_bytes: int
    width: int
    height: int

    @property
    def within_caps(self) -> bool:
        return (
            self.svg_bytes <= MAX_PNG_SVG_BYTES
            and self.width <= MAX_SIDE
            and self.height <= MAX_SIDE
            and self.width * self.height <= MAX_PIXELS
        )


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the render child)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(name: str, spec: dict[str, Any], cold: int, cached: int) -> Row:
    svg = sanitize_svg(render(spec, title=name).svg)
    cold_times, cold_cpu = [], []
    png = b""
    for _ in range(cold):
        clear_cache()
        copy = svg[:1] + svg[1:]  # a string the cache has not hashed yet, like a fresh database read
        with tempfile.TemporaryDirectory() as folder:
            started, started_cpu = time.perf_counter(), _cpu()
            png = svg_to_png(copy, folder)
            cold_times.append(time.perf_counter() - started)
            cold_cpu.append(_cpu() - started_cpu)
    copies = [svg[:1] + svg[1:] for _ in range(cached)]  # made outside the timed loop
    started = time.perf_counter()
    for copy in copies:
        assert svg_to_png(copy) is png  # the cached object itself: nothing rasterized again (default folder unused)
    cached_seconds = (time.perf_counter() - started) / max(1, cached)
    width, height = png_size(png)
    return Row(
        name=name,
        nodes=len(spec["nodes"]),
        edges=len(spec["edges"]),
        svg_bytes=len(svg.encode()),
        cold_ms=statistics.median(cold_times) * 1000,
        cold_max_ms=max(cold_times) * 1000,
        cold_cpu_ms=statistics.median(cold_cpu) * 1000,
        cached_us=cached_seconds * 1e6,
        png_bytes=len(png),
        width=width,
        height=height,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=7, help="cold renders per picture (median)")
    parser.add_argument("--cached", type=int, default=2000, help="cached answers per picture (mean of the batch)")
    args = parser.parse_args(argv)

    busy = machine_busy(1.0)
    rows = [measure(name, spec, args.cold, args.cached) for name, spec in pictures()]
    machine = machine_description()
    print(f"Command: `python -m bench.png {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print(
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']}, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}; cores busy with other work before the run: "
        f"{'unknown' if busy is None else f'{busy:.0%}'}.\n"
    )
    print(
        format_table(
            [
                "picture",
                "nodes",
                "edges",
                "SVG KB",
                "cold ms (median)",
                "cold ms (max)",
                "cold CPU ms",
                "cached µs",
                "PNG KB",
                "PNG px",
                "within caps",
            ],
            [
                [
                    r.name,
                    str(r.nodes),
                    str(r.edges),
                    f"{r.svg_bytes / 1024:,.0f}",
                    f"{r.cold_ms:,.1f}",
                    f"{r.cold_max_ms:,.1f}",
                    f"{r.cold_cpu_ms:,.1f}",
                    f"{r.cached_us:,.1f}",
                    f"{r.png_bytes / 1024:,.0f}",
                    f"{r.width}×{r.height}",
                    "yes" if r.within_caps else "NO",
                ]
                for r in rows
            ],
        )
    )
    print(
        f"\nCaps: SVG ≤ {MAX_PNG_SVG_BYTES:,} bytes (else 422 before rendering), each side ≤ {MAX_SIDE:,} px, "
        f"width × height ≤ {MAX_PIXELS:,} px."
    )
    return 0 if all(r.within_caps for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

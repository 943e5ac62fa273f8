"""Benchmark: a report's PDF for 60, 300 and 2,000 nodes, and its peak memory.

    .venv/bin/python -m bench.reports                 # 5 runs for 60 and 300 nodes, 3 for the limit
    .venv/bin/python -m bench.reports --repeat 3 --limit-repeat 1

Goals: PDF of a 60-node graph ≤ 3 s, of a 300-node graph ≤ 10 s, of the 2,000-node / 10,000-edge
limit ≤ 60 s; the report service's memory ≤ 400 MB while rendering the largest.

The graphs are bench/render.py's fixed-seed ones (platform-60, a random DAG of 300 nodes / 600
edges, the 2,000 / 10,000 limit), drawn by the reference worker (its real SVG) and analysed by it
(its real figures). The input is what the report service hands `documents.render`: the API's JSON
for the graph and its /dependencies (a fifth of the edges found by a discovery source, with two
lines of evidence and observed calls), ten versions, "changes since" the first.

Each run is a fresh child process (`python -m bench.reports --child`) that reads that input from a
file, imports the module, renders once to warm up nothing (a report service renders one report
per process slot; fonts are loaded on the first render), and reports:

- `render`: wall time of `render("pdf", ...)` — what the goals are about — and its CPU time (the
  CPU time barely moves when other work shares the cores, the wall time does);
- `import`: the one-off import of WeasyPrint (paid once per service process);
- `peak RSS`: the child's maximum resident set (`ru_maxrss`), input and rendering included: the
  memory of a service process while it renders that report;
- the PDF's size and pages, and XLSX / CSV times at the same size.

Medians over the runs.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

GOALS = {60: 3.0, 300: 10.0, 2000: 60.0}
MEMORY_GOAL_MB = 400


def report_json(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The input as the report service fetches it (documents.py's docstring), for `spec`."""
    from maestro_web.worker.analysis import analyse
    from maestro_web.worker.render import render as draw

    rng = random.Random(25)
    analysis = analyse(spec)
    svg = draw(spec, title=name).svg
    nodes = [{"name": n["name"], "kind": n.get("kind"), "origins": ["hand"]} for n in spec["nodes"]]
    edges = []
    for index, edge in enumerate(spec["edges"]):
        origins: list[dict[str, Any]] = [
            {"source": "hand", "evidence": [], "confidence": "declared", "last_seen": None}
        ]
        if index % 5 == 0:
            origins.append(
                {
                    "source": "src_bench",
                    "confidence": rng.choice(["high", "medium"]),
                    "evidence": [
                        f"Deployment {edge['source']} (namespace prod): env "
                        f"{edge['target'].upper().replace('-', '_')}_URL=http://{edge['target']}:8080",
                        f"Service {edge['target']} (namespace prod)",
                    ],
                    "last_seen": "2026-12-05T10:00:00+00:00",
                    "calls": rng.randrange(10, 100_000),
                    "p50_ms": round(rng.uniform(1, 30), 1),
                    "p99_ms": round(rng.uniform(30, 900), 1),
                }
            )
        edges.append({"source": edge["source"], "target": edge["target"], "origins": origins})
    names = [n["name"] for n in spec["nodes"]]
    at = datetime(2026, 12, 1, tzinfo=UTC)
    versions = [
        {
            "version": v,
            "at": (at + timedelta(hours=v)).isoformat(),
            "by": {"user": {"id": "u_bench", "name": "Bench User"}}
            if v % 2
            else {"source": {"id": "src_bench", "label": "prod cluster"}},
            "added": {"nodes": names[v * 3 : v * 3 + 3], "edges": [[names[v], names[v + 1]]]},
            "removed": {"nodes": [f"old-{v}"], "edges": [[names[v], f"old-{v}"]]},
        }
        for v in range(10, 0, -1)
    ]
    graph = {
        "id": "g_bench",
        "name": name,
        "type": "infra",
        "description": "",
        "spec": "",
        "status": analysis.status,
        "message": analysis.message,
        "info": analysis.info,
        "dependencies": {"nodes": nodes, "edges": edges},
    }
    return {"graph": graph, "analytics": analysis.info, "svg": svg, "versions": versions, "since": 1}


def child(path: str, formats: list[str]) -> None:
    started = time.perf_counter()
    import weasyprint  # noqa: F401

    from maestro_web.reports import documents_pdf  # noqa: F401  (WeasyPrint, Pango)
    from maestro_web.reports.documents import ReportInput, render

    imported = time.perf_counter() - started
    raw = json.loads(Path(path).read_text())
    data = ReportInput(
        graph=raw["graph"],
        analytics=raw["analytics"],
        svg=raw["svg"],
        versions=raw["versions"],
        since=raw["since"],
        requested_by="Bench User",
        as_of=datetime.now(UTC),
    )
    result: dict[str, Any] = {"import": imported}
    for fmt in formats:
        wall, cpu = time.perf_counter(), time.process_time()
        body = render(fmt, data)
        result[fmt] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "bytes": len(body)}
        if fmt == "pdf":
            from pypdf import PdfReader

            result[fmt]["pages"] = len(PdfReader(io.BytesIO(body)).pages)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(path: str, formats: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--child", path, *formats],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--limit-repeat", type=int, default=3)
    parser.add_argument("--sizes", default="60,300,2000", help="which graphs, by node count (60, 300, 2000)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return

    from bench.render import platform_spec, random_dag

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    import weasyprint

    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(
        f"Commit {commit}; {platform.platform()}, Python {platform.python_version()}, WeasyPrint "
        f"{weasyprint.__version__}; load average at start {' '.join(load)}\n"
    )
    cases = [
        (60, "platform-60", platform_spec()),
        (300, "random DAG 300", random_dag(300, 600)),
        (2000, "limit 2,000 / 10,000", random_dag(2000, 10000)),
    ]
    wanted = {int(size) for size in args.sizes.split(",")}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size, name, spec in (case for case in cases if case[0] in wanted):
            path = str(Path(folder) / f"{size}.json")
            Path(path).write_text(json.dumps(report_json(spec, name)))
            runs = [
                run_child(path, ["pdf", "xlsx", "csv"])
                for _ in range(args.limit_repeat if size >= 2000 else args.repeat)
            ]
            median = lambda *keys: statistics.median(  # noqa: E731
                r[keys[0]][keys[1]] if len(keys) == 2 else r[keys[0]] for r in runs
            )
            row = {
                "name": name,
                "nodes": len(spec["nodes"]),
                "edges": len(spec["edges"]),
                "runs": len(runs),
                "pdf": median("pdf", "wall"),
                "pdf_cpu": median("pdf", "cpu"),
                "import": median("import"),
                "peak": max(r["peak_mb"] for r in runs),
                "mb": runs[0]["pdf"]["bytes"] / 1024 / 1024,
                "pages": runs[0]["pdf"]["pages"],
                "xlsx": median("xlsx", "wall"),
                "csv": median("csv", "wall"),
                "goal": GOALS[size],
            }
            rows.append(row)
            print(
                f"{name}: PDF {row['pdf']:.2f} s (CPU {row['pdf_cpu']:.2f} s), {row['pages']} pages, "
                f"{row['mb']:.2f} MiB; peak RSS {row['peak']:.0f} MB; XLSX {row['xlsx']:.2f} s, CSV {row['csv']:.3f} s; "
                f"import {row['import']:.2f} s ({row['runs']} runs)",
                flush=True,
            )
    print("\n| graph | nodes / edges | PDF wall (median) | PDF CPU | goal | pages | PDF size | peak RSS | XLSX | CSV |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "met" if r["pdf"] <= r["goal"] and r["peak"] <= MEMORY_GOAL_MB else "MISSED"
        print(
            f"| {r['name']} | {r['nodes']:,} / {r['edges']:,} | {r['pdf']:.2f} s | {r['pdf_cpu']:.2f} s | "
            f"≤ {r['goal']:.0f} s, ≤ {MEMORY_GOAL_MB} MB: {ok} | {r['pages']} | {r['mb']:.2f} MiB | {r['peak']:.0f} MB | "
            f"{r['xlsx']:.2f} s | {r['csv']:.3f} s |"
        )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"\nload average at the end {' '.join(load)}")


if __name__ == "__main__":
    main()

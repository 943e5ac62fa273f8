"""Benchmark: worker results accepted per second by `POST /analytics/graphs` (SPEC §5).

    .venv/bin/python -m bench.ingest --database both

What one measured request is: the body the reference worker (`maestro_web.worker.runner.build_result`)
posts for a real graph: `{run_id, status, msg, svg, total, info}` with an SVG drawn by the worker's
own renderer (`render_svg`) from a parsed dependency spec, sized to about 100 KB and 1 MB, and a worker
token for that graph in `Authorization: JWT <t>`. Every POST carries the run_id of a run that is
queued and is its graph's current run, so every answer counted is a **201: a new result accepted**:
token verified, JSON parsed, the SVG parsed with lxml and cleaned to the allow-list, the
result row inserted, the run and graph updated, the history pruned, committed. Anything else (a 200
"already stored", 409, 422, 5xx, a dropped connection) is counted as an error, not as throughput.

How fresh runs are made: before the timed part, graphs are created through the app's own
`create_graph()` service (which queues a run with `Graph.queue_run()`), one graph per POST to come,
and tokens are minted with `mint_result_token()` (bound to the run and the body). Queueing, minting and payload drawing are not
timed. Runs are left `queued` rather than claimed first: ingest accepts a queued or a claimed current
run and does the same work for both; claiming is `POST /analytics/jobs/claim`, another route.

Baseline, in the same run against the same server: `GET /bench/hello` from `bench/bench_app.py`
(the real app from `create_app()` plus a route that returns "hello"), so "× hello" is what ingesting
costs on top of Flask, the extensions and the after-request hooks. Each round measures hello and
each size once, in rotating order, for `--seconds` each; the tables give the median over the rounds.

Everything runs on 127.0.0.1: gunicorn with the repo's gunicorn.conf.py (production settings, access
log on) serving `bench.bench_app:app` on a free port, a fresh SQLite file in a temp folder or a fresh
PostgreSQL database; all of it is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    DEFAULT_POSTGRES_ADMIN_URL,
    BenchDatabase,
    GunicornServer,
    LiveServer,
    LoadResult,
    Request,
    TempWorkdir,
    format_table,
    free_port,
    machine_busy,
    machine_description,
    median,
    migrate,
    percentile,
    production_environ,
    run_load,
)

INGEST_PATH = "/analytics/graphs"
HELLO_PATH = "/bench/hello"
KINDS = ("service", "database", "frontend", "queue", "cache", "external")
EDGES_PER_NODE = 3
LAYERS = 10
RUN_ID_PLACEHOLDER = "RUN-ID-PLACEHOLDER"


# --- payloads ------------------------------------------------------------------------------------


def spec_text(nodes: int, seed: int = 1) -> str:
    """A layered service graph in the textarea syntax: `name [kind=...]` lines, then `a -> b` lines."""
    rng = random.Random(seed)
    names = [f"svc-{i:04d}" for i in range(nodes)]
    lines = [f"{name} [kind={KINDS[i % len(KINDS)]}]" for i, name in enumerate(names)]
    layers = [names[layer::LAYERS] for layer in range(LAYERS)]
    for i, name in enumerate(names):
        below = layers[i % LAYERS + 1] if i % LAYERS + 1 < LAYERS else []
        lines.extend(f"{name} -> {target}" for target in rng.sample(below, min(EDGES_PER_NODE, len(below))))
    return "\n".join(lines)


@dataclass
class Payload:
    """One worker result, ready to post for any run: body = prefix + run_id + suffix."""

    label: str
    target_bytes: int
    spec: str
    nodes: int
    edges: int
    svg_bytes: int
    prefix: bytes
    suffix: bytes

    def body(self, run_id: str) -> bytes:
        return self.prefix + run_id.encode() + self.suffix

    @property
    def body_bytes(self) -> int:
        return len(self.prefix) + len(self.suffix) + 22  # run ids are 22 URL-safe characters


def build_payload(target_bytes: int, label: str) -> Payload:
    """The reference worker's result for the smallest graph whose SVG reaches `target_bytes`."""
    from maestro_web.domain.spec import MAX_NODES, parse_spec
    from maestro_web.worker.render import render_svg
    from maestro_web.worker.runner import build_result

    def svg_size(nodes: int) -> int:
        return len(render_svg(parse_spec(spec_text(nodes)).to_dict(), title="bench").encode())

    low, high = 1, MAX_NODES  # the largest graph a user can save
    if svg_size(high) < target_bytes:
        low = high
    while low < high:  # the smallest node count whose drawing is at least target_bytes
        middle = (low + high) // 2
        if svg_size(middle) >= target_bytes:
            high = middle
        else:
            low = middle + 1
    text = spec_text(low)
    spec = parse_spec(text).to_dict()
    result = build_result({"run_id": RUN_ID_PLACEHOLDER, "spec": spec, "name": "bench", "graph_id": "bench"})
    if result["status"] == "error":
        raise RuntimeError(f"the reference worker failed on the benchmark graph: {result['msg']}")
    body = json.dumps(result).encode()
    prefix, _, suffix = body.partition(RUN_ID_PLACEHOLDER.encode())
    return Payload(
        label=label,
        target_bytes=target_bytes,
        spec=text,
        nodes=len(spec["nodes"]),
        edges=len(spec["edges"]),
        svg_bytes=len(result["svg"].encode()),
        prefix=prefix,
        suffix=suffix,
    )


def size_label(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{size / 1000:g} KB"


# --- the app's side: queued runs and worker tokens -----------------------------------------------


class RunQueue:
    """Queues runs and mints worker tokens through the app's own code, on the benchmark's database."""

    def __init__(self, environ: dict[str, str]) -> None:
        from maestro_web import create_app
        from maestro_web.extensions import db
        from maestro_web.models import User

        self.app = create_app(environ=environ)
        self.db = db
        with self.app.app_context():
            owner = User.create("bench@example.com", "Bench", "bench-password-not-used")
            db.session.commit()
            self.owner_id = owner.id

    def queue(self, count: int, label: str, spec: str) -> list[tuple[str, str]]:
        """`count` new graphs, each with one queued run: [(graph id, run id)]."""
        from sqlalchemy import select

        from maestro_web.graphs.services import GraphChanges, create_graph
        from maestro_web.models import Graph, GraphRun, User

        db = self.db
        with self.app.app_context():
            owner = db.session.get(User, self.owner_id)
            ids = [
                create_graph(owner, GraphChanges(name=f"{label} #{i}", type="infra", description="", spec=spec)).id
                for i in range(count)
            ]
            db.session.commit()
            rows = db.session.execute(
                select(Graph.public_id, GraphRun.public_id)
                .join(GraphRun, GraphRun.graph_id == Graph.id)
                .where(Graph.id.in_(ids), GraphRun.state == "queued")
            ).all()
        if len(rows) != count:
            raise RuntimeError(f"queued {count} runs but found {len(rows)}")
        return [(graph_id, run_id) for graph_id, run_id in rows]

    def token(self, graph_id: str, run_id: str, body: bytes) -> str:
        from maestro_web.security.worker_tokens import mint_result_token

        return mint_result_token(self.app.config["KEY_RINGS"]["analytics"], graph_id, run_id, body, lifetime=900)

    def stored_results(self) -> int:
        from sqlalchemy import func, select

        from maestro_web.models import GraphResult

        with self.app.app_context():
            return self.db.session.scalar(select(func.count(GraphResult.id))) or 0

    def close(self) -> None:
        with self.app.app_context():
            self.db.engine.dispose()


def ingest_requests(queue: RunQueue, runs: list[tuple[str, str]], payload: Payload) -> list[tuple[str, str, str]]:
    """(graph id, run id, token) per POST to come, each token bound to its run and body (as the
    reference worker mints them); the bodies are put together again as they are sent."""
    return [(graph_id, run_id, queue.token(graph_id, run_id, payload.body(run_id))) for graph_id, run_id in runs]


def ingest_load(
    url: str, payload: Payload, jobs: list[tuple[str, str, str]], concurrency: int, seconds: float
) -> LoadResult:
    def make_request(index: int) -> Request:
        _graph_id, run_id, token = jobs[index]
        return Request(
            "POST",
            INGEST_PATH,
            payload.body(run_id),
            {"Authorization": f"JWT {token}", "Content-Type": "application/json"},
        )

    return run_load(url, make_request, concurrency=concurrency, total=len(jobs), duration=seconds, expect_status=201)


def hello_load(url: str, concurrency: int, seconds: float) -> LoadResult:
    request = Request("GET", HELLO_PATH)
    return run_load(url, lambda _index: request, concurrency=concurrency, duration=seconds, expect_status=200)


# --- one database --------------------------------------------------------------------------------


@dataclass
class Measured:
    """A LoadResult plus the server's CPU share during it."""

    result: LoadResult
    server_cpu: float | None


def measure(server: GunicornServer, load) -> Measured:  # type: ignore[no-untyped-def]
    before = server.cpu_seconds()
    result = load()
    after = server.cpu_seconds()
    share = None
    if before is not None and after is not None and result.seconds:
        import os

        share = (after - before) / result.seconds / (os.cpu_count() or 1)
    return Measured(result, share)


@dataclass
class DatabaseRun:
    engine: str
    rounds: dict[str, list[Measured]] = field(default_factory=dict)  # benchmark name -> one per round
    warmup_rps: dict[str, float] = field(default_factory=dict)
    accepted: int = 0  # 201 answers counted, warm-up included
    stored: int = 0  # result rows found in the database afterwards
    server_command: str = ""


def bench_database(engine: str, payloads: list[Payload], args: argparse.Namespace) -> DatabaseRun:
    outcome = DatabaseRun(engine)
    with TempWorkdir(keep=args.keep) as workdir:
        log_path = workdir / "server.log"
        database = BenchDatabase(engine, workdir, args.postgres_url)
        database.create()
        queue: RunQueue | None = None
        live = LiveServer(workdir / "live.log")  # each ingest's run.finished goes to it, as deployed
        try:
            port = free_port()
            env = production_environ(
                database.url, port, LOG_LEVEL=args.log_level, REDIS_URL=args.redis_url, MAESTRO_LIVE_URL=live.url
            )
            migrate(env, log_path)
            queue = RunQueue(env)
            server = GunicornServer("bench.bench_app:app", env, log_path, workers=args.workers, threads=args.threads)
            outcome.server_command = " ".join(["gunicorn", "-c", "gunicorn.conf.py", "bench.bench_app:app"])
            live.start(env)
            with server:
                print(f"[{engine}] gunicorn on {server.url}, log {log_path}", file=sys.stderr)
                # Warm-up: every worker process imports, connects and fills its caches; the rough
                # rate sizes the pool of queued runs so that no round runs out of them.
                hello_load(server.url, args.concurrency, 1.0)
                for payload in payloads:
                    count = max(3 * args.concurrency, 6)
                    jobs = ingest_requests(queue, queue.queue(count, f"warm-up {payload.label}", payload.spec), payload)
                    warm = ingest_load(server.url, payload, jobs, args.concurrency, seconds=60)
                    _check(warm, f"[{engine}] warm-up {payload.label}", server)
                    outcome.accepted += warm.ok
                    outcome.warmup_rps[payload.label] = warm.rps
                pools: dict[str, list[list[tuple[str, str, str]]]] = {}
                for payload in payloads:
                    per_round = min(
                        args.max_posts,
                        math.ceil(outcome.warmup_rps[payload.label] * args.seconds * 2) + 2 * args.concurrency,
                    )
                    pools[payload.label] = []
                    for round_number in range(1, args.rounds + 1):
                        runs = queue.queue(per_round, f"{payload.label} round {round_number}", payload.spec)
                        pools[payload.label].append(ingest_requests(queue, runs, payload))
                names = ["hello", *(p.label for p in payloads)]
                outcome.rounds = {name: [] for name in names}
                by_label = {p.label: p for p in payloads}
                for round_number in range(1, args.rounds + 1):
                    shift = (round_number - 1) % len(names)
                    for name in names[shift:] + names[:shift]:  # rotating order: no size always goes first
                        if name == "hello":
                            measured = measure(server, lambda: hello_load(server.url, args.concurrency, args.seconds))
                        else:
                            jobs = pools[name][round_number - 1]
                            measured = measure(
                                server,
                                lambda: ingest_load(server.url, by_label[name], jobs, args.concurrency, args.seconds),
                            )
                            outcome.accepted += measured.result.ok
                            if measured.result.ok == len(jobs):
                                print(
                                    f"[{engine}] round {round_number} {name}: used every queued run "
                                    f"({len(jobs)}); raise --max-posts for longer rounds",
                                    file=sys.stderr,
                                )
                        _check(measured.result, f"[{engine}] round {round_number} {name}", server)
                        outcome.rounds[name].append(measured)
                        print(
                            f"[{engine}] round {round_number} {name:>7}: {measured.result.rps:8.1f}/s "
                            f"p99 {measured.result.percentile(99) * 1000:7.1f} ms",
                            file=sys.stderr,
                        )
            outcome.stored = queue.stored_results()
        finally:
            live.stop()
            if queue is not None:
                queue.close()
            database.drop()
    return outcome


def _check(result: LoadResult, what: str, server: GunicornServer) -> None:
    if result.errors:
        print(f"{what}: {result.errors} errors, e.g. {result.error_samples[:3]}", file=sys.stderr)
    if result.ok == 0:
        raise RuntimeError(f"{what}: no request succeeded; server log:\n{server.log_tail()}")


# --- report --------------------------------------------------------------------------------------


def summary_rows(run: DatabaseRun, payloads: list[Payload]) -> list[list[str]]:
    hello = run.rounds["hello"]
    rows = []
    for name in run.rounds:
        measured = run.rounds[name]
        rates = [m.result.rps for m in measured]
        latencies = [latency for m in measured for latency in m.result.latencies]
        payload = next((p for p in payloads if p.label == name), None)
        throughput = median([m.result.bytes_per_second for m in measured])
        server_cpu = [m.server_cpu for m in measured if m.server_cpu is not None]
        busy = [m.result.machine_busy for m in measured if m.result.machine_busy is not None]
        rows.append(
            [
                f"GET {HELLO_PATH}" if payload is None else f"POST {INGEST_PATH}",
                "—" if payload is None else f"{payload.svg_bytes:,} B SVG ({payload.body_bytes:,} B body)",
                f"{median(rates):,.1f}",
                f"{min(rates):,.1f}–{max(rates):,.1f}",
                "1" if payload is None else f"{median(rates) / median([h.result.rps for h in hello]):.4f}",
                "—" if payload is None else f"{throughput / 1e6:.2f}",
                f"{percentile(latencies, 50) * 1000:.1f}",
                f"{percentile(latencies, 99) * 1000:.1f}",
                f"{median(server_cpu) * 100:.0f} %" if server_cpu else "?",
                f"{median([m.result.client_cpu_share for m in measured]) * 100:.0f} %",
                f"{median(busy) * 100:.0f} %" if busy else "?",
                str(sum(m.result.errors for m in measured)),
            ]
        )
    return rows


HEADERS = [
    "request",
    "size",
    "per second (median)",
    "min–max",
    "× hello",
    "body MB/s",
    "p50 ms",
    "p99 ms",
    "server CPU",
    "client CPU",
    "machine busy",
    "errors",
]


def report(runs: list[DatabaseRun], payloads: list[Payload], args: argparse.Namespace, command: str) -> str:
    machine = machine_description()
    idle_busy = f"{args.busy_before * 100:.0f} %" if args.busy_before is not None else "?"
    lines = [
        f"command: {command}",
        f"machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}; cores busy before the run (others' load): {idle_busy}",
        f"server: {runs[0].server_command if runs else ''} (gunicorn.conf.py: workers "
        f"{args.workers or 'default'}, threads {args.threads or 'default'}), MAESTRO_ENV=production, LOG_LEVEL={args.log_level}",
        f"load: {args.concurrency} clients with keep-alive, {args.rounds} rounds of {args.seconds:g} s per request kind",
        "payloads: "
        + "; ".join(
            f"{p.label}: {p.nodes} nodes, {p.edges} edges, SVG {p.svg_bytes:,} B, body {p.body_bytes:,} B"
            for p in payloads
        ),
        "",
    ]
    for run in runs:
        lines.append(f"### {run.engine}")
        lines.append("")
        lines.append(format_table(HEADERS, summary_rows(run, payloads)))
        lines.append("")
        lines.append(
            f"201 answers counted (warm-up included): {run.accepted}; result rows in the database "
            f"afterwards: {run.stored}" + ("" if run.accepted == run.stored else "  <-- MISMATCH")
        )
        lines.append("")
    return "\n".join(lines)


def to_json(runs: list[DatabaseRun], payloads: list[Payload], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "machine": machine_description(),
        "args": vars(args),
        "payloads": [
            {k: v for k, v in vars(p).items() if k not in ("prefix", "suffix", "spec")} | {"body_bytes": p.body_bytes}
            for p in payloads
        ],
        "databases": [
            {
                "engine": run.engine,
                "accepted": run.accepted,
                "stored": run.stored,
                "warmup_rps": run.warmup_rps,
                "rounds": {
                    name: [
                        {
                            "rps": m.result.rps,
                            "ok": m.result.ok,
                            "errors": m.result.errors,
                            "seconds": m.result.seconds,
                            "bytes_per_second": m.result.bytes_per_second,
                            "p50": m.result.percentile(50),
                            "p99": m.result.percentile(99),
                            "server_cpu": m.server_cpu,
                            "client_cpu": m.result.client_cpu_share,
                            "machine_busy": m.result.machine_busy,
                        }
                        for m in measured
                    ]
                    for name, measured in run.rounds.items()
                },
            }
            for run in runs
        ],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--sizes", default="100000,1000000", help="SVG sizes in bytes, comma-separated (default: 100 KB and 1 MB)"
    )
    # 8, not 4: each client keeps one connection, and gunicorn's 5 worker processes share them as
    # they happen to accept them; 4 connections land in one process now and then (measured: 1 round
    # in 4 or 5), which then serves them all on one core under the GIL and halves that round.
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent clients, each with a keep-alive connection (default 8)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the tables give the median (default 5)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement (default 4)")
    parser.add_argument("--max-posts", type=int, default=2000, help="queued runs per size and round at most")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads (default: gunicorn.conf.py)")
    parser.add_argument("--log-level", default="INFO", help="the app's LOG_LEVEL (default INFO, as in production)")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_ADMIN_URL,
        help="an admin URL; a database maestro_bench_* is created there and dropped after",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="REDIS_URL the server gets (production requires one; default $REDIS_URL or local 0)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every round's figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (database file, server log)")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--concurrency, --rounds and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain `kill` unwinds like Ctrl-C does, so the server is stopped and the databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = "python -m bench.ingest " + " ".join(sys.argv[1:] if argv is None else argv)
    engines = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    sizes = [int(size) for size in args.sizes.split(",")]
    started = time.monotonic()
    args.busy_before = machine_busy(1.0)
    print("drawing the payloads with the reference worker ...", file=sys.stderr)
    payloads = [build_payload(size, size_label(size)) for size in sizes]
    runs = [bench_database(engine, payloads, args) for engine in engines]
    print(report(runs, payloads, args, command))
    if args.json:
        args.json.write_text(json.dumps(to_json(runs, payloads, args), indent=2, default=str))
    print(f"finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the public share view under 32 concurrent clients, against hello-world in the same run.

    .venv/bin/python -m bench.public_view                     # SQLite and PostgreSQL, 5 rounds
    .venv/bin/python -m bench.public_view --database postgresql --rounds 3 --seconds 5

What is measured: `GET /analytics/graphs/public/<id>?token=...` served by gunicorn (the repo's
gunicorn.conf.py, production settings, access log on) from `bench.bench_app:app`, i.e. the real
app plus `GET /bench/hello`. Every public request does the full work of a visitor: verify the
token, count the view (the conditional UPDATE that enforces revocation, pause, expiry and max
views), read the graph with its newest picture, render the page with the inline SVG of a 40-node
diagram drawn by the reference worker. View counting is on, and checked: after the run the link's
view count must equal the number of pages served.

Each round measures hello, then the public view, each for `--seconds` with `--concurrency`
keep-alive clients (default 32); the tables give medians over the rounds and the public/hello ratio
of each round. Target (issue 5): the public view at >= 40% of hello's rate on PostgreSQL, p99 <= 50 ms.
Traffic goes to 127.0.0.1 only; the script starts and stops everything itself and removes its
temporary database and folder.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.harness import (
    DEFAULT_POSTGRES_ADMIN_URL,
    BenchDatabase,
    GunicornServer,
    LoadResult,
    Request,
    TempWorkdir,
    format_table,
    free_port,
    machine_description,
    median,
    migrate,
    production_environ,
    run_load,
)

TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0


@dataclass
class Round:
    hello: LoadResult
    public: LoadResult

    @property
    def ratio(self) -> float:
        return self.public.rps / self.hello.rps if self.hello.rps else float("nan")


@dataclass
class EngineRun:
    engine: str
    page_bytes: int
    rounds: list[Round] = field(default_factory=list)
    counted_views: int = 0
    served_views: int = 0


class SharedGraph:
    """A user, a graph drawn by the reference worker, and one share link, made in the bench process
    with the server's own secrets and database."""

    def __init__(self, environ: dict[str, str], nodes: int = 40) -> None:
        from maestro_web import create_app

        self.app = create_app(environ=environ)
        self.path, self.link_id = self._make(nodes)

    def _make(self, nodes: int) -> tuple[str, str]:
        from maestro_web.analytics_front.jobs import claim_next_run
        from maestro_web.extensions import db
        from maestro_web.graphs.services import GraphChanges, create_graph
        from maestro_web.domain.spec import parse_spec
        from maestro_web.models import Graph, User
        from maestro_web.models.base import utcnow
        from maestro_web.security.worker_tokens import mint_worker_token
        from maestro_web.security.share_tokens import share_token_of
        from maestro_web.shares.services import NewLink, create_link
        from maestro_web.worker.runner import build_result

        spec = "\n".join(f"service-{i} [kind={('service', 'database', 'queue')[i % 3]}] -> service-{(i * 7 + 3) % nodes}"
                         for i in range(nodes) if (i * 7 + 3) % nodes != i)
        with self.app.app_context():
            user = User.create("bench@example.com", "Bench", "bench password 123")
            graph = create_graph(user, GraphChanges(name="Checkout platform", type="infra", description="", spec=spec))
            db.session.commit()
            graph_id = graph.public_id
            run = claim_next_run(600)
            job = {"graph_id": graph_id, "run_id": run.public_id, "name": graph.name, "spec": parse_spec(spec).to_dict()}
            db.session.commit()
        ring = self.app.config["KEY_RINGS"]["analytics"]
        response = self.app.test_client().post(
            "/analytics/graphs", json=build_result(job), headers={"Authorization": f"JWT {mint_worker_token(ring, graph_id)}"})
        if response.status_code != 201:
            raise RuntimeError(f"could not store the picture: {response.status_code} {response.text[:200]}")
        with self.app.app_context():
            link = create_link(Graph.get_by_public_id(graph_id), User.get_by_email("bench@example.com"),
                               NewLink(label="Benchmark", expires_at=utcnow() + timedelta(days=1)))
            db.session.commit()
            return f"/analytics/graphs/public/{graph_id}?token={share_token_of(link)}", link.public_id

    def view_count(self) -> int:
        from maestro_web.extensions import db
        from maestro_web.models import ShareLink

        with self.app.app_context():
            count = ShareLink.get_by_public_id(self.link_id).view_count
            db.session.remove()
            return count

    def close(self) -> None:
        from maestro_web.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


def bench_engine(engine: str, args: argparse.Namespace) -> EngineRun:
    with TempWorkdir(keep=args.keep) as workdir:
        database = BenchDatabase(engine, workdir, args.postgres_url)
        database.create()
        shared = None
        try:
            port = free_port()
            env = production_environ(database.url, port, LOG_LEVEL=args.log_level,
                                     MAESTRO_SHARE_FAILURE_RATE_LIMIT="1000000 per minute")
            log = workdir / "server.log"
            migrate(env, log)
            shared = SharedGraph(env)
            server = GunicornServer("bench.bench_app:app", env, log, workers=args.workers, threads=args.threads)
            with server:
                status, page = first_view(server.url, shared.path)
                if status != 200:
                    raise RuntimeError(f"the public view answered {status}; see {log}")
                result = EngineRun(engine, page_bytes=len(page))
                hello = Request("GET", "/bench/hello")
                public = Request("GET", shared.path)
                # Warm-up: every worker has compiled its statements and templates.
                run_load(server.url, lambda i: hello, concurrency=args.concurrency, duration=1.0)
                run_load(server.url, lambda i: public, concurrency=args.concurrency, duration=1.0)
                before = shared.view_count()
                for number in range(1, args.rounds + 1):
                    h = run_load(server.url, lambda i: hello, concurrency=args.concurrency, duration=args.seconds)
                    p = run_load(server.url, lambda i: public, concurrency=args.concurrency, duration=args.seconds)
                    for what, measured in (("hello", h), ("public view", p)):
                        if measured.errors:
                            raise RuntimeError(f"{engine} {what}: {measured.errors} errors, e.g. {measured.error_samples}")
                    result.rounds.append(Round(h, p))
                    print(f"{engine} round {number}: hello {h.rps:7.0f}/s  public {p.rps:7.0f}/s "
                          f"(p99 {p.percentile(99) * 1000:5.1f} ms)  ratio {p.rps / h.rps:.0%}", file=sys.stderr)
                result.counted_views = shared.view_count() - before
            return result
        finally:
            if shared is not None:
                shared.close()
            database.drop()


def first_view(base_url: str, path: str) -> tuple[int, bytes]:
    """One GET with its query string (the harness's health check drops it)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def served_public_views(run: EngineRun) -> int:
    return sum(r.public.ok for r in run.rounds)


def report(runs: list[EngineRun], args: argparse.Namespace, command: str) -> str:
    machine = machine_description()
    rows = []
    for run in runs:
        hello_rps = median([r.hello.rps for r in run.rounds])
        public_rps = median([r.public.rps for r in run.rounds])
        ratio = median([r.ratio for r in run.rounds])
        p50 = median([r.public.percentile(50) * 1000 for r in run.rounds])
        p99 = median([r.public.percentile(99) * 1000 for r in run.rounds])
        hello_p99 = median([r.hello.percentile(99) * 1000 for r in run.rounds])
        verdict = "meets" if ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS else "misses"
        rows.append([run.engine, f"{hello_rps:.0f}", f"{hello_p99:.1f}", f"{public_rps:.0f}", f"{p50:.1f}",
                     f"{p99:.1f}", f"{ratio:.0%}", f"{min(r.ratio for r in run.rounds):.0%}–{max(r.ratio for r in run.rounds):.0%}",
                     f"{run.page_bytes / 1024:.0f} KiB", verdict])
    table = format_table(
        ["database", "hello req/s", "hello p99 ms", "public req/s", "public p50 ms", "public p99 ms",
         "public / hello", "ratio range", "page", "target"], rows)
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}.",
        f"Load: {args.concurrency} keep-alive clients, {args.rounds} rounds of {args.seconds:g} s per route, "
        "medians over rounds; gunicorn as configured in gunicorn.conf.py.",
        "",
        table,
        "",
    ]
    for run in runs:
        lines.append(f"- {run.engine}: view counter says {run.counted_views} views for {run.served_views} pages served "
                     f"({'exact' if run.counted_views == run.served_views else 'MISMATCH'}).")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the table gives medians (default 5)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement (default 4)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads (default: gunicorn.conf.py)")
    parser.add_argument("--log-level", default="INFO", help="the app's LOG_LEVEL (default INFO, as in production)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_ADMIN_URL, help="admin URL to create the bench database")
    parser.add_argument("--json", type=Path, default=None, help="also write every round's figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (database file, server log)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    runs = []
    for engine in engines:
        run = bench_engine(engine, args)
        run.served_views = served_public_views(run)
        runs.append(run)
    command = "python -m bench.public_view " + " ".join(argv if argv is not None else sys.argv[1:])
    print(report(runs, args, command.strip()))
    if args.json:
        args.json.write_text(json.dumps([{
            "database": run.engine,
            "rounds": [{"hello_rps": r.hello.rps, "public_rps": r.public.rps, "ratio": r.ratio,
                        "public_p99_ms": r.public.percentile(99) * 1000} for r in run.rounds],
        } for run in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

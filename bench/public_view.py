"""Benchmark: the public share view under 32 concurrent clients, against a bare Flask hello-world.

    .venv/bin/python -m bench.public_view --database postgresql --rounds 5 --seconds 4
    .venv/bin/python -m bench.public_view                     # SQLite and PostgreSQL, 5 rounds

What is measured: `GET /analytics/graphs/public/<id>?token=...` served by gunicorn (the repo's
gunicorn.conf.py, production settings with Redis, access log on) from `bench.bench_app:app`, i.e.
the real app plus `GET /bench/hello`. Every public request does the full work of a visitor: verify
the token, count the view (the conditional UPDATE that enforces revocation, pause, expiry, max views
and the creator's role), read the graph with its newest picture, render the page with the inline
SVG of a 40-node diagram drawn by the reference worker. View counting is on, and checked: after the
run the link's view count must equal the number of pages served. The live events server
(`flask live serve`) runs next to gunicorn as deployed, so the workers' share.viewed posts reach it.

The baseline is a BARE Flask hello-world (`bench/bare_hello.py`: no factory, no hooks) under the
same gunicorn settings, side by side; the app's own `/bench/hello` is measured too (what the app's
hooks cost). Each round measures bare hello, the app's hello, then the public view, each for
`--seconds` with `--concurrency` keep-alive clients; the table gives medians over the rounds, and
the ratios public / bare hello (req/s) and public p99 / bare hello p99 are each round's, medians.
A second baseline keeps that ratio honest: the same bare hello-world under plain
`gunicorn -w 2` (sync workers, no threads, no access log, not gunicorn.conf.py), measured first in
each round; the public view's req/s over it is reported next to the same-settings ratio. Tuning
gunicorn.conf.py moves the hello and the view together; it cannot move this one's baseline.
Targets (PostgreSQL with Redis, counts exact): public / bare >= 0.40 and p99 ratio <= 2, public / sync baseline >= 0.30.
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
    BenchDatabase,
    LiveServer,
    LoadResult,
    Request,
    TempWorkdir,
    add_server_arguments,
    format_table,
    machine_description,
    median,
    migrated_server,
    plain_sync_server,
    run_load,
    sibling_server,
)

TARGET_RATIO = 0.40  # public req/s over bare hello's, same gunicorn settings
TARGET_P99_RATIO = 2.0  # public p99 over bare hello's
TARGET_SYNC_RATIO = 0.30  # public req/s over bare hello's under plain `gunicorn -w 2` sync workers


@dataclass
class Round:
    bare: LoadResult
    hello: LoadResult  # the app's own /bench/hello
    public: LoadResult
    sync: LoadResult  # bare hello under plain `gunicorn -w 2` (sync workers, no threads)

    @property
    def ratio(self) -> float:
        return self.public.rps / self.bare.rps if self.bare.rps else float("nan")

    @property
    def sync_ratio(self) -> float:
        return self.public.rps / self.sync.rps if self.sync.rps else float("nan")

    @property
    def p99_ratio(self) -> float:
        return self.public.percentile(99) / self.bare.percentile(99)


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
        from maestro_web.domain.spec import parse_spec
        from maestro_web.extensions import db
        from maestro_web.graphs.services import GraphChanges, create_graph
        from maestro_web.ingest.jobs import claim_next_run
        from maestro_web.models import Graph, User
        from maestro_web.models.base import utcnow
        from maestro_web.security.share_tokens import share_token_of
        from maestro_web.security.worker_tokens import mint_result_token
        from maestro_web.shares.services import NewLink, create_link
        from maestro_web.worker.runner import build_result

        spec = "\n".join(
            f"service-{i} [kind={('service', 'database', 'queue')[i % 3]}] -> service-{(i * 7 + 3) % nodes}"
            for i in range(nodes)
            if (i * 7 + 3) % nodes != i
        )
        with self.app.app_context():
            user = User.create("bench@example.com", "Bench", "bench password 123")
            graph = create_graph(user, GraphChanges(name="Checkout platform", type="infra", description="", spec=spec))
            db.session.commit()
            graph_id = graph.public_id
            run = claim_next_run(600)
            job = {
                "graph_id": graph_id,
                "run_id": run.public_id,
                "name": graph.name,
                "spec": parse_spec(spec).to_dict(),
            }
            db.session.commit()
        ring = self.app.config["KEY_RINGS"]["analytics"]
        body = json.dumps(build_result(job)).encode()
        response = self.app.test_client().post(
            "/analytics/graphs",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"JWT {mint_result_token(ring, graph_id, job['run_id'], body)}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"could not store the picture: {response.status_code} {response.text[:200]}")
        with self.app.app_context():
            link = create_link(
                Graph.get_by_public_id(graph_id),
                User.get_by_email("bench@example.com"),
                NewLink(label="Benchmark", expires_at=utcnow() + timedelta(days=1)),
            )
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
        live = LiveServer(workdir / "live.log")  # share.viewed goes to the owner through it, as deployed
        try:
            log = workdir / "server.log"
            server = migrated_server(
                database.url,
                log,
                redis_url=args.redis_url,
                workers=args.workers,
                threads=args.threads,
                LOG_LEVEL=args.log_level,
                MAESTRO_LIVE_URL=live.url,
                MAESTRO_SHARE_FAILURE_RATE_LIMIT="1000000 per minute",
            )
            shared = SharedGraph(server.env)
            bare_server = sibling_server(server, "bench.bare_hello:app", workdir / "bare.log")
            sync_server = plain_sync_server(server, "bench.bare_hello:app", workdir / "sync.log")
            live.start(server.env)
            with server, bare_server, sync_server:
                status, page = first_view(server.url, shared.path)
                if status != 200:
                    raise RuntimeError(f"the public view answered {status}; see {log}")
                result = EngineRun(engine, page_bytes=len(page))
                loads = {
                    "sync hello": (sync_server.url, Request("GET", "/")),
                    "bare hello": (bare_server.url, Request("GET", "/")),
                    "app hello": (server.url, Request("GET", "/bench/hello")),
                    "public view": (server.url, Request("GET", shared.path)),
                }
                for (
                    url,
                    request,
                ) in loads.values():  # warm-up: every worker has prepared its statements, cached its page
                    run_load(url, lambda i: request, concurrency=args.concurrency, duration=args.warmup)
                before = shared.view_count()
                for number in range(1, args.rounds + 1):
                    measured = {}
                    for what, (url, request) in loads.items():
                        measured[what] = run_load(
                            url, lambda i: request, concurrency=args.concurrency, duration=args.seconds
                        )
                        if measured[what].errors:
                            raise RuntimeError(
                                f"{engine} {what}: {measured[what].errors} errors, e.g. {measured[what].error_samples}"
                            )
                    done = Round(
                        measured["bare hello"], measured["app hello"], measured["public view"], measured["sync hello"]
                    )
                    result.rounds.append(done)
                    print(
                        f"{engine} round {number}: sync {done.sync.rps:6.0f}/s  bare {done.bare.rps:6.0f}/s  "
                        f"app hello {done.hello.rps:6.0f}/s  public {done.public.rps:6.0f}/s  ratio {done.ratio:.2f}  "
                        f"vs sync {done.sync_ratio:.2f}  p99 public "
                        f"{done.public.percentile(99) * 1000:5.1f} ms / bare {done.bare.percentile(99) * 1000:5.1f} ms",
                        file=sys.stderr,
                    )
                result.counted_views = shared.view_count() - before
            return result
        finally:
            live.stop()
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
        med = median
        bare_rps = med([r.bare.rps for r in run.rounds])
        ratio = med([r.ratio for r in run.rounds])
        p99_ratio = med([r.p99_ratio for r in run.rounds])
        sync_ratio = med([r.sync_ratio for r in run.rounds])
        verdict = (
            "meets"
            if (ratio >= TARGET_RATIO and p99_ratio <= TARGET_P99_RATIO and sync_ratio >= TARGET_SYNC_RATIO)
            else "misses"
        )
        rows.append(
            [
                run.engine,
                f"{med([r.sync.rps for r in run.rounds]):.0f}",
                f"{bare_rps:.0f}",
                f"{med([r.bare.percentile(99) * 1000 for r in run.rounds]):.1f}",
                f"{med([r.hello.rps for r in run.rounds]):.0f}",
                f"{med([r.public.rps for r in run.rounds]):.0f}",
                f"{med([r.public.percentile(50) * 1000 for r in run.rounds]):.1f}",
                f"{med([r.public.percentile(99) * 1000 for r in run.rounds]):.1f}",
                f"{ratio:.2f}",
                f"{min(r.ratio for r in run.rounds):.2f}–{max(r.ratio for r in run.rounds):.2f}",
                f"{sync_ratio:.2f}",
                f"{min(r.sync_ratio for r in run.rounds):.2f}–{max(r.sync_ratio for r in run.rounds):.2f}",
                f"{p99_ratio:.2f}",
                f"{run.page_bytes / 1024:.0f} KiB",
                verdict,
            ]
        )
    table = format_table(
        [
            "database",
            "sync hello req/s",
            "bare hello req/s",
            "bare p99 ms",
            "app hello req/s",
            "public req/s",
            "public p50 ms",
            "public p99 ms",
            "public / bare",
            "ratio range",
            "public / sync",
            "sync range",
            "p99 / bare p99",
            "page",
            "target",
        ],
        rows,
    )
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}.",
        f"Load: {args.concurrency} keep-alive clients, {args.rounds} rounds of {args.seconds:g} s per route, "
        "medians over rounds (ratios: each round's, then the median); gunicorn as configured in gunicorn.conf.py; "
        f"Redis {args.redis_url}.",
        "",
        table,
        "",
    ]
    for run in runs:
        lines.append(
            f"- {run.engine}: view counter says {run.counted_views} views for {run.served_views} pages served "
            f"({'exact' if run.counted_views == run.served_views else 'MISMATCH'})."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the table gives medians (default 5)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement (default 4)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load on each route first (default 3)")
    add_server_arguments(parser)
    parser.add_argument("--log-level", default="INFO", help="the app's LOG_LEVEL (default INFO, as in production)")
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
        args.json.write_text(
            json.dumps(
                [
                    {
                        "database": run.engine,
                        "rounds": [
                            {
                                "sync_hello_rps": r.sync.rps,
                                "bare_hello_rps": r.bare.rps,
                                "app_hello_rps": r.hello.rps,
                                "public_rps": r.public.rps,
                                "ratio": r.ratio,
                                "sync_ratio": r.sync_ratio,
                                "public_p99_ms": r.public.percentile(99) * 1000,
                                "bare_p99_ms": r.bare.percentile(99) * 1000,
                                "p99_ratio": r.p99_ratio,
                            }
                            for r in run.rounds
                        ],
                    }
                    for run in runs
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

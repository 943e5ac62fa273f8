"""Benchmark: the short link `/s/<code>` against the long link, in the same run.

    .venv/bin/python -m bench.short_link                       # SQLite and PostgreSQL, 3 rounds
    .venv/bin/python -m bench.short_link --database postgresql --rounds 3 --seconds 3

Two measurements:

1. The check alone, in process: `verify_short_code` (HMAC-SHA256 of the link id, compare_digest)
   against `verify_share_token` (the JWT: header, signature, claims), the latter both through its
   cache of signed claims (what a repeat visit costs) and with the cache cleared (a first visit).
2. The whole view under load, as bench/public_view.py does it (gunicorn, production settings,
   `--concurrency` keep-alive clients): the long URL and the short URL of the same link, alternating
   within each round. The short view also looks up the link's graph (one indexed SELECT), because the
   code names only the link.
"""

from __future__ import annotations

import argparse
import sys
import timeit

from bench.harness import (
    BenchDatabase,
    Request,
    TempWorkdir,
    add_server_arguments,
    format_table,
    machine_description,
    median,
    migrated_server,
    run_load,
)
from bench.public_view import SharedGraph, first_view


def check_costs(shared: SharedGraph, number: int = 20_000) -> dict[str, float]:
    """Microseconds per check: the MAC, the JWT cached, the JWT uncached."""
    from maestro_web.security import share_tokens
    from maestro_web.security.short_codes import mint_short_code, verify_short_code

    ring = shared.app.config["KEY_RINGS"][share_tokens.CONTEXT]
    token = shared.path.split("token=", 1)[1]
    graph_id = shared.path.split("/")[4].split("?")[0]
    code = mint_short_code(ring, shared.link_id)

    def jwt_uncached() -> None:
        share_tokens._signed_claims.cache_clear()
        share_tokens.verify_share_token(token, ring, graph_id)

    return {
        "MAC (short code)": timeit.timeit(lambda: verify_short_code(code, ring), number=number) / number * 1e6,
        "JWT, cached claims": timeit.timeit(
            lambda: share_tokens.verify_share_token(token, ring, graph_id), number=number
        )
        / number
        * 1e6,
        "JWT, uncached": timeit.timeit(jwt_uncached, number=number // 4) / (number // 4) * 1e6,
    }


def bench_engine(engine: str, args: argparse.Namespace) -> list[str]:
    from maestro_web.security.share_tokens import CONTEXT
    from maestro_web.security.short_codes import mint_short_code

    with TempWorkdir(keep=False) as workdir:
        database = BenchDatabase(engine, workdir, args.postgres_url)
        database.create()
        shared = None
        try:
            log = workdir / "server.log"
            server = migrated_server(
                database.url,
                log,
                redis_url=args.redis_url,
                workers=args.workers,
                threads=args.threads,
                LOG_LEVEL="INFO",
                MAESTRO_SHARE_FAILURE_RATE_LIMIT="1000000 per minute",
            )
            shared = SharedGraph(server.env)
            short_path = "/analytics/s/" + mint_short_code(shared.app.config["KEY_RINGS"][CONTEXT], shared.link_id)
            costs = check_costs(shared)
            with server:
                for path in (shared.path, short_path):
                    status, _ = first_view(server.url, path)
                    if status != 200:
                        raise RuntimeError(f"{path[:40]} answered {status}; see {log}")
                long_request, short_request = Request("GET", shared.path), Request("GET", short_path)
                run_load(server.url, lambda i: long_request, concurrency=args.concurrency, duration=1.0)
                run_load(server.url, lambda i: short_request, concurrency=args.concurrency, duration=1.0)
                long_rps, short_rps, long_p99, short_p99 = [], [], [], []
                for number in range(args.rounds):
                    lr = run_load(
                        server.url, lambda i: long_request, concurrency=args.concurrency, duration=args.seconds
                    )
                    sr = run_load(
                        server.url, lambda i: short_request, concurrency=args.concurrency, duration=args.seconds
                    )
                    if lr.errors or sr.errors:
                        raise RuntimeError(f"errors: long {lr.errors}, short {sr.errors}")
                    long_rps.append(lr.rps), short_rps.append(sr.rps)
                    long_p99.append(lr.percentile(99) * 1000), short_p99.append(sr.percentile(99) * 1000)
                    print(f"{engine} round {number + 1}: long {lr.rps:6.0f}/s short {sr.rps:6.0f}/s", file=sys.stderr)
            return [
                engine,
                f"{median(long_rps):.0f}",
                f"{median(long_p99):.1f}",
                f"{median(short_rps):.0f}",
                f"{median(short_p99):.1f}",
                f"{median(short_rps) / median(long_rps):.0%}",
                *(f"{value:.1f}" for value in costs.values()),
            ]
        finally:
            if shared is not None:
                shared.close()
            database.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    rows = [bench_engine(engine, args) for engine in engines]
    machine = machine_description()
    print(f"Command: `python -m bench.short_link {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print(
        f"Machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, {machine['date']}, "
        f"code {machine['code']}. {args.concurrency} clients, {args.rounds} rounds of {args.seconds:g} s, medians.\n"
    )
    print(
        format_table(
            [
                "database",
                "long req/s",
                "long p99 ms",
                "short req/s",
                "short p99 ms",
                "short / long",
                "MAC µs",
                "JWT cached µs",
                "JWT uncached µs",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

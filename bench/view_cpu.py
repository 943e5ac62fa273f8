"""Benchmark: the app's own CPU per public view, without HTTP.

    .venv/bin/python -m bench.view_cpu --views 3000

Calls the app's WSGI callable in this process, with the environ of `GET /analytics/graphs/public/<id>
?token=...` (production settings, Redis, PostgreSQL, the same 40-node picture as bench/public_view.py),
and reports the process CPU time per view. No server, no client, no other process on the CPU's
account except PostgreSQL's own, which is not counted: a steadier figure than req/s on a shared
machine, for comparing two versions of the code (run it in each checkout). Every view must answer
200 and be counted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bench.harness import (
    DEFAULT_POSTGRES_ADMIN_URL,
    DEFAULT_REDIS_URL,
    BenchDatabase,
    TempWorkdir,
    free_port,
    machine_description,
    migrate,
    production_environ,
)
from bench.public_view import SharedGraph
from maestro_web.models.base import utcnow


def _unsigned_ticket() -> None:
    from maestro_web.live_pages import tickets

    def unsigned(ring: object, *, sub: str | None, channels: list[str], ttl: int = 600) -> tuple[str, datetime]:
        return "x" * 160, utcnow() + timedelta(seconds=ttl)  # a signed ticket's length, no signature

    tickets.issue_ticket = unsigned  # type: ignore[assignment]


def _no_request_line() -> None:
    logging.getLogger("maestro_web.request").disabled = True


# What --without takes away (after the app is made, before the clock starts).
WITHOUT: dict[str, Callable[[], None]] = {"ticket": _unsigned_ticket, "request-line": _no_request_line}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--views", type=int, default=3000, help="views measured (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported (default 3)")
    parser.add_argument(
        "--behind-nginx",
        action="store_true",
        help="as behind nginx: MAESTRO_TRUSTED_PROXIES=1 and a new X-Request-ID per view, so each "
        "view is counted with its receipt (maestro_web/receipts.py)",
    )
    parser.add_argument(
        "--without",
        choices=sorted(WITHOUT),
        action="append",
        default=[],
        help="measure the view without one of its parts (repeatable), to weigh it: the visitor's live "
        "ticket signed as a fixed string, or the app's request log line disabled. For measuring only.",
    )
    args = parser.parse_args(argv)
    from werkzeug.test import EnvironBuilder

    with TempWorkdir() as workdir:
        database = BenchDatabase("postgresql", workdir, DEFAULT_POSTGRES_ADMIN_URL)
        database.create()
        shared = None
        try:
            env = production_environ(database.url, free_port(), REDIS_URL=DEFAULT_REDIS_URL)
            if args.behind_nginx:
                env["MAESTRO_TRUSTED_PROXIES"] = "1"
            migrate(env, workdir / "migrate.log")
            os.environ.update(env)
            shared = SharedGraph(env)
            path, _, query = shared.path.partition("?")
            environ = EnvironBuilder(path=path, query_string=query, base_url=env["MAESTRO_BASE_URL"]).get_environ()

            # nginx's $request_id per view, made before the clock starts.
            ids = iter([os.urandom(16).hex() for _ in range(200 + args.views * args.rounds)])

            def view() -> None:
                statuses: list[str] = []
                request_environ = dict(environ)
                if args.behind_nginx:
                    request_environ["HTTP_X_REQUEST_ID"] = next(ids)
                    request_environ["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
                body = shared.app.wsgi_app(request_environ, lambda status, headers, exc=None: statuses.append(status))
                b"".join(body)
                if statuses != ["200 OK"]:
                    raise RuntimeError(f"the public view answered {statuses}")

            for part in args.without:
                WITHOUT[part]()
            for _ in range(200):  # warm: statements prepared, page cached
                view()
            before = shared.view_count()
            results = []
            for _ in range(args.rounds):
                started = time.process_time()
                for _ in range(args.views):
                    view()
                results.append((time.process_time() - started) / args.views * 1e6)
            counted = shared.view_count() - before
        finally:
            if shared is not None:
                shared.close()
            database.drop()
    machine = machine_description()
    print(
        f"code {machine['code']}, {machine['date']}: app CPU per public view {sorted(results)[len(results) // 2]:.0f} µs "
        f"(rounds: {', '.join(f'{r:.0f}' for r in results)}){' behind nginx' if args.behind_nginx else ''}{''.join(f' without {part}' for part in args.without)}; {counted} views counted of {args.views * args.rounds}"
    )
    return 0 if counted == args.views * args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())

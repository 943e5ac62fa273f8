"""Benchmark: do the lists stay flat when other people's data grows?

    .venv/bin/python -m bench.scale                         # empty and big database, 3 rounds of 5 s
    .venv/bin/python -m bench.scale --seconds 8 --keep-db   # keep the two databases for EXPLAIN
    .venv/bin/python -m bench.scale --reuse                 # reuse databases kept by --keep-db

Two PostgreSQL databases are built through the migrated schema (`flask db upgrade`) and seeded with
bulk SQL (`INSERT ... SELECT generate_series`):

- empty: a user "me" with 50 own graphs (one finished run each) and 200 share links on them
  (a tenth revoked, a tenth paused, a tenth expired);
- big: the same, plus 1,000 other users with 100,000 graphs (3 runs and 3 results each: 300,000
  results), 1,000,000 share links on those graphs, and 5,000 of them shared with "me" (Read, Write
  or Admin); then ANALYZE.

The app is served by gunicorn exactly as the README deploys it (gunicorn.conf.py, production
settings, Redis for rate limits), and every list route (ROUTES below) is loaded with
`--concurrency` keep-alive clients (bench/harness.py's runner); the table gives the median req/s of
`--rounds` rounds per database and the median of each round's ratio big / empty (both servers run
side by side and each round loads empty, then big, so a ratio's two figures share the machine's
background load), with `/healthz` as the baseline. The SQL
statements of one request of each route are counted in-process (a `before_cursor_execute` listener
on the same database, same code). "Last page" follows the list's own link to its last page: the
`last` cursor when the list offers one, else `?page=<last>`.

Traffic goes to 127.0.0.1 only; the script starts and stops its server and drops its databases
(unless --keep-db).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.harness import (
    GunicornServer,
    Request,
    TempWorkdir,
    add_server_arguments,
    format_table,
    machine_description,
    median,
    migrated_server,
    run_load,
)

ME_EMAIL = "me@example.com"
ME_PASSWORD = "bench password 123"
SEARCH_TERM = "checkout"
TARGET_RATIO = 1.3  # every list within 1.3x of the empty database: big/empty req/s >= 1/1.3
DB_PREFIX = "maestro_scale_"


# --- seeding -------------------------------------------------------------------------------------

# Graph names: "me" has 5 graphs named "checkout ..." among 50; other people's graphs have one in
# 400 named "... checkout ..." (none of them shared with "me"), so the search term matches 250 of
# the 100,000 graphs everywhere and the same 5 for "me" on both databases.
_WORDS = "ARRAY['billing','search','ledger','payments','inventory','shipping','catalog','identity','reports','pricing']"

SEED_ME = f"""
INSERT INTO graphs (public_id, name, type, description, spec, status, message, info, owner_id, created_at, updated_at)
SELECT md5('me-graph' || n), (CASE WHEN n % 10 = 0 THEN 'checkout ' ELSE '' END) || ({_WORDS})[1 + n % 10] || ' service ' || n,
       'infra', '', 'api -> db', (ARRAY['process','finished','warning','error'])[1 + n % 4], '', '{{}}', :me,
       now() - (51 - n) * interval '1 minute', now()
FROM generate_series(1, 50) AS n ORDER BY n;
INSERT INTO graph_roles (graph_id, user_id, role, created_at, graph_status)
SELECT id, :me, 7, created_at, status FROM graphs WHERE owner_id = :me;
INSERT INTO graph_runs (public_id, graph_id, state, queued_at, finished_at, attempts)
SELECT md5('me-run' || id), id, 'finished', created_at, created_at, 1 FROM graphs WHERE owner_id = :me;
INSERT INTO share_links (public_id, graph_id, creator_id, label, created_at, expires_at, token_expires_at, paused_at,
                         revoked_at, view_count, last_viewed_at, max_views, allowed_origins)
SELECT md5('me-link' || n), g.id, :me, 'link ' || n || ' for ' || (ARRAY['sales','ops','board','partners'])[1 + n % 4],
       now() - (201 - n) * interval '1 minute',
       CASE WHEN n % 10 = 2 THEN now() - interval '1 hour' ELSE now() + (1 + n % 30) * interval '1 day' END,
       now() + interval '90 days',
       CASE WHEN n % 10 = 1 THEN now() END,
       CASE WHEN n % 10 = 0 THEN now() END,
       n % 7, CASE WHEN n % 3 = 0 THEN NULL ELSE now() - n * interval '1 hour' END, NULL, ''
FROM generate_series(1, 200) AS n
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS k FROM graphs WHERE owner_id = :me) AS g ON g.k = 1 + n % 50;
"""

SEED_OTHERS = f"""
INSERT INTO users (public_id, email, name, password_hash, token_version, created_at, password_changed_at)
SELECT md5('user' || n), 'user' || n || '@example.com', 'User ' || n, (SELECT password_hash FROM users WHERE id = :me),
       1, now(), now()
FROM generate_series(1, 1000) AS n;
INSERT INTO graphs (public_id, name, type, description, spec, status, message, info, owner_id, created_at, updated_at)
SELECT md5('graph' || n),
       CASE WHEN n % 400 = 10 THEN 'old checkout ' ELSE '' END || ({_WORDS})[1 + n % 10] || ' ' || substr(md5(n::text), 1, 8),
       'infra', '', 'api -> db', (ARRAY['process','finished','warning','error'])[1 + (n / 7) % 4], '', '{{}}',
       (SELECT min(id) FROM users WHERE email LIKE 'user%') + n % 1000,
       now() - interval '1 hour' - (100001 - n) * interval '5 minutes', now()
FROM generate_series(1, 100000) AS n ORDER BY n;
INSERT INTO graph_roles (graph_id, user_id, role, created_at, graph_status)
SELECT id, owner_id, 7, created_at, status FROM graphs WHERE owner_id <> :me;
"""

SEED_BIG = """
INSERT INTO graph_runs (public_id, graph_id, state, queued_at, finished_at, attempts)
SELECT md5('run' || g.id || '-' || k), g.id, 'finished', g.created_at + k * interval '1 second', g.created_at, 1
FROM graphs AS g, generate_series(1, 3) AS k WHERE g.owner_id <> :me ORDER BY g.id, k;
INSERT INTO graph_results (graph_id, run_id, status, message, svg, info, total, created_at)
SELECT r.graph_id, r.id, 'finished', '', NULL, '{}', 2, r.queued_at FROM graph_runs AS r
JOIN graphs AS g ON g.id = r.graph_id WHERE g.owner_id <> :me;
INSERT INTO share_links (public_id, graph_id, creator_id, label, created_at, expires_at, token_expires_at, paused_at,
                         revoked_at, view_count, last_viewed_at, max_views, allowed_origins)
SELECT md5('link' || g.id || '-' || k), g.id, g.owner_id, 'link ' || k, g.created_at + k * interval '1 second',
       now() + (k - 3) * interval '1 day', now() + interval '90 days',
       CASE WHEN k = 4 THEN now() END, CASE WHEN k = 5 THEN now() END, k, NULL, NULL, ''
FROM graphs AS g, generate_series(1, 10) AS k WHERE g.owner_id <> :me ORDER BY g.id, k;
INSERT INTO graph_roles (graph_id, user_id, role, created_at, graph_status)
SELECT id, :me, (ARRAY[1, 3, 7])[1 + id % 3], now(), status FROM graphs WHERE owner_id <> :me AND id % 20 = 0;
"""


def create_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_exists(admin_url: str, name: str) -> bool:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url)
    try:
        with admin.connect() as conn:
            return bool(conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar())
    finally:
        admin.dispose()


def seed(env: dict[str, str], big: bool) -> float:
    """Fill a migrated database; seconds it took. "me" is made through the model (a real password hash)."""
    import sqlalchemy as sa

    from maestro_web import create_app
    from maestro_web.extensions import db
    from maestro_web.models import User

    started = time.perf_counter()
    app = create_app(environ=env)
    with app.app_context():
        User.create(ME_EMAIL, "Me", ME_PASSWORD)
        db.session.commit()
        me = User.get_by_email(ME_EMAIL).id
        db.session.remove()
        engine = db.engine
        # Big first, so that "me"'s own graphs are the newest (ids and times grow together).
        for script in ([SEED_OTHERS] if big else []) + [SEED_ME] + ([SEED_BIG] if big else []):
            for statement in filter(str.strip, script.split(";\n")):
                with engine.begin() as conn:  # one statement, one transaction: a failure names it
                    conn.execute(sa.text(statement), {"me": me})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        engine.dispose()
    return time.perf_counter() - started


def vacuum_analyze(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


# --- what is measured ----------------------------------------------------------------------------


@dataclass
class Session:
    """How the load runner passes as "me", and the paths the lists themselves link to."""

    cookie: str
    bearer: str
    api_last: str
    page_last: str
    graph_id: str
    public_path: str
    worker_token: str


def sign_in(env: dict[str, str]) -> Session:
    """Log in through the real form and token endpoint in-process (same secrets as the server)."""
    import sqlalchemy as sa

    from maestro_web import create_app
    from maestro_web.extensions import db
    from maestro_web.models import Graph, ShareLink, User
    from maestro_web.models.base import utcnow
    from maestro_web.security.share_tokens import share_token_of
    from maestro_web.security.worker_tokens import mint_worker_token

    app = create_app(environ=env)
    client = app.test_client()
    page = client.get("/auth/login")
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page.text
    )
    assert csrf, "no CSRF field on the login page"
    answer = client.post("/auth/login", data={"email": ME_EMAIL, "password": ME_PASSWORD, "csrf_token": csrf.group(1)})
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"login answered {answer.status_code}")
    cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())  # noqa: SLF001
    token = client.post("/api/auth/token", json={"email": ME_EMAIL, "password": ME_PASSWORD}).json["access_token"]
    bearer = f"Bearer {token}"
    first = client.get("/api/graphs", headers={"Authorization": bearer}).json
    if first.get("last"):
        api_last = f"/api/graphs?cursor={quote(first['last'])}"
    else:
        api_last = f"/api/graphs?page={max(1, math.ceil(first['total'] / first['per_page']))}"
    html = client.get("/graphs/").text
    found = re.search(r'<a[^>]*rel="last"[^>]*href="([^"]+)"', html) or re.search(
        r'href="([^"]+)"[^>]*rel="last"', html
    )
    if found:
        page_last = found.group(1).replace("&amp;", "&")
    else:
        pages = re.search(r"Page 1 of (\d+)", html)
        page_last = f"/graphs/?page={pages.group(1) if pages else 1}"
    with app.app_context():
        me = User.get_by_email(ME_EMAIL)
        graph = db.session.scalar(sa.select(Graph).where(Graph.owner_id == me.id).order_by(Graph.id.desc()).limit(1))
        link = db.session.scalar(
            sa.select(ShareLink)
            .where(
                ShareLink.graph_id == graph.id,
                ShareLink.revoked_at.is_(None),
                ShareLink.paused_at.is_(None),
                ShareLink.expires_at > utcnow(),
            )
            .limit(1)
        )
        public_path = f"/analytics/graphs/public/{graph.public_id}?token={share_token_of(link)}"
        worker = mint_worker_token(app.config["KEY_RINGS"]["analytics"], "*", lifetime=3600)
        graph_id = graph.public_id
        db.session.remove()
        db.engine.dispose()
    return Session(cookie, bearer, api_last, page_last, graph_id, public_path, worker)


@dataclass(frozen=True)
class Route:
    name: str
    request: Callable[[Session], Request]
    expect: tuple[int, ...] = (200,)


def _page(path: str) -> Callable[[Session], Request]:
    return lambda s: Request("GET", path, headers={"Cookie": s.cookie})


def _api(path: str) -> Callable[[Session], Request]:
    return lambda s: Request("GET", path, headers={"Authorization": s.bearer})


ROUTES = [
    Route("/healthz (baseline)", lambda s: Request("GET", "/healthz")),
    Route("API graph list, page 1", _api("/api/graphs")),
    Route("graph list page, page 1", _page("/graphs/")),
    Route("API list, last page", lambda s: Request("GET", s.api_last, headers={"Authorization": s.bearer})),
    Route("list page, last page", lambda s: Request("GET", s.page_last, headers={"Cookie": s.cookie})),
    Route(f"API search ?q={SEARCH_TERM}", _api(f"/api/graphs?q={SEARCH_TERM}")),
    Route(f"page search ?q={SEARCH_TERM}", _page(f"/graphs/?q={SEARCH_TERM}")),
    Route("API status filter ?status=error", _api("/api/graphs?status=error")),
    Route("page status filter ?status=error", _page("/graphs/?status=error")),
    Route(
        "API shares of one graph",
        lambda s: Request("GET", f"/api/graphs/{s.graph_id}/shares", headers={"Authorization": s.bearer}),
    ),
    Route("My shared links page", _page("/shares")),
    Route("API my links /api/shares", _api("/api/shares")),
    Route("API my links, search ?q=sales", _api("/api/shares?q=sales")),
    Route("public share view", lambda s: Request("GET", s.public_path)),
    Route(
        "job claim, nothing queued",
        lambda s: Request(
            "POST", "/analytics/jobs/claim", body=b"", headers={"Authorization": f"JWT {s.worker_token}"}
        ),
        (204,),
    ),
]


def chosen_routes(only: list[str]) -> list[Route]:
    """The routes to load: all of them, or the baseline and those whose name contains one of `only`."""
    return [
        route
        for index, route in enumerate(ROUTES)
        if not only or index == 0 or any(text in route.name for text in only)
    ]


def count_statements(env: dict[str, str], session: Session) -> dict[str, int | None]:
    """SQL statements of one request per route, in-process on the same database (measurement mode)."""
    from sqlalchemy import event

    from maestro_web import create_app
    from maestro_web.extensions import db

    app = create_app(environ=env)
    counts: dict[str, int | None] = {}
    seen = [0]

    def listener(*args: Any) -> None:
        seen[0] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    client = app.test_client()
    for pair in session.cookie.split("; "):  # the test client sends its own jar, not a Cookie header
        key, _, value = pair.partition("=")
        client.set_cookie(key, value)
    try:
        for route in ROUTES:
            request = route.request(session)
            headers = {k: v for k, v in request.headers.items() if k != "Cookie"}
            client.get("/healthz")  # the pool's first connect happens outside the count
            seen[0] = 0
            response = client.open(request.path, method=request.method, headers=headers, data=request.body)
            counts[route.name] = seen[0] if response.status_code in route.expect else None
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        with app.app_context():
            db.engine.dispose()
    return counts


@dataclass
class DatabaseRun:
    label: str
    seed_seconds: float | None
    rps: dict[str, list[float]] = field(default_factory=dict)
    statements: dict[str, int | None] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)


@dataclass
class Prepared:
    """A seeded database, the server (not started) to serve it, and "me"'s credentials on it."""

    run: DatabaseRun
    server: GunicornServer
    session: Session


def prepare(label: str, big: bool, args: argparse.Namespace, workdir: Path) -> Prepared:
    name = f"{args.db_prefix}{label}"
    reuse = args.reuse and database_exists(args.postgres_url, name)
    url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}" if reuse else create_database(args.postgres_url, name)
    # migrated_server also brings a kept database up to the newest migration
    server = migrated_server(
        url,
        workdir / f"server-{label}.log",
        "app:app",
        redis_url=args.redis_url,
        workers=args.workers,
        threads=args.threads,
        LOG_LEVEL="WARNING",
        GUNICORN_ACCESS_LOG="/dev/null",
        MAESTRO_SHARE_FAILURE_RATE_LIMIT="1000000 per minute",
        MAESTRO_WORKER_RATE_LIMIT="100000000 per minute",
    )
    env = server.env
    seconds = None if reuse else seed(env, big)
    if reuse:  # a migration may have rewritten rows (0007 fills graph_roles): fresh statistics, as after seeding
        vacuum_analyze(url)
    if seconds is not None:
        print(f"{label}: seeded in {seconds:.0f} s", file=sys.stderr)
    run = DatabaseRun(label, seconds)
    session = sign_in(env)
    run.statements = count_statements(env, session)
    return Prepared(run, server, session)


def bench_both(args: argparse.Namespace, workdir: Path) -> list[DatabaseRun]:
    """Both servers run side by side and each round measures a route on empty, then at once on big:
    the machine is shared, so the two figures of a ratio see the same background load."""
    prepared = [prepare("empty", False, args, workdir), prepare("big", True, args, workdir)]
    try:
        if args.count_only:
            return [p.run for p in prepared]
        servers = [p.server for p in prepared]
        try:
            for server in servers:
                server.start()
            for route in chosen_routes(args.only):
                for p, server in zip(prepared, servers):
                    request = route.request(p.session)
                    warm = run_load(
                        server.url,
                        lambda i: request,
                        concurrency=args.concurrency,
                        duration=1.0,
                        expect_status=route.expect,
                    )
                    if warm.ok == 0:
                        p.run.unavailable.add(route.name)
                        p.run.errors[route.name] = warm.error_samples
                for _ in range(args.rounds):
                    for p, server in zip(prepared, servers):
                        if route.name in p.run.unavailable:
                            continue
                        request = route.request(p.session)
                        result = run_load(
                            server.url,
                            lambda i: request,
                            concurrency=args.concurrency,
                            duration=args.seconds,
                            expect_status=route.expect,
                        )
                        p.run.rps.setdefault(route.name, []).append(result.rps)
                        if result.errors:
                            p.run.errors.setdefault(route.name, []).extend(result.error_samples[:2])
                print(
                    f"{route.name}: "
                    + "  ".join(
                        f"{p.run.label} {median(p.run.rps.get(route.name, [])):.0f}/s ({p.run.statements.get(route.name)} st.)"
                        for p in prepared
                    ),
                    file=sys.stderr,
                )
        finally:
            for server in servers:
                server.stop()
        return [p.run for p in prepared]
    finally:
        if not args.keep_db:
            for label in ("empty", "big"):
                drop_database(args.postgres_url, f"{args.db_prefix}{label}")


def report(runs: list[DatabaseRun], args: argparse.Namespace, command: str) -> str:
    machine = machine_description()
    empty, big = runs
    rows = []
    for route in ROUTES:
        e = median(empty.rps.get(route.name, []))
        b = median(big.rps.get(route.name, []))
        pairs = list(zip(empty.rps.get(route.name, []), big.rps.get(route.name, [])))
        ratio = median([y / x for x, y in pairs if x]) if pairs else float("nan")  # per round: same load
        flat = "n/a" if math.isnan(ratio) else ("yes" if ratio >= 1 / TARGET_RATIO else "NO")
        statements = f"{empty.statements.get(route.name)} / {big.statements.get(route.name)}"
        rows.append(
            [
                route.name,
                "—" if math.isnan(e) else f"{e:,.0f}",
                "—" if math.isnan(b) else f"{b:,.0f}",
                "—" if math.isnan(ratio) else f"{ratio:.2f}",
                flat,
                statements,
            ]
        )
    table = format_table(
        ["route", "empty req/s", "big req/s", "big / empty", "within 1.3×", "SQL statements (empty / big)"], rows
    )
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['date']}, code {machine['code']}.",
        f"Load: {args.concurrency} keep-alive clients, {args.rounds} rounds of {args.seconds:g} s per route, medians; "
        "gunicorn as configured in gunicorn.conf.py, one server per database, side by side; PostgreSQL; Redis; "
        "big / empty is the median of the rounds' ratios.",
        "",
        table,
    ]
    for run in runs:
        if run.seed_seconds is not None:
            lines.append(f"\n- {run.label}: seeded in {run.seed_seconds:.0f} s")
        for name, samples in run.errors.items():
            lines.append(f"- {run.label} {name}: errors, e.g. {samples[:2]}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per route; the table gives medians (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one measurement (default 5)")
    add_server_arguments(parser)
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_PREFIX}empty/big databases")
    parser.add_argument("--reuse", action="store_true", help="reuse kept databases instead of seeding again")
    parser.add_argument(
        "--db-prefix", default=DB_PREFIX, help=f"database names: <prefix>empty, <prefix>big ({DB_PREFIX})"
    )
    parser.add_argument("--count-only", action="store_true", help="count SQL statements per route, no load")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="load only the routes whose name contains TEXT (repeatable; the baseline always runs)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with TempWorkdir() as workdir:
        runs = bench_both(args, workdir)
    command = "python -m bench.scale " + " ".join(argv if argv is not None else sys.argv[1:])
    print(report(runs, args, command.strip()))
    if args.json:
        args.json.write_text(
            json.dumps([{"database": r.label, "rps": r.rps, "statements": r.statements} for r in runs], indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Faults under load, measured: the production recipe on loopback, with a process
killed or a service cut on a schedule while visitors, owners, workers and live pages keep working.

    .venv/bin/python -m bench.soak                      # 10 minutes (docs/reliability.md)
    .venv/bin/python -m bench.soak --seconds 60 --json /tmp/soak.json

The stack, as deploy/ describes it, every process on 127.0.0.1: nginx (deploy/nginx/maestro.conf.in,
rendered by deploy/render, TLS with a throw-away certificate) in front of two gunicorn instances of
the app (gunicorn.conf.py, production settings), two live servers (`flask live serve`), two
analytics workers (`flask analytics worker`, through nginx) and the discovery service (`flask
discovery serve`, commanded by the app, calling it back through nginx); one PostgreSQL database made
for the run; a redis-server of the run's own on a free port (persistence as
deploy/redis/maestro.conf: an append-only file), so that the shared Redis is never touched and can
be restarted; the live servers' keys under a prefix of the run.

The load: visitors open share links (each 200 is a page served; the links' view counters must say
the same), owners edit graphs (each edit queues a run the workers draw), pause and resume links and
press Crawl on a Compose source of theirs (each crawl must end ok) through the JSON API, and one
WebSocket client per graph stays subscribed through nginx, coming back with `since` = the last event
id it saw whenever its connection ends.

The faults, at fixed shares of the run: `kill -9` of one gunicorn instance (master and workers) and
its restart; `kill -9` of one live server and its restart; `kill -9` of the worker drawing a large
graph, in the middle of that run, and its restart (the run must be claimed again once its lease
runs out); a restart of Redis; `pg_terminate_backend` of every connection to the database.

The report: requests answered, 5xx by cause and time (the only acceptable ones are 503s during the
Redis restart), view counts against pages served per link, runs left unfinished after a drain,
crawls that did not end ok, events kept by Redis that a subscriber never received, and each fault's
time to recover (from the fault until the process is back and the last failed request of its window).

Every process gets a session of its own and is killed by process group when the run ends, whatever
happened; the database is dropped and the temp folder removed (unless --keep).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import nginx_recipe
from bench.harness import (
    DEFAULT_POSTGRES_ADMIN_URL,
    ROOT,
    BenchDatabase,
    TempWorkdir,
    format_table,
    free_port,
    machine_description,
    migrate,
    production_environ,
    simple_get,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "soak password 1234"
SLOW_DOT = 4  # seconds the large graph's layout waits (see Stack.start)
SLOW_DOT_LINES = 200  # dot source lines from which a graph is "large": the soak's own graphs make ~45
LEASE_SECONDS = 10  # MAESTRO_JOB_LEASE_SECONDS: a killed worker's run is claimed again after this
GRACE = 3.0  # seconds after a fault's recovery during which failures are still laid at its door
FAULTS = (
    "app instance kill -9",
    "live server kill -9",
    "worker kill -9 mid-run",
    "Redis restart",
    "database connections terminated",
)
FAULT_AT = (0.10, 0.25, 0.40, 0.58, 0.74)  # share of the run at which each fault happens
ACCEPTABLE = {("Redis restart", 503)}  # (cause, status) of the only 5xx the recipe may answer
# The Compose file each owner's source holds: every crawl of it finds these four services and
# their three dependencies, beside the graph's hand-written ones.
COMPOSE = """services:
  gateway:
    image: nginx
    depends_on: [orders]
  orders:
    image: example/orders
    environment:
      ORDERS_DB: postgres://orders@orders-db:5432/orders
      EVENTS: redis://events:6379/0
  orders-db:
    image: postgres:16
  events:
    image: redis:7
"""
CRAWL_EVERY = 4  # owner paces between two crawl commands of the owner's source


def node_spec(nodes: int, extra: str = "", dense: bool = False) -> str:
    """A graph spec of `nodes` services; `dense` gives every node a second edge."""
    lines = [
        f"service-{i} [kind={('service', 'database', 'queue')[i % 3]}] -> service-{(i * 7 + 3) % nodes}"
        for i in range(nodes)
        if (i * 7 + 3) % nodes != i
    ]
    lines += [
        f"service-{i} -> service-{(i * 13 + 5) % nodes}"
        for i in range(0, nodes, 1 if dense else 2)
        if (i * 13 + 5) % nodes != i
    ]
    return "\n".join(lines) + (f"\n{extra}" if extra else "")


# --- processes -----------------------------------------------------------------------------------


class Proc:
    """One process of the stack, in a session (process group) of its own, restartable."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """kill -9 of the whole process group: the master and its workers, a worker and its `dot`."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self, how: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, how)
                process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:  # whatever is left of the group (a worker that outlived its master)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        kids = []
        for task in Path(f"/proc/{current}/task").glob("*"):  # a child started by any thread
            try:
                kids += [int(p) for p in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        found.extend(kids)
        todo.extend(kids)
    return found


def process_age(pid: int) -> float:
    """Seconds since process `pid` started (Linux /proc), 0 when it is gone."""
    try:
        started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - started / os.sysconf("SC_CLK_TCK")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    """Poll until `predicate()` holds; the monotonic time it first did. Raises after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return time.monotonic()
        except Exception:  # a service still coming up
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        time.sleep(step)


def healthy(port: int) -> bool:
    try:
        return simple_get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


# --- what the clients saw ------------------------------------------------------------------------


@dataclass
class Answer:
    at: float  # seconds since the load started
    route: str
    status: int  # 0: no HTTP answer at all (connection error, time-out)
    detail: str = ""


class Ledger:
    """Every answer of the run, and the pages served per link; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.failures: list[Answer] = []  # 5xx and no-answer
        self.served: Counter[str] = Counter()  # link id -> 200 pages

    def now(self) -> float:
        return time.monotonic() - self.started

    def note(self, route: str, status: int, body: bytes, link: str | None = None) -> None:
        with self.lock:
            self.statuses[(route, status)] += 1
            if status == 200 and link is not None:
                self.served[link] += 1
            if status >= 500 or status == 0:
                self.failures.append(Answer(self.now(), route, status, describe(body)))


def describe(body: bytes) -> str:
    """What a failed answer said: the JSON error's message, nginx's page title, or the exception."""
    text = body[:400].decode("utf-8", "replace")
    if "<title>" in text:  # an error page: its title and the words under it (which outage it was)
        words = " ".join(re.sub(r"<[^>]+>", " ", body.decode("utf-8", "replace").split("<body", 1)[-1]).split())
        title = text.split("<title>", 1)[1].split("</title>", 1)[0]
        return f"{title}: {words[:160]}"
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return str(data.get("message") or data.get("error") or text)[:120]
    except ValueError:
        pass
    if "<title>" in text:
        return text.split("<title>", 1)[1].split("</title>", 1)[0]
    return text[:120]


class HttpsClient:
    """One keep-alive HTTPS connection to nginx; a failed request reconnects and is never retried."""

    def __init__(self, port: int, tls: ssl.SSLContext, ledger: Ledger, token: str | None = None) -> None:
        self.port, self.tls, self.ledger, self.token = port, tls, ledger, token
        self.conn: http.client.HTTPSConnection | None = None

    def call(
        self, route: str, method: str, path: str, body: Any = None, link: str | None = None, note: bool = True
    ) -> tuple[int, bytes]:
        headers = {"Host": "127.0.0.1"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=40, context=self.tls)
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
        if note:
            self.ledger.note(route, status, payload, link)
        return status, payload

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- the stack -----------------------------------------------------------------------------------


class Stack:
    """Everything the run starts; `close()` stops all of it and is safe to call at any point."""

    def __init__(self, workdir: Path, ports: Callable[[], int], postgres_url: str) -> None:
        self.workdir = workdir
        self.ports = ports
        self.https_port = ports()
        self.base_url = f"https://127.0.0.1:{self.https_port}"
        self.redis_port = ports()
        self.redis_prefix = f"maestro-soak:{os.getpid()}:{random.randrange(16**8):08x}:live:"
        self.database = BenchDatabase("postgresql", workdir, postgres_url)
        self.certificate, self.key = workdir / "cert.pem", workdir / "key.pem"  # made at start
        self.procs: list[Proc] = []
        self.redis: Proc | None = None
        self.apps: list[Proc] = []
        self.app_ports: list[int] = []
        self.lives: list[Proc] = []
        self.live_ports: list[int] = []
        self.workers: list[Proc] = []
        self.discovery: Proc | None = None
        self.discovery_port = ports()
        self.nginx: Proc | None = None
        self.env: dict[str, str] = {}
        self.flask_app: Any = None

    # start-up ---------------------------------------------------------------------------------

    def start(self) -> None:
        if not os.access(nginx_recipe.NGINX, os.X_OK):
            raise RuntimeError(nginx_recipe.MISSING)
        self.certificate, self.key = nginx_recipe.self_signed_certificate(self.workdir)
        self.redis = self._proc(
            "redis",
            [
                REDIS_SERVER,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.workdir),
            ],
            {},
        )
        self.start_redis()
        self.database.create()
        from maestro_web.discovery.sealing import generate_key_pair

        discovery_private, discovery_public = generate_key_pair()
        self.app_ports = [self.ports(), self.ports()]
        self.live_ports = [self.ports(), self.ports()]
        self.env = production_environ(
            self.database.url,
            self.app_ports[0],
            **{
                "MAESTRO_BASE_URL": self.base_url,
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "MAESTRO_LIVE_REDIS_PREFIX": self.redis_prefix,
                "MAESTRO_TRUSTED_PROXIES": "1",
                "MAESTRO_LIVE_URL": f"wss://127.0.0.1:{self.https_port}/live",
                "MAESTRO_LIVE_PUBLISH_URL": f"{self.base_url}/publish",  # through nginx: whichever live server is up
                "MAESTRO_ANALYTICS_URL": f"{self.base_url}/analytics",
                "REQUESTS_CA_BUNDLE": str(self.certificate),
                "SSL_CERT_FILE": str(self.certificate),
                "MAESTRO_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
                # The app commands the discovery service on its port; the service calls the app back
                # through nginx (MAESTRO_BASE_URL), like the workers.
                "MAESTRO_DISCOVERY_URL": f"http://127.0.0.1:{self.discovery_port}",
                "MAESTRO_DISCOVERY_PRIVATE_KEY": discovery_private,
                "MAESTRO_DISCOVERY_PUBLIC_KEY": discovery_public,
                "MAESTRO_ACCESS_TOKEN_TTL": "7200",
                # Every client of the run comes from 127.0.0.1: per-address limits are not what is measured.
                "MAESTRO_LOGIN_RATE_LIMIT": "10000 per minute",
                "MAESTRO_SHARE_FAILURE_RATE_LIMIT": "1000000 per minute",
                "WEB_CONCURRENCY": "2",
                "GUNICORN_CMD_ARGS": "--no-control-socket",
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "INFO",
            },
        )
        try:
            migrate(self.env, self.workdir / "migrate.log")
        except subprocess.CalledProcessError:
            tail = (self.workdir / "migrate.log").read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError("flask db upgrade failed:\n" + "\n".join(tail)) from None
        for number, port in enumerate(self.live_ports):
            self.lives.append(
                self._proc(
                    f"live-{number}",
                    [
                        sys.executable,
                        "-m",
                        "flask",
                        "--app",
                        "app",
                        "live",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    self.env,
                )
            )
        for number, port in enumerate(self.app_ports):
            self.apps.append(
                self._proc(
                    f"app-{number}",
                    [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
                    {**self.env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                )
            )
        self.discovery = self._proc(
            "discovery",
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "app",
                "discovery",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.discovery_port),
            ],
            self.env,
        )
        conf = self._nginx_config()
        self.nginx = self._proc("nginx", nginx_recipe.nginx_command(conf.parent, conf), {})
        for proc in [*self.lives, *self.apps, self.discovery, self.nginx]:
            proc.start()
        for proc, port in [
            *zip(self.lives, self.live_ports),
            *zip(self.apps, self.app_ports),
            (self.discovery, self.discovery_port),
        ]:
            self.wait_healthy(proc, port)
        wait_for(lambda: self.get("/healthz") == 200, 30, "nginx answering")
        # dot's time is erratic near the size where it turns slow (140 nodes: 0.5 s, 150: 6 to 21 s
        # on this machine), so the workers run it through a wrapper that first waits SLOW_DOT seconds
        # for a large graph: the worker's kill then lands in the middle of that run every time.
        slow_dot = self.workdir / "slow-dot"
        slow_dot.write_text(f"""#!/bin/sh
input=$(cat)
if [ "$(printf '%s' "$input" | wc -l)" -gt {SLOW_DOT_LINES} ]; then sleep {SLOW_DOT}; fi
printf '%s' "$input" | exec {shutil.which("dot") or "dot"} "$@"
""")
        slow_dot.chmod(0o755)
        for number in range(2):
            worker = self._proc(
                f"worker-{number}",
                [sys.executable, "-m", "flask", "--app", "app", "analytics", "worker", "--poll-interval", "1"],
                {**self.env, "MAESTRO_DOT": str(slow_dot)},
            )
            worker.start()
            self.workers.append(worker)
        from maestro_web import create_app

        self.flask_app = create_app(environ=self.env)  # for seeding and for reading the counters

    def _proc(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(
            name,
            argv,
            env or {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            self.workdir / f"{name}.log",
        )
        self.procs.append(proc)
        return proc

    def _nginx_config(self) -> Path:
        """deploy/nginx/maestro.conf.in as an operator renders it, with the second gunicorn instance
        and the second live server added to its two upstream blocks (one `server` line each)."""
        folder = self.workdir / "nginx"
        folder.mkdir()
        site = nginx_recipe.render(
            nginx_recipe.SITE_TEMPLATE,
            nginx_recipe.site_values(
                base_url=self.base_url,
                app_port=self.app_ports[0],
                live_port=self.live_ports[0],
                http_port=self.ports(),
                https_port=self.https_port,
                certificate=self.certificate,
                key=self.key,
                access_log=folder / "access.log",
            ),
        )
        for first, second in ((self.app_ports[0], self.app_ports[1]), (self.live_ports[0], self.live_ports[1])):
            line = f"server 127.0.0.1:{first};"
            if line not in site:
                raise RuntimeError(f"deploy/nginx/maestro.conf.in changed: no {line!r} line to add a second server to")
            site = site.replace(line, f"{line}\n    server 127.0.0.1:{second};", 1)
        return nginx_recipe.write_main_config(folder, site, worker_connections=4096)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def get(self, path: str) -> int:
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=10, context=self.tls())
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def wait_healthy(self, proc: Proc, port: int, timeout: float = 90.0) -> float:
        def up() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            return healthy(port)

        return wait_for(up, timeout, f"{proc.name} healthy")

    def start_redis(self) -> None:
        import redis

        assert self.redis is not None
        self.redis.start()
        client = redis.Redis(port=self.redis_port, socket_connect_timeout=1)
        try:
            wait_for(lambda: bool(client.ping()), 30, "redis-server answering", step=0.05)
        finally:
            client.close()

    # reading the truth ------------------------------------------------------------------------

    def query(self, work: Callable[[], Any]) -> Any:
        from maestro_web.extensions import db

        with self.flask_app.app_context():
            try:
                return work()
            finally:
                db.session.remove()

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.flask_app is not None:
            from maestro_web.extensions import db

            with self.flask_app.app_context():
                db.session.remove()
                db.engine.dispose()
        self.database.drop()


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Owner:
    email: str
    token: str = ""
    graphs: list[str] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (graph id, link id, token)
    source: tuple[str, str] = ("", "")  # (graph id, source id): a Compose source on its first graph


def seed(stack: Stack, ledger: Ledger, owners: int, graphs: int, links: int) -> list[Owner]:
    """Users made in process (as `flask users create` would); graphs and links through the API."""
    from maestro_web.extensions import db
    from maestro_web.models import User

    made = [Owner(f"owner{number}@soak.example") for number in range(owners)]

    def users() -> None:
        for owner in made:
            User.create(owner.email, owner.email.split("@")[0], PASSWORD)
        db.session.commit()

    stack.query(users)
    for owner in made:
        client = HttpsClient(stack.https_port, stack.tls(), ledger)
        status, body = client.call("log in", "POST", "/api/auth/token", {"email": owner.email, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"log in answered {status}: {body[:200]!r}")
        client.token = owner.token = json.loads(body)["access_token"]
        for number in range(graphs):
            status, body = client.call(
                "graph create",
                "POST",
                "/api/graphs",
                {"name": f"{owner.email} graph {number}", "type": "infra", "spec": node_spec(16)},
            )
            if status != 201:
                raise RuntimeError(f"graph create answered {status}: {body[:200]!r}")
            graph_id = json.loads(body)["id"]
            owner.graphs.append(graph_id)
            for _ in range(links):
                status, body = client.call("link create", "POST", f"/api/graphs/{graph_id}/shares", {"label": "soak"})
                if status != 201:
                    raise RuntimeError(f"link create answered {status}: {body[:200]!r}")
                link = json.loads(body)
                owner.links.append((graph_id, link["id"], link["token"]))
        status, body = client.call(
            "source create",
            "POST",
            f"/api/graphs/{owner.graphs[0]}/sources",
            {"kind": "compose", "label": "soak compose", "input": COMPOSE},
        )
        if status != 201:
            raise RuntimeError(f"source create answered {status}: {body[:200]!r}")
        owner.source = (owner.graphs[0], json.loads(body)["id"])
        client.close()
    return made


def visitor(
    stack: Stack, ledger: Ledger, links: list[tuple[str, str, str]], stop: threading.Event, pace: float
) -> None:
    client = HttpsClient(stack.https_port, stack.tls(), ledger)
    rng = random.Random()
    while not stop.is_set():
        graph_id, link_id, token = rng.choice(links)
        client.call("public view", "GET", f"/analytics/graphs/public/{graph_id}?token={token}", link=link_id)
        stop.wait(pace)
    client.close()


def owner_loop(stack: Stack, ledger: Ledger, owner: Owner, stop: threading.Event, pace: float) -> None:
    """Edits (each queues a run), pauses of a link for a moment, and the graph list."""
    client = HttpsClient(stack.https_port, stack.tls(), ledger, owner.token)
    rng = random.Random()
    edits = 0
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.5:
            edits += 1
            graph_id = rng.choice(owner.graphs)
            client.call(
                "graph edit",
                "PATCH",
                f"/api/graphs/{graph_id}",
                {"spec": node_spec(16, f"soak-edit-{edits} -> service-{edits % 16}")},
            )
        elif roll < 0.75:
            graph_id, link_id, _ = rng.choice(owner.links)
            client.call("link pause", "PATCH", f"/api/graphs/{graph_id}/shares/{link_id}", {"paused": True})
            stop.wait(pace)
            # Resumed even when the run is ending: the pages served afterwards are counted too.
            for _ in range(20):
                status, _ = client.call(
                    "link resume", "PATCH", f"/api/graphs/{graph_id}/shares/{link_id}", {"paused": False}
                )
                if status == 200:
                    break
                time.sleep(0.5)
        else:
            client.call("graph list", "GET", "/api/graphs?per_page=20")
        stop.wait(pace)
    client.close()


def crawler(stack: Stack, ledger: Ledger, owner: Owner, stop: threading.Event, pace: float, crawls: list[str]) -> None:
    """The owner presses Crawl on the source every CRAWL_EVERY paces; each 202 is a crawl that must end.
    A 409 (the last one still running) is no failure: the next press comes a little later."""
    client = HttpsClient(stack.https_port, stack.tls(), ledger, owner.token)
    graph_id, source_id = owner.source
    while not stop.wait(pace * CRAWL_EVERY):
        status, body = client.call("crawl start", "POST", f"/api/graphs/{graph_id}/sources/{source_id}/crawl")
        if status == 202:
            crawls.append(json.loads(body)["crawl"])
    client.close()


class Subscriber(threading.Thread):
    """A live page of one graph: a WebSocket through nginx, subscribed from the first event on
    (`since` 0-0), back with `since` = the last id it saw whenever the connection ends."""

    def __init__(self, stack: Stack, ledger: Ledger, owner: Owner, graph_id: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stack, self.ledger, self.owner, self.graph_id, self.stop = stack, ledger, owner, graph_id, stop
        self.channel = f"graph:{graph_id}"
        self.received: set[str] = set()
        self.last = "0-0"
        self.subscribed_at = 0.0  # ledger time of the newest confirmed subscription
        self.connections = 0
        self.ends: Counter[str] = Counter()

    def run(self) -> None:
        from websockets.sync.client import connect

        client = HttpsClient(self.stack.https_port, self.stack.tls(), self.ledger, self.owner.token)
        while not self.stop.is_set():
            try:
                status, body = client.call("live ticket", "POST", "/api/live/ticket", {"graph": self.graph_id})
                # A fresh connection for each ticket: minutes pass between two, and nginx closes an idle
                # keep-alive connection after 30 s (a browser retries a request that meets such a
                # closed connection; this client would count it as unanswered).
                client.close()
                if status != 200:
                    raise ConnectionError(f"ticket {status}")
                ticket = json.loads(body)["ticket"]
                with connect(
                    f"wss://127.0.0.1:{self.stack.https_port}/live",
                    origin=self.stack.base_url,  # type: ignore[arg-type]
                    ssl=self.stack.tls(),
                    open_timeout=10,
                    close_timeout=1,
                ) as ws:
                    ws.send(json.dumps({"type": "hello", "ticket": ticket}))
                    ws.send(json.dumps({"type": "subscribe", "channel": self.channel, "since": self.last}))
                    self.connections += 1
                    while not self.stop.is_set():
                        try:
                            frame = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if frame.get("type") == "subscribed":
                            self.subscribed_at = self.ledger.now()
                        elif frame.get("type") == "event" and frame.get("channel") == self.channel:
                            self.received.add(frame["id"])
                            self.last = frame["id"]
                        elif frame.get("type") in ("error", "unsubscribed"):
                            raise ConnectionError(f"live said {frame}")
            except Exception as exc:
                self.subscribed_at = 0.0
                self.ends[type(exc).__name__] += 1
                self.stop.wait(0.5)
        client.close()


class Streams(threading.Thread):
    """What Redis kept of each graph channel (the events the live servers accepted), read every
    second, so that a later trim or restart cannot hide one."""

    def __init__(self, stack: Stack, graphs: list[str], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stack, self.graphs, self.stop = stack, graphs, stop
        self.kept: dict[str, dict[str, float]] = {graph: {} for graph in graphs}  # id -> when first seen

    def collect(self) -> None:
        import redis

        client = redis.Redis(
            port=self.stack.redis_port, socket_timeout=2, socket_connect_timeout=1, decode_responses=True
        )
        try:
            for graph in self.graphs:
                kept = self.kept[graph]
                entries = client.xrange(f"{self.stack.redis_prefix}stream:graph:{graph}", min="-", max="+")
                for event_id, _ in entries:
                    kept.setdefault(event_id, time.monotonic())
        except redis.RedisError:
            pass  # Redis is being restarted
        finally:
            client.close()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.collect()


# --- what nginx saw ------------------------------------------------------------------------------

CUT_OFF = re.compile(
    r"\[error\].*(?:while reading response header from upstream|prematurely closed connection"
    r'|while sending request to upstream).*request: "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*"'
    r'.*upstream: "http://127\.0\.0\.1:(?P<port>\d+)/'
)


def cut_off_requests(error_log: Path) -> list[tuple[str, str, int]]:
    """(method, path, upstream port) of every request an upstream dropped while nginx waited for its
    answer: the requests in flight in a process killed with -9. nginx sends each again to the other
    server of the upstream, writes included (`non_idempotent`): a write the killed one had committed
    is answered from its receipt, a view it had counted is not counted again (maestro_web/receipts.py)."""
    try:
        text = error_log.read_text(errors="replace")
    except OSError:
        return []
    return [(m["method"], m["path"], int(m["port"])) for m in map(CUT_OFF.search, text.splitlines()) if m]


def count_in_app_logs(workdir: Path, words: str) -> int:
    """Lines of the app instances' logs (every start of each) that contain `words`."""
    total = 0
    for log in workdir.glob("app-*.log"):
        try:
            total += sum(1 for line in log.read_text(errors="replace").splitlines() if words in line)
        except OSError:
            pass
    return total


# --- the faults ----------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at: float  # ledger seconds
    recovered: float | None = None  # ledger seconds when the stack was whole again
    detail: str = ""

    def window(self) -> tuple[float, float]:
        return self.at, (self.recovered if self.recovered is not None else float("inf")) + GRACE


class Faults(threading.Thread):
    def __init__(
        self,
        stack: Stack,
        ledger: Ledger,
        owners: list[Owner],
        subscribers: list[Subscriber],
        seconds: float,
        stop: threading.Event,
        redis_down: float,
    ) -> None:
        super().__init__(daemon=True)
        self.stack, self.ledger, self.owners, self.subscribers = stack, ledger, owners, subscribers
        self.seconds, self.stop, self.redis_down = seconds, stop, redis_down
        self.done: list[Fault] = []
        self.heavy_graph: str | None = None
        self.heavy_run: str | None = None
        self.errors: list[str] = []
        self.waiters: list[threading.Thread] = []

    def run(self) -> None:
        actions = (self.kill_app, self.kill_live, self.kill_worker, self.restart_redis, self.terminate_database)
        for name, share, action in zip(FAULTS, FAULT_AT, actions):
            if self.stop.wait(max(0.0, share * self.seconds - self.ledger.now())):
                return
            fault = Fault(name, self.ledger.now())
            self.done.append(fault)
            try:
                action(fault)
            except Exception as exc:  # reported, never silent: the run goes on
                fault.detail += f" FAILED: {type(exc).__name__}: {exc}"
                self.errors.append(f"{name}: {exc}")
        for waiter in self.waiters:
            waiter.join()

    def ledger_time(self, monotonic: float) -> float:
        return monotonic - self.ledger.started

    def kill_app(self, fault: Fault) -> None:
        proc, port = self.stack.apps[0], self.stack.app_ports[0]
        proc.kill9()
        time.sleep(1.0)  # systemd's RestartSec
        proc.start()
        fault.recovered = self.ledger_time(self.stack.wait_healthy(proc, port))
        fault.detail = "gunicorn master and workers killed; restarted after 1 s; recovered = its /healthz answers"

    def kill_live(self, fault: Fault) -> None:
        proc, port = self.stack.lives[0], self.stack.live_ports[0]
        proc.kill9()
        time.sleep(1.0)
        proc.start()
        self.stack.wait_healthy(proc, port)
        since = fault.at
        done = wait_for(
            lambda: all(s.subscribed_at > since for s in self.subscribers if s.ends) and healthy(port),
            60,
            "subscribers back",
        )
        moved = sum(1 for s in self.subscribers if s.ends)
        fault.recovered = self.ledger_time(done)
        fault.detail = (
            f"restarted after 1 s; {moved} of {len(self.subscribers)} subscribers had lost their "
            "connection; recovered = live server healthy and every one of them subscribed again"
        )

    def kill_worker(self, fault: Fault) -> None:
        from sqlalchemy import select

        from maestro_web.extensions import db
        from maestro_web.models import Graph, GraphRun

        owner = self.owners[0]
        client = HttpsClient(self.stack.https_port, self.stack.tls(), self.ledger, owner.token)
        status, body = client.call(
            "graph create",
            "POST",
            "/api/graphs",
            {"name": "soak large graph", "type": "infra", "spec": node_spec(110, dense=True)},
        )
        client.close()
        if status != 201:
            raise RuntimeError(f"graph create answered {status}")
        graph_id = self.heavy_graph = json.loads(body)["id"]

        def run_of_graph() -> tuple[str, str, int]:
            def read() -> tuple[str, str, int]:
                graph = Graph.get_by_public_id(graph_id)
                run = db.session.scalars(
                    select(GraphRun).where(GraphRun.graph_id == graph.id).order_by(GraphRun.id.desc())
                ).first()
                return run.public_id, run.state, run.attempts

            result: tuple[str, str, int] = self.stack.query(read)
            return result

        # The worker drawing it: the one whose `dot` has run longest, for over a second (a small
        # graph's lasts a tenth of one; this one's several), while the large graph's run is claimed.
        busy: list[Proc] = []

        def drawing() -> bool:
            if run_of_graph()[1] != "claimed":
                return False
            ages = [
                (age, w)
                for w in self.stack.workers
                if w.alive()
                for age in [max((process_age(kid) for kid in descendants(w.pid)), default=0.0)]
                if age > 1.0
            ]
            busy[:] = [w for _, w in sorted(ages, key=lambda item: item[0], reverse=True)[:1]]
            return bool(busy)

        wait_for(drawing, 90, "a worker drawing the large graph", step=0.1)
        worker = busy[0]
        self.heavy_run = run_of_graph()[0]
        killed_at = self.ledger.now()
        worker.kill9()
        time.sleep(1.0)
        worker.start()

        def redrawn() -> None:  # waits for the lease in the background: the next faults keep their time
            try:
                done = wait_for(
                    lambda: run_of_graph()[1] in ("finished", "failed"),
                    LEASE_SECONDS + 120,
                    "the killed run drawn by a worker",
                    step=0.5,
                )
            except Exception as exc:
                fault.detail += f" FAILED: {type(exc).__name__}: {exc}"
                self.errors.append(f"{fault.name}: {exc}")
                return
            run_id, state, attempts = run_of_graph()
            fault.recovered = self.ledger_time(done)
            fault.detail = (
                f"{worker.name} killed {killed_at - fault.at:.1f} s after the large graph was made, "
                f"while its dot ran; restarted after 1 s; the run was {state} after {attempts} claims "
                f"(lease {LEASE_SECONDS} s); recovered = the run drawn"
            )

        waiter = threading.Thread(target=redrawn, daemon=True)
        waiter.start()
        self.waiters.append(waiter)

    def restart_redis(self, fault: Fault) -> None:
        assert self.stack.redis is not None
        self.stack.redis.stop(signal.SIGTERM)  # a service restart: the append-only file is written
        time.sleep(self.redis_down)
        self.stack.start_redis()
        back = self.ledger.now()
        done = wait_for(
            lambda: (
                all(healthy(port) for port in self.stack.live_ports)
                and self.stack.get("/healthz") == 200
                and self.ledger_failures_quiet(fault.at)
            ),
            90,
            "live servers and the app whole again",
        )
        fault.recovered = self.ledger_time(done)
        fault.detail = (
            f"redis-server stopped (SIGTERM), started {back - fault.at:.1f} s later; recovered = both "
            "live servers healthy and no failed request for 1 s"
        )

    def ledger_failures_quiet(self, since: float) -> bool:
        with self.ledger.lock:
            last = max((a.at for a in self.ledger.failures if a.at >= since), default=since)
        return self.ledger.now() - last >= 1.0

    def terminate_database(self, fault: Fault) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(self.stack.database.postgres_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                ended = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()) AS ended"
                    ),
                    {"name": self.stack.database.name},
                ).scalar()
        finally:
            admin.dispose()
        client = HttpsClient(self.stack.https_port, self.stack.tls(), self.ledger, self.owners[0].token)
        done = wait_for(
            lambda: (
                client.call("graph list", "GET", "/api/graphs?per_page=1", note=False)[0] == 200
                and self.ledger_failures_quiet(fault.at)
            ),
            60,
            "the database answering again",
        )
        client.close()
        fault.recovered = self.ledger_time(done)
        fault.detail = (
            f"{ended} connections terminated (pg_terminate_backend); recovered = an owner's request "
            "answered 200 and no failed request for 1 s"
        )


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    seconds: float
    answers: dict[str, dict[str, int]]  # route -> status -> count
    failures: list[dict[str, Any]]  # every 5xx or no-answer, with its cause
    unacceptable: list[dict[str, Any]]
    views: list[
        dict[str, Any]
    ]  # per link: served, counted, cut_off (its requests cut off by the app's kill, sent again)
    views_exact: bool
    cut_off: dict[str, int]  # "<process> <method>" -> requests nginx saw cut off by a kill -9
    runs_left: int  # queued or claimed after the drain
    crawls: dict[str, int]  # crawls commanded during the load, by the state each ended in after the drain
    crawl_failures: list[str]  # the message of each crawl that ended failed
    killed_run: dict[str, Any]
    events_kept: int
    events_received: int
    events_lost: list[str]
    faults: list[dict[str, Any]]
    fault_errors: list[str]
    subscriber_reconnects: int
    machine: dict[str, str]
    command: str = ""
    replayed_writes: int = 0  # writes an app instance answered from a receipt (nginx sent them again)
    redispatched: int = 0  # requests dispatched again after their connection was terminated

    @property
    def requests(self) -> int:
        return sum(sum(statuses.values()) for statuses in self.answers.values())

    def views_accounted(self) -> bool:
        """Every counter equals its link's pages served: a view nginx sent again after the killed
        instance had counted it is counted once (its request id's receipt)."""
        return self.views_exact

    def problems(self) -> list[str]:
        """The invariants of the recipe, each a sentence when it does not hold."""
        found = []
        if self.unacceptable:
            found.append(
                f"{len(self.unacceptable)} 5xx or unanswered requests other than 503s during the Redis "
                f"restart, e.g. {self.unacceptable[:3]}"
            )
        if not self.views_accounted():
            found.append(
                f"view counters differ from pages served: {[v for v in self.views if v['served'] != v['counted']]}"
            )
        if self.runs_left:
            found.append(f"{self.runs_left} runs still queued or claimed after the drain")
        not_ok = {state: count for state, count in self.crawls.items() if state != "ok"}
        if not_ok:
            found.append(f"crawls that did not end ok after the drain: {not_ok}; failed: {self.crawl_failures[:3]}")
        if self.killed_run.get("state") not in ("finished", "failed") or self.killed_run.get("attempts", 0) < 2:
            found.append(f"the killed worker's run was not claimed again and finished: {self.killed_run}")
        if self.events_lost:
            found.append(
                f"{len(self.events_lost)} events kept by Redis never reached their subscriber: {self.events_lost[:5]}"
            )
        if self.fault_errors:
            found.append(f"faults that did not run or recover: {self.fault_errors}")
        if len(self.faults) != len(FAULTS):
            found.append(f"only {len(self.faults)} of {len(FAULTS)} faults happened")
        return found

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"Command: `{self.command}`" if self.command else "",
            f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory']} RAM, Python {m['python']}, {m['date']}, "
            f"code {m['code']}.",
            "",
            f"Load for {self.seconds:.0f} s: {self.requests} requests answered through nginx.",
            "",
        ]
        routes = sorted(self.answers)
        statuses = sorted({int(s) for r in routes for s in self.answers[r]})
        lines.append(
            format_table(
                ["route", *[str(s) if s else "no answer" for s in statuses]],
                [[r, *[str(self.answers[r].get(str(s), 0)) for s in statuses]] for r in routes],
            )
        )
        lines += ["", "Faults:", ""]
        lines.append(
            format_table(
                ["fault", "at s", "recovered after s", "5xx / no answer in its window", "what"],
                [
                    [
                        f["name"],
                        f"{f['at']:.1f}",
                        "—" if f["recovered"] is None else f"{f['recovered'] - f['at']:.1f}",
                        str(sum(1 for a in self.failures if a["cause"] == f["name"])),
                        f["detail"],
                    ]
                    for f in self.faults
                ],
            )
        )
        lines += ["", "5xx and unanswered requests by cause:", ""]
        by_cause: dict[tuple[str, int, str], list[float]] = defaultdict(list)
        for a in self.failures:
            by_cause[(a["cause"], a["status"], a["route"])].append(a["at"])
        lines.append(
            format_table(
                ["cause", "status", "route", "count", "at s"],
                [
                    [
                        cause,
                        str(status) if status else "no answer",
                        route,
                        str(len(times)),
                        f"{min(times):.1f}–{max(times):.1f}",
                    ]
                    for (cause, status, route), times in sorted(by_cause.items())
                ],
            )
            if by_cause
            else "none"
        )
        served = sum(v["served"] for v in self.views)
        counted = sum(v["counted"] for v in self.views)
        ahead = [v for v in self.views if v["counted"] != v["served"]]
        exactness = "exact on every link" if self.views_exact else f"MISMATCH on {len(ahead)} links"
        cut = ", ".join(f"{what}: {count}" for what, count in sorted(self.cut_off.items())) or "none"
        lines += [
            "",
            f"- Requests in flight in a killed process (nginx's error log): {cut}.",
            f"- Views: {counted} counted for {served} pages served over {len(self.views)} links ({exactness}).",
            f"- Writes answered again from their receipt: {self.replayed_writes}; requests dispatched again after "
            f"their database connection was terminated: {self.redispatched} (the app instances' logs).",
            f"- Runs: {self.runs_left} left queued or claimed after the drain; the killed worker's run: "
            f"{self.killed_run.get('state')} after {self.killed_run.get('attempts')} claims.",
            f"- Crawls (the discovery service, a Compose source per owner): {sum(self.crawls.values())} commanded, "
            + (", ".join(f"{count} {state}" for state, count in sorted(self.crawls.items())) or "none")
            + " after the drain.",
            f"- Events: {self.events_kept} kept by Redis on the subscribed channels, {self.events_received} received, "
            f"{len(self.events_lost)} lost; subscribers reconnected {self.subscriber_reconnects} times.",
            f"- Unacceptable failures: {len(self.unacceptable)}.",
        ]
        problems = self.problems()
        lines.append("- Verdict: " + ("every invariant holds." if not problems else "; ".join(problems)))
        return "\n".join(line for line in lines if line is not None)


def cause_of(answer: Answer, faults: list[Fault]) -> str:
    """The fault whose window holds the answer, the latest begun when windows overlap (the worker's
    window lasts until its run is drawn again, and the next fault may come meanwhile)."""
    for fault in sorted(faults, key=lambda f: f.at, reverse=True):
        start, end = fault.window()
        if start <= answer.at <= end:
            return fault.name
    return "none"


def run_soak(
    seconds: float = 600.0,
    *,
    ports: Callable[[], int] = free_port,
    postgres_url: str = DEFAULT_POSTGRES_ADMIN_URL,
    visitors: int = 4,
    visitor_pace: float = 0.05,
    owners: int = 2,
    graphs: int = 3,
    links: int = 2,
    owner_pace: float = 0.5,
    redis_down: float = 2.0,
    keep: bool = False,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Report:
    """Start the stack, load it for `seconds` while the faults happen, drain, stop everything; the report."""
    with TempWorkdir(keep=keep) as workdir:
        stack = Stack(workdir, ports, postgres_url)
        threads: list[threading.Thread] = []
        stop_load, stop_watch = threading.Event(), threading.Event()
        try:
            stack.start()
            log(
                f"soak: stack up in {workdir} (nginx {stack.base_url}, apps {stack.app_ports}, "
                f"live {stack.live_ports}, redis {stack.redis_port})"
            )
            ledger = Ledger()
            made = seed(stack, ledger, owners, graphs, links)
            every_link = [link for owner in made for link in owner.links]
            subscribers = [
                Subscriber(stack, ledger, owner, graph, stop_watch) for owner in made for graph in owner.graphs
            ]
            streams = Streams(stack, [g for owner in made for g in owner.graphs], stop_watch)
            for thread in [*subscribers, streams]:
                thread.start()
            wait_for(lambda: all(s.subscribed_at for s in subscribers), 60, "every subscriber subscribed")

            def drawn() -> bool:  # before the clock starts: a graph not drawn yet is a 404 ("No picture yet")
                from maestro_web.models import Graph, GraphResult

                return all(
                    GraphResult.latest_for(Graph.get_by_public_id(g), with_picture=True) is not None
                    for owner in made
                    for g in owner.graphs
                )

            wait_for(lambda: bool(stack.query(drawn)), 120, "every graph drawn once", step=0.5)
            ledger.started = time.monotonic()
            ledger.statuses.clear()
            ledger.failures.clear()
            faults = Faults(stack, ledger, made, subscribers, seconds, stop_load, redis_down)
            threads = [
                threading.Thread(target=visitor, args=(stack, ledger, every_link, stop_load, visitor_pace), daemon=True)
                for _ in range(visitors)
            ]
            threads += [
                threading.Thread(target=owner_loop, args=(stack, ledger, owner, stop_load, owner_pace), daemon=True)
                for owner in made
            ]
            crawls: list[str] = []
            threads += [
                threading.Thread(
                    target=crawler, args=(stack, ledger, owner, stop_load, owner_pace, crawls), daemon=True
                )
                for owner in made
            ]
            for thread in [*threads, faults]:
                thread.start()
            while ledger.now() < seconds:
                time.sleep(min(10.0, max(0.1, seconds - ledger.now())))
                log(
                    f"soak: {ledger.now():.0f} s, {sum(ledger.statuses.values())} answers, "
                    f"{len(ledger.failures)} failures, faults so far: {[f.name for f in faults.done]}"
                )
            faults.join(timeout=LEASE_SECONDS + 120)  # a fault still recovering is waited for
            stop_load.set()
            for thread in threads:
                thread.join(timeout=60)
            load_seconds = ledger.now()

            # Drain: every queued run drawn, every live event delivered.
            def open_runs() -> int:
                from sqlalchemy import func, select

                from maestro_web.extensions import db
                from maestro_web.models import GraphRun

                return int(
                    db.session.scalar(
                        select(func.count()).select_from(GraphRun).where(GraphRun.state.in_(("queued", "claimed")))
                    )
                    or 0
                )

            try:
                wait_for(lambda: stack.query(open_runs) == 0, LEASE_SECONDS + 90, "the queue drained", step=0.5)
            except TimeoutError:
                pass
            runs_left = stack.query(open_runs)

            def crawl_states() -> list[tuple[str, str | None]]:
                from sqlalchemy import select

                from maestro_web.extensions import db
                from maestro_web.models import DiscoveryCrawl

                rows = db.session.execute(
                    select(DiscoveryCrawl.status, DiscoveryCrawl.message).where(DiscoveryCrawl.public_id.in_(crawls))
                )
                return [(status, message) for status, message in rows]

            try:
                wait_for(
                    lambda: all(state != "running" for state, _ in stack.query(crawl_states)),
                    60,
                    "every crawl ended",
                    step=0.5,
                )
            except TimeoutError:
                pass
            ended = stack.query(crawl_states)
            time.sleep(3.0)
            streams.collect()
            time.sleep(2.0)
            events_lost = sorted(
                f"{g}:{event_id}"
                for s in subscribers
                for g in [s.graph_id]
                for event_id in streams.kept[g]
                if event_id not in s.received
            )

            def counters() -> dict[str, int]:
                from maestro_web.models import ShareLink

                return {link_id: ShareLink.get_by_public_id(link_id).view_count for _, link_id, _ in every_link}

            counted = stack.query(counters)
            names = {**{port: "app" for port in stack.app_ports}, **{port: "live" for port in stack.live_ports}}
            cut = cut_off_requests(workdir / "nginx" / "error.log")
            by_token = {token: link_id for _, link_id, token in every_link}
            cut_views: Counter[str] = Counter(
                by_token.get(path.partition("?token=")[2], "")
                for method, path, port in cut
                if path.startswith("/analytics/graphs/public/")
            )
            views = [
                {
                    "link": link_id,
                    "served": ledger.served[link_id],
                    "counted": counted[link_id],
                    "cut_off": cut_views[link_id],
                }
                for _, link_id, _ in every_link
            ]

            killed: dict[str, Any] = {}
            if faults.heavy_run is not None:
                from sqlalchemy import select

                from maestro_web.extensions import db
                from maestro_web.models import GraphRun

                run = stack.query(
                    lambda: db.session.scalars(select(GraphRun).where(GraphRun.public_id == faults.heavy_run)).one()
                )
                killed = {"run": run.public_id, "state": run.state, "attempts": run.attempts}
            failures = []
            for answer in ledger.failures:
                cause = cause_of(answer, faults.done)
                failures.append({**asdict(answer), "cause": cause})
            unacceptable = [a for a in failures if (a["cause"], a["status"]) not in ACCEPTABLE]
            # No allowance: nginx sends a write cut off by the kill to the other instance (non_idempotent),
            # which answers it from its receipt if the killed one had committed it; an owner's request
            # whose connection was terminated before it committed anything is dispatched again.
            answers: dict[str, dict[str, int]] = defaultdict(dict)
            for (route, status), count in ledger.statuses.items():
                answers[route][str(status)] = count
            stop_watch.set()
            return Report(
                seconds=load_seconds,
                answers=dict(answers),
                failures=failures,
                unacceptable=unacceptable,
                views=views,
                views_exact=all(v["served"] == v["counted"] for v in views),
                runs_left=runs_left,
                crawls=dict(Counter(state for state, _ in ended)),
                crawl_failures=[message or "" for state, message in ended if state == "failed"],
                cut_off=dict(Counter(f"{names.get(port, port)} {method}" for method, _, port in cut)),
                killed_run=killed,
                events_kept=sum(len(k) for k in streams.kept.values()),
                events_received=sum(len(s.received) for s in subscribers),
                events_lost=events_lost,
                faults=[asdict(f) for f in faults.done],
                fault_errors=faults.errors,
                subscriber_reconnects=sum(max(0, s.connections - 1) for s in subscribers),
                machine=machine_description(),
                replayed_writes=count_in_app_logs(workdir, "from its receipt"),
                redispatched=count_in_app_logs(workdir, "dispatched again"),
            )
        finally:
            stop_load.set()
            stop_watch.set()
            stack.close()
            for thread in threads:
                thread.join(timeout=10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the load (default 600)")
    parser.add_argument("--visitors", type=int, default=4, help="visitor threads (default 4)")
    parser.add_argument("--visitor-pace", type=float, default=0.05, help="each visitor's pause between pages")
    parser.add_argument("--owners", type=int, default=2, help="owners, each with --graphs graphs (default 2)")
    parser.add_argument("--graphs", type=int, default=3, help="graphs per owner, one live subscriber each")
    parser.add_argument("--links", type=int, default=2, help="share links per graph")
    parser.add_argument("--redis-down", type=float, default=2.0, help="seconds Redis stays stopped")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_ADMIN_URL, help="admin URL to create the database")
    parser.add_argument("--json", type=Path, default=None, help="also write the whole report here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (every process's log)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_soak(
        args.seconds,
        postgres_url=args.postgres_url,
        visitors=args.visitors,
        visitor_pace=args.visitor_pace,
        owners=args.owners,
        graphs=args.graphs,
        links=args.links,
        redis_down=args.redis_down,
        keep=args.keep,
    )
    report.command = ("python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    print(report.markdown())
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "problems": report.problems()}, indent=2))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())

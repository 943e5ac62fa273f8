"""Pieces every benchmark shares: a gunicorn-served app on a free loopback port, a database to serve
it from, and a concurrent HTTP load runner.

Everything here talks to 127.0.0.1 only, every loop is bounded by a count or a deadline, and every
process or database it makes is removed by the matching `stop()` / context-manager exit.

The load runner uses one thread per client, each with its own keep-alive `http.client` connection.
On the 2-core machine this is as cheap per request as an asyncio client (aiohttp) and five to six
times cheaper than `requests.Session` (measured: about 140 µs of client CPU per request against
about 850 µs, and `requests` could not push past ~750 hello/s with 32 threads, well under what the
server answers), so it needs no dependency beyond the standard library. Client CPU is reported
with every result, because on 2 cores the client and the server share the same processors.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # production requires Redis

# The seven secrets of the switch-token table (SPEC §3): production refuses to start without them.
SECRET_VARIABLES = (
    "MAESTRO_SECRETJWT",
    "MAESTRO_SECRETJWT_PUBLIC_ANALYTICS",
    "MAESTRO_SECRETJWT_ANALYTICS",
    "MAESTRO_SECRET_CRYPTO_FORGOT",
    "MAESTRO_SECRETJWT_FORGOT",
    "MAESTRO_SECRETJWT_SOCKET",
    "FLASK_SECRET_KEY",
)


# --- machine -------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def machine_cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def machine_busy(seconds: float = 1.0) -> float | None:
    """Share of all cores busy over the next `seconds` (others' work shows up here), or None."""
    before = machine_cpu_times()
    time.sleep(seconds)
    after = machine_cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def machine_description() -> dict[str, str]:
    """What the figures were measured on: cores, CPU model, memory, Python, date, code version."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        version = commit + (" (with uncommitted changes)" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        version = "unknown"
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "code": version,
    }


# --- databases -----------------------------------------------------------------------------------


class BenchDatabase:
    """A throw-away database: a SQLite file in a temp folder, or a fresh PostgreSQL database.

    The schema comes from the migrations (`flask db upgrade`), as in production. `drop()` removes
    the PostgreSQL database; the SQLite file goes with the temp folder its owner deletes.
    """

    def __init__(self, engine: str, workdir: Path, postgres_admin_url: str = DEFAULT_POSTGRES_ADMIN_URL) -> None:
        if engine not in ("sqlite", "postgresql"):
            raise ValueError(f"unknown database engine {engine!r}")
        self.engine = engine
        self.postgres_admin_url = postgres_admin_url
        self.name = f"maestro_bench_{os.getpid()}_{secrets.token_hex(3)}"
        if engine == "sqlite":
            self.url = f"sqlite:///{workdir / 'maestro.db'}"
        else:
            self.url = postgres_admin_url.rsplit("/", 1)[0] + f"/{self.name}"
        self._created = False

    def create(self) -> None:
        if self.engine == "postgresql":
            self._admin(f'CREATE DATABASE "{self.name}"')
        self._created = True

    def drop(self) -> None:
        if self.engine == "postgresql" and self._created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._created = False

    def _admin(self, statement: str) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(self.postgres_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            admin.dispose()


def production_environ(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """A production environment for the app: fresh random secrets, this database, this port."""
    env = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
    env.update({name: secrets.token_urlsafe(48) for name in SECRET_VARIABLES})
    env.update(
        {
            "MAESTRO_ENV": "production",
            "MAESTRO_BASE_URL": f"http://{LOOPBACK}:{port}",
            "DATABASE_URL": database_url,
            "GUNICORN_BIND": f"{LOOPBACK}:{port}",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The benchmarks queue thousands of runs for one owner: the fair-use quotas are not measured here.
            "MAESTRO_QUOTA_GRAPHS": "100000000",
            "MAESTRO_QUOTA_QUEUED_RUNS": "100000000",
            "MAESTRO_QUOTA_RUNS_PER_HOUR": "100000000",
        }
    )
    env.update(extra)
    return env


def migrate(env: Mapping[str, str], log_path: Path) -> None:
    """Build the schema the way production does: `flask db upgrade` in the project folder."""
    with open(log_path, "ab") as log:
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"],
            cwd=ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


# --- the server ----------------------------------------------------------------------------------


class GunicornServer:
    """`gunicorn -c gunicorn.conf.py <app_module>` on 127.0.0.1, started and stopped by us.

    The repo's gunicorn.conf.py is used unchanged; the port comes in through its GUNICORN_BIND
    variable, and workers / threads through WEB_CONCURRENCY / GUNICORN_THREADS when given.
    """

    def __init__(
        self,
        app_module: str,
        env: Mapping[str, str],
        log_path: Path,
        workers: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.env = dict(env)
        # gunicorn opens a control socket in $XDG_RUNTIME_DIR (else ~/.gunicorn): keep it in our temp folder.
        self.env.setdefault("XDG_RUNTIME_DIR", str(log_path.parent))
        if workers:
            self.env["WEB_CONCURRENCY"] = str(workers)
        if threads:
            self.env["GUNICORN_THREADS"] = str(threads)
        bind = self.env["GUNICORN_BIND"]
        host, _, port = bind.rpartition(":")
        if host != LOOPBACK:
            raise ValueError(f"benchmarks serve on {LOOPBACK} only, not {bind}")
        self.url = f"http://{bind}"
        self.command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app_module]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")
        # Its own session, so that a Ctrl-C in our terminal reaches us (and our cleanup), not gunicorn.
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        """Poll GET /healthz until it answers 200 (database reachable) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}; see {self.log_path}\n" + self.log_tail()
                )
            try:
                status, _ = simple_get(self.url + "/healthz", timeout=2)
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy in {timeout:.0f}s ({last}); see {self.log_path}")

    def stop(self, timeout: float = 35.0) -> None:
        """SIGTERM to the master (graceful: it stops its workers), SIGKILL to its group if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group we created in start(), nothing else
            process.wait(10)

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds of the master and its workers so far (Linux), else None."""
        if self.process is None:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a worker that was just replaced
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> GunicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LiveServer:
    """`flask live serve` (the live events server) on a free loopback port, with the app's
    environment (same secrets, same Redis), as the README deploys it next to gunicorn. Make it
    before the app's server and hand `url` to the app as MAESTRO_LIVE_URL."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"ws://{LOOPBACK}:{self.port}/live"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str], timeout: float = 30.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flask",
                    "--app",
                    "app",
                    "live",
                    "serve",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the live server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if simple_get(f"http://{LOOPBACK}:{self.port}/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the live server did not become healthy in {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def migrated_server(
    database_url: str,
    log_path: Path,
    app_module: str = "bench.bench_app:app",
    *,
    redis_url: str = DEFAULT_REDIS_URL,
    workers: int | None = None,
    threads: int | None = None,
    **extra: str,
) -> GunicornServer:
    """The one way benchmarks serve the app: production settings with Redis on a free loopback port,
    `database_url` brought to the newest schema (`flask db upgrade`), gunicorn not started yet.

    `extra` are more environment variables; `server.env` is the app's environment, for seeding in
    process with the server's own secrets before `start()`.
    """
    env = production_environ(database_url, free_port(), REDIS_URL=redis_url, **extra)
    migrate(env, log_path)
    return GunicornServer(app_module, env, log_path, workers=workers, threads=threads)


def sibling_server(server: GunicornServer, app_module: str, log_path: Path) -> GunicornServer:
    """Another app under the same gunicorn settings and environment as `server`, on its own free port
    (e.g. the bare hello-world baseline next to the app)."""
    env = {**server.env, "GUNICORN_BIND": f"{LOOPBACK}:{free_port()}"}
    return GunicornServer(app_module, env, log_path)


def plain_sync_server(server: GunicornServer, app_module: str, log_path: Path, workers: int = 2) -> GunicornServer:
    """`gunicorn -w 2 <app_module>` as its documentation starts it: sync workers, no threads, no
    access log, none of gunicorn.conf.py (an empty config file stands in for it, since gunicorn
    reads ./gunicorn.conf.py by default), on its own free port, with `server`'s environment. The
    baseline a claim "x of a bare hello-world" cannot choose to flatter itself with."""
    bind = f"{LOOPBACK}:{free_port()}"
    empty = log_path.parent / "plain.gunicorn.conf.py"
    empty.write_text("")
    plain = GunicornServer(app_module, {**server.env, "GUNICORN_BIND": bind}, log_path)
    plain.command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(empty),
        "-w",
        str(workers),
        "-k",
        "sync",
        "-b",
        bind,
        app_module,
    ]
    return plain


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every served benchmark takes: gunicorn's shape, the databases' admin URL, Redis."""
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads (default: gunicorn.conf.py)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_ADMIN_URL, help="admin URL to create databases")
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="REDIS_URL the server gets ($REDIS_URL or local 0)"
    )


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def simple_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET on a fresh connection; for health checks, not for load."""
    parts = urlsplit(url)
    if parts.hostname != LOOPBACK:
        raise ValueError(f"benchmarks send traffic to {LOOPBACK} only, not {parts.hostname}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class TempWorkdir:
    """A temp folder for the database file and logs, removed on exit (unless `keep`)."""

    def __init__(self, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="maestro-bench-"))
        self.keep = keep

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


# --- the load runner -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    """What one run of the load runner saw. Latencies are of the requests that got the expected answer."""

    ok: int
    errors: int
    seconds: float
    latencies: list[float]
    bytes_sent: int  # request bodies of the successful requests
    client_cpu_seconds: float
    machine_busy: float | None  # share of all cores busy during the run (client, server, database)
    concurrency: int
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_sent / self.seconds if self.seconds else 0.0

    @property
    def client_cpu_share(self) -> float:
        """Client CPU as a share of all cores during the run."""
        return self.client_cpu_seconds / self.seconds / (os.cpu_count() or 1) if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, max(0, round(p * 10) - 1))]


def run_load(
    base_url: str,
    make_request: Callable[[int], Request],
    *,
    concurrency: int,
    total: int | None = None,
    duration: float | None = None,
    expect_status: int | Collection[int] = 200,
    timeout: float = 60.0,
    max_seconds: float = 600.0,
) -> LoadResult:
    """Send requests from `concurrency` clients, each on its own keep-alive connection.

    Request number i is `make_request(i)`, handed out in order across clients, until `total`
    requests were sent or `duration` seconds passed (at least one of the two is required;
    `max_seconds` bounds the run either way). Connections are opened before the clock starts, so
    the figures are those of steady keep-alive traffic. A failed request is counted, never retried
    (a retried POST could count one result twice), and its client reconnects.
    """
    if total is None and duration is None:
        raise ValueError("give total, duration or both")
    parts = urlsplit(base_url)
    if parts.hostname != LOOPBACK:
        raise ValueError(f"benchmarks send traffic to {LOOPBACK} only, not {parts.hostname}")
    host, port, prefix = parts.hostname, parts.port, parts.path.rstrip("/")
    expected = {expect_status} if isinstance(expect_status, int) else set(expect_status)
    counter = itertools.count()
    limit = total if total is not None else float("inf")
    ready = threading.Barrier(concurrency + 1)
    stop_at = [0.0]  # set when the clock starts
    lock = threading.Lock()
    latencies: list[float] = []
    sent = [0]
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        mine: list[float] = []
        mine_bytes = 0
        try:
            try:
                conn.connect()
            except OSError as exc:  # counted; http.client tries again on the first request
                with lock:
                    errors.append(f"connect: {type(exc).__name__}: {exc}")
            ready.wait()
            while True:
                index = next(counter)
                if index >= limit or time.perf_counter() >= stop_at[0]:
                    break
                request = make_request(index)
                headers = dict(request.headers)
                if request.body is not None:
                    headers.setdefault("Content-Length", str(len(request.body)))
                started = time.perf_counter()
                try:
                    conn.request(request.method, prefix + request.path, body=request.body, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    elapsed = time.perf_counter() - started
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()  # http.client reconnects on the next request
                    with lock:
                        errors.append(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
                    continue
                if response.status in expected:
                    mine.append(elapsed)
                    mine_bytes += len(request.body or b"")
                else:
                    with lock:
                        errors.append(f"{request.method} {request.path}: {response.status} {body[:200]!r}")
        except threading.BrokenBarrierError:
            pass
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                sent[0] += mine_bytes

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu_before = time.process_time()
    machine_before = machine_cpu_times()
    started = time.perf_counter()
    stop_at[0] = started + min(duration if duration is not None else max_seconds, max_seconds)
    ready.wait(timeout=timeout)
    for thread in threads:
        thread.join(timeout=max_seconds + timeout)
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    machine_after = machine_cpu_times()
    busy = None
    if machine_before and machine_after and machine_after[1] > machine_before[1]:
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
    return LoadResult(
        ok=len(latencies),
        errors=len(errors),
        seconds=seconds,
        latencies=latencies,
        bytes_sent=sent[0],
        client_cpu_seconds=client_cpu,
        machine_busy=busy,
        concurrency=concurrency,
        error_samples=errors[:5],
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])

"""From "Crawl" to the new picture on the owner's open page, for a 12-service Kubernetes manifest
(the goal: at most 5 s).

    .venv/bin/python -m bench.discovery_e2e            # 5 crawls, about a minute

Starts real processes on 127.0.0.1, like `make run`: the app (`flask run`), the live server, the
discovery service and one analytics worker, on a throw-away SQLite database, with secrets made up for
the run (nothing is written to instance/). A WebSocket client stands in for the owner's open page:
the clock starts when `POST …/sources/<id>/crawl` is sent and stops when the page would show the new
picture: `run.finished` of the run the crawl queued has arrived and the page's part that holds the
picture has been fetched again (what static/live.js does on that event). Each round changes the
manifest (one more or one less dependency), so every crawl changes the graph and queues a run.
Run by hand, never by `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from websockets.sync.client import connect

from maestro_web.discovery.sealing import generate_key_pair

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"
SERVICES = [
    "gateway",
    "web",
    "cart",
    "catalog",
    "checkout",
    "payments",
    "orders",
    "users",
    "search",
    "mailer",
    "postgres",
    "redis",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manifest(extra: bool) -> str:
    """12 Deployments and their Services; each app service names two others in its env."""
    docs = []
    for index, name in enumerate(SERVICES):
        targets = [SERVICES[(index + 1) % 10], SERVICES[(index + 2) % 10]] if index < 10 else []
        if index < 10:
            targets.append("postgres" if index % 2 else "redis")
        if extra and name == "gateway":
            targets.append("mailer")
        env = "".join(
            f"        - name: DEP_{i}\n          value: http://{target}:8080/\n" for i, target in enumerate(targets)
        )
        image = {"postgres": "postgres:16", "redis": "redis:7"}.get(name, f"shop/{name}:1")
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: {name}
        image: {image}
{"        env:" + chr(10) + env if env else ""}---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 8080}}]
""")
    return "---\n".join(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    ports = {name: free_port() for name in ("app", "live", "discovery")}
    base = f"http://127.0.0.1:{ports['app']}"
    private, public = generate_key_pair()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAESTRO_", "FLASK_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "MAESTRO_ENV": "development",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "MAESTRO_BASE_URL": base,
            "MAESTRO_LIVE_URL": f"ws://127.0.0.1:{ports['live']}/live",
            "MAESTRO_DISCOVERY_URL": f"http://127.0.0.1:{ports['discovery']}",
            "MAESTRO_RATELIMIT_ENABLED": "false",
            "MAESTRO_DISCOVERY_PRIVATE_KEY": private,
            "MAESTRO_DISCOVERY_PUBLIC_KEY": public,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in (
        "MAESTRO_SECRETJWT",
        "MAESTRO_SECRETJWT_PUBLIC_ANALYTICS",
        "MAESTRO_SECRETJWT_ANALYTICS",
        "MAESTRO_SECRET_CRYPTO_FORGOT",
        "MAESTRO_SECRETJWT_FORGOT",
        "MAESTRO_SECRETJWT_SOCKET",
        "FLASK_SECRET_KEY",
    ):
        env[name] = secrets.token_urlsafe(48)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "users", "create", "bench@example.com", "--name", "Bench", "--password-stdin"],
        cwd=ROOT,
        env=env,
        check=True,
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
    )
    logs = open(tmp / "processes.log", "w")
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT)
        for command in (
            [*flask, "run", "--port", str(ports["app"]), "--with-threads"],
            [*flask, "live", "serve", "--port", str(ports["live"])],
            [*flask, "discovery", "serve", "--port", str(ports["discovery"])],
            [*flask, "analytics", "worker", "--url", f"{base}/analytics", "--poll-interval", "0.2"],
        )
    ]
    try:
        http = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                token = http.post(
                    f"{base}/api/auth/token", json={"email": "bench@example.com", "password": PASSWORD}, timeout=5
                ).json()["access_token"]
                requests.get(f"http://127.0.0.1:{ports['discovery']}/healthz", timeout=2).raise_for_status()
                requests.get(f"http://127.0.0.1:{ports['live']}/healthz", timeout=2).raise_for_status()
                break
            except (requests.RequestException, KeyError, ValueError):
                if time.monotonic() > deadline:
                    raise SystemExit(f"the processes did not start; see {tmp / 'processes.log'}") from None
                time.sleep(0.2)
        http.headers["Authorization"] = f"Bearer {token}"
        graph = http.post(f"{base}/api/graphs", json={"name": "Shop", "spec": "browser -> gateway"}, timeout=10).json()
        graph_id = graph["id"]
        source = http.post(
            f"{base}/api/graphs/{graph_id}/sources",
            timeout=10,
            json={"kind": "kubernetes", "label": "Shop manifests", "input": manifest(False)},
        ).json()
        ticket = http.post(f"{base}/api/live/ticket", json={"graph": graph_id}, timeout=10).json()
        page = connect(ticket["url"], origin=base, open_timeout=10, legacy=True)  # type: ignore[arg-type]
        page.send(json.dumps({"type": "hello", "ticket": ticket["ticket"]}))
        page.recv(timeout=10)
        page.send(json.dumps({"type": "subscribe", "channel": f"graph:{graph_id}", "since": None}))
        times: list[float] = []
        for round_number in range(args.rounds + 1):  # round 0 warms up (imports, first picture)
            if round_number:
                http.patch(
                    f"{base}/api/graphs/{graph_id}/sources/{source['id']}",
                    timeout=10,
                    json={"input": manifest(round_number % 2 == 1)},
                ).raise_for_status()
            started = time.perf_counter()
            answer = http.post(f"{base}/api/graphs/{graph_id}/sources/{source['id']}/crawl", timeout=30)
            assert answer.status_code == 202, answer.text
            # The app announces the run the merge queued (run.queued) as it commits, usually before the
            # service's discovery.finished arrives; the picture is there at that run's run.finished.
            crawled, queued_run, drawn = False, None, set()
            while not (crawled and queued_run is not None and queued_run in drawn):
                frame = json.loads(page.recv(timeout=60))
                name, data = frame.get("event"), frame.get("data") or {}
                if name == "discovery.finished":
                    crawled = True
                elif name == "discovery.failed":
                    raise SystemExit(f"the crawl failed: {data}")
                elif name == "run.queued":
                    queued_run = data.get("run_id")
                elif name == "run.finished":
                    drawn.add(data.get("run_id"))
            http.get(f"{base}/analytics/graphs/{graph_id}", timeout=10)  # the page fetches the new picture
            elapsed = time.perf_counter() - started
            if round_number:
                times.append(elapsed)
            print(f"round {round_number}: {elapsed:.2f} s{' (warm-up)' if not round_number else ''}", flush=True)
        page.close()
        deps = http.get(f"{base}/api/graphs/{graph_id}/dependencies", timeout=10).json()
        print(
            f"\n| crawls | nodes | edges | median | max | limit |\n|---|---|---|---|---|---|\n"
            f"| {len(times)} | {len(deps['nodes'])} | {len(deps['edges'])} | {statistics.median(times):.2f} s "
            f"| {max(times):.2f} s | 5 s |"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


if __name__ == "__main__":
    main()

"""Debian's Prometheus scraping the real processes: gunicorn with two workers in
multiprocess mode, the live server, an analytics worker on its metrics port and the discovery service,
all on loopback ports, with deploy/prometheus/prometheus.yml (its targets replaced by this run's ports)
and its alert rules; then Prometheus's HTTP API: every target up, a quantile of the public view's
request duration, the dashboard's queries. One stack for the module; every wait is a bounded poll.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from discovery_app_support import COMPOSE, wait_for_crawl
from live_support import REDIS_URL, LiveClient, LiveProcess, free_port, require_redis_or_skip, start_live_server
from process_support import wait_for
from prometheus_client.parser import text_string_to_metric_families

from maestro_web import create_app
from maestro_web.config import SECRET_SPECS
from maestro_web.discovery.sealing import generate_key_pair
from maestro_web.extensions import db
from maestro_web.models import User

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
PUBLIC_ROUTE = "/analytics/graphs/public/<graph_id>"
TOKEN = secrets.token_urlsafe(32)
PASSWORD = "correct horse battery staple"
OUTSIDE = {"X-Forwarded-For": "203.0.113.7"}


def require_prometheus() -> None:
    for binary in (PROMETHEUS, PROMTOOL):
        if not os.path.exists(binary):
            pytest.fail(f"{binary} is missing: `scripts/system-packages test` installs Debian's prometheus")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Stack:
    base: str
    live: LiveProcess
    worker_url: str
    discovery_url: str
    reports_url: str
    prometheus_url: str
    metrics_dir: Path
    gunicorn: subprocess.Popen[bytes]
    logs: dict[str, Path]
    socket_secret: str
    http: requests.Session = field(default_factory=requests.Session)
    headers: dict[str, str] = field(default_factory=dict)
    graph_id: str = ""
    share_path: str = ""

    def metrics(self, url: str, token: str | None = TOKEN, **headers: str) -> requests.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(f"{url}/metrics", headers=headers, timeout=10)

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", (promql, answer)
        return list(answer["data"]["result"])

    def workers(self) -> list[int]:
        """The pids of gunicorn's workers: the master's children."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.gunicorn.pid:
                    pids.append(int(entry))
        return sorted(pids)


def _prometheus_config(directory: Path, targets: dict[str, list[str]]) -> Path:
    """deploy/prometheus/prometheus.yml with this run's targets, a 1 s interval and the token file here."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    token_file = directory / "maestro-metrics.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / "maestro-rules.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(targets), f"deploy/prometheus/prometheus.yml names {sorted(jobs)}"
    for name, job in jobs.items():
        job["static_configs"] = [{"targets": targets[name]}]
        job["authorization"]["credentials_file"] = str(token_file)
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_prometheus()
    require_redis_or_skip()
    tmp = tmp_path_factory.mktemp("metrics")
    app_port, live_port, worker_port, discovery_port, reports_port, prometheus_port = (free_port() for _ in range(6))
    base = f"http://127.0.0.1:{app_port}"
    secret_values = {spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS}
    private_key, public_key = generate_key_pair()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MAESTRO_", "FLASK_", "REDIS_URL", "PROMETHEUS_"))
    }
    env.update(secret_values)
    env.update(
        MAESTRO_ENV="production",
        MAESTRO_BASE_URL=base,
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        MAESTRO_RATELIMIT_ENABLED="false",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        MAESTRO_LIVE_URL=f"ws://127.0.0.1:{live_port}/live",
        MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{live_port}/publish",
        MAESTRO_DISCOVERY_URL=f"http://127.0.0.1:{discovery_port}",
        MAESTRO_REPORTS_URL=f"http://127.0.0.1:{reports_port}",
        MAESTRO_DISCOVERY_PRIVATE_KEY=private_key,
        MAESTRO_DISCOVERY_PUBLIC_KEY=public_key,
        MAESTRO_METRICS_TOKEN=TOKEN,
    )
    metrics_dir = tmp / "gunicorn-metrics"
    logs = {name: tmp / f"{name}.log" for name in ("gunicorn", "worker", "discovery", "reports", "prometheus")}
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, command: list[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(logs[name], "wb") as out:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(proc)
        return proc

    # gunicorn: two workers adding up in PROMETHEUS_MULTIPROC_DIR; /metrics to the token only.
    gunicorn = start(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "app:app"],
        {
            **env,
            "WEB_CONCURRENCY": "2",
            "GUNICORN_BIND": f"127.0.0.1:{app_port}",
            "GUNICORN_ACCESS_LOG": "-",
            "GUNICORN_CMD_ARGS": "--no-control-socket",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "MAESTRO_METRICS_ALLOW": "none",
        },
    )
    live = None
    try:
        # Prometheus first: it takes its targets in 5 s after start, while the others boot.
        config = _prometheus_config(
            tmp,
            {
                "maestro-app": [f"127.0.0.1:{app_port}"],
                "maestro-live": [f"127.0.0.1:{live_port}"],
                "maestro-worker": [f"127.0.0.1:{worker_port}"],
                "maestro-discovery": [f"127.0.0.1:{discovery_port}"],
                "maestro-reports": [f"127.0.0.1:{reports_port}"],
            },
        )
        start(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--log.level=warn",
            ],
            env,
        )
        start(
            "worker",
            [
                sys.executable,
                "-m",
                "flask",
                "analytics",
                "worker",
                "--url",
                f"{base}/analytics",
                "--poll-interval",
                "0.3",
                "--metrics-port",
                str(worker_port),
            ],
            env,
        )
        # Discovery answers only the token: its allow list names no loopback address.
        start(
            "discovery",
            [sys.executable, "-m", "flask", "discovery", "serve", "--port", str(discovery_port)],
            {**env, "MAESTRO_METRICS_ALLOW": "10.0.0.0/8"},
        )
        start("reports", [sys.executable, "-m", "flask", "reports", "serve", "--port", str(reports_port)], env)
        # The live server trusts one proxy, so a forwarded outsider can be told from a loopback scraper.
        live = start_live_server(
            port=live_port,
            session_secret=secret_values["MAESTRO_SECRETJWT"],
            socket_secret=secret_values["MAESTRO_SECRETJWT_SOCKET"],
            base_url=base,
            extra={"MAESTRO_METRICS_TOKEN": TOKEN, "MAESTRO_TRUSTED_PROXIES": "1"},
        )
        stack = Stack(
            base,
            live,
            f"http://127.0.0.1:{worker_port}",
            f"http://127.0.0.1:{discovery_port}",
            f"http://127.0.0.1:{reports_port}",
            f"http://127.0.0.1:{prometheus_port}",
            metrics_dir,
            gunicorn,
            logs,
            secret_values["MAESTRO_SECRETJWT_SOCKET"],
        )
        for name, url in (
            ("gunicorn", f"{base}/healthz"),
            ("discovery", f"{stack.discovery_url}/healthz"),
            ("reports", f"{stack.reports_url}/healthz"),
            ("prometheus", f"{stack.prometheus_url}/-/ready"),
        ):

            def up(name: str = name, url: str = url) -> bool:
                exited = [proc for proc in started if proc.poll() is not None]
                assert not exited, f"a process exited while {name} started:\n" + "\n".join(
                    path.read_text(errors="replace")[-2000:] for path in logs.values()
                )
                return answers(url)

            wait_for(up, name, 90)
        _make_a_shared_graph(stack, database_url, tmp)
        yield stack
    finally:
        # Prometheus first: the aiohttp servers wait (up to 5 s) for open keep-alive connections, its among them.
        _stop([proc for proc in started if proc.args[0] == PROMETHEUS])
        # gunicorn's workers take 5 s and more to exit even on its quick shutdown (SIGINT), and nothing is
        # checked at its exit here: its process group is killed.
        _stop([gunicorn], signal.SIGKILL)
        _stop([proc for proc in started if proc.args[0] != PROMETHEUS and proc is not gunicorn])
        if live is not None:
            live.stop()


def _stop(processes: list[subprocess.Popen[bytes]], how: signal.Signals = signal.SIGINT) -> None:
    for proc in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, how)
    for proc in processes:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _make_a_shared_graph(stack: Stack, database_url: str, tmp: Path) -> None:
    """An account (made in the database), then through the API a graph, drawn by the worker, and a link."""
    email = f"ops-{secrets.token_hex(4)}@example.com"
    app = create_app(
        {"MAESTRO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": str(tmp / "instance")},
        environ={},
    )
    with app.app_context():
        User.create(email, "Ops", PASSWORD)
        db.session.commit()
        db.engine.dispose()
    token = stack.http.post(f"{stack.base}/api/auth/token", json={"email": email, "password": PASSWORD}, timeout=30)
    assert token.status_code == 200, token.text
    stack.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    graph = stack.http.post(
        f"{stack.base}/api/graphs",
        headers=stack.headers,
        timeout=30,
        json={"name": "Payments", "spec": "web -> api\napi -> db"},
    )
    assert graph.status_code == 201, graph.text
    stack.graph_id = graph.json()["id"]
    link = stack.http.post(
        f"{stack.base}/api/graphs/{stack.graph_id}/shares", headers=stack.headers, json={"label": "ops"}, timeout=30
    )
    assert link.status_code == 201, link.text
    url = urlsplit(link.json()["url"])
    stack.share_path = f"{url.path}?{url.query}"

    def drawn() -> bool:
        status = stack.http.get(f"{stack.base}/api/graphs/{stack.graph_id}", headers=stack.headers, timeout=10)
        return status.json()["status"] in ("finished", "warning")

    wait_for(drawn, "the worker to draw the graph", 60)


# --- Prometheus ----------------------------------------------------------------------------------


def every_target_up(stack: Stack) -> list[dict[str, Any]]:
    """Prometheus's five targets once each has been scraped, and its last scrape succeeded."""

    def all_up() -> list[dict[str, Any]] | None:
        targets = requests.get(f"{stack.prometheus_url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return targets if len(targets) == 5 and all(target["health"] == "up" for target in targets) else None

    return wait_for(all_up, "every target up", 30)


def test_prometheus_scrapes_every_process_and_every_target_is_up(stack):
    targets = every_target_up(stack)
    assert {target["labels"]["job"] for target in targets} == {
        "maestro-app",
        "maestro-live",
        "maestro-worker",
        "maestro-discovery",
        "maestro-reports",
    }
    rules = requests.get(f"{stack.prometheus_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {rule["name"] for group in rules for rule in group["rules"]} >= {
        "MaestroWorkerQueueStuck",
        "MaestroHigh5xxRate",
        "MaestroLiveDeliverySlow",
        "MaestroRedisDown",
    }


def test_a_quantile_of_the_public_view_from_prometheus(stack):
    counted = f'sum(maestro_http_request_duration_seconds_count{{route="{PUBLIC_ROUTE}",status="200"}})'
    before = value(
        stack.metrics(stack.base).text,
        "maestro_http_request_duration_seconds_count",
        method="GET",
        route=PUBLIC_ROUTE,
        status="200",
    )
    views = 12
    for _ in range(views):
        assert requests.get(f"{stack.base}{stack.share_path}", timeout=10).status_code == 200

    def seen() -> bool:
        result = stack.query(counted)
        return bool(result) and float(result[0]["value"][1]) == before + views

    wait_for(seen, "Prometheus to see every public view", 30)
    quantile = stack.query(
        f'histogram_quantile(0.9, sum by (le) (maestro_http_request_duration_seconds_bucket{{route="{PUBLIC_ROUTE}"}}))'
    )
    seconds = float(quantile[0]["value"][1])
    assert 0 < seconds < 5 and not math.isnan(seconds)
    views_total = stack.query("sum(maestro_share_views_total)")
    assert float(views_total[0]["value"][1]) >= views


def test_the_dashboard_asks_prometheus_for_metrics_that_exist(stack):
    dashboard = json.loads((DEPLOY / "grafana" / "maestro-dashboard.json").read_text())
    # Every target scraped once: a busy machine had not yet scraped the reports service (its families missing).
    every_target_up(stack)
    names = set(requests.get(f"{stack.prometheus_url}/api/v1/label/__name__/values", timeout=10).json()["data"])
    # Every family labelled from a fixed list starts at 0, so Prometheus has it before its first event.
    # Refusals by route cannot (the routes that refuse are known only when one does): no 429 came yet.
    names.add("maestro_rate_limit_refusals_total")
    exprs = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 20 and all(expr for _, expr in exprs)
    for title, expr in exprs:
        used = set(re.findall(r"\b((?:maestro|process)_[a-z0-9_]+|up)\b(?![\s]*\()", expr))
        assert used, (title, expr)
        assert used <= names, f"{title}: {sorted(used - names)} not scraped"
        stack.query(expr.replace("$__rate_interval", "1m"))  # Prometheus parses it


# --- each process -------------------------------------------------------------------------------


def test_gunicorn_adds_up_its_workers_also_after_they_are_killed(stack):
    def favicons() -> float:
        return value(
            stack.metrics(stack.base).text,
            "maestro_http_request_duration_seconds_count",
            method="GET",
            route="/favicon.ico",
            status="200",
        )

    before = favicons()
    first = stack.workers()
    assert len(first) == 2, first
    for _ in range(10):
        assert requests.get(f"{stack.base}/favicon.ico", timeout=10).status_code == 200
    assert favicons() == before + 10
    for pid in first:  # every worker that served those requests dies at once, as under kill -9
        os.kill(pid, signal.SIGKILL)
    fresh = wait_for(
        lambda: (lambda pids: pids if len(pids) == 2 and not set(pids) & set(first) else None)(stack.workers()),
        "gunicorn's new workers",
        30,
    )
    wait_for(lambda: answers(f"{stack.base}/healthz"), "a new worker answering", 60)
    for _ in range(10):
        assert requests.get(f"{stack.base}/favicon.ico", timeout=10).status_code == 200
    # Served by the new workers; the dead ones' counts are still in the sum.
    assert favicons() == before + 20
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in stack.metrics_dir.glob("histogram_*.db")}
    assert pids & set(first) and pids & set(fresh), (pids, first, fresh)


def test_each_process_answers_its_own_metrics(stack):
    app = stack.metrics(stack.base).text
    assert value(app, "maestro_runs_queued_total") >= 1 and value(app, "maestro_runs_claimed_total") >= 1
    assert (
        value(app, "maestro_runs_finished_total", status="finished")
        + value(app, "maestro_runs_finished_total", status="warning")
        >= 1
    )
    assert value(app, "maestro_database_up") == 1 and value(app, "maestro_redis_up") == 1
    assert "maestro_runs_oldest_waiting_age_seconds" in app and "maestro_live_" not in app

    worker = stack.metrics(stack.worker_url).text
    assert value(worker, "maestro_worker_runs_total", outcome="done") >= 1
    assert value(worker, "maestro_worker_run_duration_seconds_count", outcome="done") >= 1
    assert "process_resident_memory_bytes" in worker and "maestro_http_" not in worker

    # Discovery: one crawl of a Compose file, commanded by the app as a user's "crawl" does.
    before = stack.metrics(stack.discovery_url).text
    source = stack.http.post(
        f"{stack.base}/api/graphs/{stack.graph_id}/sources",
        headers=stack.headers,
        timeout=10,
        json={"kind": "compose", "label": "Compose", "input": COMPOSE.decode()},
    )
    assert source.status_code == 201, source.text
    crawl = stack.http.post(
        f"{stack.base}/api/graphs/{stack.graph_id}/sources/{source.json()['id']}/crawl",
        headers=stack.headers,
        timeout=30,
    )
    assert crawl.status_code == 202, crawl.text
    stack.http.headers.update(stack.headers)  # wait_for_crawl reads the source with the session's own headers
    assert wait_for_crawl(stack.http, stack.base, stack.graph_id, source.json()["id"], 60)["status"] == "ok"

    def crawl_counted() -> str | None:
        text = stack.metrics(stack.discovery_url).text
        grew = value(text, "maestro_discovery_crawl_duration_seconds_count", status="ok") > value(
            before, "maestro_discovery_crawl_duration_seconds_count", status="ok"
        )
        return text if grew else None

    discovery = wait_for(crawl_counted, "the crawl in discovery's metrics", 10)
    assert (
        value(discovery, "maestro_discovery_crawls_started_total")
        == value(before, "maestro_discovery_crawls_started_total") + 1
    )
    assert (
        value(discovery, "maestro_discovery_crawls_finished_total", status="ok")
        == value(before, "maestro_discovery_crawls_finished_total", status="ok") + 1
    )
    assert value(discovery, "maestro_discovery_crawls_active") == 0 and "maestro_http_" not in discovery

    # The report service: one CSV report, asked for through the app's API.
    before = stack.metrics(stack.reports_url).text
    asked = stack.http.post(f"{stack.base}/api/graphs/{stack.graph_id}/reports", json={"format": "csv"}, timeout=10)
    assert asked.status_code == 202, asked.text
    report_url = f"{stack.base}/api/graphs/{stack.graph_id}/reports/{asked.json()['report']}"

    def report_ended() -> str | None:
        status = str(stack.http.get(report_url, timeout=10).json()["status"])
        return status if status != "running" else None

    assert wait_for(report_ended, "the report", 60) == "ready", stack.http.get(report_url, timeout=10).json()

    def report_counted() -> str | None:
        text = stack.metrics(stack.reports_url).text
        grew = value(text, "maestro_report_duration_seconds_count", format="csv", status="ready") > value(
            before, "maestro_report_duration_seconds_count", format="csv", status="ready"
        )
        return text if grew else None

    reports = wait_for(report_counted, "the report in the service's metrics", 10)
    for name in ("maestro_reports_started_total", "maestro_reports_ready_total"):
        assert value(reports, name, format="csv") == value(before, name, format="csv") + 1
    assert value(reports, "maestro_reports_active") == 0 and "maestro_http_" not in reports

    # The live server: a browser subscribed to the graph's channel; a re-run's run.queued reaches it.
    ticket = stack.http.post(
        f"{stack.base}/api/live/ticket", json={"graph": stack.graph_id}, headers=stack.headers, timeout=10
    ).json()
    live_before = stack.metrics(stack.live.http_url).text
    with LiveClient(stack.live.ws_url, origin=stack.base) as browser:
        assert browser.hello(ticket["ticket"])["type"] == "welcome"
        assert browser.subscribe(f"graph:{stack.graph_id}")["type"] == "subscribed"
        live_open = stack.metrics(stack.live.http_url).text
        assert value(live_open, "maestro_live_connections") == 1 and value(live_open, "maestro_live_subscriptions") == 1
        rerun = stack.http.post(f"{stack.base}/api/graphs/{stack.graph_id}/rerun", headers=stack.headers, timeout=10)
        assert rerun.status_code == 202, rerun.text
        wait_for(lambda: browser.recv(10).get("event") == "run.queued", "run.queued in the browser", 10)
    live = stack.metrics(stack.live.http_url).text
    assert value(live, "maestro_live_delivery_seconds_count") > value(
        live_before, "maestro_live_delivery_seconds_count"
    )
    assert value(live, "maestro_live_publishes_total", outcome="accepted") >= 1
    assert "process_resident_memory_bytes" in live and "maestro_http_" not in live


def test_every_process_refuses_metrics_to_strangers(stack):
    # gunicorn: MAESTRO_METRICS_ALLOW=none, so even loopback needs the token; a wrong one is refused.
    assert stack.metrics(stack.base, token=None).status_code == 404
    assert stack.metrics(stack.base, token=TOKEN + "x").status_code == 404
    assert stack.metrics(stack.base).status_code == 200
    # The live server behind one proxy: a forwarded outsider is refused, unless it holds the token.
    assert stack.metrics(stack.live.http_url, token=None).status_code == 200
    assert stack.metrics(stack.live.http_url, token=None, **OUTSIDE).status_code == 404
    assert stack.metrics(stack.live.http_url, **OUTSIDE).status_code == 200
    # Discovery allows 10.0.0.0/8 only: loopback without the token is a stranger.
    assert stack.metrics(stack.discovery_url, token=None).status_code == 404
    assert stack.metrics(stack.discovery_url).status_code == 200
    # The report service: loopback by default; a wrong token is refused.
    assert stack.metrics(stack.reports_url, token=None).status_code == 200
    assert stack.metrics(stack.reports_url, token="wrong").status_code == 404
    # The worker's port: loopback by default, and a wrong token is refused even there.
    assert stack.metrics(stack.worker_url, token=None).status_code == 200
    assert stack.metrics(stack.worker_url, token="wrong").status_code == 404
    assert requests.get(f"{stack.worker_url}/other", timeout=10).status_code == 404


def test_the_metrics_token_is_in_no_log(stack):
    # Prometheus has sent it to every process every second by now.
    wait_for(
        lambda: stack.query("sum(up)") and float(stack.query("sum(up)")[0]["value"][1]) == 5, "every target up", 30
    )
    logs = {name: path.read_text(errors="replace") for name, path in stack.logs.items()}
    logs["live"] = stack.live.logs()
    assert "GET /metrics" in logs["live"]  # the scrapes were logged, without their header
    for name, text in logs.items():
        assert TOKEN not in text, f"the {name} log holds the metrics token"


# --- the alert rules (no stack needed) ------------------------------------------------------------


def test_promtool_checks_and_tests_the_alert_rules():
    require_prometheus()
    rules = DEPLOY / "prometheus" / "maestro-rules.yml"
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "maestro-rules.test.yml"],
        cwd=rules.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # The check is not vacuous: a rule that does not parse is refused.
    with tempfile.TemporaryDirectory() as directory:
        broken = Path(directory) / "broken.yml"
        broken.write_text(
            rules.read_text().replace(
                "max(maestro_runs_oldest_waiting_age_seconds) > 300",
                "max(maestro_runs_oldest_waiting_age_seconds > 300",
            )
        )
        refused = subprocess.run([PROMTOOL, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0

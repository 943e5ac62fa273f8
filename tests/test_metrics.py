"""The app's /metrics (docs/operations.md, "Metrics"): who may read it, and what it counts, with bounded labels.

In-process, through the test client: fast. The processes under a real Prometheus (gunicorn's workers
added up, the live server, the worker, discovery) are tests/test_metrics_prometheus.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from share_support import draw, make_link, set_state

from maestro_web import ConfigError, create_app
from maestro_web.metrics import MetricsAccess, metrics_wsgi_app, parse_allow
from maestro_web.security.worker_tokens import mint_worker_token

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


# --- who may read it -----------------------------------------------------------------------------


def test_loopback_may_read_metrics_and_another_address_gets_a_404(client):
    assert "maestro_http_request_duration_seconds" in scrape(client)
    refused = client.get("/metrics", environ_base=OUTSIDE)
    assert refused.status_code == 404
    assert b"maestro_" not in refused.data


@pytest.mark.app_settings(MAESTRO_METRICS_TOKEN=TOKEN)
def test_the_token_opens_metrics_from_anywhere_and_a_wrong_one_nowhere(client, caplog):
    with caplog.at_level(logging.DEBUG):
        allowed = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {TOKEN}"})
        wrong = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {TOKEN}x"})
        # A wrong token is refused from loopback too: a scraper with a bad token sees its target down.
        wrong_loopback = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        other_scheme = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"JWT {TOKEN}"})
    assert allowed.status_code == 200 and b"maestro_http_request_duration_seconds" in allowed.data
    assert (wrong.status_code, wrong_loopback.status_code, other_scheme.status_code) == (404, 404, 404)
    assert TOKEN not in caplog.text


@pytest.mark.app_settings(MAESTRO_METRICS_ALLOW=["10.1.0.0/16"])
def test_the_allow_list_names_networks_and_then_loopback_is_refused(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"}).status_code == 404


@pytest.mark.app_settings(MAESTRO_TRUSTED_PROXIES=1)
def test_behind_the_proxy_the_forwarded_client_address_decides(client):
    # nginx on loopback forwards a visitor from the internet: the visitor's address counts, as for the
    # rate limits; a scraper reaching gunicorn directly (no X-Forwarded-For) is the loopback peer.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics").status_code == 200


def test_a_forwarded_request_without_trusted_proxies_needs_the_token(app, client):
    # nginx in front but MAESTRO_TRUSTED_PROXIES forgotten: every visitor arrives from loopback. A
    # forwarded request is then not let in by its peer's address.
    assert app.config["MAESTRO_TRUSTED_PROXIES"] == 0
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    app.config["MAESTRO_METRICS_TOKEN"] = TOKEN
    assert (
        client.get(
            "/metrics", headers={"X-Forwarded-For": "203.0.113.7", "Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )


def test_metrics_access_rules():
    loopback = MetricsAccess()
    assert loopback.permits("127.0.0.1", None) and loopback.permits("::1", None)
    assert loopback.permits("::ffff:127.0.0.1", None)
    assert not loopback.permits("203.0.113.7", None) and not loopback.permits("not an address", None)
    assert not loopback.permits(None, None)
    assert not loopback.permits("127.0.0.1", "Bearer anything")  # no token configured: none is right
    token_only = MetricsAccess(parse_allow("none"), "s3cret-token")
    assert not token_only.permits("127.0.0.1", None)
    assert token_only.permits("203.0.113.7", "Bearer s3cret-token")
    assert token_only.permits("203.0.113.7", "bearer s3cret-token")
    assert not token_only.permits("203.0.113.7", "Bearer s3cret-token2")
    assert not token_only.permits("203.0.113.7", "Basic s3cret-token")
    assert parse_allow("") == parse_allow(None) == ("127.0.0.0/8", "::1/128")
    assert parse_allow("10.0.0.1, 192.168.0.0/16") == ("10.0.0.1/32", "192.168.0.0/16")


def test_the_worker_port_answers_the_same_rules():
    app = metrics_wsgi_app(lambda: b"maestro_worker_runs_total 1\n", MetricsAccess(token="t0ken"))

    def get(path: str, address: str, authorization: str | None = None) -> str:
        statuses = []
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "REMOTE_ADDR": address}
        if authorization:
            environ["HTTP_AUTHORIZATION"] = authorization
        body = b"".join(app(environ, lambda status, headers: statuses.append(status)))
        return f"{statuses[0]} {body.decode()}"

    assert get("/metrics", "127.0.0.1").startswith("200 OK maestro_worker_runs_total")
    assert get("/metrics", "203.0.113.7").startswith("404")
    assert get("/metrics", "203.0.113.7", "Bearer t0ken").startswith("200")
    assert get("/metrics", "127.0.0.1", "Bearer wrong").startswith("404")
    assert get("/other", "127.0.0.1").startswith("404")


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"MAESTRO_METRICS_ALLOW": "10.0.0.0/8, everyone"}, "MAESTRO_METRICS_ALLOW: 'everyone' is not an address"),
        ({"MAESTRO_ENV": "production", "MAESTRO_METRICS_TOKEN": "short"}, "MAESTRO_METRICS_TOKEN is shorter than 32"),
        ({"MAESTRO_WORKER_METRICS_PORT": "nine"}, "MAESTRO_WORKER_METRICS_PORT must be a whole number"),
    ],
)
def test_bad_metrics_settings_stop_the_app(tmp_path, environ, message):
    settings = {"MAESTRO_ENV": "testing", "INSTANCE_PATH": str(tmp_path)}
    if environ.get("MAESTRO_ENV") == "production":
        # Every other production setting in order, so that the metrics token is what stops it.
        import secrets

        from maestro_web.config import SECRET_SPECS

        environ = {
            **environ,
            **{spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS},
            "MAESTRO_BASE_URL": "https://maestro.example.com",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
        settings.pop("MAESTRO_ENV")
    with pytest.raises(ConfigError, match=message):
        create_app(settings, environ=environ)


# --- what it counts ------------------------------------------------------------------------------


def test_a_share_view_is_counted_under_its_route_template_never_its_url(app, client, owner, graph):
    made = make_link(app, graph, owner)
    route = "/analytics/graphs/public/<graph_id>"
    before = scrape(client)
    visitor = app.test_client()
    assert visitor.get(made.path).status_code == 200
    assert visitor.get(made.path + "&ext=svg").status_code == 200
    assert visitor.get(f"/analytics/graphs/public/{graph.public_id}?token=tampered").status_code == 404
    set_state(app, made.id, "paused")
    assert visitor.get(made.path).status_code == 403
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("maestro_http_request_duration_seconds_count", method="GET", route=route, status="200") == 2
    assert grew("maestro_http_request_duration_seconds_count", method="GET", route=route, status="404") == 1
    assert grew("maestro_share_views_total", format="page") == 1
    assert grew("maestro_share_views_total", format="svg") == 1
    assert grew("maestro_share_refusals_total", reason="invalid") == 1
    assert grew("maestro_share_refusals_total", reason="paused") == 1
    # Nothing of the link, the graph or its owner is in any label.
    for secret in (made.token, made.id, graph.public_id, graph.name, owner.email):
        assert secret not in after
    unknown = client.get("/no/such/page/" + made.token)
    assert unknown.status_code == 404
    text = scrape(client)
    assert 'route="(unmatched)"' in text and made.token not in text
    # A method nobody uses is folded into "other" (counted against what other tests of this process sent).
    brewed = value(
        text, "maestro_http_request_duration_seconds_count", method="other", route="(unmatched)", status="405"
    )
    client.open("/healthz", method="BREW")
    assert (
        value(
            scrape(client),
            "maestro_http_request_duration_seconds_count",
            method="other",
            route="(unmatched)",
            status="405",
        )
        == brewed + 1
    )
    assert "BREW" not in scrape(client)


def test_the_run_queue_is_counted_and_its_oldest_run_aged(app, client, owner, make_graph):
    before = scrape(client)
    graph = make_graph(owner, name="Queue", spec="a -> b")
    queued = scrape(client)
    assert value(queued, "maestro_runs_queued_total") - value(before, "maestro_runs_queued_total") == 1
    assert value(queued, "maestro_runs_waiting") == 1
    assert value(queued, "maestro_runs_oldest_waiting_age_seconds") > 0
    assert value(queued, "maestro_database_up") == 1
    draw(app, graph.public_id)  # claimed by a worker token, then its result stored
    drawn = scrape(client)
    assert value(drawn, "maestro_runs_claimed_total") - value(queued, "maestro_runs_claimed_total") == 1
    assert (
        value(drawn, "maestro_runs_finished_total", status="finished")
        - value(queued, "maestro_runs_finished_total", status="finished")
        == 1
    )
    assert value(drawn, "maestro_runs_waiting") == 0 and value(drawn, "maestro_runs_oldest_waiting_age_seconds") == 0
    failing = make_graph(owner, name="Broken", spec="x -> y")
    draw(app, failing.public_id, status="error", svg=None)
    assert value(scrape(client), "maestro_runs_failed_total") - value(drawn, "maestro_runs_failed_total") == 1


@pytest.mark.app_settings(RATELIMIT_ENABLED=True, MAESTRO_WORKER_RATE_LIMIT="1 per minute")
def test_rate_limit_refusals_are_counted_by_route(app, client):
    token = mint_worker_token(app.config["KEY_RINGS"]["analytics"])
    before = value(scrape(client), "maestro_rate_limit_refusals_total", route="/analytics/jobs/claim")
    statuses = [
        client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"}).status_code for _ in range(2)
    ]
    assert statuses == [204, 429]
    after = value(scrape(client), "maestro_rate_limit_refusals_total", route="/analytics/jobs/claim")
    assert after - before == 1


@pytest.mark.app_settings(REDIS_URL="redis://127.0.0.1:9/0")
def test_redis_down_shows_in_the_scrape(client):
    text = scrape(client)
    assert value(text, "maestro_redis_up") == 0
    assert value(text, "maestro_redis_errors_total", source="metrics") >= 1


def test_crawl_and_worker_outcomes_land_in_fixed_labels():
    from maestro_web.metrics import discovery, exposition, worker

    def read(registry, name: str, **labels: str) -> float:
        return value(exposition(registry).decode(), name, **labels)

    before = {
        status: read(discovery.REGISTRY, "maestro_discovery_crawl_duration_seconds_count", status=status)
        for status in ("ok", "partial", "failed")
    }
    failed = read(discovery.REGISTRY, "maestro_discovery_crawls_failed_total")
    for status in ("ok", "partial", "failed", "taken", "something new"):
        discovery.crawl_ended(status, 1.5)
    assert read(discovery.REGISTRY, "maestro_discovery_crawl_duration_seconds_count", status="ok") == before["ok"] + 1
    assert (
        read(discovery.REGISTRY, "maestro_discovery_crawl_duration_seconds_count", status="partial")
        == before["partial"] + 1
    )
    # "taken" (another process runs it) is not counted; an unknown status counts as failed.
    assert (
        read(discovery.REGISTRY, "maestro_discovery_crawl_duration_seconds_count", status="failed")
        == before["failed"] + 2
    )
    assert read(discovery.REGISTRY, "maestro_discovery_crawls_failed_total") == failed + 2
    done = read(worker.REGISTRY, "maestro_worker_runs_total", outcome="done")
    worker.run_done("done", 0.2)
    worker.run_done("a surprise", 0.2)
    assert read(worker.REGISTRY, "maestro_worker_runs_total", outcome="done") == done + 1
    assert "a surprise" not in exposition(worker.REGISTRY).decode()
    from maestro_web.metrics import reports

    ready = read(reports.REGISTRY, "maestro_reports_ready_total", format="pdf")
    failed_pdf = read(reports.REGISTRY, "maestro_reports_failed_total", format="pdf")
    reports.report_ended("pdf", "ready", 3.0)
    reports.report_ended("pdf", "anything else", 3.0)
    reports.report_ended("docx", "ready", 3.0)  # not a format of ours: counted, under "other"
    assert read(reports.REGISTRY, "maestro_reports_ready_total", format="pdf") == ready + 1
    assert read(reports.REGISTRY, "maestro_reports_failed_total", format="pdf") == failed_pdf + 1
    assert "docx" not in exposition(reports.REGISTRY).decode()


def test_gunicorns_hooks_make_the_directory_and_let_a_dead_worker_go(tmp_path):
    # In a fresh interpreter, as gunicorn's master: the directory is chosen (and emptied) before
    # prometheus_client is imported; a worker's live gauge leaves the sum when child_exit names it.
    stale = tmp_path / "counter_1.db"
    stale.write_bytes(b"old run")
    code = f"""
import os, sys
from maestro_web import gunicorn_hooks
path, made = gunicorn_hooks.metrics_directory()
assert path == {str(tmp_path)!r} and not made, (path, made)
assert not os.path.exists({str(stale)!r}), "an earlier run's file was kept"
from prometheus_client import Gauge
from maestro_web.metrics import multiprocess_dir
assert multiprocess_dir() == path
Gauge("maestro_test_live", "a live gauge", multiprocess_mode="livesum").set(5)
files = sorted(os.listdir(path))
gunicorn_hooks.worker_exited(os.getpid())
print(files, sorted(os.listdir(path)))
"""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = done.stdout.strip().split("] [")
    assert "gauge_livesum_" in before and "gauge_livesum_" not in after
    config: dict[str, object] = {}
    exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text(), config)
    assert callable(config["child_exit"]) and callable(config["on_exit"])


def test_every_refusal_of_the_public_view_has_its_own_label():
    # The label list is fixed (bounded), so a refusal added to the public view must be added to it too,
    # or it would be counted as "other".
    from maestro_web.metrics.app import SHARE_REFUSALS
    from maestro_web.public.routes import REFUSALS

    assert {name.replace(" ", "_") for name in REFUSALS} == set(SHARE_REFUSALS)

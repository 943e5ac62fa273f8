"""Logs a machine can read: JSON lines, request ids across processes, nothing secret in any line."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from live_support import REDIS_URL, free_port, require_redis_or_skip, start_live_server
from process_support import wait_for, wait_until_answers

from maestro_web import ConfigError, create_app
from maestro_web.config import SECRET_SPECS
from maestro_web.logs import JsonFormatter, accept_request_id, configure_logging, request_id_var

ROOT = Path(__file__).resolve().parent.parent


def json_line(message: str, *args: object, **extra: object) -> dict[str, object]:
    from maestro_web.logs import _FILTER

    record = logging.LogRecord("maestro_web.test", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    _FILTER.filter(record)
    return json.loads(JsonFormatter().format(record))


def test_json_lines_keep_tokens_e_mail_and_addresses_out():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    line = json_line(
        "GET /analytics/public/x?token=%s from %s by %s via %s, Authorization: Bearer %s",
        "s3cr3t-share-token",
        "203.0.113.77",
        "ada@example.com",
        "2001:db8:abcd:12::7",
        jwt,
    )
    text = json.dumps(line)
    for secret in ("s3cr3t-share-token", "203.0.113.77", "ada@example.com", "2001:db8:abcd:12::7", jwt):
        assert secret not in text
    assert "203.0.113.0" in line["message"] and "2001:db8:abcd::" in line["message"]
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "route"}
    assert line["level"] == "INFO" and line["logger"] == "maestro_web.test"
    # Times and versions that merely look like addresses stay readable.
    assert json_line("at 12:30:45, version 1.2.3")["message"] == "at 12:30:45, version 1.2.3"


def test_the_redaction_shortcut_changes_no_answer():
    """redact() skips its expressions on a line that holds none of the pieces each needs: the answer is
    the full one's, whatever the case and however the letters are folded (the Kelvin sign is a `k` to
    re.IGNORECASE)."""
    import random

    from maestro_web import logs

    def full(text: str) -> str:
        text = logs._PARAM.sub(lambda m: m.group(1) + logs.REDACTED, text)
        text = logs._BEARER.sub(lambda m: m.group(1) + logs.REDACTED, text)
        text = logs._JWT.sub(logs.REDACTED, text)
        text = logs._SHORT_LINK.sub(lambda m: m.group(1) + logs.REDACTED, text)
        return logs._EMAIL.sub(logs.EMAIL_REDACTED, text)

    pieces = [
        "?",
        "&",
        " ",
        "%3F",
        "%26",
        "=",
        "%3D",
        "token",
        "ToKeN",
        "to\u212aen",
        "TO\u212aEN",
        "access_",
        "refresh_",
        "jwt",
        "JwT",
        "bearer",
        "BEARER",
        "Bearer ",
        "eyJ",
        "eyj",
        "abcdefgh",
        ".",
        "/s/",
        "/S/",
        "a" * 23,
        "@",
        "ada",
        "example.com",
        "x",
        "GET /analytics/graphs/public/<graph_id>",
        "\u0130",
        "\u017f",
        "é",
    ]
    rng = random.Random(7)
    lines = ["GET /analytics/graphs/public/<graph_id>", "to\u212aen=abc", "JW\u0054 abc", ""]
    lines += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(5000)]
    for line in lines:
        assert logs.redact(line) == full(line), line
    assert logs.redact("?to\u212aen=s3cr3t") == "?to\u212aen=[redacted]"


def test_request_id_is_kept_when_well_formed_else_replaced():
    assert accept_request_id("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef"
    for bad in (None, "", "short", "a" * 65, "abc def ghij", 'x"\ninjected: line', "ümlautümlaut"):
        fresh = accept_request_id(bad)
        assert fresh != bad and len(fresh) == 32
    token = request_id_var.set("feedfacefeedface")
    try:
        assert json_line("hello")["request_id"] == "feedfacefeedface"
    finally:
        request_id_var.reset(token)


def test_a_bad_log_format_stops_the_app(tmp_path):
    with pytest.raises(ConfigError, match="MAESTRO_LOG_FORMAT"):
        create_app({"MAESTRO_ENV": "testing", "INSTANCE_PATH": str(tmp_path)}, environ={"MAESTRO_LOG_FORMAT": "xml"})


def test_the_app_answers_the_request_id_and_writes_one_line_per_request(app, client, caplog):
    app_json = create_app({**app.config, "LOG_FORMAT": "json"}, environ={})
    try:
        with caplog.at_level(logging.INFO, logger="maestro_web.request"):
            kept = app_json.test_client().get("/healthz?token=abc", headers={"X-Request-ID": "nginx-0123456789abcdef"})
        assert kept.headers["X-Request-ID"] == "nginx-0123456789abcdef"
        line = json.loads(JsonFormatter().format(caplog.records[-1]))
        assert line["request_id"] == "nginx-0123456789abcdef" and line["route"] == "/healthz"
        assert line["status"] == 200 and line["method"] == "GET" and line["duration_ms"] >= 0
        made = app_json.test_client().get("/healthz", headers={"X-Request-ID": "bad id <script>"})
        assert len(made.headers["X-Request-ID"]) == 32 and "script" not in made.headers["X-Request-ID"]
        assert client.get("/healthz").headers["X-Request-ID"]  # text format: the header all the same
    finally:
        configure_logging("INFO", "text")


# --- a whole flow, every process logging JSON ----------------------------------------------------


def _environment(database_url: str, secret_values: dict[str, str], live_port: int, app_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAESTRO_", "FLASK_", "REDIS_URL"))}
    env.update(secret_values)
    env.update(
        MAESTRO_ENV="production",
        MAESTRO_BASE_URL=f"https://127.0.0.1:{app_port}",
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        MAESTRO_RATELIMIT_ENABLED="false",
        MAESTRO_LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        MAESTRO_LIVE_URL=f"ws://127.0.0.1:{live_port}/live",
        MAESTRO_LIVE_PUBLISH_URL=f"http://127.0.0.1:{live_port}/publish",
        WEB_CONCURRENCY="1",
        GUNICORN_BIND=f"127.0.0.1:{app_port}",
        GUNICORN_ACCESS_LOG="-",
        GUNICORN_CMD_ARGS="--no-control-socket",
        PYTHONUNBUFFERED="1",
    )
    return env


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_whole_flow_logs_json_with_one_request_id_across_processes_and_no_secret(database_url, tmp_path):
    require_redis_or_skip()
    app_port, live_port = free_port(), free_port()
    secret_values = {spec.env: secrets.token_urlsafe(48) for spec in SECRET_SPECS}
    env = _environment(database_url, secret_values, live_port, app_port)
    email, password = f"ops-{secrets.token_hex(4)}@example.com", "correct horse battery " + secrets.token_hex(4)
    logs: dict[str, str] = {}

    created = subprocess.run(
        [sys.executable, "-m", "flask", "users", "create", email, "--name", "Ops", "--password-stdin"],
        input=password + "\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    logs["cli"] = created.stderr  # its stdout is the answer to the operator, not a log

    live = start_live_server(
        port=live_port,
        session_secret=secret_values["MAESTRO_SECRETJWT"],
        socket_secret=secret_values["MAESTRO_SECRETJWT_SOCKET"],
        extra={"MAESTRO_LOG_FORMAT": "json", "LOG_LEVEL": "INFO"},
    )
    app_log = tmp_path / "gunicorn.log"
    with open(app_log, "wb") as out:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{app_port}"
    try:
        wait_until_answers(f"{base}/healthz", process=gunicorn, log=app_log, timeout=120, what="gunicorn")
        http = requests.Session()
        token = http.post(f"{base}/api/auth/token", json={"email": email, "password": password}, timeout=30)
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        graph = http.post(
            f"{base}/api/graphs",
            headers=headers,
            timeout=30,
            json={"name": "Payments", "spec": "web -> api\napi -> db"},
        )
        assert graph.status_code == 201, graph.text
        graph_id = graph.json()["id"]
        link = http.post(f"{base}/api/graphs/{graph_id}/shares", headers=headers, json={"label": "ops"}, timeout=30)
        assert link.status_code == 201, link.text
        share = urlsplit(link.json()["url"])
        share_token = dict(part.split("=", 1) for part in share.query.split("&"))["token"]

        worker = subprocess.run(
            [sys.executable, "-m", "flask", "analytics", "worker", "--url", f"{base}/analytics", "--once"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert worker.returncode == 0, worker.stderr
        logs["worker"] = worker.stdout + worker.stderr

        viewed = http.get(
            f"{base}{share.path}?{share.query}", timeout=30, headers={"X-Request-ID": "nginx-view-0123456789"}
        )
        assert viewed.status_code == 200 and viewed.headers["X-Request-ID"] == "nginx-view-0123456789"
        assert "<svg" in viewed.text or "picture" in viewed.text
        wait_for(lambda: "run.finished" in live.logs(), "the live server's run.finished")
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
        live.stop()
    logs["app"] = app_log.read_text()
    logs["live"] = live.logs()

    # Every log line of every process: no password, no e-mail address, no token.
    for name, text in logs.items():
        for secret in (password, email, share_token, token.json()["access_token"], *secret_values.values()):
            assert secret not in text, f"{name} log holds a secret"

    app_lines, live_lines, worker_lines = (_json_lines(logs[name]) for name in ("app", "live", "worker"))
    requests_logged = [line for line in app_lines if line["logger"] == "maestro_web.request"]
    assert requests_logged and all(
        {"route", "status", "duration_ms", "request_id", "time"} <= set(line) for line in requests_logged
    )
    view = [line for line in requests_logged if line["request_id"] == "nginx-view-0123456789"]
    assert view and view[0]["status"] == 200 and "?" not in str(view[0]["route"])
    # The worker's job: one id in the app's claim and result lines, the worker's lines and the live server's.
    claims = [line for line in requests_logged if str(line["route"]).endswith("/jobs/claim") and line["status"] == 200]
    assert len(claims) == 1
    job_id = claims[0]["request_id"]
    assert any(line["request_id"] == job_id and str(line["route"]).endswith("/graphs") for line in requests_logged)
    assert any(line["request_id"] == job_id for line in worker_lines)
    published = {line["message"] for line in live_lines if line["request_id"] == job_id}
    assert any("run.claimed" in message for message in published)
    assert any("run.finished" in message for message in published), published
    # The app's own request (creating the graph) reached the live server under its id too.
    create = [line for line in requests_logged if line["route"] == "/api/graphs" and line["method"] == "POST"]
    assert any(
        line["request_id"] == create[0]["request_id"] and "run.queued" in str(line["message"]) for line in live_lines
    )

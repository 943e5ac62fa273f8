"""Errors chosen in one place, security headers everywhere, health check, logging hygiene."""

from __future__ import annotations

import logging
import os
import re

import pytest
from flask import Flask

from maestro_web import create_app
from maestro_web.logs import redact

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unknown_page_is_an_html_404_with_headers(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Not found" in response.text
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_api_404_is_json(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json == {
        "error": "not_found",
        "message": "The requested URL was not found on the server. If you entered the URL "
        "manually please check your spelling and try again.",
    }


def test_accept_json_gets_json_elsewhere(client):
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.is_json


def test_method_not_allowed_keeps_allow_header(client):
    response = client.put("/auth/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_page_without_stack_trace(app: Flask, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "Something went wrong" in response.text
    assert "RuntimeError" in caplog.text  # but the operator sees it in the log


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_503_when_database_unavailable(tmp_path):
    app = create_app(
        {
            "MAESTRO_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        },
        environ={},
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unavailable"}
    assert response.headers["Retry-After"]


def test_database_down_on_a_page_is_503_with_retry_after(tmp_path):
    app = create_app(
        {
            "MAESTRO_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        },
        environ={},
    )
    response = app.test_client().post("/api/auth/token", json={"email": "a@example.com", "password": "x" * 10})
    assert response.status_code == 503
    assert response.json["error"] == "unavailable"
    assert response.headers["Retry-After"]


def test_static_css_is_served_locally(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200 and "body" in response.text


def test_login_page_has_no_inline_script_and_a_viewport(client):
    html = client.get("/auth/login").text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(re.fullmatch(r'<script src="/static/[\w.-]+\.js" defer>', tag) for tag in scripts), scripts
    assert "http://" not in html.replace("http://localhost", "")
    assert 'name="viewport"' in html


@pytest.mark.parametrize(
    "line",
    [
        "GET /analytics/graphs/public/abc?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig HTTP/1.1",
        "GET /auth/reset?token=gAAAAABlongfernet== HTTP/1.1",
        "Authorization: Bearer abc.def.ghi",
        "payload eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ],
)
def test_redact_removes_tokens(line):
    cleaned = redact(line)
    assert "[redacted]" in cleaned
    assert "eyJ" not in cleaned and "gAAAA" not in cleaned and "abc.def.ghi" not in cleaned


def test_werkzeug_request_log_lines_are_redacted(app, caplog):
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('"GET /x?token=eyJabcdefgh.eyJabcdefgh.sig HTTP/1.1" 404 -')
    assert "eyJabcdefgh" not in caplog.text and "[redacted]" in caplog.text


def test_gunicorn_access_log_format_leaves_query_strings_out():
    config = {}
    with open(os.path.join(ROOT, "gunicorn.conf.py")) as handle:
        exec(handle.read(), config)
    assert "%(U)s" in config["access_log_format"]
    for query_atom in ("%(r)s", "%(q)s", "{raw_uri}"):
        assert query_atom not in config["access_log_format"]
    assert config["timeout"] > 0 and config["workers"] >= 1

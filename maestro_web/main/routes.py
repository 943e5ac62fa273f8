from __future__ import annotations

import logging

import redis
from flask import Response, current_app, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from maestro_web.extensions import db
from maestro_web.main import main_bp
from maestro_web.metrics import app as app_metrics
from maestro_web.security.session_jwt import current_user

log = logging.getLogger(__name__)

# A health check answers fast or not at all: a load balancer waits for it.
REDIS_TIMEOUT_SECONDS = 2.0


@main_bp.get("/")
def index():
    if current_user():
        return redirect(url_for("graphs.index"))
    return render_template("main/index.html")


@main_bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says (and for pictures and downloads that have no
    <link rel=icon>): the same SVG, cached for a day, instead of a 404 in every log."""
    response = current_app.send_static_file("favicon.svg")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not healthy"
        db.session.rollback()
        log.error("Health check: database unavailable (%s)", type(exc).__name__)
        app_metrics.database_error("unavailable")
        return False
    return True


def _redis_ok(url: str) -> bool:
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        ) as client:
            client.ping()
    except redis.RedisError as exc:
        # The type only: the URL may hold a password.
        log.error("Health check: Redis unavailable (%s)", type(exc).__name__)
        app_metrics.redis_error("healthz")
        return False
    return True


@main_bp.get("/healthz")
def healthz() -> Response:
    """200 when every dependency answers, else 503 naming what is down (SPEC §7)."""
    checks = {"database": _database_ok()}
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        checks["redis"] = _redis_ok(redis_url)
    healthy = all(checks.values())
    response = jsonify(
        status="ok" if healthy else "unavailable",
        **{name: "ok" if ok else "unavailable" for name, ok in checks.items()},
    )
    if not healthy:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response

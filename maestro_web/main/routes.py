from __future__ import annotations

import logging

from flask import jsonify, redirect, render_template, url_for
from sqlalchemy import text

from maestro_web.extensions import db
from maestro_web.main import main_bp
from maestro_web.security.session_jwt import current_user

log = logging.getLogger(__name__)


@main_bp.get("/")
def index():
    if current_user():
        return redirect(url_for("graphs.index"))
    return render_template("main/index.html")


@main_bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not healthy"
        db.session.rollback()
        log.error("Health check: database unavailable (%s)", type(exc).__name__)
        response = jsonify(status="unavailable", database="unavailable")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    return jsonify(status="ok", database="ok")

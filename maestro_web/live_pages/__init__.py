"""Live tickets for logged-in browsers (SPEC §8): `GET /live/ticket`. One guard: require_live_user.

The API twin (`POST /api/live/ticket`) sits in the API blueprint behind its token guard, and a
share visitor's ticket in the public analytics blueprint behind the share-token guard.
"""
from __future__ import annotations

from flask import Blueprint, Response

from maestro_web.errors import json_error
from maestro_web.security.session_jwt import require_user


def require_live_user() -> Response | None:
    """require_user (cookies, CSRF, implicit refresh) answering a script: 401 JSON, not the login page."""
    refused = require_user()
    if refused is not None and refused.status_code in (301, 302, 303):
        return json_error(401, "Log in to receive live updates.")
    return refused


live_bp = Blueprint("live", __name__, url_prefix="/live")
live_bp.before_request(require_live_user)

from maestro_web.live_pages import routes  # noqa: E402,F401

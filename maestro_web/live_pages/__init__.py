"""Live tickets for logged-in browsers (SPEC §8): `GET /live/ticket`. One guard: require_live_user.

The API twin (`POST /api/live/ticket`) sits in the API blueprint behind its token guard, and a
share visitor's ticket in the public analytics blueprint behind the share-token guard.
"""

from __future__ import annotations

from flask import Blueprint

from maestro_web.web.guards import require_live_user

live_bp = Blueprint("live", __name__, url_prefix="/live")
live_bp.before_request(require_live_user)

from maestro_web.live_pages import routes  # noqa: E402,F401

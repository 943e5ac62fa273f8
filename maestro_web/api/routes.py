"""The token-protected JSON API (every route here has passed require_api_user)."""

from __future__ import annotations

from flask import jsonify

from maestro_web.api import api_bp
from maestro_web.security.session_jwt import current_user
from maestro_web.serializers.users import user_json


@api_bp.get("/me")
def me():
    return jsonify(user_json(current_user()))

"""Token endpoints for API clients (SPEC §3.1), and Maestro's POST /users/auth."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request

from maestro_web.api.validation import json_body
from maestro_web.errors import json_error
from maestro_web.api import api_auth_bp
from maestro_web.models import User
from maestro_web.rate_limits import login_rate_limits
from maestro_web.security.session_jwt import (
    SessionError,
    authorization_token,
    issue_api_access_token,
    issue_api_tokens,
    revoke_encoded,
    verify_api_token,
)


def _credentials() -> tuple[User | None, Any]:
    body, problem = json_body(required=("email", "password"))
    if problem is not None:
        return None, problem
    user = User.authenticate(body["email"], body["password"])
    if user is None:
        return None, json_error(401, "Wrong e-mail or password.")
    return user, None


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.public_id, "name": user.name, "email": user.email}


@api_auth_bp.post("/api/auth/token")
@login_rate_limits
def token():
    user, problem = _credentials()
    if problem is not None:
        return problem
    return jsonify(issue_api_tokens(user))


@api_auth_bp.post("/users/auth")
@login_rate_limits
def maestro_users_auth():
    """Maestro Server's login shape: {token, user}."""
    user, problem = _credentials()
    if problem is not None:
        return problem
    return jsonify(token=issue_api_tokens(user)["access_token"], user=user_json(user))


@api_auth_bp.post("/api/auth/refresh")
def refresh():
    try:
        user = verify_api_token(refresh=True)
    except SessionError:
        return json_error(401, "A valid refresh token is required in the Authorization header.")
    return jsonify(issue_api_access_token(user))


@api_auth_bp.post("/api/auth/revoke")
def revoke():
    """Revoke the token in Authorization (access or refresh) and an optional `refresh_token`."""
    presented = authorization_token()
    if not presented or not revoke_encoded(presented):
        return json_error(401, "A valid token is required in the Authorization header.")
    body = request.get_json(silent=True) or {}
    extra = body.get("refresh_token") if isinstance(body, dict) else None
    if extra is not None and not (isinstance(extra, str) and revoke_encoded(extra)):
        return json_error(422, "refresh_token is not a valid token.", fields={"refresh_token": "not a valid token"})
    return jsonify(revoked=True)

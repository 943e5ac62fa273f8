"""Token endpoints for API clients (SPEC §3.1), and Maestro's POST /users/auth."""

from __future__ import annotations

from flask import Response, jsonify

from maestro_web.api import api_auth_bp
from maestro_web.api.schemas import Credentials, RevokeRequest, parse_body
from maestro_web.errors import json_error
from maestro_web.models import User
from maestro_web.security.session_jwt import (
    SessionError,
    authorization_token,
    issue_api_access_token,
    issue_api_tokens,
    revoke_encoded,
    verify_api_token,
)
from maestro_web.serializers.users import user_json
from maestro_web.web.rate_limits import authenticate, login_rate_limits


def _authenticate() -> User | Response:
    credentials = parse_body(Credentials)
    user = authenticate(credentials.email, credentials.password)
    if user is None:
        return json_error(401, "Wrong e-mail or password.")
    return user


@api_auth_bp.post("/api/auth/token")
@login_rate_limits
def token() -> Response:
    user = _authenticate()
    if isinstance(user, Response):
        return user
    return jsonify(issue_api_tokens(user))


@api_auth_bp.post("/users/auth")
@login_rate_limits
def maestro_users_auth() -> Response:
    """Maestro Server's login shape: {token, user}."""
    user = _authenticate()
    if isinstance(user, Response):
        return user
    return jsonify(token=issue_api_tokens(user)["access_token"], user=user_json(user))


@api_auth_bp.post("/api/auth/refresh")
def refresh() -> Response:
    try:
        user = verify_api_token(refresh=True)
    except SessionError:
        return json_error(401, "A valid refresh token is required in the Authorization header.")
    return jsonify(issue_api_access_token(user))


@api_auth_bp.post("/api/auth/revoke")
def revoke() -> Response:
    """Revoke the token in Authorization (access or refresh) and an optional `refresh_token`.

    The body is read and validated before anything is revoked, and the body's token (the one that
    can be refused with 422) is revoked first, so a refused request has revoked nothing.
    """
    presented = authorization_token()
    if not presented:
        return json_error(401, "A valid token is required in the Authorization header.")
    body = parse_body(RevokeRequest, optional=True)
    if body.refresh_token is not None and not revoke_encoded(body.refresh_token):
        return json_error(422, "refresh_token is not a valid token.", fields={"refresh_token": "Not a valid token."})
    if not revoke_encoded(presented):
        return json_error(401, "A valid token is required in the Authorization header.")
    return jsonify(revoked=True)

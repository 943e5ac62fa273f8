"""Personal API tokens (SPEC §3.1): create (shown once), list (never the token), revoke."""

from __future__ import annotations

from flask import Response, jsonify

from maestro_web.api import api_bp
from maestro_web.api.schemas import PersonalTokenCreate, parse_body
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.models import PersonalToken
from maestro_web.security.session_jwt import issue_personal_token, signed_in_user
from maestro_web.serializers.tokens import personal_token_json


@api_bp.post("/tokens")
def create_personal_token() -> tuple[Response, int]:
    body = parse_body(PersonalTokenCreate)
    row, token = issue_personal_token(signed_in_user(), body.name.strip(), body.expires_in_days)
    db.session.commit()
    return jsonify(
        id=row.public_id,
        name=row.name,
        token=token,
        created_at=row.created_at.isoformat(),
        expires_at=row.expires_at.isoformat(),
    ), 201


@api_bp.get("/tokens")
def list_personal_tokens() -> Response:
    user = signed_in_user()
    return jsonify(tokens=[personal_token_json(row, user) for row in PersonalToken.listed_for(user)])


@api_bp.delete("/tokens/<token_id>")
def revoke_personal_token(token_id: str) -> Response | tuple[str, int]:
    row = PersonalToken.of_user(signed_in_user(), token_id)
    if row is None or row.revoked_at is not None:
        return json_error(404, "No such token.")
    row.revoke()
    db.session.commit()
    return "", 204

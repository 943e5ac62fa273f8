"""Personal API tokens (SPEC §3.1): create (shown once), list (never the token), revoke."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from maestro_web.api import api_bp
from maestro_web.api.schemas import PersonalTokenCreate, parse_body
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.models import PersonalToken, User
from maestro_web.security.session_jwt import issue_personal_token, signed_in_user


def personal_token_json(row: PersonalToken, user: User) -> dict[str, Any]:
    """A token as listed: everything but the token itself."""
    return {
        "id": row.public_id,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "status": row.status(user),
    }


@api_bp.post("/tokens")
def create_personal_token() -> tuple[Response, int]:
    body = parse_body(PersonalTokenCreate)
    row, token = issue_personal_token(signed_in_user(), body.name.strip(), body.expires_in_days)
    db.session.commit()
    return jsonify(id=row.public_id, name=row.name, token=token, created_at=row.created_at.isoformat(),
                   expires_at=row.expires_at.isoformat()), 201


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

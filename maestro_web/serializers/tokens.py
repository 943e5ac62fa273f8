"""The API's login and token answers, and a personal API token as listed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from maestro_web.models import PersonalToken, User
from maestro_web.serializers.users import UserOut


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds the access token lives.")


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class MaestroLogin(BaseModel):
    """Maestro Server's login answer."""

    token: str
    user: UserOut


class Revoked(BaseModel):
    revoked: Literal[True]


class PersonalTokenOut(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str
    last_used_at: str | None = Field(description="Last request made with it (to the minute); null if never used.")
    status: Literal["active", "expired", "ended"] = Field(
        description="ended: the account's password changed since it was made, which ends every token."
    )


class PersonalTokenCreated(BaseModel):
    id: str
    name: str
    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown this once, never again.")
    created_at: str
    expires_at: str


class PersonalTokenList(BaseModel):
    tokens: list[PersonalTokenOut]


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

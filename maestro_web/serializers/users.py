"""A user as JSON: the account (`user_json`, UserOut) and a person named on something (`person_json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from maestro_web.models import User


class UserOut(BaseModel):
    id: str
    name: str
    email: str


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.public_id, "name": user.name, "email": user.email}


def person_json(user: User) -> dict[str, Any]:
    """Who owns, made, invited or asked for something: {id, name}, never the address."""
    return {"id": user.public_id, "name": user.name}

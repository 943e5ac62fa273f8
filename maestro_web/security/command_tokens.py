"""What the two user-context command tokens share (discovery §11, reports §12): a short-lived token
under the user session secret, for one user on one graph, that dies with the user's sessions.

Each command context has its own module (discovery_tokens.py, report_tokens.py) with its own `aud`,
so a token of one is never taken for the other, nor for a session token or a live ticket; this module
only holds the rules they have in common, below them like signing.py. Flask-free: the services verify
with it without importing the app.
"""

from __future__ import annotations

from typing import Any

import jwt as pyjwt

from maestro_web.security.signing import (
    REGISTERED,
    KeyRing,
    decode_pinned,
    encode_pinned,
    registered_claims,
    well_formed,
)

CONTEXT = "session"
ISSUER = "maestro-server"
MAX_LIFETIME = 900
MAX_TOKEN_LENGTH = 4096
MAX_ID_LENGTH = 64


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def issue(
    ring: KeyRing,
    *,
    audience: str,
    user_id: str,
    graph_id: str,
    token_version: int,
    ttl: int,
    now: float | None,
    ids: dict[str, str] | None = None,
) -> str:
    """A command token of `audience` for `user_id` on `graph_id`, with more public ids in `ids`."""
    if not 0 < ttl <= MAX_LIFETIME:
        raise ValueError(f"command tokens live at most {MAX_LIFETIME} seconds")
    for name, value in (("user_id", user_id), ("graph_id", graph_id), *(ids or {}).items()):
        if not _is_id(value):
            raise ValueError(f"{name} must be a public id")
    payload: dict[str, Any] = {
        **registered_claims(issuer=ISSUER, audience=audience, ttl=ttl, now=now),
        "sub": user_id,
        "graph": graph_id,
        **(ids or {}),
        "ver": token_version,
    }
    return encode_pinned(payload, ring)


def verify(
    token: object, ring: KeyRing, *, audience: str, error: type[Exception], ids: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The claims of a valid command token of `audience` (with the public ids named in `ids`);
    raises `error` with a message safe to show the caller for anything else."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise error("invalid token")
    try:
        claims = decode_pinned(
            token, ring, audience=audience, issuer=ISSUER, require=[*REGISTERED, "sub", "graph", *ids]
        )
    except pyjwt.ExpiredSignatureError:
        raise error("token expired") from None
    except pyjwt.PyJWTError:
        raise error("invalid token") from None
    if (
        not isinstance(claims.get("iat"), int)
        or not isinstance(claims.get("exp"), int)
        or claims["exp"] - claims["iat"] > MAX_LIFETIME
    ):
        raise error("token lifetime is longer than fifteen minutes")
    for name in ("sub", "graph", "jti", *ids):
        if not _is_id(claims.get(name)):
            raise error(f"token has no valid {name}")
    return claims

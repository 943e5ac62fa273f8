"""Discovery commands (SPEC §3 "discovery command", §11): the app tells the discovery service to crawl.

The app mints a short-lived user-context token with the user session secret MAESTRO_SECRETJWT for
the user who asked (or a schedule's owner): `aud` "maestro-discovery", `sub` the user's public id,
`graph` the graph's public id, `ver` the user's token version, at most 15 minutes. The discovery service verifies it before it
accepts a command, then acts only through the app's JSON API with the same token; the app accepts
it there only on the two endpoints a crawl needs, of the graph in `graph` (maestro_web/guards.py).
`aud` keeps it from ever being taken for a session token, a live ticket, or the other way round.
`ver` makes it die with the user's sessions: a password change or reset moves the user's token
version, and the app then refuses the token (401) as it refuses the user's session tokens.

Flask-free: the discovery service verifies with this module without importing the app.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import jwt as pyjwt

from maestro_web.security.keys import KeyRing, decode_pinned, encode_pinned, well_formed

CONTEXT = "session"
AUDIENCE = "maestro-discovery"
ISSUER = "maestro-server"
MAX_LIFETIME = 900
MAX_TOKEN_LENGTH = 4096
MAX_ID_LENGTH = 64


class CommandTokenError(Exception):
    """The token is not a valid discovery command; the message is safe to show the caller."""


def issue_command_token(ring: KeyRing, *, user_id: str, graph_id: str, token_version: int,
                        ttl: int = MAX_LIFETIME, now: float | None = None) -> str:
    """A command token for `user_id` (whose token version is `token_version`) on `graph_id`, valid
    `ttl` seconds (at most 15 minutes)."""
    if not 0 < ttl <= MAX_LIFETIME:
        raise ValueError(f"discovery commands live at most {MAX_LIFETIME} seconds")
    for name, value in (("user_id", user_id), ("graph_id", graph_id)):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
            raise ValueError(f"{name} must be a public id")
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "graph": graph_id,
        "ver": token_version,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    return encode_pinned(payload, ring)


def verify_command_token(token: object, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid command token; raises CommandTokenError for anything else."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise CommandTokenError("invalid token")
    try:
        claims = decode_pinned(token, ring, audience=AUDIENCE, issuer=ISSUER,
                               require=["exp", "iat", "jti", "aud", "iss", "sub", "graph"])
    except pyjwt.ExpiredSignatureError:
        raise CommandTokenError("token expired") from None
    except pyjwt.PyJWTError:
        raise CommandTokenError("invalid token") from None
    if not isinstance(claims.get("iat"), int) or not isinstance(claims.get("exp"), int) \
            or claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise CommandTokenError("token lifetime is longer than fifteen minutes")
    for name in ("sub", "graph", "jti"):
        value = claims.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
            raise CommandTokenError(f"token has no valid {name}")
    return claims

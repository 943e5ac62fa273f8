"""Public share tokens (SecretJwt Public Analytics, SPEC §3.2).

Minted by the app when a user creates a share link, verified by the public view. Keys come from
MAESTRO_SECRETJWT_PUBLIC_ANALYTICS (signing) and its _PREVIOUS companions (verification only).

Verification trusts nothing in the token before the signature is checked: the length is capped
before decoding, the algorithm is pinned to HS256, the key is picked by `kid` from this context's
ring only, `exp`/`iat`/`jti`/`aud`/`iss` are required, and `name`/`id` must match the URL. Every
PyJWT error is caught here, so flask-jwt-extended's app-wide handlers (which would answer 422 with
the library's reason) never see one, and the caller learns only "invalid" or "expired".
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import current_app

from maestro_web.safe_json import text_problem
from maestro_web.security.signing import (
    REGISTERED,
    KeyRing,
    decode_pinned,
    encode_pinned,
    registered_claims,
    well_formed,
)

CONTEXT = "public-analytics"
AUDIENCE = "maestro-analytics-front"
ISSUER = "maestro-server"
TOKEN_NAME = "graphs"
MAX_TOKEN_LENGTH = 2048
LEEWAY = 5  # seconds of clock skew tolerated on iat


class ShareTokenInvalid(Exception):
    """Not a share token for this graph: answer 404 and say nothing more."""


class ShareTokenExpired(Exception):
    """A genuine share token for this graph whose `exp` has passed: answer 410."""

    def __init__(self, claims: dict[str, Any]):
        super().__init__("expired")
        self.claims = claims


def mint_share_token(ring: KeyRing, graph_id: str, link_id: str, issued_at: datetime, expires_at: datetime) -> str:
    """The token of a share link. Deterministic for a given row and key, so it need not be stored."""
    claims = registered_claims(
        issuer=ISSUER, audience=AUDIENCE, now=issued_at.timestamp(), expires_at=expires_at.timestamp(), jti=link_id
    )
    payload = {"name": TOKEN_NAME, "id": graph_id, **claims, "timestamp": claims["iat"] * 1000}
    return encode_pinned(payload, ring)


@lru_cache(maxsize=4096)
def _signed_claims(token: str, ring: KeyRing) -> dict[str, Any]:
    """The claims of a token whose signature, kid, alg, aud and iss check out (times not checked).

    Cached: a link is opened again and again, and checking its signature is a large part of a
    public view. Only successes are cached (an exception is never stored), a token cannot change,
    and the ring is part of the key, so a rotated or removed key is a cache miss. The time claims
    and the URL's graph are checked on every call, by the caller.
    """
    return decode_pinned(token, ring, audience=AUDIENCE, issuer=ISSUER, verify_exp=False, require=REGISTERED)


def share_token_of(link: Any) -> str:
    """The share token of a link row (a ShareLink), signed with the current key of the app's ring."""
    ring = current_app.config["KEY_RINGS"][CONTEXT]
    return mint_share_token(ring, link.graph.public_id, link.public_id, link.created_at, link.max_expires_at)


def verify_share_token(token: object, ring: KeyRing, graph_id: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid share token for `graph_id`.

    Raises ShareTokenExpired for a well-signed token for this graph past its `exp`, and
    ShareTokenInvalid for everything else.
    """
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise ShareTokenInvalid()
    now = time.time() if now is None else now
    try:
        claims = dict(_signed_claims(token, ring))
    except Exception:  # every PyJWT error, and anything odd in a hostile header
        raise ShareTokenInvalid() from None
    if (
        claims.get("name") != TOKEN_NAME
        or claims.get("id") != graph_id
        or not isinstance(claims.get("jti"), str)
        or text_problem(claims["jti"]) is not None  # no link has it, and a database cannot be asked for it
        or not isinstance(claims.get("iat"), int)
        or not isinstance(claims.get("exp"), int)
        or claims["iat"] > now + LEEWAY
        or ("nbf" in claims and (not isinstance(claims["nbf"], (int, float)) or claims["nbf"] > now + LEEWAY))
    ):
        raise ShareTokenInvalid()
    if claims["exp"] <= now:
        raise ShareTokenExpired(claims)
    return claims

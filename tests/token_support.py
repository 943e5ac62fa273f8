"""Helpers for the tests of the live server's two token contexts (socket tokens, live tickets) at
their edges: fresh key rings, claims with one thing changed, tokens signed by hand."""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt as pyjwt

from maestro_web.security.signing import KeyRing


def new_ring(context: str, previous: tuple[str, ...] = ()) -> KeyRing:
    """A ring with a fresh random current key (and `previous` keys still accepted)."""
    return KeyRing(context, secrets.token_urlsafe(48), previous)


def token_claims(issuer: str, audience: str, lifetime: int, **changes: object) -> dict[str, object]:
    """Claims issued now for `lifetime` seconds, `changes` applied; a change to None drops the claim."""
    now = int(time.time())
    claims: dict[str, object] = {"iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime, "jti": "j1"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, object], ring: KeyRing, alg: str = "HS256") -> str:
    """`claims` signed with the ring's current key and its kid, as a foreign signer would."""
    return pyjwt.encode(claims, ring.current, algorithm=alg, headers={"kid": ring.current_kid})


def b64(data: object) -> str:
    """One base64url segment of a hand-built token."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

"""Analytics worker tokens (SecretJwt Analytics, SPEC §3.3).

The worker signs its own short-lived tokens with MAESTRO_SECRETJWT_ANALYTICS: `graph_id: "*"` to
claim jobs, the graph's id to post that graph's result. The app verifies them here and nowhere
else. Verification never trusts the token's own header: the algorithm is pinned to HS256, the key
is picked by `kid` from this context's ring only, and `aud`/`iss` tell a worker token from a share
token (same audience, other issuer) even if someone configured equal secrets.

A token that posts a result is bound to it: its `run_id` claim names the run and its `body_sha256`
claim is the SHA-256 of the exact request body (`mint_result_token`). A token seen once (in a proxy's
log, a crash dump, on the wire) can therefore only post that same body for that same run again, which
the app answers with the stored result: it cannot post another picture, for that run or any other.

Flask-free on purpose: the worker (an HTTP client that may run on another machine) mints with this
module without importing the app. The app's guard (`maestro_web/guards.py`) verifies with it.
"""

from __future__ import annotations

import hashlib
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

CONTEXT = "analytics"
AUDIENCE = "maestro-analytics-front"
ISSUER = "maestro-analytics"
MAX_LIFETIME = 3600
MAX_TOKEN_LENGTH = 4096
ANY_GRAPH = "*"


class WorkerTokenError(Exception):
    """The token is not a valid worker token; the message is safe to show the worker."""


def body_digest(body: bytes) -> str:
    """The `body_sha256` claim of a result token: the SHA-256 of the request body, in hex."""
    return hashlib.sha256(body).hexdigest()


def mint_result_token(
    ring: KeyRing, graph_id: str, run_id: str, body: bytes, lifetime: int = 300, now: float | None = None
) -> str:
    """A token that posts exactly `body` (bytes as sent) as the result of one run of one graph."""
    return mint_worker_token(ring, graph_id, lifetime, now, bound={"run_id": run_id, "body_sha256": body_digest(body)})


def mint_worker_token(
    ring: KeyRing,
    graph_id: str = ANY_GRAPH,
    lifetime: int = 600,
    now: float | None = None,
    bound: dict[str, str] | None = None,
) -> str:
    """A worker token for one graph (or "*" for job claims), valid `lifetime` seconds (≤ 1 hour);
    `bound` adds the claims that bind it to one result (see mint_result_token)."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"worker tokens live at most {MAX_LIFETIME} seconds")
    payload = {
        "graph_id": graph_id,
        **registered_claims(issuer=ISSUER, audience=AUDIENCE, ttl=lifetime, now=now),
        **(bound or {}),
    }
    return encode_pinned(payload, ring)


def verify_worker_token(token: str, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid worker token; raises WorkerTokenError for anything else."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise WorkerTokenError("invalid token")
    try:
        claims = decode_pinned(token, ring, audience=AUDIENCE, issuer=ISSUER, require=REGISTERED)
    except pyjwt.ExpiredSignatureError:
        raise WorkerTokenError("token expired") from None
    except pyjwt.PyJWTError:
        raise WorkerTokenError("invalid token") from None
    if not isinstance(claims.get("iat"), int) or claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise WorkerTokenError("token lifetime is longer than one hour")
    if not isinstance(claims.get("graph_id"), str) or not claims["graph_id"]:
        raise WorkerTokenError("token has no graph_id")
    for name in ("run_id", "body_sha256"):
        if name in claims and (not isinstance(claims[name], str) or not claims[name]):
            raise WorkerTokenError(f"token's {name} claim is not text")
    return claims

"""Socket tokens (SecretJwt Socket, SPEC §3 and §8): how services publish on the live server.

The worker, the app and other Maestro services sign short-lived HS256 tokens with
MAESTRO_SECRETJWT_SOCKET; the live server's `POST /publish` verifies them here and nowhere else.
`aud` "maestro-websocket" tells them from every other context's token even when two secrets are
equal by mistake; an optional `channels` claim lists the channel-name prefixes a token may post to.
"""

from __future__ import annotations

from typing import Any

import jwt as pyjwt

from maestro_web.channels import CONTROL, MAX_CHANNEL_LENGTH
from maestro_web.security.signing import (
    REGISTERED,
    KeyRing,
    decode_pinned,
    encode_pinned,
    registered_claims,
    well_formed,
)

CONTEXT = "socket"
AUDIENCE = "maestro-websocket"
SERVER = "maestro-server"
ISSUERS = (SERVER, "maestro-analytics", "maestro-discovery", "maestro-reports")
MAX_LIFETIME = 3600
MAX_TOKEN_LENGTH = 4096
MAX_PREFIXES = 100


class SocketTokenError(Exception):
    """The token is not a valid socket token; the message is safe to show the publisher."""


def _check_prefixes(channels: object) -> list[str]:
    if (
        not isinstance(channels, list)
        or not 0 < len(channels) <= MAX_PREFIXES
        or not all(isinstance(c, str) and 0 < len(c) <= MAX_CHANNEL_LENGTH for c in channels)
    ):
        raise SocketTokenError(f"channels must be a list of 1 to {MAX_PREFIXES} channel-name prefixes")
    return channels


def issue_socket_token(
    ring: KeyRing, *, issuer: str, channels: list[str] | None = None, ttl: int = 300, now: float | None = None
) -> str:
    """A socket token of `issuer`, valid `ttl` seconds (≤ 1 hour), optionally limited to channel prefixes."""
    if issuer not in ISSUERS:
        raise ValueError(f"issuer must be one of {', '.join(ISSUERS)}")
    if not 0 < ttl <= MAX_LIFETIME:
        raise ValueError(f"socket tokens live at most {MAX_LIFETIME} seconds")
    payload: dict[str, Any] = registered_claims(issuer=issuer, audience=AUDIENCE, ttl=ttl, now=now)
    if channels is not None:
        try:
            payload["channels"] = _check_prefixes(list(channels))
        except SocketTokenError as exc:
            raise ValueError(str(exc)) from None
    return encode_pinned(payload, ring)


def verify_socket_token(token: str, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid socket token; raises SocketTokenError for anything else."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise SocketTokenError("invalid token")
    claims: dict[str, Any] | None = None
    # decode_pinned checks one issuer; a publisher is one of four, each tried against the same
    # signature (a wrong issuer fails only after the signature was found good).
    for issuer in ISSUERS:
        try:
            claims = decode_pinned(token, ring, audience=AUDIENCE, issuer=issuer, require=REGISTERED)
            break
        except pyjwt.InvalidIssuerError:
            continue
        except pyjwt.ExpiredSignatureError:
            raise SocketTokenError("token expired") from None
        except pyjwt.PyJWTError:
            raise SocketTokenError("invalid token") from None
    if claims is None:
        raise SocketTokenError("token issuer is not a known publisher")
    if (
        not isinstance(claims.get("iat"), int)
        or not isinstance(claims.get("exp"), int)
        or claims["exp"] - claims["iat"] > MAX_LIFETIME
    ):
        raise SocketTokenError("token lifetime is longer than one hour")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise SocketTokenError("token has no jti")
    if "channels" in claims:
        _check_prefixes(claims["channels"])
    return claims


def may_publish(claims: dict[str, Any], channel: str) -> bool:
    """May the holder of these (verified) claims post on `channel`?

    `control` (access revocations) is for the app alone; any other channel must start with one of
    the token's `channels` prefixes when it has that claim.
    """
    if channel == CONTROL and claims.get("iss") != SERVER:
        return False
    prefixes = claims.get("channels")
    if prefixes is None:
        return True
    return any(channel.startswith(prefix) for prefix in prefixes)

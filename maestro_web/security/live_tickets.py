"""Live tickets (SPEC §8): what lets a browser's WebSocket connection read some channels.

The app mints a ticket for a logged-in user (or for a visitor of a live share link) with the user
session secret MAESTRO_SECRETJWT, as Maestro's websocket app verifies user tokens; the live server
verifies it here when a browser says hello. `aud` "maestro-websocket-client" keeps a ticket from
being taken for a session token and the other way round. At most 10 minutes, at most 100 channels.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt

from maestro_web.channels import CONTROL, is_channel
from maestro_web.security.signing import (
    REGISTERED,
    KeyRing,
    decode_pinned,
    encode_pinned,
    registered_claims,
    well_formed,
)

CONTEXT = "session"
AUDIENCE = "maestro-websocket-client"
ISSUER = "maestro-server"
MAX_LIFETIME = 600
MAX_CHANNELS = 100
MAX_TOKEN_LENGTH = 16384  # 100 channels of up to 200 characters fit


class TicketError(Exception):
    """The ticket is not valid; the message is safe to show the browser."""


def _channels_ok(channels: object) -> bool:
    return (
        isinstance(channels, list)
        and 0 < len(channels) <= MAX_CHANNELS
        and all(is_channel(c) and c != CONTROL for c in channels)
    )


def issue_ticket(
    ring: KeyRing, *, sub: str | None, channels: list[str], ttl: int = 600, now: float | None = None
) -> tuple[str, datetime]:
    """A ticket for `channels` (1 to 100; `sub` None for a share visitor) and when it expires."""
    if not 0 < ttl <= MAX_LIFETIME:
        raise ValueError(f"live tickets live at most {MAX_LIFETIME} seconds")
    channels = list(dict.fromkeys(channels))
    if not _channels_ok(channels):
        raise ValueError(f"a ticket lists 1 to {MAX_CHANNELS} well-formed channels (never control)")
    if sub is not None and (not isinstance(sub, str) or not sub):
        raise ValueError("sub must be a user's public id or None")
    payload: dict[str, Any] = {
        **registered_claims(issuer=ISSUER, audience=AUDIENCE, ttl=ttl, now=now),
        "channels": channels,
    }
    if sub is not None:
        payload["sub"] = sub
    return encode_pinned(payload, ring), datetime.fromtimestamp(payload["exp"], tz=UTC)


def verify_ticket(token: str, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid ticket; raises TicketError for anything else."""
    if not well_formed(token, MAX_TOKEN_LENGTH):
        raise TicketError("invalid ticket")
    try:
        claims = decode_pinned(token, ring, audience=AUDIENCE, issuer=ISSUER, require=REGISTERED)
    except pyjwt.ExpiredSignatureError:
        raise TicketError("ticket expired") from None
    except pyjwt.PyJWTError:
        raise TicketError("invalid ticket") from None
    if (
        not isinstance(claims.get("iat"), int)
        or not isinstance(claims.get("exp"), int)
        or claims["exp"] - claims["iat"] > MAX_LIFETIME
    ):
        raise TicketError("ticket lifetime is longer than ten minutes")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TicketError("ticket has no jti")
    if "sub" in claims and (not isinstance(claims["sub"], str) or not claims["sub"]):
        raise TicketError("ticket sub is not a user id")
    if not _channels_ok(claims.get("channels")):
        raise TicketError(f"ticket must list 1 to {MAX_CHANNELS} channels")
    return claims

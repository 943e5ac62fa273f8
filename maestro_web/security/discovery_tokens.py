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

from typing import Any

from maestro_web.security import command_tokens
from maestro_web.security.signing import KeyRing

CONTEXT = command_tokens.CONTEXT
AUDIENCE = "maestro-discovery"
ISSUER = command_tokens.ISSUER
MAX_LIFETIME = command_tokens.MAX_LIFETIME
MAX_TOKEN_LENGTH = command_tokens.MAX_TOKEN_LENGTH
MAX_ID_LENGTH = command_tokens.MAX_ID_LENGTH


class CommandTokenError(Exception):
    """The token is not a valid discovery command; the message is safe to show the caller."""


def issue_command_token(
    ring: KeyRing, *, user_id: str, graph_id: str, token_version: int, ttl: int = MAX_LIFETIME, now: float | None = None
) -> str:
    """A command token for `user_id` (whose token version is `token_version`) on `graph_id`, valid
    `ttl` seconds (at most 15 minutes)."""
    return command_tokens.issue(
        ring, audience=AUDIENCE, user_id=user_id, graph_id=graph_id, token_version=token_version, ttl=ttl, now=now
    )


def verify_command_token(token: object, ring: KeyRing) -> dict[str, Any]:
    """The claims of a valid command token; raises CommandTokenError for anything else."""
    return command_tokens.verify(token, ring, audience=AUDIENCE, error=CommandTokenError)

"""Access changes the app announces on the `control` channel, kept long enough to outlive tickets.

`{"user": u}` ends every connection of u; `{"user": u, "channel": c}` ends u's subscription to c;
`{"channel": c}` ends c for everyone. Each also refuses tickets issued at or before the change
(`iat <= at`): a ticket lives at most 10 minutes, so an entry is forgotten after 11.

`at` is when the app made the change (the optional `"at"` of the event, in seconds), not when a
live server heard of it: the app keeps a revocation until a live server takes it (docs/live.md,
"Revocations survive an outage"), and one delivered minutes late must not refuse the tickets that
were rightly issued after it. A claimed time later than the event's arrival is capped at it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from maestro_web.channels import CONTROL, is_channel

REVOKE = "revoke"
KEEP_REVOCATIONS = 660  # seconds: longer than any ticket (600 s) lives


class ControlError(ValueError):
    """A control event that does not say what to revoke; the message names the field."""


# Keep the later of two revocation times: a revocation delivered late never weakens a newer one.
# KEYS[1] the key, ARGV[1] the time (seconds), ARGV[2] the TTL (seconds). Used by the live servers
# and by the app, which writes what it revoked straight to Redis when no live server takes it.
REMEMBER_LATEST_SCRIPT = """
local old = tonumber(redis.call('GET', KEYS[1]) or '-1')
if old == nil or old < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def parse_revoke(event: str, data: Any) -> tuple[str | None, str | None, float | None]:
    """(user, channel, at) of a control event, at least one of user and channel, `at` None when the
    event does not say when; raises ControlError otherwise."""
    if event != REVOKE:
        raise ControlError(f"event: the {CONTROL} channel takes only {REVOKE!r}")
    if not isinstance(data, dict) or set(data) - {"user", "channel", "at"}:
        raise ControlError("data: a revoke takes only user, channel and at")
    at = data.get("at")
    if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or at < 0):
        raise ControlError("data.at: must be the time of the revocation, in seconds since 1970")
    user, channel = data.get("user"), data.get("channel")
    if user is not None and (not isinstance(user, str) or not 0 < len(user) <= 200):
        raise ControlError("data.user: must be a user's public id")
    if channel is not None and (not is_channel(channel) or channel == CONTROL):
        raise ControlError("data.channel: must be a channel name")
    if user is None and channel is None:
        raise ControlError("data: a revoke names a user, a channel or both")
    return user, channel, float(at) if at is not None else None


def effective_time(at: float | None, arrived: float) -> float:
    """When a revocation counts from: the app's time of the change, never later than its arrival."""
    return arrived if at is None else min(at, arrived)


class Revocations:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.users: dict[str, float] = {}
        self.user_channels: dict[tuple[str, str], float] = {}
        self.channels: dict[str, float] = {}

    @staticmethod
    def storage_key(user: str | None, channel: str | None) -> str:
        """The Redis key (after the prefix) under which one revocation is shared between processes."""
        if user is not None and channel is not None:
            return f"revoked:user-channel:{channel}|{user}"
        if user is not None:
            return f"revoked:user:{user}"
        return f"revoked:channel:{channel}"

    def add(self, user: str | None, channel: str | None, at: float) -> None:
        if user is not None and channel is not None:
            key = (user, channel)
            self.user_channels[key] = max(at, self.user_channels.get(key, 0.0))
        elif user is not None:
            self.users[user] = max(at, self.users.get(user, 0.0))
        elif channel is not None:
            self.channels[channel] = max(at, self.channels.get(channel, 0.0))

    @staticmethod
    def parse_stored(stored: dict[str, str]) -> list[tuple[str | None, str | None, float]]:
        """(user, channel, at) of each `storage_key` entry (read from Redis after a (re)connect)."""
        found: list[tuple[str | None, str | None, float]] = []
        for key, value in stored.items():
            try:
                at = float(value)
            except ValueError:
                continue
            if not math.isfinite(at):
                continue
            kind, _, rest = key.removeprefix("revoked:").partition(":")
            if kind == "user":
                found.append((rest, None, at))
            elif kind == "channel":
                found.append((None, rest, at))
            elif kind == "user-channel":
                channel, _, user = rest.partition("|")
                found.append((user, channel, at))
        return found

    def user_refused(self, user: str | None, iat: float) -> bool:
        return user is not None and iat <= self.users.get(user, -1.0)

    def channel_refused(self, user: str | None, channel: str, iat: float) -> bool:
        if iat <= self.channels.get(channel, -1.0):
            return True
        return user is not None and iat <= self.user_channels.get((user, channel), -1.0)

    def prune(self) -> None:
        cutoff = time.time() - self.ttl
        self.users = {k: at for k, at in self.users.items() if at >= cutoff}
        self.user_channels = {k: at for k, at in self.user_channels.items() if at >= cutoff}
        self.channels = {k: at for k, at in self.channels.items() if at >= cutoff}

"""Access changes the app announces on the `control` channel, kept long enough to outlive tickets.

`{"user": u}` ends every connection of u; `{"user": u, "channel": c}` ends u's subscription to c;
`{"channel": c}` ends c for everyone. Each also refuses tickets issued at or before the change
(`iat <= at`): a ticket lives at most 10 minutes, so an entry is forgotten after 11.
"""
from __future__ import annotations

import time
from typing import Any

from maestro_web.live.channels import CONTROL, is_channel

REVOKE = "revoke"


class ControlError(ValueError):
    """A control event that does not say what to revoke; the message names the field."""


def parse_revoke(event: str, data: Any) -> tuple[str | None, str | None]:
    """(user, channel) of a control event, at least one of them; raises ControlError otherwise."""
    if event != REVOKE:
        raise ControlError(f"event: the {CONTROL} channel takes only {REVOKE!r}")
    if not isinstance(data, dict) or set(data) - {"user", "channel"}:
        raise ControlError("data: a revoke takes only user and channel")
    user, channel = data.get("user"), data.get("channel")
    if user is not None and (not isinstance(user, str) or not 0 < len(user) <= 200):
        raise ControlError("data.user: must be a user's public id")
    if channel is not None and (not is_channel(channel) or channel == CONTROL):
        raise ControlError("data.channel: must be a channel name")
    if user is None and channel is None:
        raise ControlError("data: a revoke names a user, a channel or both")
    return user, channel


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

    def load(self, stored: dict[str, str]) -> None:
        """Take in what `storage_key` entries hold (from Redis, after a (re)connect)."""
        for key, value in stored.items():
            try:
                at = float(value)
            except ValueError:
                continue
            kind, _, rest = key.removeprefix("revoked:").partition(":")
            if kind == "user":
                self.add(rest, None, at)
            elif kind == "channel":
                self.add(None, rest, at)
            elif kind == "user-channel":
                channel, _, user = rest.partition("|")
                self.add(user, channel, at)

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

"""The live server's settings: built once from the Flask config at start, then plain data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar
from urllib.parse import urlsplit

from maestro_web.keyring import KeyRing
from maestro_web.live_server.revocations import KEEP_REVOCATIONS
from maestro_web.metrics import DEFAULT_ALLOW
from maestro_web.security import live_tickets, socket_tokens


@dataclass(frozen=True)
class LiveSettings:
    MODULE: ClassVar[str] = "maestro_web.live_server"  # the process: `python -m MODULE`

    socket_ring: KeyRing
    ticket_ring: KeyRing
    origins: frozenset[str]
    redis_url: str | None = None
    redis_prefix: str = "maestro:live:"
    max_connections_per_address: int = 200
    trusted_proxies: int = 0
    ping_interval: float = 20.0  # SPEC §8; MAESTRO_LIVE_PING_INTERVAL, lowered only by the tests
    # SPEC §8 limits; fixed, but kept here so tests and the benchmark can read them.
    hello_timeout: float = 5.0
    max_frame_bytes: int = 4096
    max_frames_per_second: int = 20
    max_publish_bytes: int = 64 * 1024
    history_size: int = 1000  # per channel; SPEC asks for at least 100
    history_ttl: int = 3600  # seconds a quiet channel's history is kept; SPEC asks for at least 300
    revocation_ttl: int = KEEP_REVOCATIONS  # longer than any ticket (600 s) lives
    send_buffer_bytes: int = 1024 * 1024  # unsent bytes one slow connection may hold before it is dropped
    log_level: str = "INFO"
    log_format: str = "text"  # MAESTRO_LOG_FORMAT, as the app's
    metrics_allow: tuple[str, ...] = DEFAULT_ALLOW  # MAESTRO_METRICS_ALLOW: who may read /metrics by address
    metrics_token: str | None = None  # MAESTRO_METRICS_TOKEN: or with this bearer token, from anywhere

    def __repr__(self) -> str:  # the Redis URL may hold a password; the rings print no secret
        return f"LiveSettings(origins={sorted(self.origins)!r}, redis={'on' if self.redis_url else 'off'})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **changes: Any) -> LiveSettings:
        """Read the live server's part of a Flask app.config."""
        base = urlsplit(config["MAESTRO_BASE_URL"])
        origins = {f"{base.scheme}://{base.netloc}".lower(), *config.get("MAESTRO_LIVE_ORIGINS", [])}
        values: dict[str, Any] = {
            "socket_ring": config["KEY_RINGS"][socket_tokens.CONTEXT],
            "ticket_ring": config["KEY_RINGS"][live_tickets.CONTEXT],
            "origins": frozenset(origins),
            "redis_url": config.get("REDIS_URL") or None,
            "redis_prefix": config.get("MAESTRO_LIVE_REDIS_PREFIX", "maestro:live:"),
            "max_connections_per_address": config.get("MAESTRO_LIVE_MAX_CONNECTIONS_PER_ADDRESS", 200),
            "trusted_proxies": config.get("MAESTRO_TRUSTED_PROXIES", 0),
            "ping_interval": float(config.get("MAESTRO_LIVE_PING_INTERVAL", 20)),
            "log_level": config.get("LOG_LEVEL", "INFO"),
            "log_format": config.get("LOG_FORMAT", "text"),
            "metrics_allow": tuple(config.get("MAESTRO_METRICS_ALLOW", DEFAULT_ALLOW)),
            "metrics_token": config.get("MAESTRO_METRICS_TOKEN"),
        }
        values.update(changes)
        return cls(**values)

    def to_json(self) -> str:
        """Everything, secrets included: only for handing over to the server process (a pipe)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("socket_ring", "ticket_ring"):
            ring = values[name]
            values[name] = {"context": ring.context, "current": ring.current, "previous": list(ring.previous)}
        values["origins"] = sorted(self.origins)
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> LiveSettings:
        values = json.loads(text)
        for name in ("socket_ring", "ticket_ring"):
            ring = values[name]
            values[name] = KeyRing(ring["context"], ring["current"], tuple(ring["previous"]))
        values["origins"] = frozenset(values["origins"])
        values["metrics_allow"] = tuple(values.get("metrics_allow", DEFAULT_ALLOW))
        return cls(**values)

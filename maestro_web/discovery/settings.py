"""The discovery service's settings: read once from the app's config by `flask discovery serve`,
then plain data handed to the lean service process over a pipe (never argv or the environment)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from maestro_web.discovery.sealing import SealingError, load_private_key
from maestro_web.keyring import KeyRing
from maestro_web.metrics import DEFAULT_ALLOW
from maestro_web.service_kit import PipedSettings


class SettingsError(RuntimeError):
    """The service cannot start; the message names the variable."""


@dataclass(frozen=True)
class DiscoverySettings(PipedSettings):
    TUPLE_FIELDS = ("private_keys", "aws_endpoints", "metrics_allow")

    app_url: str  # the app's base URL: the service reads inputs and writes results through its /api
    command_ring: KeyRing  # the user session secret's ring: command tokens are verified with it
    socket_ring: KeyRing  # the socket secret's ring: progress events are published with it
    live_publish_url: str
    private_keys: tuple[str, ...] = ()  # the current private key first, then MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS
    aws_endpoints: tuple[str, ...] = ()
    timeout: int = 600
    workers: int = 4
    log_level: str = "INFO"
    log_format: str = "text"  # MAESTRO_LOG_FORMAT, as the app's
    extra: dict[str, Any] = field(default_factory=dict)  # passed to the inference as its settings
    metrics_allow: tuple[str, ...] = DEFAULT_ALLOW  # MAESTRO_METRICS_ALLOW: who may read /metrics by address
    metrics_token: str | None = None  # MAESTRO_METRICS_TOKEN: or with this bearer token, from anywhere

    def __repr__(self) -> str:  # never print a key
        return f"DiscoverySettings(app={self.app_url!r}, workers={self.workers}, timeout={self.timeout})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **changes: Any) -> "DiscoverySettings":
        """The service's part of a Flask app.config; production refuses a missing or reused private key."""
        private = config.get("MAESTRO_DISCOVERY_PRIVATE_KEY")
        previous = tuple(config.get("MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS") or ())
        if config.get("MAESTRO_ENV") == "production":
            check_private_keys(private, previous, config)
        values: dict[str, Any] = {
            "app_url": config["MAESTRO_BASE_URL"].rstrip("/"),
            "command_ring": config["KEY_RINGS"]["session"],
            "socket_ring": config["KEY_RINGS"]["socket"],
            "live_publish_url": config["MAESTRO_LIVE_PUBLISH_URL"],
            "private_keys": tuple(key for key in (private, *previous) if key),
            "aws_endpoints": tuple(config.get("MAESTRO_DISCOVERY_AWS_ENDPOINTS") or ()),
            "timeout": int(config.get("MAESTRO_DISCOVERY_TIMEOUT", 600)),
            "workers": int(config.get("MAESTRO_DISCOVERY_WORKERS", 4)),
            "log_level": config.get("LOG_LEVEL", "INFO"),
            "log_format": config.get("LOG_FORMAT", "text"),
            "metrics_allow": tuple(config.get("MAESTRO_METRICS_ALLOW", DEFAULT_ALLOW)),
            "metrics_token": config.get("MAESTRO_METRICS_TOKEN"),
        }
        values.update(changes)
        return cls(**values)


def check_private_keys(private: str | None, previous: tuple[str, ...], config: Mapping[str, Any]) -> None:
    """Production rules (SPEC §3): the private key is set, is a key, and equals no other secret."""
    if not private:
        raise SettingsError("MAESTRO_DISCOVERY_PRIVATE_KEY is not set; the discovery service needs it in production")
    others: dict[str, str] = {}
    for ring in config["KEY_RINGS"].values():
        for secret in ring.secrets:
            others[secret] = f"the {ring.context} secret"
    public = config.get("MAESTRO_DISCOVERY_PUBLIC_KEY")
    if public:
        others[public] = "MAESTRO_DISCOVERY_PUBLIC_KEY"
    for name, key in (("MAESTRO_DISCOVERY_PRIVATE_KEY", private),
                      *(("MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS", key) for key in previous)):
        try:
            load_private_key(key)
        except (SealingError, ValueError):
            raise SettingsError(f"{name} is not an X25519 private key (32 bytes, base64url)") from None
        if key in others:
            raise SettingsError(f"{name} is equal to {others[key]}; every secret must differ")

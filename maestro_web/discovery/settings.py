"""The discovery service's settings: read once from the app's config by `flask discovery serve`,
then plain data handed to the lean service process over a pipe (never argv or the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maestro_web.channels import GRAPH_PREFIX
from maestro_web.discovery.sealing import SealingError, load_private_key
from maestro_web.service_kit import ServiceSettings


class SettingsError(RuntimeError):
    """The service cannot start; the message names the variable."""


@dataclass(frozen=True)
class DiscoverySettings(ServiceSettings):
    """ServiceSettings, and the keys that open sealed credentials, the crawl's limits and its inference's settings."""

    MODULE = "maestro_web.discovery"
    ISSUER = "maestro-discovery"
    CHANNELS = (GRAPH_PREFIX,)
    WORKERS_CONFIG = "MAESTRO_DISCOVERY_WORKERS"
    TUPLE_FIELDS = ("private_keys", "aws_endpoints", "metrics_allow")

    workers: int = 4
    private_keys: tuple[str, ...] = ()  # the current private key first, then MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS
    aws_endpoints: tuple[str, ...] = ()
    timeout: int = 600
    extra: dict[str, Any] = field(default_factory=dict)  # passed to the inference as its settings

    def __repr__(self) -> str:  # never print a key
        return f"DiscoverySettings(app={self.app_url!r}, workers={self.workers}, timeout={self.timeout})"

    @classmethod
    def config_values(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """ServiceSettings' values and the service's own; production refuses a missing or reused private key."""
        private = config.get("MAESTRO_DISCOVERY_PRIVATE_KEY")
        previous = tuple(config.get("MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS") or ())
        if config.get("MAESTRO_ENV") == "production":
            check_private_keys(private, previous, config)
        return {
            **super().config_values(config),
            "private_keys": tuple(key for key in (private, *previous) if key),
            "aws_endpoints": tuple(config.get("MAESTRO_DISCOVERY_AWS_ENDPOINTS") or ()),
            "timeout": int(config.get("MAESTRO_DISCOVERY_TIMEOUT", 600)),
        }


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
    for name, key in (
        ("MAESTRO_DISCOVERY_PRIVATE_KEY", private),
        *(("MAESTRO_DISCOVERY_PRIVATE_KEY_PREVIOUS", key) for key in previous),
    ):
        try:
            load_private_key(key)
        except (SealingError, ValueError):
            raise SettingsError(f"{name} is not an X25519 private key (32 bytes, base64url)") from None
        if key in others:
            raise SettingsError(f"{name} is equal to {others[key]}; every secret must differ")

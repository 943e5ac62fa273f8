"""The report service's settings: read once from the app's config by `flask reports serve`, then plain
data handed to the lean service process over a pipe (never argv or the environment)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from maestro_web.keyring import KeyRing
from maestro_web.metrics import DEFAULT_ALLOW
from maestro_web.service_kit import PipedSettings


@dataclass(frozen=True)
class ReportSettings(PipedSettings):
    app_url: str  # the app's base URL: the service reads the graph and uploads the file through its /api
    command_ring: KeyRing  # the user session secret's ring: report command tokens are verified with it
    socket_ring: KeyRing  # the socket secret's ring: progress events are published with it
    live_publish_url: str
    workers: int = 2  # reports made at once; a few more wait, then 503
    log_level: str = "INFO"
    log_format: str = "text"  # MAESTRO_LOG_FORMAT, as the app's
    metrics_allow: tuple[str, ...] = DEFAULT_ALLOW  # MAESTRO_METRICS_ALLOW: who may read /metrics by address
    metrics_token: str | None = None  # MAESTRO_METRICS_TOKEN: or with this bearer token, from anywhere

    TUPLE_FIELDS = ("metrics_allow",)

    def __repr__(self) -> str:  # never print a key
        return f"ReportSettings(app={self.app_url!r}, workers={self.workers})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **changes: Any) -> "ReportSettings":
        """The service's part of a Flask app.config."""
        values: dict[str, Any] = {
            "app_url": config["MAESTRO_BASE_URL"].rstrip("/"),
            "command_ring": config["KEY_RINGS"]["session"],
            "socket_ring": config["KEY_RINGS"]["socket"],
            "live_publish_url": config["MAESTRO_LIVE_PUBLISH_URL"],
            "workers": int(config.get("MAESTRO_REPORTS_WORKERS", 2)),
            "log_level": config.get("LOG_LEVEL", "INFO"),
            "log_format": config.get("LOG_FORMAT", "text"),
            "metrics_allow": tuple(config.get("MAESTRO_METRICS_ALLOW", DEFAULT_ALLOW)),
            "metrics_token": config.get("MAESTRO_METRICS_TOKEN"),
        }
        values.update(changes)
        return cls(**values)

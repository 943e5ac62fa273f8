"""The report service's settings: read once from the app's config by `flask reports serve`, then plain
data handed to the lean service process over a pipe (never argv or the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from maestro_web.channels import USER_PREFIX
from maestro_web.service_kit import ServiceSettings


@dataclass(frozen=True)
class ReportSettings(ServiceSettings):
    """ServiceSettings as they are: the report service needs nothing of its own."""

    MODULE = "maestro_web.reports"
    ISSUER = "maestro-reports"
    CHANNELS = (USER_PREFIX,)
    WORKERS_CONFIG = "MAESTRO_REPORTS_WORKERS"

    workers: int = 2  # reports made at once; a few more wait, then 503

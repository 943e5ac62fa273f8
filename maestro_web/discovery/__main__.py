"""The lean discovery service process that `flask discovery serve` turns into (ServiceSettings.exec_service)."""

from __future__ import annotations

from maestro_web.discovery.service import run
from maestro_web.discovery.settings import DiscoverySettings
from maestro_web.service_kit import service_main

if __name__ == "__main__":
    service_main(DiscoverySettings, 5002, run)

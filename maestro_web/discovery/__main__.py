"""The lean discovery service process that `flask discovery serve` turns into (service_kit.exec_service)."""
from __future__ import annotations

from maestro_web.discovery.service import run
from maestro_web.discovery.settings import DiscoverySettings
from maestro_web.service_kit import service_main

if __name__ == "__main__":
    service_main("maestro_web.discovery", 5002, DiscoverySettings.from_json, run)

"""The lean report service process that `flask reports serve` turns into (service_kit.exec_service)."""
from __future__ import annotations

from maestro_web.reports.service import run
from maestro_web.reports.settings import ReportSettings
from maestro_web.service_kit import service_main

if __name__ == "__main__":
    service_main("maestro_web.reports", 5003, ReportSettings.from_json, run)

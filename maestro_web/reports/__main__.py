"""The lean report service process that `flask reports serve` turns into (ServiceSettings.exec_service)."""

from __future__ import annotations

from maestro_web.reports.service import run
from maestro_web.reports.settings import ReportSettings
from maestro_web.service_kit import service_main

if __name__ == "__main__":
    service_main(ReportSettings, 5003, run)

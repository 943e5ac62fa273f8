"""The lean discovery service process that `flask discovery serve` turns into (service.exec_service)."""
from __future__ import annotations

import argparse
import os

from maestro_web.discovery.service import run
from maestro_web.discovery.settings import DiscoverySettings
from maestro_web.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m maestro_web.discovery",
                                     description="Run by `flask discovery serve`; reads its settings from a pipe.")
    parser.add_argument("--settings-fd", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--no-live", action="store_true")
    args = parser.parse_args()
    with os.fdopen(args.settings_fd, "r") as pipe:
        settings = DiscoverySettings.from_json(pipe.read())
    configure_logging(settings.log_level, settings.log_format)
    run(settings, args.host, args.port, live=not args.no_live)


if __name__ == "__main__":
    main()

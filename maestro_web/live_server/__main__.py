"""The lean live server process that `flask live serve` turns into (see server.exec_server)."""

from __future__ import annotations

import argparse
import os

from maestro_web.live_server.server import run
from maestro_web.live_server.settings import LiveSettings
from maestro_web.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m maestro_web.live_server",
        description="Run by `flask live serve`; reads its settings from a pipe.",
    )
    parser.add_argument("--settings-fd", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    with os.fdopen(args.settings_fd, "r") as pipe:
        settings = LiveSettings.from_json(pipe.read())
    configure_logging(settings.log_level, settings.log_format)
    run(settings, args.host, args.port)


if __name__ == "__main__":
    main()

"""`flask live serve`: the live server's command (SPEC §7, §8)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

live_cli = AppGroup("live", help="The live-events server (WebSocket /live, POST /publish).")


@live_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve live events until Ctrl-C."""
    from maestro_web.live_server.server import exec_server
    from maestro_web.live_server.settings import LiveSettings

    # Settings are read once here, from the app's config; then this process becomes a lean asyncio
    # server that never touches the Flask app again.
    exec_server(LiveSettings.from_config(current_app.config), host, port)

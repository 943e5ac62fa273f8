"""Entry point: `flask run` finds `app` here, gunicorn serves `app:app`."""

import sys

from maestro_web import ConfigError, create_app


def _generating_keys() -> bool:
    """`flask keys generate` is how a bad secret gets replaced, so it must run with a bad configuration."""
    return sys.argv[1:3] == ["keys", "generate"]


try:
    app = create_app()
except ConfigError as exc:
    if not _generating_keys():
        # One clear line naming the variable, instead of a traceback.
        sys.exit(f"Maestro Web cannot start: {exc}")
    import click
    from flask import Flask

    from maestro_web.cli import generate_keys

    app = Flask(__name__)  # nothing but the one command that needs no configuration
    keys = click.Group("keys", help="Generate secrets (the configuration is unusable: nothing else runs).")
    keys.add_command(generate_keys)
    app.cli.add_command(keys)

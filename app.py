"""Entry point: `flask run` finds `app` here, gunicorn serves `app:app`."""
import sys

from maestro_web import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    # One clear line naming the variable, instead of a traceback.
    sys.exit(f"Maestro Web cannot start: {exc}")

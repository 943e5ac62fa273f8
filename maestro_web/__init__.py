"""Maestro Web: dependency graphs, an analytics worker, and expiring public share links.

Importing this package imports nothing else: the worker (`maestro_web.worker`) and the live server
(`maestro_web.live_server`) live in it without pulling in Flask, the database layer or the app's config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from maestro_web.config import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["ConfigError", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "ConfigError":  # `from maestro_web import ConfigError`, without importing config eagerly
        from maestro_web.config import ConfigError

        return ConfigError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error handlers, commands."""
    from flask import Flask

    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    load_configuration(app, config, environ)
    register_request_ids(app)  # first, so every later hook and view logs with the request's id
    register_extensions(app)
    register_blueprints(app)
    _words(app)  # status words and relative times for every template
    register_error_handlers(app)
    register_strict_input(app)
    register_security_headers(app)
    register_commands(app)
    return app


def load_configuration(app: Flask, config: Mapping[str, Any] | None, environ: Mapping[str, str] | None) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from maestro_web.config import load_settings
    from maestro_web.logs import configure_logging

    instance = (config or {}).get("INSTANCE_PATH") or app.instance_path
    app.instance_path = str(instance)  # one instance folder for secrets, SQLite and the mail outbox
    app.config.update(load_settings(os.environ if environ is None else environ, instance, config))
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    from maestro_web.redispatch import Redispatch

    # A request whose database connection was terminated before it committed anything runs once more.
    app.wsgi_app = Redispatch(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])  # type: ignore[method-assign]
    hops = app.config["MAESTRO_TRUSTED_PROXIES"]
    if hops:
        # Trust exactly this many proxies for the client address, scheme and host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_request_ids(app: Flask) -> None:
    from maestro_web import receipts, redispatch
    from maestro_web.request_ids import init_app

    init_app(app)
    receipts.init_app(app)  # behind nginx: a write nginx sends again is answered from its receipt
    redispatch.init_app(app)


def register_extensions(app: Flask) -> None:
    from maestro_web import live_events
    from maestro_web.extensions import csrf, db, jwt, limiter, migrate
    from maestro_web.security import session_jwt
    from maestro_web.security.cookie_sessions import CookieSessionInterface
    from maestro_web.web import rate_limits

    app.session_interface = CookieSessionInterface()
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    jwt.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    rate_limits.init_app(app)  # fail closed (503) when the limiter's Redis is down
    session_jwt.init_app(app)
    live_events.init_app(app)


def register_blueprints(app: Flask) -> None:
    from maestro_web.api import api_auth_bp, api_bp, discovery_command_bp
    from maestro_web.auth import account_bp, auth_bp
    from maestro_web.extensions import csrf
    from maestro_web.graphs import graphs_bp
    from maestro_web.ingest import ingest_bp
    from maestro_web.live_pages import live_bp
    from maestro_web.main import main_bp
    from maestro_web.monitoring import monitoring_bp
    from maestro_web.public import public_bp
    from maestro_web.report_pages import report_mail_bp, reports_bp
    from maestro_web.shares import shares_bp
    from maestro_web.source_pages import sources_bp

    for blueprint in (
        main_bp,
        auth_bp,
        account_bp,
        graphs_bp,
        shares_bp,
        sources_bp,
        reports_bp,
        public_bp,
        live_bp,
        monitoring_bp,
    ):
        app.register_blueprint(blueprint)
    # The JSON API and the worker endpoints never read cookies (tokens travel in Authorization),
    # so there is no ambient credential for a cross-site request to ride on: CSRF has nothing to protect.
    for blueprint in (api_auth_bp, api_bp, discovery_command_bp, ingest_bp):
        csrf.exempt(blueprint)
        app.register_blueprint(blueprint)
    # The weekly report's unsubscribe link: mail clients post it in one click with no form (RFC 8058);
    # its random code is all it takes and all it can do (unsubscribe that one reader).
    csrf.exempt(report_mail_bp)
    app.register_blueprint(report_mail_bp)


def _words(app: Flask) -> None:
    from maestro_web.web.words import init_app

    init_app(app)


def register_error_handlers(app: Flask) -> None:
    from maestro_web.errors import register_error_handlers as register
    from maestro_web.web import guards

    register(app)
    guards.init_app(app)  # the guards' refusals: login page, 401 JSON, 400 page


def register_strict_input(app: Flask) -> None:
    """Strict JSON in and out, and no NUL in paths, query strings or forms: bad input is a 400, never a 500."""
    from maestro_web.web.strict_input import init_app as register

    register(app)


def register_security_headers(app: Flask) -> None:
    from flask import Response

    from maestro_web.web.headers import app_security_headers

    headers = app_security_headers(app.config["MAESTRO_LIVE_URL"])
    if app.config["MAESTRO_ENV"] == "production":
        headers["Strict-Transport-Security"] = "max-age=31536000"

    @app.after_request
    def _headers(response: Response) -> Response:
        # What a view set itself wins; the rest is added in one pass (setdefault per name searched
        # the headers case-insensitively each time: ~7 % of the public view's CPU, measured).
        present = {name.lower() for name in response.headers.keys()}
        response.headers.extend([(name, value) for name, value in headers.items() if name.lower() not in present])
        if "frame-ancestors 'none'" not in response.headers["Content-Security-Policy"]:
            # An embeddable share link: its CSP names the origins that may frame it.
            response.headers.pop("X-Frame-Options", None)
        return response


def register_commands(app: Flask) -> None:
    from maestro_web.cli import register

    register(app)

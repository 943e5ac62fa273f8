"""Errors in one place: an HTML page for people, a JSON body for programs (SPEC §7).

Every JSON error has the shape {"error": <code name>, "message": ..., ["fields": {...}]}.
Never a stack trace, never a 200 for an error.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Blueprints whose every answer is JSON, whatever the Accept header says.
JSON_BLUEPRINTS = {"api", "api_auth", "analytics_worker"}

ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def wants_json() -> bool:
    """JSON for the API blueprints and for clients that prefer it over HTML."""
    if request.blueprint in JSON_BLUEPRINTS or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def json_error(
    status: int, message: str, fields: dict[str, Any] | None = None, error: str | None = None
) -> Response:
    body: dict[str, Any] = {"error": error or ERROR_NAMES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def error_page(status: int, message: str, title: str | None = None, template: str = "errors/error.html") -> Response:
    html = render_template(template, status=status, title=title or TITLES.get(status, "Error"), message=message)
    return Response(html, status=status, mimetype="text/html")


def error_response(status: int, message: str, fields: dict[str, Any] | None = None) -> Response:
    """The error as the client wants it: JSON or an HTML page."""
    if wants_json():
        return json_error(status, message, fields)
    return error_page(status, message)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response:
        return error_response(400, "This form has expired or did not come from this site. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = error_response(status, exc.description or TITLES.get(status, "Error"))
        # Keep headers the exception carries (Allow on 405, Retry-After on 429/503).
        if exc.response is None:
            for name, value in exc.get_headers():
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        from maestro_web.extensions import db

        db.session.rollback()  # the transaction is abandoned whole: nothing half-written
        log.error("Database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        response = error_response(503, "The database is unavailable right now. Please retry shortly.")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from maestro_web.extensions import db

        db.session.rollback()  # leave nothing half-written behind
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on our side. Please try again.")

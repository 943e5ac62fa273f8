"""Errors in one place: an HTML page for people, a JSON body for programs (SPEC §7).

Every JSON error has the shape {"error": <code name>, "message": ..., ["fields": {...}]}.
Never a stack trace, never a 200 for an error.
"""
from __future__ import annotations

import logging
import traceback
from typing import Any, Mapping, Sequence

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError, StatementError
from werkzeug.exceptions import HTTPException

from maestro_web.metrics import app as app_metrics
from maestro_web.redispatch import ask_again_if_terminated

log = logging.getLogger(__name__)

# Blueprints whose every answer is JSON, whatever the Accept header says.
JSON_BLUEPRINTS = {"api", "api_auth", "ingest", "discovery_command"}

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


class ValidationFailed(Exception):
    """Input that cannot be accepted. Raised by validation anywhere; answered here, in one shape.

    `fields` maps each input name at fault to its problem (a message, or a list of messages for a
    field with several, such as a spec with errors on several lines). `extra` adds members to the
    body (e.g. `spec_lines`). Status 422 by default; 400 when the body itself is unreadable, 413
    when it is too large, 415 when it is not JSON.
    """

    def __init__(self, message: str, fields: dict[str, Any] | None = None, status: int = 422,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status
        self.extra = extra or {}

    @classmethod
    def for_fields(cls, fields: dict[str, Any], status: int = 422, extra: dict[str, Any] | None = None) -> "ValidationFailed":
        """The usual 422: "Invalid fields: a, b." with each field's problem."""
        return cls("Invalid fields: " + ", ".join(sorted(fields)) + ".", fields, status, extra)


def wants_json() -> bool:
    """JSON for the API blueprints and for clients that prefer it over HTML."""
    if request.blueprint in JSON_BLUEPRINTS or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def json_error(
    status: int, message: str, fields: dict[str, Any] | None = None, error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The one builder of every JSON error body: {"error", "message"[, "fields"]}."""
    body: dict[str, Any] = {"error": error or ERROR_NAMES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    if extra:
        body.update({key: value for key, value in extra.items() if key not in body})
    response = jsonify(body)
    response.status_code = status
    return response


def error_page(status: int, message: str, title: str | None = None, *, public: bool = False, embed: bool = False,
               links: Sequence[tuple[str, str, str]] | None = None, show_status: bool = True,
               watch: Mapping[str, Any] | None = None) -> Response:
    """The one builder of every HTML error page (templates/errors/error.html).

    `public` for a share link's visitor (no site navigation, no link into the site), `embed` for a
    page inside someone else's iframe (no top bar), `links` for the ways on as (href, label, class),
    `watch` for a refusal that may end (a paused link): `{"state_url", "poll"}`, which the page checks
    by itself (static/link-state.js) to come back when it does.
    """
    html = render_template("errors/error.html", status=status, title=title or TITLES.get(status, "Error"),
                           message=message, public=public, embed=embed, links=links, show_status=show_status,
                           watch=watch)
    return Response(html, status=status, mimetype="text/html")


def error_response(status: int, message: str, fields: dict[str, Any] | None = None) -> Response:
    """The error as the client wants it: JSON or an HTML page."""
    if wants_json():
        return json_error(status, message, fields)
    return error_page(status, message)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ValidationFailed)
    def _validation_failed(exc: ValidationFailed) -> Response:
        from maestro_web.extensions import db

        db.session.rollback()  # refused input leaves nothing half-done
        if wants_json():
            return json_error(exc.status, exc.message, exc.fields, extra=exc.extra)
        detail = "; ".join(f"{name}: {problem if isinstance(problem, str) else ' '.join(problem)}"
                           for name, problem in exc.fields.items())
        return error_page(exc.status, f"{exc.message} {detail}".strip() if detail else exc.message)

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
        if ask_again_if_terminated(exc):  # a terminated connection, nothing committed: the request runs again
            return error_response(503, "The database connection was ended; this request runs again.")
        log.error("Database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        app_metrics.database_error("unavailable")
        response = error_response(503, "The database is unavailable right now. Please retry shortly.")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(DataError)
    def _data_error(exc: DataError) -> Response:
        """A value the database refused (out of range, NUL, bad encoding) that validation let through.

        Validation should have named the field; this is the safety net that keeps such input a
        client error. The statement's parameters are never logged (hide_parameters on the engine).
        """
        from maestro_web.extensions import db

        db.session.rollback()
        log.warning("Database refused a value on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        app_metrics.database_error("invalid_value")
        return error_response(422, "A value in the request cannot be stored (out of range or invalid characters).")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from maestro_web.extensions import db

        db.session.rollback()  # leave nothing half-written behind
        if isinstance(exc, StatementError):
            # A database's message can quote the row it refused ("Failing row contains (..., <hash>)"),
            # so only the error's class and where it happened are logged, never its text.
            cause = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
            app_metrics.database_error("statement")
            log.error("Unhandled database error on %s %s: %s\n%s", request.method, request.path, cause,
                      "".join(traceback.format_tb(exc.__traceback__)))
        else:
            log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on our side. Please try again.")

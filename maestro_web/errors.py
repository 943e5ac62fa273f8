"""Errors in one place: an HTML page for people, a JSON body for programs (SPEC §7).

Every JSON error has the shape {"error": <code name>, "message": ..., ["fields": {...}]}.
Never a stack trace, never a 200 for an error.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError, StatementError
from werkzeug.exceptions import HTTPException

from maestro_web.metrics import app as app_metrics
from maestro_web.redispatch import ask_again_if_terminated
from maestro_web.refusals import Kind, Refused, ValidationFailed

__all__ = [
    "ERROR_NAMES",
    "STATUSES",
    "TITLES",
    "ValidationFailed",
    "error_page",
    "error_response",
    "json_error",
    "refused_response",
    "register_error_handlers",
    "status_of",
    "wants_json",
]

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


# Each kind of refusal (maestro_web/refusals.py) and the HTTP status it is answered with: the one place.
STATUSES = {
    Kind.INVALID: 422,
    Kind.BAD_REQUEST: 400,
    Kind.NOT_FOUND: 404,
    Kind.FORBIDDEN: 403,
    Kind.CONFLICT: 409,
    Kind.TOO_LARGE: 413,
    Kind.UNSUPPORTED: 415,
    Kind.TOO_MANY: 429,
}


def status_of(refused: Refused) -> int:
    """The HTTP status of a refusal (for a page that shows it on a form it re-renders)."""
    return STATUSES[refused.kind]


def wants_json() -> bool:
    """JSON for the API blueprints and for clients that prefer it over HTML."""
    if request.blueprint in JSON_BLUEPRINTS or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def json_error(
    status: int,
    message: str,
    fields: dict[str, Any] | None = None,
    error: str | None = None,
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


def error_page(
    status: int,
    message: str,
    title: str | None = None,
    *,
    public: bool = False,
    embed: bool = False,
    links: Sequence[tuple[str, str, str]] | None = None,
    show_status: bool = True,
    watch: Mapping[str, Any] | None = None,
) -> Response:
    """The one builder of every HTML error page (templates/errors/error.html).

    `public` for a share link's visitor (no site navigation, no link into the site), `embed` for a
    page inside someone else's iframe (no top bar), `links` for the ways on as (href, label, class),
    `watch` for a refusal that may end (a paused link): `{"state_url", "poll"}`, which the page checks
    by itself (static/link-state.js) to come back when it does.
    """
    html = render_template(
        "errors/error.html",
        status=status,
        title=title or TITLES.get(status, "Error"),
        message=message,
        public=public,
        embed=embed,
        links=links,
        show_status=show_status,
        watch=watch,
    )
    return Response(html, status=status, mimetype="text/html")


def error_response(status: int, message: str, fields: dict[str, Any] | None = None) -> Response:
    """The error as the client wants it: JSON or an HTML page."""
    if wants_json():
        return json_error(status, message, fields)
    return error_page(status, message)


def refused_response(refused: Refused, as_json: bool | None = None) -> Response:
    """A refusal as the client wants it (or as `as_json` says): the one mapping of the Refused family.

    JSON: {"error", "message"[, "fields"]} plus the refusal's `extra`; HTML: the error page, whose
    message lists each field's problem when several inputs were checked at once (ValidationFailed).
    A refusal that knows when to try again carries Retry-After.
    """
    status = status_of(refused)
    if wants_json() if as_json is None else as_json:
        response = json_error(status, refused.message, refused.fields, extra=refused.extra)
    elif isinstance(refused, ValidationFailed) and refused.fields:
        detail = "; ".join(
            f"{name}: {problem if isinstance(problem, str) else ' '.join(problem)}"
            for name, problem in refused.fields.items()
        )
        response = error_page(status, f"{refused.message} {detail}".strip())
    else:
        response = error_page(status, refused.message)
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Response:
        from maestro_web.extensions import db

        db.session.rollback()  # a refusal leaves nothing half-done
        return refused_response(exc)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response:
        return error_response(
            400, "This form has expired or did not come from this site. Reload the page and try again."
        )

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
            log.error(
                "Unhandled database error on %s %s: %s\n%s",
                request.method,
                request.path,
                cause,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
        else:
            log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on our side. Please try again.")

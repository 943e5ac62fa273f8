"""Hostile input stops at the door: no NUL reaches the database, no JSON surprises (SPEC §7).

- every JSON body Flask reads goes through `safe_json.loads_strict` (deep nesting, NaN/Infinity,
  NUL, lone surrogates are a 400 naming where, never a RecursionError or a database error);
- JSON the app writes is always valid JSON (a non-finite number becomes null, never `NaN`);
- OPTIONS gets Flask's automatic answer (the `Allow` header) before any guard runs;
- the path, the query string and form fields are checked for NUL characters before any view
  runs, so `/graphs/%00`, a login form or a search with a NUL answers 400 naming the field on
  every database (PostgreSQL text cannot hold NUL, SQLite would store it silently).
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider

from maestro_web.refusals import Kind, ValidationFailed
from maestro_web.safe_json import loads_strict, text_problem

# The worker blueprint reads its own body, after its size check (413 before a byte is read).
_OWN_BODY_READERS = {"ingest"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# A discovery source's input may be larger than any other body (OTLP traces up to 50 MiB, SPEC §11):
# these endpoints get their own limit before the form is read; the view then applies the kind's.
LARGE_UPLOAD_ENDPOINTS = {"api.create_source_route", "api.patch_source", "sources.create", "sources.update"}
LARGE_UPLOAD_BYTES = 72 * 1024 * 1024  # 50 MiB of text as escaped JSON, or a form with the file


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, strict on the way in and valid on the way out."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        # An UnsafeJSON is a ValueError: request.get_json() answers 400 with its message.
        return loads_strict(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return super().dumps(obj, allow_nan=False, **kwargs)
        except ValueError:
            # A non-finite float stored before input was checked: write null rather than `NaN`.
            return super().dumps(_finite(obj), allow_nan=False, **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def answer_options() -> Response | None:
    """OPTIONS is answered by Flask's automatic `Allow` response before any guard or view runs:
    it reveals nothing but the methods, and the API's token guard has no user to find for it."""
    rule = request.url_rule
    if request.method == "OPTIONS" and rule is not None and getattr(rule, "provide_automatic_options", False):
        return current_app.make_default_options_response()
    return None


def reject_unsafe_request() -> None:
    """Refuse a NUL (or a lone surrogate) in the path, the query string or a form field: 400."""
    if request.endpoint in LARGE_UPLOAD_ENDPOINTS:
        if request.content_length is not None and request.content_length > LARGE_UPLOAD_BYTES:
            raise ValidationFailed.for_fields(
                {
                    "input": f"The upload is larger than {LARGE_UPLOAD_BYTES // 2**20} MiB;"
                    " at most 50 MiB for an otlp source."
                },
                kind=Kind.TOO_LARGE,
            )
        request.max_content_length = LARGE_UPLOAD_BYTES
        request.max_form_memory_size = 8 * 1024 * 1024  # a pasted Kubernetes manifest (5 MiB) in a textarea
    problem = text_problem(request.path)
    if problem:
        raise ValidationFailed(f"The address {problem}.", {"path": problem}, kind=Kind.BAD_REQUEST)
    fields: dict[str, str] = {}
    for name, value in request.args.items(multi=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            fields[_safe_name(name)] = problem
    if request.blueprint not in _OWN_BODY_READERS and request.mimetype in _FORM_TYPES:
        for name, value in request.form.items(multi=True):
            problem = text_problem(name) or text_problem(value)
            if problem:
                fields[_safe_name(name)] = problem
    if fields:
        raise ValidationFailed.for_fields(fields, kind=Kind.BAD_REQUEST)


def _safe_name(name: str) -> str:
    return name.replace("\x00", "?")


def init_app(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    app.before_request(reject_unsafe_request)
    app.before_request(answer_options)

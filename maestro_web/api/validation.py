"""Reading JSON bodies with errors that name the field (422 {"error", "message", "fields"})."""
from __future__ import annotations

from typing import Any, Iterable

from flask import Response, request

from maestro_web.errors import json_error


def json_body(required: Iterable[str] = ()) -> tuple[dict[str, Any], Response | None]:
    """The request's JSON object, or a 415/400/422 answer naming what is wrong."""
    if not request.is_json:
        return {}, json_error(415, "Send a JSON body with Content-Type: application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {}, json_error(400, "The body must be a JSON object.")
    fields = {
        name: "This field is required."
        for name in required
        if not isinstance(body.get(name), str) or not body.get(name).strip()
    }
    if fields:
        return body, json_error(422, "Missing or invalid fields: " + ", ".join(sorted(fields)) + ".", fields=fields)
    return body, None

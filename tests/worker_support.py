"""Posting a worker result as the reference worker does: with a token bound to the run and to the
exact bytes of the body (worker_tokens.mint_result_token)."""

from __future__ import annotations

import json as jsonlib
from typing import Any
from urllib.parse import urlencode

from maestro_web.security.signing import KeyRing
from maestro_web.security.worker_tokens import mint_result_token


def encoded(json: Any = None, data: dict[str, Any] | bytes | str | None = None) -> tuple[bytes, str]:
    """The request body and its Content-Type, as the test client would send them."""
    if json is not None:
        return jsonlib.dumps(json).encode(), "application/json"
    if isinstance(data, dict):
        return urlencode(data).encode(), "application/x-www-form-urlencoded"
    return (data.encode() if isinstance(data, str) else data or b""), "application/json"


def post_result(
    client: Any,
    ring: KeyRing,
    graph_id: str,
    *,
    json: Any = None,
    data: dict[str, Any] | bytes | str | None = None,
    run_id: str | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /analytics/graphs with a token bound to this body and its run_id (or `run_id`)."""
    body, kind = encoded(json, data)
    if run_id is None:
        source = json if json is not None else data if isinstance(data, dict) else {}
        run_id = str(source.get("run_id", "")) if isinstance(source, dict) else ""
    token = mint_result_token(ring, graph_id, run_id or "-", body)
    return client.post(
        "/analytics/graphs",
        data=body,
        content_type=content_type or kind,
        headers={"Authorization": f"JWT {token}", **(headers or {})},
    )

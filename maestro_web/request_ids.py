"""The app's side of request ids and request lines (docs/operations.md, "Logs").

Each request keeps a well-formed incoming `X-Request-ID` (nginx sends its `$request_id`) or gets a
new one; the id is answered in the same header, stamped on every log line written while the request
runs, and sent along with the live events it publishes. In the JSON format each request also ends
with one line carrying its route template (never the URL: a share link's token is in the query),
status and duration.
"""

from __future__ import annotations

import logging
import time
from contextvars import Token

from flask import Flask, Response, g, request

from maestro_web.logs import REQUEST_ID_HEADER, accept_request_id, request_id_var, route_var

log = logging.getLogger("maestro_web.request")


def init_app(app: Flask) -> None:
    json_lines = app.config.get("LOG_FORMAT") == "json"
    behind_proxy = bool(app.config["MAESTRO_TRUSTED_PROXIES"])

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = accept_request_id(incoming)
        # The proxy's own id (nginx replaces any a client sent), the same on nginx's retry of this
        # request to another instance: receipts.py and the view count key on it. Only the proxy's.
        g.proxy_request_id = g.request_id if behind_proxy and g.request_id == incoming else None
        rule = request.url_rule.rule if request.url_rule is not None else None
        g.request_context_tokens = (request_id_var.set(g.request_id), route_var.set(rule))

    @app.after_request
    def _answer(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is None:  # a request refused before our hook ran
            return response
        response.headers[REQUEST_ID_HEADER] = request_id
        if json_lines and log.isEnabledFor(logging.INFO):
            duration = (time.perf_counter() - g.request_started) * 1000
            method = request.method
            # The record is made here, not by log.info(), whose findCaller() walks the stack for a
            # file and line that no format prints (an eighth of the line's cost, on every request).
            log.handle(
                log.makeRecord(
                    log.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s %s",
                    (method, route_var.get() or "(no route)"),
                    None,
                    extra={"method": method, "status": response.status_code, "duration_ms": round(duration, 2)},
                )
            )
        return response

    @app.teardown_request
    def _forget(_error: BaseException | None) -> None:
        tokens: tuple[Token[str | None], Token[str | None]] | None = g.pop("request_context_tokens", None)
        if tokens is not None:
            try:
                request_id_var.reset(tokens[0])
                route_var.reset(tokens[1])
            except ValueError:  # set in another context (a copied one): nothing of ours to undo
                request_id_var.set(None)
                route_var.set(None)


def trusted_request_id() -> str | None:
    """nginx's id for this request when the app sits behind a proxy it trusts (MAESTRO_TRUSTED_PROXIES),
    which sets the header itself; None otherwise (the id is then only the client's word)."""
    return g.get("proxy_request_id")

"""What the app relies on in Flask-Limiter past its public API (maestro_web/web/limiter_private.py).
An upgrade that changes any of it fails here, saying what to look at, instead of quietly sharing
counters between apps or sending a database outage's answer with an hour's Retry-After."""

from __future__ import annotations

import flask_limiter
from flask import Flask, Response
from flask_limiter import Limiter

from maestro_web.web.limiter_private import around_limiter_headers, limiter_headers_function, set_key_prefix

UPGRADE = "Flask-Limiter changed: check maestro_web/web/limiter_private.py against it"


def limited_app(limiter: Limiter, prefix: str) -> Flask:
    app = Flask(f"app_{prefix}")
    app.config.update(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_KEY_PREFIX=prefix,
        RATELIMIT_HEADERS_ENABLED=True,
    )

    @app.get("/limited", endpoint="limited")
    @limiter.limit("5 per minute")
    def limited() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"Retry-After": "5"}  # the wait the app chose (e.g. a database outage's)

    limiter.init_app(app)
    return app


def test_the_version_these_were_checked_against():
    assert flask_limiter.__version__.split(".")[0] == "4", UPGRADE


def test_a_second_app_keeps_the_first_prefix_unless_set_key_prefix_writes_its_own():
    limiter = Limiter(key_func=lambda: "client")
    limited_app(limiter, "first")
    second = limited_app(limiter, "second")
    assert getattr(limiter, "_key_prefix", None) == "first", UPGRADE  # why set_key_prefix exists
    set_key_prefix(limiter, "second")
    assert second.test_client().get("/limited").status_code == 200
    stored = {
        prefix: limiter.storage.get(f"LIMITER/{prefix}/client/limited/5/1/minute") for prefix in ("first", "second")
    }
    assert stored == {"first": 0, "second": 1}, UPGRADE


def test_the_app_notes_retry_after_just_before_the_limiters_headers_and_restores_it_after_all():
    limiter = Limiter(key_func=lambda: "client")
    app = limited_app(limiter, "order")
    seen: dict[str, str | None] = {}

    def before(response: Response) -> Response:
        seen["before"] = response.headers.get("Retry-After")
        return response

    def after(response: Response) -> Response:
        seen["after"] = response.headers.get("Retry-After")
        return response

    around_limiter_headers(app, before, after)
    functions = app.after_request_funcs[None]
    assert functions[0] is after and functions[-1] is before
    assert limiter_headers_function(app) in functions[1:-1], UPGRADE
    assert app.test_client().get("/limited").status_code == 200
    # The limiter still writes the end of its window over the app's wait on a 200: the reason for both.
    assert seen["before"] == "5" and seen["after"] not in (None, "5"), (seen, UPGRADE)

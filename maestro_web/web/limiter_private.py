"""The app's two reaches into Flask-Limiter (4.x) past its public API, in one place: an upgrade has
this module to check, and tests/test_limiter_private.py fails loudly when one changes what they rely on.
Both also refuse at start-up (RuntimeError) rather than go quietly wrong.

- `set_key_prefix`: one Limiter object serves every app this process builds (the tests build hundreds),
  and Flask-Limiter's init_app keeps the first app's RATELIMIT_KEY_PREFIX for good (`self._key_prefix
  or config[...]`); each app gets its own, written after init_app.
- `around_limiter_headers`: Flask-Limiter's after-request function (registered by init_app) writes
  Retry-After on every answer of a limited endpoint; the app notes its own value just before it runs
  and restores it just after. Flask has no public way to place an after-request function: it runs them
  last-registered first, so `before` is registered after init_app and `after` is put first in the list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from flask_limiter import Limiter

AfterRequest = Callable[[Response], Response]


def set_key_prefix(limiter: Limiter, prefix: str) -> None:
    """Make `prefix` the prefix of every key `limiter` stores from now on."""
    if not hasattr(limiter, "_key_prefix"):
        raise RuntimeError("Flask-Limiter has no _key_prefix any more: see maestro_web/web/limiter_private.py")
    limiter._key_prefix = prefix


def limiter_headers_function(app: Flask) -> Any:
    """Flask-Limiter's after-request function in `app` (the one that writes its headers), or None."""
    for function in app.after_request_funcs.get(None, []):
        if isinstance(function, functools.partial) and function.func is getattr(
            Limiter, "_Limiter__inject_headers", None
        ):
            return function
    return None


def around_limiter_headers(app: Flask, before: AfterRequest, after: AfterRequest) -> None:
    """Run `before` just before Flask-Limiter writes its headers and `after` after everything else.
    Call right after `limiter.init_app(app)` (which registers nothing when RATELIMIT_ENABLED is off)."""
    if app.config.get("RATELIMIT_ENABLED", True) and limiter_headers_function(app) is None:
        raise RuntimeError(
            "Flask-Limiter's header function is not where it was: see maestro_web/web/limiter_private.py"
        )
    app.after_request(before)
    app.after_request_funcs.setdefault(None, []).insert(0, after)

"""Every rate limit of the app, in one place.

Logging in (HTML form, token API, Maestro's /users/auth) shares one budget per client address and
one per account, so a guesser cannot multiply it by switching endpoints. Password reset requests
have a budget per client and per e-mail address; failed share tokens one per client address.
"""
from __future__ import annotations

import math
import time
from typing import Callable, TypeVar

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import parse_many

from maestro_web.extensions import limiter
from maestro_web.models.user import normalize_email

F = TypeVar("F", bound=Callable)


def _account_key() -> str:
    data = request.get_json(silent=True) if request.is_json else request.form
    email = data.get("email") if isinstance(data, dict) or hasattr(data, "get") else None
    return "account:" + normalize_email(email if isinstance(email, str) else "")


def login_rate_limits(view: F) -> F:
    """Per-IP and per-account limits on POSTs to a login-like endpoint (429 + Retry-After)."""
    view = limiter.shared_limit(
        lambda: current_app.config["MAESTRO_ACCOUNT_RATE_LIMIT"],
        scope="login-account",
        key_func=_account_key,
        methods=["POST"],
    )(view)
    view = limiter.shared_limit(
        lambda: current_app.config["MAESTRO_LOGIN_RATE_LIMIT"], scope="login-ip", methods=["POST"]
    )(view)
    return view


def _forgot_address_key() -> str:
    email = request.form.get("email")
    return "forgot:" + normalize_email(email if isinstance(email, str) else "")


def forgot_rate_limits(view: F) -> F:
    """Per-IP and per-address limits on reset requests: no mail bombing of one address, no
    sweeping of many. The per-address budget applies to every address, known or not, so a 429
    says nothing about whether an account exists."""
    view = limiter.limit(
        lambda: current_app.config["MAESTRO_FORGOT_ADDRESS_RATE_LIMIT"],
        scope="forgot-address",
        key_func=_forgot_address_key,
        methods=["POST"],
    )(view)
    view = limiter.limit(
        lambda: current_app.config["MAESTRO_FORGOT_RATE_LIMIT"], scope="forgot-ip", methods=["POST"]
    )(view)
    return view


def share_failure_allowed() -> tuple[bool, int]:
    """Count one failed token attempt against this client's budget (MAESTRO_SHARE_FAILURE_RATE_LIMIT).

    Only failures are counted, and only failures are checked: a valid link costs no rate-limit
    work at all (no storage round trip on the hottest path), and a client that guessed too much is
    refused further guesses, not the links it genuinely holds. Returns (allowed, retry_after).
    """
    if not limiter.enabled:
        return True, 0
    client = get_remote_address()
    for item in parse_many(current_app.config["MAESTRO_SHARE_FAILURE_RATE_LIMIT"]):
        if not limiter.limiter.hit(item, "share-token-failures", client):
            reset_at = limiter.limiter.get_window_stats(item, "share-token-failures", client).reset_time
            return False, max(1, math.ceil(reset_at - time.time()))
    return True, 0

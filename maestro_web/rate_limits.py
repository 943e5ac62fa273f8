"""Rate limits shared by every way of logging in (HTML form, token API, Maestro's /users/auth).

Limits are shared across those endpoints, so a guesser cannot multiply its budget by switching
between them: one budget per client address, one per account.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import current_app, request

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

"""Every rate limit of the app, in one place, and what happens when their storage is down.

Logging in (HTML form, token API, Maestro's /users/auth) shares one budget per client address and
one per account, so a guesser cannot multiply it by switching endpoints. Password reset requests
have a budget per client and per e-mail address; failed share tokens one per client address; wrong
share link passcodes one per client address and one per link. The budgets per account, reset address
and link never refuse a client that has not failed for that subject (`subject_wait`): they slow
guessers down without locking the owner out. Role grants have one per user.
Registering and setting a new password from a reset link have one per client address; the worker
endpoints one per worker token (generous: a busy worker is not a guesser).

Keys that come from what a person typed (an e-mail address) or from a credential (a worker token)
are stored and logged only as a keyed hash, never in clear: a store or a log line gives no one away.

With REDIS_URL set, the counters live in Redis. If Redis cannot be reached, every limited request
fails *closed*: 503 with Retry-After and a message saying so, never a 500 and never an unlimited
login (`init_app`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.errors import StorageError
from redis.exceptions import RedisError
from werkzeug.exceptions import TooManyRequests

from maestro_web.extensions import limiter
from maestro_web.metrics import app as app_metrics
from maestro_web.models.user import User, normalize_email
from maestro_web.security.signing import bearer_token
from maestro_web.web.limiter_private import around_limiter_headers, set_key_prefix

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# What the limiter's storage raises when Redis is down (limits wraps some errors in its own type).
STORAGE_ERRORS = (RedisError, StorageError)

# Defaults of the limits that have no setting of their own in config.py; each can be overridden
# in app.config under the same name.
# How long a client should wait when the rate-limit store is down: a restart of Redis takes
# seconds, and a login that is refused for longer than that is worse than a retry.
STORAGE_DOWN_RETRY_AFTER = 10
STORAGE_DOWN_MESSAGE = (
    "This action is unavailable right now because the rate-limit service cannot be reached. "
    "Please retry in a few seconds."
)


def _setting(name: str) -> str:
    return str(current_app.config[name])  # every limit is read from the environment in config.py


def hashed_key(kind: str, value: str) -> str:
    """A rate-limit key for a personal or secret value: a keyed hash, so neither the store nor a
    log line ever holds the value itself, and nobody can precompute the key of an address."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{kind}:{digest}"


def login_rate_limits(view: F) -> F:
    """Per-IP limit on POSTs to a login-like endpoint (429 + Retry-After). The per-account budget
    is not a limit of the limiter's: the views ask `authenticate` (failures only, sparing the owner)."""
    limited = limiter.shared_limit(
        lambda: current_app.config["MAESTRO_LOGIN_RATE_LIMIT"], scope="login-ip", methods=["POST"]
    )(view)
    return cast(F, limited)


# --- budgets per subject that spare a client who has not failed for it -----------------------------
#
# A budget per account (or reset address, or share link) stops guessing from many addresses, but a
# plain limit on it is a lockout anyone can trigger: ten wrong passwords a minute from anywhere and the
# owner's right password is refused. So these budgets refuse only a client that has itself failed for
# that subject in the window (a counter per subject *and* client); a client with a clean record gets
# its try checked, and pays for a failure like everyone else. The client's own budget (per address)
# still bounds how many such fresh tries one address has.


def _store_keys(key: str) -> list[str]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return [part for part in (prefix, key) if part]


def _client_key(subject_key: str) -> str:
    # "account:<hash>" -> "account-client:<hash of the subject's key and the address>"
    kind = subject_key.split(":", 1)[0]
    return hashed_key(f"{kind}-client", f"{subject_key}|{get_remote_address() or ''}")


def subject_wait(setting: str, subject_key: str) -> int:
    """0 when this client may try `subject_key` now; else the seconds until the subject's budget
    refills. Refused only when the budget is spent *and* this client has failed for the subject."""
    if not limiter.enabled:
        return 0
    subject, client = _store_keys(subject_key), _store_keys(_client_key(subject_key))
    for item in parse_many(_setting(setting)):
        if limiter.limiter.test(item, *subject):
            continue
        if limiter.limiter.get_window_stats(item, *client).remaining < item.amount:
            reset_at = limiter.limiter.get_window_stats(item, *subject).reset_time
            # Like Flask-Limiter's own line: the setting and the route, never the subject.
            log.info("ratelimit %s (%s) exceeded at %s", setting, item, request.path)
            return max(1, math.ceil(reset_at - time.time()))
    return 0


def spend_subject_try(setting: str, subject_key: str) -> None:
    """Count one try (a failure, or for reset mails any request) for the subject and for this client's
    record with it."""
    if not limiter.enabled:
        return
    for item in parse_many(_setting(setting)):
        limiter.limiter.hit(item, *_store_keys(subject_key))
        limiter.limiter.hit(item, *_store_keys(_client_key(subject_key)))


def account_key(email: object) -> str:
    return hashed_key("account", normalize_email(email if isinstance(email, str) else ""))


def too_many(wait: int, message: str) -> TooManyRequests:
    """The 429 a view raises: the app's error handler answers it as a page or JSON, Retry-After kept."""
    return TooManyRequests(description=message, retry_after=wait)


def authenticate(email: object, password: object) -> User | None:
    """User.authenticate under the account's failure budget (MAESTRO_ACCOUNT_RATE_LIMIT): the user,
    or None for a wrong e-mail or password; raises a 429 (too_many) for a client that has failed
    for this account too often in the window. Every login endpoint shares the one budget."""
    key = account_key(email)
    wait = subject_wait("MAESTRO_ACCOUNT_RATE_LIMIT", key)
    if wait:
        raise too_many(
            wait, "Too many failed log-ins for this account from here. Try again later, or reset your password."
        )
    user = User.authenticate(email, password) if isinstance(email, str) and isinstance(password, str) else None
    if user is None:
        spend_subject_try("MAESTRO_ACCOUNT_RATE_LIMIT", key)
    return user


def forgot_address_key(email: object) -> str:
    return hashed_key("forgot", normalize_email(email if isinstance(email, str) else ""))


def forgot_rate_limits(view: F) -> F:
    """Per-IP limit on reset requests: no sweeping of many addresses. The per-address budget (no
    mail bombing of one address) is `subject_wait`'s, asked by the view for a well-formed address:
    it applies to every address, known or not, so a 429 says nothing about whether an account
    exists, and it never refuses a client that has not asked for that address in the window."""
    limited = limiter.limit(
        lambda: current_app.config["MAESTRO_FORGOT_RATE_LIMIT"], scope="forgot-ip", methods=["POST"]
    )(view)
    return cast(F, limited)


def register_rate_limits(view: F) -> F:
    """Per-IP limit on creating accounts (MAESTRO_REGISTER_RATE_LIMIT)."""
    return cast(
        F, limiter.limit(lambda: _setting("MAESTRO_REGISTER_RATE_LIMIT"), scope="register-ip", methods=["POST"])(view)
    )


def reset_rate_limits(view: F) -> F:
    """Per-IP limit on submitting a new password from a reset link (MAESTRO_RESET_RATE_LIMIT)."""
    return cast(
        F, limiter.limit(lambda: _setting("MAESTRO_RESET_RATE_LIMIT"), scope="reset-ip", methods=["POST"])(view)
    )


def _worker_key() -> str:
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        # The token itself is a credential: only its keyed hash becomes a key.
        return hashed_key("worker", token)
    return "worker-ip:" + (get_remote_address() or "")


def worker_rate_limits(blueprint: Blueprint) -> Blueprint:
    """Per-token limit on every endpoint of the worker blueprint (MAESTRO_WORKER_RATE_LIMIT);
    each endpoint counts on its own."""
    limiter.limit(lambda: _setting("MAESTRO_WORKER_RATE_LIMIT"), scope="worker-token", key_func=_worker_key)(blueprint)
    return blueprint


def share_failure_allowed() -> tuple[bool, int]:
    """Count one failed token attempt against this client's budget (MAESTRO_SHARE_FAILURE_RATE_LIMIT).

    Only failures are counted, and only failures are checked: a valid link costs no rate-limit
    work at all (no storage round trip on the hottest path), and a client that guessed too much is
    refused further guesses, not the links it genuinely holds. Returns (allowed, retry_after).
    Raises one of STORAGE_ERRORS when the store is down: a caller inside an error handler (where
    Flask would turn it into a 500) answers with storage_unavailable() itself.
    """
    if not limiter.enabled:
        return True, 0
    client = get_remote_address()
    # Under the same key prefix as every other limit (one Redis can serve several apps).
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    keys = [part for part in (prefix, "share-token-failures", client) if part]
    for item in parse_many(current_app.config["MAESTRO_SHARE_FAILURE_RATE_LIMIT"]):
        if not limiter.limiter.hit(item, *keys):
            reset_at = limiter.limiter.get_window_stats(item, *keys).reset_time
            return False, max(1, math.ceil(reset_at - time.time()))
    return True, 0


def _passcode_budgets(link_id: str) -> list[tuple[Any, list[str]]]:
    budgets = (
        ("MAESTRO_PASSCODE_ADDRESS_RATE_LIMIT", hashed_key("passcode-address", get_remote_address() or "")),
        ("MAESTRO_PASSCODE_LINK_RATE_LIMIT", _passcode_link_key(link_id)),
    )
    return [(item, _store_keys(key)) for setting, key in budgets for item in parse_many(_setting(setting))]


def _passcode_link_key(link_id: str) -> str:
    return hashed_key("passcode-link", link_id)


def reserve_passcode_try(link_id: str) -> int:
    """Take one passcode try from this client's budget and from the link's (SPEC §10); 0 if the try
    may go ahead, else the seconds until the first budget that is spent refills (and nothing is taken).

    The try is taken *before* the passcode is checked, so that guesses sent all at once cannot pass
    the budget while they are being checked; a right passcode gives it back (refund_passcode_try).
    The link's budget refuses only a client that has itself given a wrong passcode for this link in
    the window (`subject_wait`): guessers elsewhere cannot lock out a visitor who knows the passcode.
    Raises one of STORAGE_ERRORS when the store is down (the app answers 503).
    """
    if not limiter.enabled:
        return 0
    link_key = _passcode_link_key(link_id)
    clean = subject_wait("MAESTRO_PASSCODE_LINK_RATE_LIMIT", link_key) == 0
    taken: list[tuple[Any, list[str]]] = []
    for item, keys in _passcode_budgets(link_id):
        taken.append((item, keys))
        if not limiter.limiter.hit(item, *keys) and not (clean and keys == _store_keys(link_key)):
            reset_at = limiter.limiter.get_window_stats(item, *keys).reset_time
            _give_back(taken)
            return max(1, math.ceil(reset_at - time.time()))
    return 0


def note_wrong_passcode(link_id: str) -> None:
    """Remember that this client gave a wrong passcode for the link: from now on (in the window) the
    link's budget applies to it. The try itself was spent by reserve_passcode_try."""
    if limiter.enabled:
        for item in parse_many(_setting("MAESTRO_PASSCODE_LINK_RATE_LIMIT")):
            limiter.limiter.hit(item, *_store_keys(_client_key(_passcode_link_key(link_id))))


def refund_passcode_try(link_id: str) -> None:
    """Give back the try a right passcode took: only wrong passcodes spend the budgets."""
    if limiter.enabled:
        _give_back(_passcode_budgets(link_id))


def _give_back(taken: list[tuple[Any, list[str]]]) -> None:
    for item, keys in taken:  # the fixed-window counter goes down by one (the app's strategy)
        limiter.limiter.hit(item, *keys, cost=-1)


def spend_role_grant(user_public_id: str) -> None:
    """Count one role grant by this user (MAESTRO_ROLE_GRANT_RATE_LIMIT); a 429 (too_many) once the
    budget is spent. A grant tells whether an address has an account (its answer names the user) and
    sends an e-mail, so an unbounded number of them is an account census and a mail cannon."""
    if not limiter.enabled:
        return
    keys = _store_keys(hashed_key("role-grants", user_public_id))
    for item in parse_many(_setting("MAESTRO_ROLE_GRANT_RATE_LIMIT")):
        if not limiter.limiter.hit(item, *keys):
            reset_at = limiter.limiter.get_window_stats(item, *keys).reset_time
            log.info("ratelimit MAESTRO_ROLE_GRANT_RATE_LIMIT (%s) exceeded at %s", item, request.path)
            raise too_many(
                max(1, math.ceil(reset_at - time.time())),
                f"Too many role grants: the role-grant limit is {item}. Try again later.",
            )


# --- views with no limit of the limiter's --------------------------------------------------------


def exempt(view: F) -> F:
    """No limit of the limiter's on this view, and none of its per-request work (extensions.AppLimiter):
    for the public view and its siblings, which count their failures themselves
    (share_failure_allowed, the passcode budgets)."""
    return cast(F, limiter.exempt_view(view))


# --- the store is down; honest Retry-After ---------------------------------------------------------


def storage_unavailable(exc: Exception) -> Response:
    """The 503 answer for a request whose rate limit could not be checked (fail closed)."""
    from maestro_web.errors import error_response
    from maestro_web.extensions import db

    db.session.rollback()  # nothing half-written
    # The exception's type only: its text names the Redis host, and a URL may hold a password.
    log.error("Rate-limit storage unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
    app_metrics.redis_error("rate_limits")
    response = error_response(503, STORAGE_DOWN_MESSAGE)
    response.headers["Retry-After"] = str(STORAGE_DOWN_RETRY_AFTER)
    g.maestro_retry_after = response.headers["Retry-After"]
    return response


def _note_retry_after(response: Response) -> Response:
    # Runs before Flask-Limiter's header injection: remember what the app itself answered.
    g.maestro_retry_after = response.headers.get("Retry-After")
    return response


def _restore_retry_after(response: Response) -> Response:
    """Flask-Limiter writes Retry-After on every answer of a limited endpoint, as the larger of
    the app's value and the end of the limit's window (3600 s for an hourly limit). Only a 429
    waits for the window; every other answer keeps the wait the app chose (5 s for a database
    outage) or none at all."""
    if response.status_code == 429:
        # At the very end of a window the limiter can compute 0 or -1: "retry now" would only
        # earn another 429, so the least honest wait is one second.
        value = response.headers.get("Retry-After", "")
        if value.lstrip("-").isdigit() and int(value) < 1:
            response.headers["Retry-After"] = "1"
        return response
    original = g.get("maestro_retry_after")
    if original is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = original
    return response


def init_app(app: Flask) -> None:
    """Fail closed when the store is down, and keep Retry-After honest. Call right after
    `limiter.init_app(app)`. The two reaches past Flask-Limiter's public API are limiter_private's."""
    # One Limiter object serves every app this process builds (the tests build hundreds), and
    # Flask-Limiter keeps the first app's key prefix for good; each app gets its own.
    set_key_prefix(limiter, app.config.get("RATELIMIT_KEY_PREFIX") or "")
    for error in STORAGE_ERRORS:
        app.register_error_handler(error, storage_unavailable)
    around_limiter_headers(app, _note_retry_after, _restore_retry_after)

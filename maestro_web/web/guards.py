"""The guards each blueprint attaches in its `before_request`, and what a refused request is told.

`security/` verifies tokens and returns the user or the claims, or raises a typed error; this
thin layer puts the result on `flask.g` and turns each error into the answer its caller expects:
the login page (cookies cleared) for a browser, a 401 JSON body for a program, a 400 page for a
form without its CSRF value. Every guard has one contract: it returns None or raises.

`grep -rn "before_request(require_" maestro_web` prints the whole authorisation map.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, g, make_response, redirect, request, url_for

from maestro_web.errors import error_page, json_error
from maestro_web.extensions import jwt
from maestro_web.metrics import MetricsAccess
from maestro_web.models import User
from maestro_web.security import discovery_tokens, report_tokens, session_jwt, share_tokens, short_codes, worker_tokens
from maestro_web.security.session_jwt import RefreshRequired, SessionCsrfError, SessionError
from maestro_web.security.signing import bearer_token
from maestro_web.web.redirects import is_safe_next

FORM_EXPIRED = "This form has expired or did not come from this site. Go back, reload and try again."


class LoginRequired(Exception):
    """A browser page without a usable session: off to the login page, session cookies cleared."""


class Unauthorized(Exception):
    """A program without a usable token: 401 JSON with a message safe to show it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FormExpired(Exception):
    """A state-changing browser request without the session's CSRF double-submit value: a 400 page."""


# --- the guards ----------------------------------------------------------------------------------


def optional_user() -> None:
    """Public pages (home, login, register): note who is logged in, never refuse or refresh."""
    user = session_jwt.user_if_logged_in()
    if user is not None:
        g.user = user


def require_user() -> None:
    """Browser blueprints: a valid session (cookies, CSRF, implicit refresh), or the login page.

    An expired access token where the refresh cookie is not sent (every path but the session path)
    raises RefreshRequired, answered with a 307 through the renewal endpoint and back (`_to_refresh`).
    """
    try:
        g.user = session_jwt.user_from_cookies()
    except SessionCsrfError:
        raise FormExpired() from None
    except SessionError:
        raise LoginRequired() from None


def require_live_user() -> None:
    """`require_user` for a script (the live ticket): 401 JSON instead of the login page."""
    try:
        require_user()
    except LoginRequired:
        raise Unauthorized("Log in to receive live updates.") from None


# Where the report service may use a report command token (SPEC §12): the read endpoints of the graph
# in its `graph` claim, and the upload of the report in its `report` claim. Nothing else of the API.
REPORT_COMMAND_ENDPOINTS = frozenset(
    {
        ("GET", "api.get_graph"),
        ("GET", "api.versions"),
        ("GET", "api.dependencies"),
        ("GET", "api.graph_picture"),
        ("PUT", "api.upload_report"),
    }
)


def require_api_user() -> None:
    """The JSON API: a valid access token in `Authorization`, or 401 JSON. A report command token
    instead is accepted where the report service reads and uploads, and nowhere else (403)."""
    try:
        g.user = session_jwt.verify_api_token()
    except SessionError:
        if not _report_command_user():
            raise Unauthorized("A valid access token is required in the Authorization header.") from None


def _report_command_user() -> bool:
    """Put the user of a valid report command token on `g` (True); False when the token is not one."""
    token = bearer_token(request.headers.get("Authorization"))
    try:
        claims = report_tokens.verify_report_token(token, current_app.config["KEY_RINGS"][report_tokens.CONTEXT])
    except report_tokens.ReportTokenError:
        return False
    user = User.get_by_public_id(claims["sub"])
    if user is None:
        raise Unauthorized("Report command token refused: its user no longer exists.")
    if claims.get("ver") != user.token_version:  # a password change or reset ended the user's sessions
        raise Unauthorized("Report command token refused: the user's sessions have ended.")
    if (request.method, request.endpoint) not in REPORT_COMMAND_ENDPOINTS:
        abort(403, "A report command token is accepted only on its graph's read endpoints and its report's upload.")
    if claims["graph"] != (request.view_args or {}).get("graph_id"):
        abort(403, "This command token was made for another graph.")
    g.user = user
    g.report_claims = claims
    return True


def require_worker() -> None:
    """The worker blueprint: a valid worker token in `Authorization` (never a cookie), or 401 JSON."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Unauthorized("A worker token is required: Authorization: JWT <token>.")
    try:
        g.worker_claims = worker_tokens.verify_worker_token(
            token, current_app.config["KEY_RINGS"][worker_tokens.CONTEXT]
        )
    except worker_tokens.WorkerTokenError as exc:
        raise Unauthorized(f"Worker token refused: {exc}.") from None


def require_discovery_command() -> None:
    """The two endpoints a crawl needs (read the input, write the result): a discovery command token
    for the graph in the URL, never a session token (SPEC §11). The view checks the user's role."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Unauthorized("A discovery command token is required: Authorization: JWT <token>.")
    try:
        claims = discovery_tokens.verify_command_token(token, current_app.config["KEY_RINGS"][discovery_tokens.CONTEXT])
    except discovery_tokens.CommandTokenError as exc:
        raise Unauthorized(f"Discovery command token refused: {exc}.") from None
    user = User.get_by_public_id(claims["sub"])
    if user is None:
        raise Unauthorized("Discovery command token refused: its user no longer exists.")
    if claims.get("ver") != user.token_version:  # a password change or reset ended the user's sessions
        raise Unauthorized("Discovery command token refused: the user's sessions have ended.")
    if claims["graph"] != (request.view_args or {}).get("graph_id"):
        abort(403, "This command token was made for another graph.")
    g.user = user
    g.discovery_claims = claims


def require_share() -> None:
    """The public blueprint: `?token=` must be a share token for the graph in the URL.

    Puts the claims on `g.share_claims`; raises ShareTokenInvalid or ShareTokenExpired, which the
    public blueprint answers with its refusal pages. Whether the link's row still allows a view
    (revoked, paused, max views...) is decided by the view, in the statement that counts it.
    """
    code = (request.view_args or {}).get("code")
    if code is not None:  # a short link `/s/<code>` (SPEC §10): the MAC names the link, the view finds its graph
        g.share_claims = {
            "jti": short_codes.verify_short_code(code, current_app.config["KEY_RINGS"][share_tokens.CONTEXT])
        }
        return
    graph_id = (request.view_args or {}).get("graph_id", "")
    g.share_claims = share_tokens.verify_share_token(
        request.args.get("token", ""), current_app.config["KEY_RINGS"][share_tokens.CONTEXT], graph_id
    )


def require_metrics_access() -> None:
    """/metrics: a client from MAESTRO_METRICS_ALLOW (by the address the rate limits see, after the
    trusted proxies), or `Authorization: Bearer $MAESTRO_METRICS_TOKEN`; anyone else gets the 404 of
    a page that does not exist (docs/operations.md, "Metrics")."""
    config = current_app.config
    access = MetricsAccess(tuple(config["MAESTRO_METRICS_ALLOW"]), config["MAESTRO_METRICS_TOKEN"])
    address = request.remote_addr
    if not config["MAESTRO_TRUSTED_PROXIES"] and "X-Forwarded-For" in request.headers:
        # A proxy the app was not told about (MAESTRO_TRUSTED_PROXIES unset behind nginx): the peer is
        # that proxy, on loopback, for every visitor it forwards. Its address proves nothing; the token may.
        address = None
    if not access.permits(address, request.headers.get("Authorization")):
        abort(404)


def worker_claims() -> dict[str, Any]:
    """Every claim of the current worker token; set by `require_worker`."""
    claims: dict[str, Any] = g.worker_claims
    return claims


def worker_graph_id() -> str:
    """The graph the current worker token was made for ("*" for any); set by `require_worker`."""
    graph_id: str = g.worker_claims["graph_id"]
    return graph_id


# --- the answers ---------------------------------------------------------------------------------


def _to_login(_error: LoginRequired) -> Response:
    if request.endpoint == "account.refresh_session":  # the renewal failed: back to where it came from
        next_path = request.args.get("next")
    else:
        next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    target = url_for("auth.login", next=next_path) if is_safe_next(next_path) else url_for("auth.login")
    return session_jwt.clear_session_cookies(make_response(redirect(target)))


def _to_refresh(_error: RefreshRequired) -> Response:
    """Through the session path, where the refresh cookie renews the access cookie, and back here.

    307 keeps the method and the body: a form posted after the access token expired is posted
    again, with its CSRF values, once renewed. The renewal endpoint refuses like every page (login
    page, cookies cleared) when the refresh token is not valid either.
    """
    next_path = request.full_path.rstrip("?")
    if not is_safe_next(next_path):
        raise LoginRequired()
    return make_response(redirect(url_for("account.refresh_session", next=next_path), 307))


def _unauthorized(error: Unauthorized) -> Response:
    return json_error(401, error.message)


def _form_expired(_error: FormExpired) -> Response:
    return error_page(400, FORM_EXPIRED)


def init_app(app: Flask) -> None:
    """Answer the guards' refusals, and flask-jwt-extended's own in the same shape."""
    app.register_error_handler(LoginRequired, _to_login)
    app.register_error_handler(RefreshRequired, _to_refresh)
    app.register_error_handler(Unauthorized, _unauthorized)
    app.register_error_handler(FormExpired, _form_expired)

    # The guards catch every token error themselves; these only answer if someone uses
    # @jwt_required directly, and then in the same shape as every other error.
    def _library_refusal(*args: Any) -> Response:
        return json_error(401, "Authentication required.")

    for register in (
        jwt.unauthorized_loader,
        jwt.invalid_token_loader,
        jwt.expired_token_loader,
        jwt.revoked_token_loader,
        jwt.user_lookup_error_loader,
        jwt.needs_fresh_token_loader,
        jwt.token_verification_failed_loader,
    ):
        register(_library_refusal)

"""User sessions (SecretJwt, SPEC §3.1): issuing and verifying, flask-jwt-extended tuned to Maestro's rules.

Browsers carry the access and refresh tokens in HttpOnly cookies, with a CSRF double-submit value
that stays the same for the whole session (so a form rendered before an implicit refresh still
posts). The access cookie goes to every page; the refresh cookie only to the session path
(`JWT_REFRESH_COOKIE_PATH`), so a page whose access token has expired raises RefreshRequired and
the guard sends the browser through that path, where the refresh cookie renews it. API clients send `Authorization: JWT <t>` or `Bearer <t>`. Logout revokes both tokens by
`jti`; a password change bumps the user's `token_version`, which every token carries as `ver`.

Each login is a LoginSession row whose id every token of that login carries as `sid`: ending the
row (the account page's "log out", a revoked refresh token) refuses all of them at once, including
the access tokens renewed silently. A personal API token (`kind: "personal"`) is an access token
with a long life and a PersonalToken row by `jti`; it is accepted in `Authorization` only, never
from a cookie. The last use of a session or a personal token is written at most once a minute.

Verifying returns the user or raises SessionError / SessionCsrfError; what the client is then told
(login page, 401 JSON, 400 page) is decided above, in `maestro_web/guards.py`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    decode_token,
    get_current_user,
    get_jwt,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import CSRFError, JWTExtendedException
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from maestro_web.extensions import db, jwt
from maestro_web.models import LoginSession, PersonalToken, RevokedToken, User
from maestro_web.models.base import utcnow
from maestro_web.models.user import PERSONAL_TOKEN_MAX_DAYS, USER_AGENT_MAX_LENGTH
from maestro_web.security.signing import KeyRing, bearer_token, key_for_decoded

CONTEXT = "session"
AUDIENCE = "maestro-web"
# An access token with less than this share of its lifetime left is renewed on the next page.
REFRESH_WHEN_REMAINING = 1 / 3
PERSONAL = "personal"  # the `kind` claim of a personal API token
TOUCH_EVERY = timedelta(minutes=1)  # last seen / last used: at most one write a minute per row


class SessionError(Exception):
    """No usable session: missing, expired, tampered, revoked or of another context."""


class SessionCsrfError(Exception):
    """A state-changing request without the session's CSRF double-submit value."""


class RefreshRequired(Exception):
    """The access token has expired on a path the refresh cookie is not sent to: renew on the session path."""


def on_refresh_path() -> bool:
    """Whether browsers send the refresh cookie with this request (its path is a prefix of ours)."""
    path = current_app.config["JWT_REFRESH_COOKIE_PATH"].rstrip("/")
    return request.path == path or request.path.startswith(path + "/")


def _ring() -> KeyRing:
    ring: KeyRing = current_app.config["KEY_RINGS"][CONTEXT]
    return ring


def _raw_tokens() -> list[str | None]:
    """Every place a session token may be read from in this request (for picking a key without kid)."""
    config = current_app.config
    return [
        g.get("decoding_token"),
        bearer_token(request.headers.get("Authorization")),
        request.cookies.get(config["JWT_ACCESS_COOKIE_NAME"]),
        request.cookies.get(config["JWT_REFRESH_COOKIE_NAME"]),
    ]


def init_app(app: Flask) -> None:
    """Wire flask-jwt-extended's callbacks to our key ring, claims and blocklist."""

    @jwt.additional_headers_loader
    def _kid_header(identity: Any) -> dict[str, str]:
        return {"kid": _ring().current_kid}

    @jwt.encode_key_loader
    def _encode_key(identity: Any) -> str:
        return _ring().current

    @jwt.decode_key_loader
    def _decode_key(header: dict[str, Any], payload: dict[str, Any]) -> str:
        # flask-jwt-extended does not require exp/iat by itself; the spec does.
        for claim in ("exp", "iat", "jti"):
            if claim not in payload:
                raise pyjwt.MissingRequiredClaimError(claim)
        if payload.get("aud") != current_app.config["JWT_DECODE_AUDIENCE"]:
            raise pyjwt.InvalidAudienceError("audience must be a single string")
        return key_for_decoded(header, payload, _raw_tokens(), _ring())

    @jwt.user_identity_loader
    def _identity(user: User | str) -> str:
        return user.public_id if isinstance(user, User) else str(user)

    @jwt.additional_claims_loader
    def _claims(user: User | str) -> dict[str, Any]:
        return {"ver": user.token_version} if isinstance(user, User) else {}

    @jwt.user_lookup_loader
    def _lookup(header: dict[str, Any], payload: dict[str, Any]) -> User | None:
        user = User.get_by_public_id(payload["sub"])
        if user is None or payload.get("ver") != user.token_version:
            return None  # deleted user, or a session ended by a password change
        return user

    @jwt.token_in_blocklist_loader
    def _revoked(header: dict[str, Any], payload: dict[str, Any]) -> bool:
        return RevokedToken.is_revoked(payload["jti"]) or _ended(payload)

    app.after_request(_renew_access_cookie)
    app.add_template_global(jwt_csrf_value)
    app.context_processor(lambda: {"current_user": current_user()})


# --- issuing -------------------------------------------------------------------------------------


def _open_login_session(user: User, api: bool) -> str:
    """A LoginSession row for a new login (committed); its id, the `sid` of the login's tokens."""
    row = LoginSession(
        user_id=user.id,
        api=api,
        token_version=user.token_version,
        user_agent=(request.headers.get("User-Agent") or "")[:USER_AGENT_MAX_LENGTH],
        expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
    )
    db.session.add(row)
    db.session.commit()
    return row.public_id


def _token_pair(user: User, csrf_value: str, api: bool) -> tuple[str, str]:
    claims = {"csrf": csrf_value, "sid": _open_login_session(user, api)}
    return (
        create_access_token(identity=user, additional_claims=claims),
        create_refresh_token(identity=user, additional_claims=claims),
    )


def start_session(response: Response, user: User) -> Response:
    """Log the browser in: set fresh access and refresh cookies for `user` (a new login session)."""
    access, refresh = _token_pair(user, uuid.uuid4().hex, api=False)
    set_access_cookies(response, access, max_age=_cookie_max_age())
    set_refresh_cookies(response, refresh, max_age=_cookie_max_age())
    return response


def _cookie_max_age() -> int:
    # Both cookies live as long as the refresh token: an expired access cookie is still sent, and
    # then the refresh token decides (implicit refresh); after that the browser drops them.
    return int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds())


def issue_api_tokens(user: User) -> dict[str, Any]:
    """The token pair an API client gets from POST /api/auth/token."""
    access, refresh = _token_pair(user, uuid.uuid4().hex, api=True)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def issue_api_access_token(user: User) -> dict[str, Any]:
    """A new access token for the verified refresh token of this request (same login session)."""
    sid = get_jwt().get("sid")
    claims = {"sid": sid} if sid else {}
    return {
        "access_token": create_access_token(identity=user, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def issue_personal_token(user: User, name: str, days: int) -> tuple[PersonalToken, str]:
    """A personal API token for `user`, valid `days` days: its row (added, not committed) and the
    token, which is shown once and never stored."""
    if not 1 <= days <= PERSONAL_TOKEN_MAX_DAYS:
        raise ValueError(f"a personal token lives 1 to {PERSONAL_TOKEN_MAX_DAYS} days")
    jti = uuid.uuid4().hex
    lifetime = timedelta(days=days)
    now = utcnow()
    row = PersonalToken(
        jti=jti, user_id=user.id, name=name, token_version=user.token_version, created_at=now, expires_at=now + lifetime
    )
    token = create_access_token(identity=user, expires_delta=lifetime, additional_claims={"jti": jti, "kind": PERSONAL})
    db.session.add(row)
    return row, token


# --- login sessions and personal tokens: ended, last seen ----------------------------------------


def _ended(payload: dict[str, Any]) -> bool:
    """Whether the token's login session or personal token row refuses it; notes its last use."""
    if payload.get("kind") == PERSONAL:
        row = db.session.execute(
            select(PersonalToken.id, PersonalToken.revoked_at, PersonalToken.last_used_at).where(
                PersonalToken.jti == payload["jti"]
            )
        ).first()
        if row is None or row.revoked_at is not None:
            return True
        _touch(PersonalToken, row.id, PersonalToken.last_used_at, row.last_used_at)
        return False
    sid = payload.get("sid")
    if not sid:
        return False  # a token from before login sessions were recorded: its jti and `ver` decide
    session_row = db.session.execute(
        select(LoginSession.id, LoginSession.ended_at, LoginSession.last_seen_at).where(LoginSession.public_id == sid)
    ).first()
    if session_row is None or session_row.ended_at is not None:
        return True
    _touch(LoginSession, session_row.id, LoginSession.last_seen_at, session_row.last_seen_at)
    return False


def _touch(model: type[LoginSession] | type[PersonalToken], row_id: int, column: Any, last: datetime | None) -> None:
    """Write "now" into `column` if the last write is a minute old: one UPDATE a minute, not one a request.
    The UPDATE repeats the condition, so concurrent requests write it once between them."""
    now = utcnow()
    if last is not None and now - last < TOUCH_EVERY:
        return
    db.session.execute(
        update(model).where(model.id == row_id, or_(column.is_(None), column < now - TOUCH_EVERY)).values({column: now})
    )
    db.session.commit()


def current_session_id() -> str | None:
    """The login session of this request's verified token (None for a personal or an older token)."""
    session_id: str | None = g.get("session_id")
    return session_id


def end_login_sessions(user: User, keep: str | None = None, only: str | None = None) -> int:
    """End the user's open login sessions (`only` the one with that id, or all but `keep`); how many.
    Their tokens are refused on their next use; the caller commits and announces it to the live server."""
    rows = [
        row for row in LoginSession.open_for(user) if (only is None or row.public_id == only) and row.public_id != keep
    ]
    for row in rows:
        row.end()
    return len(rows)


# --- revoking ------------------------------------------------------------------------------------


def _revoke_payload(payload: dict[str, Any], user: User | None) -> None:
    if payload.get("kind") == PERSONAL:
        personal = PersonalToken.get_by_jti(payload["jti"])
        if personal is not None and personal.revoked_at is None:
            personal.revoked_at = utcnow()
    elif payload.get("type") == "refresh" and payload.get("sid"):
        # Revoking a refresh token ends its login session, so the access tokens it renewed die too.
        login_session = LoginSession.get_by_public_id(payload["sid"])
        if login_session is not None:
            login_session.end()
    if RevokedToken.is_revoked(payload["jti"]):
        db.session.commit()
        return
    db.session.add(
        RevokedToken(
            jti=payload["jti"],
            token_type=payload.get("type", "access"),
            user_id=user.id if user else None,
            expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:  # revoked concurrently by another request: same outcome
        db.session.rollback()


def revoke_encoded(token: str | None, user: User | None = None) -> bool:
    """Revoke a session token we signed (even an expired one); False when it is not ours."""
    if not token:
        return False
    g.decoding_token = token
    try:
        payload = decode_token(token, allow_expired=True)
    except (JWTExtendedException, pyjwt.PyJWTError):
        return False
    finally:
        g.pop("decoding_token", None)
    _revoke_payload(payload, user)
    return True


def end_session(response: Response) -> Response:
    """Log the browser out: end its login session, revoke both cookies' tokens and clear them."""
    config = current_app.config
    user = current_user()
    sid = current_session_id()
    if user is not None and sid:
        end_login_sessions(user, only=sid)
        db.session.commit()
    for cookie in (config["JWT_ACCESS_COOKIE_NAME"], config["JWT_REFRESH_COOKIE_NAME"]):
        revoke_encoded(request.cookies.get(cookie), user)
    return clear_session_cookies(response)


def clear_session_cookies(response: Response) -> Response:
    """The one way to drop this browser's session cookies (login redirect, logout, password reset)."""
    unset_jwt_cookies(response)
    return response


# --- verifying -----------------------------------------------------------------------------------


def current_user() -> User | None:
    """The user of this request, once a guard has verified the session; otherwise None."""
    user: User | None = g.get("user")
    return user


def signed_in_user() -> User:
    """The user of a request that passed `require_user` / `require_api_user` (the blueprint's guard)."""
    user: User = g.user
    return user


def jwt_csrf_value() -> str | None:
    """The session's CSRF double-submit value, for the hidden `jwt_csrf` field of forms."""
    csrf: str | None = g.get("jwt_csrf")
    return csrf


def _csrf_value_sent() -> str | None:
    config = current_app.config
    return request.headers.get(config["JWT_ACCESS_CSRF_HEADER_NAME"]) or request.form.get(
        config["JWT_ACCESS_CSRF_FIELD_NAME"]
    )


def user_from_cookies() -> User:
    """The user of the session cookies (with implicit refresh); raises SessionError, SessionCsrfError,
    or RefreshRequired when the access token has expired where the refresh cookie is not sent."""
    config = current_app.config
    has_access = bool(request.cookies.get(config["JWT_ACCESS_COOKIE_NAME"]))
    has_refresh = bool(request.cookies.get(config["JWT_REFRESH_COOKIE_NAME"]))
    if not (has_access or has_refresh):
        raise SessionError("no session")
    if request.method in config["JWT_CSRF_METHODS"] and not _csrf_value_sent():
        raise SessionCsrfError()

    try:
        try:
            if not has_access:
                raise pyjwt.ExpiredSignatureError("access cookie gone")
            verify_jwt_in_request(locations=["cookies"])
            payload = get_jwt()
            remaining = payload["exp"] - datetime.now(UTC).timestamp()
            lifetime = config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
            g.renew_access = remaining < lifetime * REFRESH_WHEN_REMAINING
        except pyjwt.ExpiredSignatureError:
            # Implicit refresh: the access token is gone or expired, the refresh token decides.
            if not has_refresh:
                if not on_refresh_path():
                    raise RefreshRequired() from None  # the browser may hold one for the session path
                raise
            verify_jwt_in_request(refresh=True, locations=["cookies"])
            g.renew_access = True
    except CSRFError:
        raise SessionCsrfError() from None
    except (JWTExtendedException, pyjwt.PyJWTError) as exc:
        raise SessionError(type(exc).__name__) from None

    claims = get_jwt()
    if claims.get("kind") == PERSONAL:
        raise SessionError("a personal API token is for the Authorization header only")
    user: User = get_current_user()
    g.jwt_csrf = claims.get("csrf")
    g.session_id = claims.get("sid")
    return user


def _renew_access_cookie(response: Response) -> Response:
    user = current_user()
    if user is not None and g.get("renew_access") and g.get("jwt_csrf"):
        claims = {"csrf": g.jwt_csrf}
        if g.get("session_id"):
            claims["sid"] = g.session_id
        token = create_access_token(identity=user, additional_claims=claims)
        set_access_cookies(response, token, max_age=_cookie_max_age())
    return response


def user_if_logged_in() -> User | None:
    """For public pages (login, register): who is logged in by a valid access cookie, without
    refreshing and without refusing anything; None otherwise."""
    config = current_app.config
    if not request.cookies.get(config["JWT_ACCESS_COOKIE_NAME"]):
        return None
    try:
        verify_jwt_in_request(locations=["cookies"], optional=True)
    except (JWTExtendedException, pyjwt.PyJWTError):
        return None
    if get_jwt().get("kind") == PERSONAL:
        return None
    user: User | None = get_current_user()
    if user is not None:
        g.jwt_csrf = get_jwt().get("csrf")
        g.session_id = get_jwt().get("sid")
    return user


def _normalise_authorization_scheme() -> None:
    # Maestro clients send `Authorization: JWT <t>`; flask-jwt-extended knows one scheme.
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"


def verify_api_token(refresh: bool = False) -> User:
    """The user of a valid `Authorization` session token; raises SessionError otherwise."""
    _normalise_authorization_scheme()
    try:
        verify_jwt_in_request(locations=["headers"], refresh=refresh)
    except (JWTExtendedException, pyjwt.PyJWTError) as exc:
        raise SessionError(type(exc).__name__) from None
    user: User | None = get_current_user()
    if user is None:
        raise SessionError("no user")
    g.session_id = get_jwt().get("sid")
    return user


def authorization_token() -> str | None:
    """The raw token of the Authorization header, whichever scheme carried it."""
    return bearer_token(request.headers.get("Authorization"))

"""The Account page's personal API tokens and login sessions: thin views over session_jwt and the models.

Each destructive action asks first, like every other one here (templates/_confirm.html): a GET
confirmation page without JavaScript, a <dialog> with it, and the POST that does it.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from maestro_web import live_events
from maestro_web.auth import account_bp
from maestro_web.auth.account_page import render_account, sessions_of_user
from maestro_web.auth.devices import device_words
from maestro_web.auth.forms import PersonalTokenForm
from maestro_web.extensions import db
from maestro_web.models import LoginSession, PersonalToken
from maestro_web.security.session_jwt import (
    current_session_id,
    end_login_sessions,
    issue_personal_token,
    signed_in_user,
)
from maestro_web.web.headers import keep_private

ACCOUNT = "account.account"


# --- personal API tokens -------------------------------------------------------------------------


@account_bp.post("/account/tokens")
def create_token() -> Response:
    form = PersonalTokenForm()
    if not form.validate_on_submit():
        return render_account(422, token_form=form)
    row, token = issue_personal_token(signed_in_user(), form.name.data or "", form.expires_in_days.data)
    db.session.commit()
    # Rendered here, not after a redirect: the token must never sit in a cookie or a flash message.
    return render_account(201, new_token=(row, token))


def _token_or_404(token_id: str) -> PersonalToken:
    row = PersonalToken.of_user(signed_in_user(), token_id)
    if row is None or row.revoked_at is not None:
        abort(404)
    return row


@account_bp.get("/account/tokens/<token_id>/revoke")
def confirm_revoke_token(token_id: str) -> Response:
    row = _token_or_404(token_id)
    return keep_private(
        Response(
            render_template(
                "confirm.html",
                q={"kind": "revoke_token", "token": row},
                post_url=url_for("account.revoke_token", token_id=row.public_id),
                cancel_url=url_for(ACCOUNT),
                hidden=(),
            )
        )
    )


@account_bp.post("/account/tokens/<token_id>/revoke")
def revoke_token(token_id: str) -> BaseResponse:
    row = _token_or_404(token_id)
    row.revoke()
    db.session.commit()
    flash(f"The token “{row.name}” is revoked: it is refused from now on.", "success")
    return redirect(url_for(ACCOUNT) + "#tokens")


# --- login sessions ------------------------------------------------------------------------------


def _session_or_404(session_id: str) -> LoginSession:
    for item in sessions_of_user():
        if item["row"].public_id == session_id:
            row: LoginSession = item["row"]
            return row
    abort(404)


@account_bp.get("/account/sessions/<session_id>/logout")
def confirm_end_session(session_id: str) -> Response:
    row = _session_or_404(session_id)
    q = {
        "kind": "end_session",
        "device": device_words(row.user_agent, row.api),
        "current": row.public_id == current_session_id(),
    }
    return keep_private(
        Response(
            render_template(
                "confirm.html",
                q=q,
                post_url=url_for("account.end_one_session", session_id=row.public_id),
                cancel_url=url_for(ACCOUNT),
                hidden=(),
            )
        )
    )


@account_bp.post("/account/sessions/<session_id>/logout")
def end_one_session(session_id: str) -> BaseResponse:
    row = _session_or_404(session_id)
    user = signed_in_user()
    if row.public_id == current_session_id():
        # "Log out this one" is the ordinary logout, on the session path where the refresh cookie is sent.
        return redirect(url_for("account.logout"), 307)
    device = device_words(row.user_agent, row.api)
    end_login_sessions(user, only=row.public_id)
    db.session.commit()
    live_events.user_signed_out(user)  # its open live connections end now (this browser's reconnect)
    flash(f"{device} is logged out.", "success")
    return redirect(url_for(ACCOUNT) + "#sessions")


@account_bp.get("/account/sessions/logout-others")
def confirm_end_other_sessions() -> Response:
    others = sum(1 for item in sessions_of_user() if not item["current"])
    return keep_private(
        Response(
            render_template(
                "confirm.html",
                q={"kind": "end_other_sessions", "count": others},
                post_url=url_for("account.end_other_sessions"),
                cancel_url=url_for(ACCOUNT),
                hidden=(),
            )
        )
    )


@account_bp.post("/account/sessions/logout-others")
def end_other_sessions() -> BaseResponse:
    user = signed_in_user()
    ended = end_login_sessions(user, keep=current_session_id())
    db.session.commit()
    if ended:
        live_events.user_signed_out(user)
    flash("Every other session is logged out." if ended else "No other session was logged in.", "success")
    return redirect(url_for(ACCOUNT) + "#sessions")

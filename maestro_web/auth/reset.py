"""Forgot password (SPEC §3.4): ask for a link, open it, set a new password.

    POST /auth/forgot   e-mail -> the same page whatever happens; a mail goes out if the account exists
    GET  /auth/reset    ?token=<step 1> -> step 1 checked and kept for this browser, 303 to /auth/reset
    GET  /auth/reset    (no token) -> the new-password form carrying a step 2 token
    POST /auth/reset    step 2 + new password -> password changed, every session ended, a notice mailed

Tokens live in maestro_web/security/reset_tokens.py. The link is built from MAESTRO_BASE_URL,
never from the request, and neither token is ever logged or stored in the database. The step 1
token leaves the address bar at once (history, bookmarks, screen sharing, a Referer header): it
rides on in this browser's signed, HttpOnly session cookie until the password is set.
"""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from maestro_web.auth import auth_bp
from maestro_web.auth.forms import ForgotForm, ResetPasswordForm
from maestro_web.auth.notices import send_password_changed
from maestro_web.auth.routes import form_status
from maestro_web.errors import error_page
from maestro_web.extensions import db
from maestro_web.mail import send_mail
from maestro_web.models import User
from maestro_web.security import reset_tokens
from maestro_web.security.reset_tokens import ResetTokenExpired, ResetTokenInvalid, ResetTokenUsed
from maestro_web.security.session_jwt import clear_session_cookies
from maestro_web.web.headers import PRIVATE_HEADERS, keep_private
from maestro_web.web.rate_limits import (
    forgot_address_key,
    forgot_rate_limits,
    reset_rate_limits,
    spend_subject_try,
    subject_wait,
    too_many,
)

LINK_MINUTES = reset_tokens.STEP1_LIFETIME // 60
# Where this browser keeps the step 1 token between opening the link and setting the password.
SESSION_KEY = "reset_link_token"


@auth_bp.route("/forgot", methods=["GET", "POST"])
@forgot_rate_limits
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form, minutes=LINK_MINUTES), form_status(form)
    address_key = forgot_address_key(form.email.data)
    wait = subject_wait("MAESTRO_FORGOT_ADDRESS_RATE_LIMIT", address_key)
    if wait:
        raise too_many(wait, "Too many reset requests for this address from here. Try again later.")
    spend_subject_try("MAESTRO_FORGOT_ADDRESS_RATE_LIMIT", address_key)
    request_reset(form.email.data or "")  # validated: never empty here
    # One answer for every well-formed address: nothing here tells whether an account exists.
    return render_template("auth/forgot_sent.html", minutes=LINK_MINUTES), 200, PRIVATE_HEADERS


def request_reset(email: str) -> None:
    """Mail a reset link if `email` has an account; do the same work either way.

    Both branches look the user up, encrypt a step 1 token (a decoy for an unknown address), render
    the message and queue it; the mail thread builds both and delivers only the existing account's,
    so the request's duration does not depend on the answer.
    """
    user = User.get_by_email(email)
    token = reset_tokens.mint_link_token(user)
    name, to = (user.name, user.email) if user is not None else ("", email)
    link = f"{current_app.config['MAESTRO_BASE_URL']}{url_for('auth.reset')}?token={token}"
    text = render_template("mail/reset_password.txt", name=name, link=link, minutes=LINK_MINUTES)
    html = render_template("mail/reset_password.html", name=name, link=link, minutes=LINK_MINUTES)
    send_mail(to, "Reset your Maestro Web password", text, html, discard=user is None)


def _dead_reset_link_page(status: int) -> ResponseReturnValue:
    """The one friendly page for a bad, expired or used link (never a form, never a 200)."""
    session.pop(SESSION_KEY, None)
    return keep_private(
        error_page(
            status,
            f"Reset links work once, for {LINK_MINUTES} minutes, and only until the password is changed.",
            "This reset link has expired or was already used",
            links=[
                (url_for("auth.forgot"), "Ask for a new link", "button primary"),
                (url_for("auth.login"), "Back to log in", "muted"),
            ],
            show_status=False,
        )
    )


@auth_bp.errorhandler(ResetTokenInvalid)
def _invalid_token(_error: ResetTokenInvalid) -> ResponseReturnValue:
    return _dead_reset_link_page(400)


@auth_bp.errorhandler(ResetTokenExpired)
@auth_bp.errorhandler(ResetTokenUsed)
def _dead_token(_error: Exception) -> ResponseReturnValue:
    return _dead_reset_link_page(410)


@auth_bp.get("/reset")
def reset() -> ResponseReturnValue:
    token = request.args.get("token")
    if token is not None:
        # The e-mailed link: check it now (a bad one gets the refusal page, never a redirect),
        # keep it for this browser only, and show the form at an address without it.
        reset_tokens.user_of_link_token(token)
        session[SESSION_KEY] = token
        return keep_private(redirect(url_for("auth.reset"), code=303))
    # Checked again on every view: it may have expired or been used since the link was opened.
    user = reset_tokens.user_of_link_token(session.get(SESSION_KEY))
    form = ResetPasswordForm()
    form.reset_token.data = reset_tokens.mint_form_token(user)
    return render_template("auth/reset.html", form=form, user=user), 200, PRIVATE_HEADERS


@auth_bp.post("/reset")
@reset_rate_limits
def reset_submit() -> ResponseReturnValue:
    form = ResetPasswordForm()
    user = reset_tokens.user_of_form_token(form.reset_token.data)
    if not form.validate_on_submit():
        # Same step 2 token: it stays valid until the password changes or 10 minutes pass.
        return render_template("auth/reset.html", form=form, user=user), 422, PRIVATE_HEADERS
    # Validated, so never empty. A new hash: both reset tokens and every session are dead.
    user.set_password(form.password.data or "")
    db.session.commit()
    session.pop(SESSION_KEY, None)
    current_app.logger.info("password reset for user %s", user.public_id)
    send_password_changed(user, "reset")
    flash("Your password is changed and every session is logged out. Log in with the new password.", "success")
    # This browser too, if it was logged in.
    return clear_session_cookies(make_response(redirect(url_for("auth.login"))))

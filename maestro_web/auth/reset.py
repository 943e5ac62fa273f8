"""Forgot password (SPEC §3.4): ask for a link, open it, set a new password.

    POST /auth/forgot   e-mail -> the same page whatever happens; a mail goes out if the account exists
    GET  /auth/reset    ?token=<step 1> -> the new-password form carrying a step 2 token
    POST /auth/reset    step 2 + new password -> password changed, every session ended

Tokens live in maestro_web/security/reset_tokens.py. The link is built from MAESTRO_BASE_URL,
never from the request, and neither token is ever logged or stored.
"""
from __future__ import annotations

import hmac

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_jwt_extended import unset_jwt_cookies

from maestro_web.auth import auth_bp
from maestro_web.auth.forms import ForgotForm, ResetPasswordForm
from maestro_web.extensions import db
from maestro_web.mail import send_mail
from maestro_web.models import User
from maestro_web.models.user import dummy_password_hash
from maestro_web.rate_limits import forgot_rate_limits
from maestro_web.security import reset_tokens
from maestro_web.security.reset_tokens import ResetTokenExpired, ResetTokenInvalid

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def _ring(context: str):
    return current_app.config["KEY_RINGS"][context]


def _fingerprint(user: User) -> str:
    return reset_tokens.password_fingerprint(user.password_hash, user.token_version or 1)


@auth_bp.route("/forgot", methods=["GET", "POST"])
@forgot_rate_limits
def forgot():
    form = ForgotForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/forgot.html", form=form), status
    request_reset(form.email.data)
    # One answer for every well-formed address: nothing here tells whether an account exists.
    return render_template("auth/forgot_sent.html"), 200, NO_STORE


def request_reset(email: str) -> None:
    """Mail a reset link if `email` has an account; do the same work either way.

    Both branches look the user up, derive a fingerprint, encrypt a step 1 token, render the
    message and queue it; the mail thread builds both and delivers only the existing account's,
    so the request's duration does not depend on the answer.
    """
    user = User.get_by_email(email)
    if user is not None:
        token = reset_tokens.mint_step1(_ring(reset_tokens.STEP1_CONTEXT), user.public_id, _fingerprint(user))
        name, to = user.name, user.email
    else:
        fingerprint = reset_tokens.password_fingerprint(dummy_password_hash(), 1)
        token = reset_tokens.mint_step1(_ring(reset_tokens.STEP1_CONTEXT), "0" * 22, fingerprint)
        name, to = "", email
    link = f"{current_app.config['MAESTRO_BASE_URL']}{url_for('auth.reset')}?token={token}"
    minutes = reset_tokens.STEP1_LIFETIME // 60
    text = render_template("mail/reset_password.txt", name=name, link=link, minutes=minutes)
    html = render_template("mail/reset_password.html", name=name, link=link, minutes=minutes)
    send_mail(to, "Reset your Maestro Web password", text, html, discard=user is None)


def _refused(status: int):
    """The one friendly page for a bad, expired or used link (never a form, never a 200)."""
    return render_template("auth/reset_refused.html"), status, NO_STORE


class _Refused(Exception):
    def __init__(self, status: int):
        self.status = status


def _user_for(verify, token: object, context: str) -> tuple[User, dict[str, str]]:
    """The user a token of one step names, if it verifies and still matches their password.

    Raises _Refused(400) for a token that is not one of this step, _Refused(410) for one that
    expired or whose password has changed since (it was used, or superseded by a newer reset).
    """
    try:
        claims = verify(token, _ring(context))
    except ResetTokenExpired:
        raise _Refused(410) from None
    except ResetTokenInvalid:
        raise _Refused(400) from None
    user = User.get_by_public_id(claims["user"])
    if user is None or not hmac.compare_digest(_fingerprint(user), claims["fingerprint"]):
        raise _Refused(410)
    return user, claims


@auth_bp.errorhandler(_Refused)
def _refused_page(refused: _Refused):
    return _refused(refused.status)


@auth_bp.get("/reset")
def reset():
    user, claims = _user_for(reset_tokens.verify_step1, request.args.get("token"), reset_tokens.STEP1_CONTEXT)
    form = ResetPasswordForm()
    form.reset_token.data = reset_tokens.mint_step2(_ring(reset_tokens.STEP2_CONTEXT), user.public_id, claims["fingerprint"])
    return render_template("auth/reset.html", form=form, user=user), 200, NO_STORE


@auth_bp.post("/reset")
def reset_submit():
    form = ResetPasswordForm()
    user, _ = _user_for(reset_tokens.verify_step2, form.reset_token.data, reset_tokens.STEP2_CONTEXT)
    if not form.validate_on_submit():
        # Same step 2 token: it stays valid until the password changes or 10 minutes pass.
        return render_template("auth/reset.html", form=form, user=user), 422, NO_STORE
    user.set_password(form.password.data)  # new hash: both reset tokens and every session are dead
    db.session.commit()
    current_app.logger.info("password reset for user %s", user.public_id)
    flash("Your password is changed and every session is logged out. Log in with the new password.", "success")
    response = redirect(url_for("auth.login"))
    unset_jwt_cookies(response)  # this browser too, if it was logged in
    return response

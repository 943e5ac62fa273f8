"""Thin views: parse the form, call the model, commit, flash, redirect."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from maestro_web import live_events
from maestro_web.auth import account_bp, auth_bp
from maestro_web.auth.account_page import render_account
from maestro_web.auth.forms import AccountForm, LoginForm, PasswordForm
from maestro_web.auth.notices import send_password_changed
from maestro_web.extensions import db
from maestro_web.security.session_jwt import current_user, end_session, start_session
from maestro_web.web.rate_limits import authenticate, login_rate_limits
from maestro_web.web.redirects import is_safe_next


def _after_login_target() -> str:
    target = request.args.get("next")
    return target if target is not None and is_safe_next(target) else url_for("main.index")


def form_status(form) -> int:
    # A re-rendered form after a POST is an error answer, never a 200.
    return 422 if request.method == "POST" and form.errors else 200


@auth_bp.route("/login", methods=["GET", "POST"])
@login_rate_limits
def login():
    if current_user():
        return redirect(_after_login_target())
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            return start_session(redirect(_after_login_target()), user)
        # One message for an unknown e-mail and a wrong password: nothing to learn from it.
        form.form_errors.append("Wrong e-mail or password.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form), form_status(form)


@account_bp.route("/auth/session/refresh", methods=["GET", "POST"])
def refresh_session():
    """The silent renewal: browsers send the refresh cookie to this path only (`REFRESH_COOKIE_PATH`).

    A page whose access token expired sends the browser here (guards `_to_refresh`); the guard of
    this blueprint has already renewed the access cookie from the refresh cookie (or sent the
    browser to the login page), so what is left is the way back: 307, the method and body kept.
    """
    target = request.args.get("next")
    return redirect(target if target is not None and is_safe_next(target) else url_for("main.index"), 307)


@account_bp.post("/auth/logout")
def logout_moved():
    """Logout moved under the session path (to revoke the refresh token too); a form rendered before still works."""
    return redirect(url_for("account.logout"), 307)


@account_bp.post("/auth/session/logout")
def logout():
    flash("You are logged out.", "info")
    user = current_user()
    response = end_session(redirect(url_for("auth.login")))
    live_events.user_signed_out(user)  # open live connections of this user end too
    return response


@account_bp.route("/account", methods=["GET", "POST"])
def account():
    user = current_user()
    form = AccountForm(obj=user)
    if form.validate_on_submit():
        user.name = form.name.data.strip()
        db.session.commit()
        flash("Your name is saved.", "success")
        return redirect(url_for("account.account"))
    return render_account(form_status(form), form=form)


@account_bp.post("/account/password")
def change_password():
    user = current_user()
    form = PasswordForm()
    if form.validate_on_submit():
        if user.check_password(form.current_password.data):
            user.set_password(form.new_password.data)  # ends every session, this one included
            db.session.commit()
            send_password_changed(user, "account")
            flash("Your password is changed. Every other session has been logged out.", "success")
            # ...so give this browser a new session under the new token version.
            return start_session(redirect(url_for("account.account")), user)
        form.current_password.errors = ["The current password is wrong."]
    return render_account(422, password_form=form)

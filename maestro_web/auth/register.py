"""Registering (docs/hostile-input.md "Registration"): the same answer for every address.

    POST /auth/register          name + e-mail -> "check your e-mail", whatever the address
    GET  /auth/register/confirm  ?token=<link> -> the form to choose a password
    POST /auth/register/confirm  link token + password -> account created, logged in

A new address is mailed a link (security/registration_tokens.py); an address that already has an
account is mailed a note instead ("someone tried to register with your address; log in or reset your
password"). The form's answer, its status and its work are the same either way: both branches look
the address up, encrypt a link token, render a message and queue it, so neither the page nor the
time it takes tells whether an account exists. The account is created only at the link, with the
password chosen there: whoever typed an address they do not hold can neither create nor take over
its account. `flask users create` and the API's token flows are unchanged.
"""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from maestro_web.auth import auth_bp
from maestro_web.auth.forms import ConfirmRegistrationForm, RegisterForm
from maestro_web.auth.routes import form_status
from maestro_web.errors import error_page
from maestro_web.extensions import db
from maestro_web.keyring import KeyRing
from maestro_web.mail import send_mail
from maestro_web.models import User
from maestro_web.models.user import normalize_email
from maestro_web.security import registration_tokens
from maestro_web.security.registration_tokens import RegistrationTokenExpired, RegistrationTokenInvalid
from maestro_web.security.session_jwt import current_user, start_session
from maestro_web.web.headers import PRIVATE_HEADERS, keep_private
from maestro_web.web.rate_limits import register_rate_limits

LINK_HOURS = registration_tokens.LIFETIME // 3600
CONFIRM_SUBJECT = "Confirm your address to finish your Maestro Web account"
EXISTS_SUBJECT = "Someone tried to register with your address on Maestro Web"


def _ring() -> KeyRing:
    ring: KeyRing = current_app.config["KEY_RINGS"][registration_tokens.CONTEXT]
    return ring


@auth_bp.route("/register", methods=["GET", "POST"])
@register_rate_limits
def register() -> ResponseReturnValue:
    if current_user():
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form), form_status(form)
    request_registration(normalize_email(form.email.data or ""), (form.name.data or "").strip())
    # One answer for every well-formed address: nothing here tells whether an account exists.
    return render_template("auth/register_sent.html", hours=LINK_HOURS), 200, PRIVATE_HEADERS


def request_registration(email: str, name: str) -> None:
    """Mail the link that finishes the account to a new address, or the "someone tried" note to an
    address that has an account; the same work either way (see the module's docstring)."""
    user = User.get_by_email(email)
    token = registration_tokens.mint(_ring(), email, name)  # minted for both: the same work
    base = current_app.config["MAESTRO_BASE_URL"]
    if user is None:
        values = {"name": name, "link": f"{base}{url_for('auth.register_confirm')}?token={token}", "hours": LINK_HOURS}
        template, subject = "mail/register_confirm", CONFIRM_SUBJECT
    else:
        values = {
            "name": user.name,
            "login_link": f"{base}{url_for('auth.login')}",
            "forgot_link": f"{base}{url_for('auth.forgot')}",
        }
        template, subject = "mail/register_exists", EXISTS_SUBJECT
    text = render_template(f"{template}.txt", **values)
    html = render_template(f"{template}.html", **values)
    send_mail(email, subject, text, html)


def _dead_link_page(status: int) -> ResponseReturnValue:
    return keep_private(
        error_page(
            status,
            f"Links to finish an account work for {LINK_HOURS} hours. Register again to get a new one.",
            "This link has expired or is not valid",
            links=[
                (url_for("auth.register"), "Register again", "button primary"),
                (url_for("auth.login"), "Log in", "muted"),
            ],
            show_status=False,
        )
    )


def _already_registered_page() -> ResponseReturnValue:
    """The link was used (or the address registered since): nothing to finish, say where to go."""
    return keep_private(
        error_page(
            409,
            "This address already has an account. Log in, or reset the password if you forgot it.",
            "This account already exists",
            links=[
                (url_for("auth.login"), "Log in", "button primary"),
                (url_for("auth.forgot"), "Reset the password", "muted"),
            ],
            show_status=False,
        )
    )


def _confirm_page(form: ConfirmRegistrationForm, email: str, status: int) -> ResponseReturnValue:
    return render_template("auth/register_confirm.html", form=form, email=email), status, PRIVATE_HEADERS


@auth_bp.route("/register/confirm", methods=["GET", "POST"])
@register_rate_limits
def register_confirm() -> ResponseReturnValue:
    form = ConfirmRegistrationForm()
    token = request.args.get("token") if request.method == "GET" else form.registration_token.data
    try:
        email, name = registration_tokens.verify(token, _ring())
    except RegistrationTokenInvalid:
        return _dead_link_page(400)
    except RegistrationTokenExpired:
        return _dead_link_page(410)
    if User.get_by_email(email) is not None:
        return _already_registered_page()
    if request.method == "GET":
        form.registration_token.data = token
        return _confirm_page(form, email, 200)
    if not form.validate_on_submit():
        return _confirm_page(form, email, 422)
    try:
        user = User.create(email, name, form.password.data or "")
        db.session.commit()
    except IntegrityError:  # the same link posted twice at once: the other request created it
        db.session.rollback()
        return _already_registered_page()
    flash("Welcome to Maestro Web, your account is ready.", "success")
    return start_session(make_response(redirect(url_for("main.index"))), user)

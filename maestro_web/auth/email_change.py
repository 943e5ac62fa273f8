"""Change of e-mail: a link to the new address (single-use, 24 hours), a notice to the old one.

The address changes only when the link is opened and its button pressed (a mail scanner that opens
links changes nothing). The link's secret is 32 random bytes; only its SHA-256 is stored, so a copy
of the database holds no usable link. Asking needs the current password (under the login's failure
budget), so a borrowed session cannot move the account to another address and then reset its
password. Whether the new address belongs to another account is said only at the link, to whoever
holds that mailbox: the form answers the same either way.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from maestro_web.auth import account_bp, auth_bp
from maestro_web.auth.account_page import render_account
from maestro_web.auth.forms import ConfirmEmailForm, EmailChangeForm
from maestro_web.errors import error_page
from maestro_web.extensions import db
from maestro_web.mail import send_mail
from maestro_web.models import EmailChange, User
from maestro_web.models.base import utcnow
from maestro_web.models.user import normalize_email
from maestro_web.security.session_jwt import current_user, signed_in_user
from maestro_web.web.headers import PRIVATE_HEADERS, keep_private
from maestro_web.web.rate_limits import authenticate, hashed_key, spend_subject_try, subject_wait, too_many

LINK_HOURS = 24
CONFIRM_SUBJECT = "Confirm your new Maestro Web e-mail address"
NOTICE_SUBJECT = "A change of your Maestro Web e-mail address was asked"
# Links sent to one address: the password-reset budget (MAESTRO_FORGOT_ADDRESS_RATE_LIMIT, 3 an hour).
ADDRESS_BUDGET = "MAESTRO_FORGOT_ADDRESS_RATE_LIMIT"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@account_bp.post("/account/email")
def request_email_change() -> ResponseReturnValue:
    user = signed_in_user()
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return render_account(422, email_form=form)
    new_email = normalize_email(form.new_email.data or "")
    if new_email == user.email:
        form.new_email.errors = ["That is already your address."]
        return render_account(422, email_form=form)
    if authenticate(user.email, form.current_password.data) is None:
        form.current_password.errors = ["The current password is wrong."]
        return render_account(422, email_form=form)
    address_key = hashed_key("email-change", new_email)
    wait = subject_wait(ADDRESS_BUDGET, address_key)
    if wait:
        raise too_many(wait, "Several links went to this address already. Try again later.")
    spend_subject_try(ADDRESS_BUDGET, address_key)

    token = secrets.token_urlsafe(32)
    now = utcnow()
    # Only the newest link works: asking again replaces the one before.
    db.session.execute(
        update(EmailChange).where(EmailChange.user_id == user.id, EmailChange.used_at.is_(None)).values(used_at=now)
    )
    db.session.add(
        EmailChange(
            user_id=user.id,
            new_email=new_email,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + timedelta(hours=LINK_HOURS),
        )
    )
    db.session.commit()
    _send_link(user, new_email, token)
    _send_notice(user, new_email)
    flash(
        f"We sent a link to {new_email}. Your address changes when you open it (within {LINK_HOURS} hours); "
        f"until then it stays {user.email}.",
        "success",
    )
    return redirect(url_for("account.account") + "#email")


def _send_link(user: User, new_email: str, token: str) -> None:
    base = current_app.config["MAESTRO_BASE_URL"]
    values = {
        "name": user.name,
        "new_email": new_email,
        "hours": LINK_HOURS,
        "link": f"{base}{url_for('auth.confirm_email')}?token={token}",
    }
    send_mail(
        new_email,
        CONFIRM_SUBJECT,
        render_template("mail/email_change_confirm.txt", **values),
        render_template("mail/email_change_confirm.html", **values),
    )


def _send_notice(user: User, new_email: str) -> None:
    """Tell the old address at once, so a change its owner did not ask for is noticed before the link is used."""
    base = current_app.config["MAESTRO_BASE_URL"]
    values = {
        "name": user.name,
        "new_email": new_email,
        "hours": LINK_HOURS,
        "when": utcnow().strftime("%Y-%m-%d at %H:%M UTC"),
        "account_link": f"{base}{url_for('account.account')}",
        "forgot_link": f"{base}{url_for('auth.forgot')}",
    }
    send_mail(
        user.email,
        NOTICE_SUBJECT,
        render_template("mail/email_change_notice.txt", **values),
        render_template("mail/email_change_notice.html", **values),
    )


def _dead_link_page() -> ResponseReturnValue:
    return keep_private(
        error_page(
            410,
            f"Links to confirm a new address work once, for {LINK_HOURS} hours, and only the newest one. "
            "Ask again on the account page.",
            "This link has expired or was used",
            show_status=False,
            links=[(url_for("account.account"), "Your account", "button primary")],
        )
    )


@auth_bp.route("/email/confirm", methods=["GET", "POST"])
def confirm_email() -> ResponseReturnValue:
    form = ConfirmEmailForm()
    token = request.args.get("token") if request.method == "GET" else request.form.get("token")
    change = EmailChange.get_by_token_hash(_digest(token)) if isinstance(token, str) and token else None
    if change is None or not change.usable():
        return _dead_link_page()
    user = db.session.get(User, change.user_id)
    if user is None:
        return _dead_link_page()
    taken = User.get_by_email(change.new_email)
    if taken is not None and taken.id != user.id:
        return keep_private(
            error_page(
                409,
                "This address belongs to another account now; your address did not change.",
                "This address is taken",
                show_status=False,
            )
        )
    if request.method == "GET" or not form.validate_on_submit():
        return (
            render_template("auth/email_confirm.html", form=form, token=token, change=change, user=user),
            200 if request.method == "GET" else 422,
            PRIVATE_HEADERS,
        )
    # Single use, even when two requests race: only the one whose UPDATE finds it unused goes on.
    claimed = db.session.execute(
        update(EmailChange).where(EmailChange.id == change.id, EmailChange.used_at.is_(None)).values(used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return _dead_link_page()
    user.email = change.new_email
    try:
        db.session.commit()
    except IntegrityError:  # taken by a registration between the check and now
        db.session.rollback()
        return _dead_link_page()
    flash(f"Your e-mail address is now {user.email}.", "success")
    viewer = current_user()
    return redirect(
        url_for("account.account") if viewer is not None and viewer.id == user.id else url_for("auth.login")
    )

"""The link of an invitation e-mail (SPEC §4; the rows and rules are in domain/invitations.py).

    GET  /auth/invitation?token=<link>   what the invitation offers, and how to take it
    POST /auth/invitation?token=<link>   accept: logged in as the invited address, or creating its account

The link was mailed to the invited address, so opening it proves the mailbox as the "finish your
account" link of a registration does (auth/register.py): a person without an account chooses a name
and a password here, the account is created with the invited address (never another one) and the
role granted in the same transaction. An address that has an account is sent to log in and comes
back here; a browser logged in as another address is refused and nothing is granted. A used,
withdrawn, expired or unknown link gets a page that says which, with the way on.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from maestro_web.auth import auth_bp
from maestro_web.auth.forms import AcceptInvitationForm, InvitationAccountForm
from maestro_web.domain.invitations import (
    LIFETIME_DAYS,
    InvitationRefused,
    accept,
    check_usable,
    invitation_of_link,
)
from maestro_web.errors import error_page
from maestro_web.extensions import db
from maestro_web.models import Invitation, User
from maestro_web.security.session_jwt import current_user, start_session
from maestro_web.web.headers import PRIVATE_HEADERS, keep_private
from maestro_web.web.rate_limits import register_rate_limits

_LOGIN = ("Log in", "muted")

# What each dead link says: (status, title, message). Nothing is granted on any of them.
_REFUSALS = {
    "unknown": (
        400,
        "This invitation link is not valid",
        "The link is incomplete or was changed. Open it again from the e-mail, or ask for a new invitation.",
    ),
    "accepted": (
        410,
        "This invitation was already used",
        "An invitation link works once. If it was you, log in: the graph is in your list.",
    ),
    "withdrawn": (
        410,
        "This invitation was withdrawn",
        "The person who invited you withdrew it. Ask them for a new one if you still need access.",
    ),
    "expired": (
        410,
        "This invitation has expired",
        f"Invitation links work for {LIFETIME_DAYS} days. Ask the person who invited you for a new one.",
    ),
    "deleted_graph": (410, "This graph no longer exists", "The graph of this invitation was deleted."),
    "other_address": (
        403,
        "This invitation is for another address",
        "It was sent to another e-mail address than the one of the account you are logged in with, "
        "and only that address can accept it. Log out, then open the link again.",
    ),
}


def _refusal(state: str) -> ResponseReturnValue:
    status, title, message = _REFUSALS[state]
    links = [(url_for("main.index"), "Home", "button primary")]
    if state == "accepted" and current_user() is None:
        links = [(url_for("auth.login"), "Log in", "button primary")]
    return keep_private(error_page(status, message, title, links=links, show_status=False))


def _this_link() -> str:
    return f"{url_for('auth.invitation')}?token={request.args.get('token', '')}"


def _page(template: str, invitation: Invitation, form: object, status: int) -> ResponseReturnValue:
    return render_template(template, invitation=invitation, form=form, action=_this_link()), status, PRIVATE_HEADERS


def _granted(invitation: Invitation) -> ResponseReturnValue:
    flash(f"You now have the {invitation.role_enum.label} role on “{invitation.graph.name}”.", "success")
    return redirect(url_for("graphs.detail", graph_id=invitation.graph.public_id))


@auth_bp.route("/invitation", methods=["GET", "POST"])
@register_rate_limits
def invitation() -> ResponseReturnValue:
    found = invitation_of_link(request.args.get("token"))
    if found is None:
        return _refusal("unknown")
    try:
        check_usable(found)
    except InvitationRefused as exc:
        return _refusal(exc.state)
    user = current_user()
    if user is not None:
        if user.email != found.email:
            return _refusal("other_address")
        form = AcceptInvitationForm()
        if request.method == "POST" and form.validate_on_submit():
            try:
                accept(found, user)
            except InvitationRefused as exc:
                db.session.rollback()
                return _refusal(exc.state)
            db.session.commit()
            return _granted(found)
        return _page("auth/invitation_accept.html", found, form, 422 if request.method == "POST" else 200)
    if User.get_by_email(found.email) is not None:
        # The address has an account: log in as it, and come back here to accept.
        flash(f"Log in as {found.email} to accept the invitation to “{found.graph.name}”.", "info")
        return redirect(url_for("auth.login", next=_this_link()))
    form = InvitationAccountForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _page("auth/invitation_register.html", found, form, 200 if request.method == "GET" else 422)
    try:
        user = User.create(found.email, (form.name.data or "").strip(), form.password.data or "")
        db.session.flush()
        accept(found, user)
        db.session.commit()
    except InvitationRefused as exc:  # used meanwhile (the same form posted twice at once)
        db.session.rollback()
        return _refusal(exc.state)
    except IntegrityError:  # the address registered meanwhile: log in through the link instead
        db.session.rollback()
        return redirect(_this_link())
    flash("Welcome to Maestro Web, your account is ready.", "success")
    return start_session(make_response(_granted(found)), user)

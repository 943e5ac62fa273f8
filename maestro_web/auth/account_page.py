"""The Account page, rendered from one place: name, password, e-mail, personal API tokens, sessions."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template

from maestro_web.auth.devices import device_words
from maestro_web.auth.forms import AccountForm, EmailChangeForm, PasswordForm, PersonalTokenForm
from maestro_web.models import EmailChange, LoginSession, PersonalToken
from maestro_web.security.session_jwt import current_session_id, signed_in_user
from maestro_web.web.headers import keep_private


def sessions_of_user() -> list[dict[str, Any]]:
    """The user's open login sessions as the page lists them, this browser's first."""
    current = current_session_id()
    rows = [
        {"row": row, "device": device_words(row.user_agent, row.api), "current": row.public_id == current}
        for row in LoginSession.open_for(signed_in_user())
    ]
    return sorted(rows, key=lambda item: not item["current"])


def render_account(
    status: int = 200,
    *,
    form: AccountForm | None = None,
    password_form: PasswordForm | None = None,
    email_form: EmailChangeForm | None = None,
    token_form: PersonalTokenForm | None = None,
    new_token: tuple[PersonalToken, str] | None = None,
) -> Response:
    """The page with the given forms (a form that failed shows its errors; the others are empty).
    `new_token` (row, token) is shown once, in this answer only, which no cache may keep."""
    user = signed_in_user()
    response = make_response(
        render_template(
            "auth/account.html",
            form=form or AccountForm(obj=user, formdata=None),
            password_form=password_form or PasswordForm(formdata=None),
            email_form=email_form or EmailChangeForm(formdata=None),
            token_form=token_form or PersonalTokenForm(formdata=None),
            tokens=PersonalToken.listed_for(user),
            sessions=sessions_of_user(),
            pending_email=EmailChange.pending_for(user),
            new_token=new_token,
        ),
        status,
    )
    return keep_private(response)

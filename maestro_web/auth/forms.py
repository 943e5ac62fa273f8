"""One form class per page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,  # new in WTForms 3.3, not in its stubs yet (the ignore above)
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from maestro_web.auth.emails import ValidEmail
from maestro_web.limits import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from maestro_web.models.user import PERSONAL_TOKEN_MAX_DAYS, PERSONAL_TOKEN_NAME_MAX_LENGTH

_password_length = Length(
    min=PASSWORD_MIN_LENGTH,
    max=PASSWORD_MAX_LENGTH,
    message=f"Use {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.",
)


class RegisterForm(FlaskForm):
    """Step 1: who you are. The password is chosen at the e-mailed link (ConfirmRegistrationForm), so
    that whoever types someone else's address here can never set that account's password."""

    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField("E-mail", validators=[DataRequired("Enter your e-mail address."), ValidEmail()])
    submit = SubmitField("Create account")


class ConfirmRegistrationForm(FlaskForm):
    """Step 2, at the e-mailed link: the password. The link's token rides in a hidden field."""

    registration_token = HiddenField()
    password = PasswordField("Password", validators=[DataRequired("Choose a password."), _password_length])
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired("Repeat the password."), EqualTo("password", "The passwords differ.")],
    )
    submit = SubmitField("Create my account")


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired("Enter your e-mail address.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    submit = SubmitField("Log in")


class AccountForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])
    submit = SubmitField("Save")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=[DataRequired("Choose a new password."), _password_length])
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired("Repeat the new password."), EqualTo("new_password", "The passwords differ.")],
    )
    submit = SubmitField("Change password")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ForgotForm(FlaskForm):
    email = EmailField(
        "E-mail", filters=[_strip], validators=[DataRequired("Enter your e-mail address."), ValidEmail()]
    )
    submit = SubmitField("Send me a reset link")


class ResetPasswordForm(FlaskForm):
    # The step 2 token (SPEC §3.4); rendered by hand in the template, checked by the view.
    reset_token = HiddenField()
    password = PasswordField("New password", validators=[DataRequired("Choose a new password."), _password_length])
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired("Repeat the new password."), EqualTo("password", "The passwords differ.")],
    )
    submit = SubmitField("Set new password")


TOKEN_LIFETIMES = [
    SelectChoice(str(days), words)
    for days, words in (
        (7, "7 days"),
        (30, "30 days"),
        (90, "90 days"),
        (180, "180 days"),
        (PERSONAL_TOKEN_MAX_DAYS, "1 year"),
    )
]


def _days(value: object) -> int:
    """A lifetime choice as a number; anything else as -1, which is no choice ("Not a valid choice.")."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return -1


class PersonalTokenForm(FlaskForm):
    """A new personal API token: what it is for and how long it lives (at most a year)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Fields named token-*: the Account page also has the name form (ids stay unique).
        kwargs.setdefault("prefix", "token")
        super().__init__(*args, **kwargs)

    name = StringField(
        "Name",
        filters=[_strip],
        validators=[
            DataRequired("Name the token, e.g. “discovery service”."),
            Length(max=PERSONAL_TOKEN_NAME_MAX_LENGTH),
        ],
    )
    expires_in_days = SelectField(
        "Expires after", choices=TOKEN_LIFETIMES, coerce=_days, default=30, validate_choice=True
    )
    submit = SubmitField("Create token")


class EmailChangeForm(FlaskForm):
    """A new e-mail address, confirmed by the current password; it changes when the link sent there is opened."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Fields named email-*: the Account page also has the password form (ids stay unique).
        kwargs.setdefault("prefix", "email")
        super().__init__(*args, **kwargs)

    new_email = EmailField(
        "New e-mail", filters=[_strip], validators=[DataRequired("Enter the new e-mail address."), ValidEmail()]
    )
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    submit = SubmitField("Send a confirmation link")


class ConfirmEmailForm(FlaskForm):
    """The button behind the e-mailed link: opening the link alone changes nothing (mail scanners open links)."""

    submit = SubmitField("Use this address")


class InvitationAccountForm(FlaskForm):
    """The account an invitation's link creates: the address is the invited one (the link was mailed
    to it, which proves it is held), so only the name and the password are asked."""

    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired("Choose a password."), _password_length])
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired("Repeat the password."), EqualTo("password", "The passwords differ.")],
    )
    submit = SubmitField("Create my account and accept")


class AcceptInvitationForm(FlaskForm):
    """Accepting, logged in as the invited address: nothing but the CSRF fields."""

    submit = SubmitField("Accept")

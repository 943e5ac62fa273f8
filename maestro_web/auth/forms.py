"""One form class per page."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from maestro_web.auth.emails import ValidEmail
from maestro_web.models.user import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

_password_length = Length(
    min=PASSWORD_MIN_LENGTH,
    max=PASSWORD_MAX_LENGTH,
    message=f"Use {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.",
)


class RegisterForm(FlaskForm):
    """Step 1: who you are. The password is chosen at the e-mailed link (ConfirmRegistrationForm), so
    that whoever types someone else's address here can never set that account's password."""

    name = StringField("Name", validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField(
        "E-mail", validators=[DataRequired("Enter your e-mail address."), ValidEmail()]
    )
    submit = SubmitField("Create account")


class ConfirmRegistrationForm(FlaskForm):
    """Step 2, at the e-mailed link: the password. The link's token rides in a hidden field."""

    registration_token = HiddenField()
    password = PasswordField("Password", validators=[DataRequired("Choose a password."), _password_length])
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired("Repeat the password."), EqualTo("password", "The passwords differ.")]
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

"""The one rule for an account's e-mail address, used by the forms and by `flask users create`.

Before, the CLI accepted anything with an "@" (`ada@localhost`, `a b@c`) that the forms then
refused, so such an account could never ask for a reset link. Now both ask `check_email`.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from wtforms import Field, Form
from wtforms.validators import ValidationError

from maestro_web.models.user import normalize_email

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path, and the column's width
INVALID_MESSAGE = "Enter a valid e-mail address."


class InvalidEmail(ValueError):
    """Not an address an account may have; the message says why, in the forms' words."""


def check_email(value: object) -> str:
    """`value` normalized (trimmed, lower-cased) if an account may use it; raises InvalidEmail."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidEmail("Enter your e-mail address.")
    address = normalize_email(value)
    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"Use at most {MAX_EMAIL_LENGTH} characters.")
    try:
        # Syntax only: no DNS lookup on a request path (or in a test without network).
        validate_email(address, check_deliverability=False, allow_smtputf8=True, allow_empty_local=False)
    except EmailNotValidError:
        raise InvalidEmail(INVALID_MESSAGE) from None
    return address


class ValidEmail:
    """WTForms validator for `check_email` (empty values are DataRequired's business)."""

    def __call__(self, form: Form, field: Field) -> None:
        if not field.data:
            return
        try:
            check_email(field.data)
        except InvalidEmail as error:
            raise ValidationError(str(error)) from None

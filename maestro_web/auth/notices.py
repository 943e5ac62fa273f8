"""Messages the account sends its owner about itself: "your password was changed"."""

from __future__ import annotations

from concurrent.futures import Future

from flask import current_app, render_template, url_for

from maestro_web.mail import send_mail
from maestro_web.models import User
from maestro_web.models.base import utcnow

PASSWORD_CHANGED_SUBJECT = "Your Maestro Web password was changed"
HOW = {
    "reset": "with a password reset link",
    "account": "on the account page",
}


def send_password_changed(user: User, how: str) -> Future:
    """Tell the account's owner that its password changed, so a change they did not make is
    noticed (and can be undone with a reset) at once. `how` is a key of HOW."""
    forgot_link = f"{current_app.config['MAESTRO_BASE_URL']}{url_for('auth.forgot')}"
    values = {
        "name": user.name,
        "when": utcnow().strftime("%Y-%m-%d at %H:%M UTC"),
        "how": HOW[how],
        "forgot_link": forgot_link,
    }
    text = render_template("mail/password_changed.txt", **values)
    html = render_template("mail/password_changed.html", **values)
    return send_mail(user.email, PASSWORD_CHANGED_SUBJECT, text, html)

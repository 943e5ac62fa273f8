"""A real SMTP server (aiosmtpd) on a loopback port, for tests that read what the app sent."""

from __future__ import annotations

import re
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from live_support import free_port

from maestro_web.mail import wait_for_pending


class Inbox:
    """Collects every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def settle(self) -> list[EmailMessage]:
        """The messages received once the app's mail thread has handled everything queued."""
        assert wait_for_pending(timeout=15), "the app's mail queue did not drain"
        with self._lock:
            return list(self.messages)


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def reset_link(message: EmailMessage) -> str:
    """The reset link of a message, from its plain-text part (and checked against the HTML one)."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    match = re.search(r"(https?://\S+/auth/reset\?token=[A-Za-z0-9_=\-]+)", text)
    assert match, text
    assert f'href="{match.group(1)}"' in html
    return match.group(1)


def confirm_link(message: EmailMessage) -> str:
    """The "finish your account" link of a registration message (checked against the HTML part)."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    match = re.search(r"(https?://\S+/auth/register/confirm\?token=[A-Za-z0-9_=\-]+)", text)
    assert match, text
    assert f'href="{match.group(1)}"' in html
    return match.group(1)


def link_path(link: str) -> str:
    """The path and query of an absolute link, for a test client."""
    rest = link.split("://", 1)[1]
    return rest[rest.index("/") :]


def registration_mail(app, client, email: str, name: str = "Ada"):
    """Send the register form through a real SMTP server on loopback; (answer, messages to `email`)."""
    from conftest import form_csrf

    with SmtpServer() as server:
        saved = {key: app.config.get(key) for key in ("MAIL_SERVER", "MAIL_PORT")}
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        try:
            page = client.get("/auth/register")
            answer = client.post(
                "/auth/register", data={"name": name, "email": email, "csrf_token": form_csrf(page.text)}
            )
            messages = [message for message in server.inbox.settle() if message["To"] == email.strip().lower()]
        finally:
            app.config.update(saved)
    return answer, messages


def finish_registration(client, link: str, password: str, confirm: str | None = None):
    """Open the e-mailed link and choose the password: the answer of the form's POST."""
    from conftest import form_csrf

    page = client.get(link_path(link))
    assert page.status_code == 200, page.text
    token = re.search(r'name="registration_token" type="hidden" value="([^"]+)"', page.text)
    assert token, page.text
    return client.post(
        "/auth/register/confirm",
        data={
            "registration_token": token.group(1),
            "password": password,
            "confirm": password if confirm is None else confirm,
            "csrf_token": form_csrf(page.text),
        },
    )


def register(app, client, email: str, password: str, name: str = "Ada"):
    """Register through the real pages: the form, the mail over SMTP, the link, the password.
    The answer of the last POST (303/302 into the site when it worked)."""
    answer, messages = registration_mail(app, client, email, name)
    assert answer.status_code == 200, answer.text
    assert len(messages) == 1, [message["Subject"] for message in messages]
    return finish_registration(client, confirm_link(messages[0]), password)

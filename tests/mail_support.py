"""A real SMTP server (aiosmtpd) on a loopback port, for tests that read what the app sent."""
from __future__ import annotations

import re
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from maestro_web.mail import wait_for_pending


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def __enter__(self) -> "SmtpServer":
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

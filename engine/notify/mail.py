"""E-mail: a Mailer protocol, an SMTP mailer configured from the environment, and a recording one.

The Django app passes its own mailer (Django's mail backend); `creditbook notify run` uses SMTP from
CREDITBOOK_SMTP_URL (smtp://user:password@host:port?from=billing@example.com), or does not send
e-mail at all when it is not set (e-mail endpoints then wait, and are retried, until it is).
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str) -> None:
        """Send one message or raise (the worker retries)."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> SmtpMailer | None:
        url = os.environ.get("CREDITBOOK_SMTP_URL")
        if not url:
            return None
        parsed = urlparse(url)
        sender = parse_qs(parsed.query).get("from", ["creditbook@localhost"])[0]
        return cls(
            parsed.hostname or "localhost",
            parsed.port or 25,
            sender,
            unquote(parsed.username) if parsed.username else None,
            unquote(parsed.password) if parsed.password else None,
        )

    def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.user:
                smtp.starttls()
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


@dataclass
class RecordingMailer:
    """Keeps what it was asked to send (the demo, tests)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, text: str) -> None:
        self.sent.append((to, subject, text))

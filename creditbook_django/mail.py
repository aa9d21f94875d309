"""E-mail alerts through the host project's mail backend (settings.EMAIL_BACKEND): the Mailer the
notification worker is given by `manage.py creditbook_notify` (engine/notify/mail.py's protocol)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail


class DjangoMailer:
    """Sends each alert with django.core.mail.send_mail from CREDITBOOK_FROM_EMAIL (else
    DEFAULT_FROM_EMAIL); a refusal raises, and the worker retries it later."""

    def send(self, to: str, subject: str, text: str) -> None:
        sender = getattr(settings, "CREDITBOOK_FROM_EMAIL", None) or settings.DEFAULT_FROM_EMAIL
        send_mail(subject, text, sender, [to], fail_silently=False)

"""A mailer that sends through an SMTP server (stdlib ``smtplib``)."""

from __future__ import annotations

import smtplib
import ssl
from typing import Literal

from escalate.errors import ConfigError, DeliveryError
from escalate.mail import OutgoingMail
from escalate.timers import Clock, SystemClock

__all__ = ["SmtpMailer"]

Security = Literal["none", "starttls", "ssl"]


class SmtpMailer:
    """Sends each mail over SMTP: plain, STARTTLS or SSL, with optional login.

    Args:
        host: The server.
        port: Its port (default: 465 for ``ssl``, else 587 or 25 for ``none``).
        security: ``"none"``, ``"starttls"`` or ``"ssl"``.
        username: Log in with this user (and ``password``), if given.
        password: The password.
        timeout: Seconds to wait for the server.
        context: The TLS context (default: the system's trusted certificates).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()  # dates a mail that has no created_at
        if security not in ("none", "starttls", "ssl"):
            raise ConfigError(
                f"security: expected 'none', 'starttls' or 'ssl', got {security!r}"
            )
        self.host = host
        self.port = port or {"ssl": 465, "starttls": 587, "none": 25}[security]
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.context = context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=self.context)
        return smtp

    def send(self, mail: OutgoingMail) -> None:
        """Send one mail.

        Raises:
            DeliveryError: The server is down or refuses the mail; the message
                names the mail and the server's answer.
        """
        try:
            with self._connect() as smtp:
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail.to_message(date=self.clock.now()))
        except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
            raise DeliveryError(
                f"mail {mail.message_id} to {mail.recipient} "
                f"via {self.host}:{self.port}: "
                f"{type(e).__name__}: {e}"
            ) from e
        if refused:
            raise DeliveryError(f"mail {mail.message_id}: refused for {refused}")

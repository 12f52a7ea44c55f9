"""A mailer that sends through an SMTP server (stdlib ``smtplib``).

What it does with the server's answers (RFC 5321, 4.2.1): a 5xx reply to the
mail's own commands (``MAIL FROM``, ``RCPT TO``, ``DATA`` and the message) is
permanent (``DeliveryError(permanent=True)``: the dispatcher makes the mail a
dead letter); a 4xx reply, a lost connection, a timeout, or any failure before
the mail's transaction began (greeting, ``EHLO``, ``STARTTLS``, login) is
temporary. A mail whose message the server accepted (250 after the data) is
delivered, whatever ``QUIT`` answers: a server that answers it with 421 no
longer gets a copy per retry.

Each send keeps to a deadline: every socket operation waits at most
``timeout``, and the whole send (connecting, greeting, login, the message) at
most ``deadline``, after which its socket is shut down. With ``reuse`` the
connection stays open for the next mail (one ``RSET`` after a refused one), and
a connection the server closed meanwhile is opened again once.
"""

from __future__ import annotations

import io
import smtplib
import socket
import ssl
import threading
from contextlib import suppress
from datetime import timedelta
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import Literal

from escalate.errors import ConfigError, DeliveryError, WrongTypeError
from escalate.mail import OutgoingMail
from escalate.timers import Clock, SystemClock, stopwatch

__all__ = ["SmtpMailer"]

Security = Literal["none", "starttls", "ssl"]


def _seconds(value: float | timedelta, name: str) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WrongTypeError(f"{name}: expected a duration, got {value!r}")
    if not 0 < value <= 3600:
        raise ConfigError(
            f"{name}: expected more than 0 and at most 1 hour, got {value}"
        )
    return float(value)


class _Refused(Exception):
    """The server's answer to one of the mail's own commands."""

    def __init__(self, step: str, code: int, text: bytes | str) -> None:
        answer = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        super().__init__(f"{step}: {code} {answer}")
        self.code = code


def _now() -> float:
    """Seconds on the monotonic stopwatch (a deadline, not an instant)."""
    return stopwatch() / 1e9


def _wire(message: EmailMessage) -> bytes:
    """The message as SMTP carries it (CRLF line ends, as ``send_message``)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=message.policy.clone(linesep="\r\n")).flatten(
        message, linesep="\r\n"
    )
    return out.getvalue()


class _Stale(Exception):
    """A kept connection the server had closed, found before the mail began."""


class SmtpMailer:
    """Sends each mail over SMTP: plain, STARTTLS or SSL, with optional login.

    Args:
        host: The server.
        port: Its port (default: 465 for ``ssl``, else 587 or 25 for ``none``).
        security: ``"none"``, ``"starttls"`` or ``"ssl"``.
        username: Log in with this user (and ``password``), if given.
        password: The password.
        timeout: The longest wait for one answer of the server (seconds, or a
            timedelta).
        deadline: The longest one send may take, all of it (default: four
            times ``timeout``).
        reuse: Keep the connection open for the next mail.
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
        timeout: float | timedelta = 30.0,
        deadline: float | timedelta | None = None,
        reuse: bool = False,
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
        self.timeout = _seconds(timeout, "timeout")
        self.deadline = (
            4 * self.timeout if deadline is None else _seconds(deadline, "deadline")
        )
        self.reuse = bool(reuse)
        self.context = context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    @property
    def send_deadline(self) -> timedelta:
        """The longest one send takes (what a dispatcher's lease must allow)."""
        return timedelta(seconds=self.deadline)

    def send(self, mail: OutgoingMail) -> None:
        """Send one mail, within the deadline.

        Raises:
            DeliveryError: The server is down or refuses the mail; the message
                names the mail and the server's answer, ``permanent`` whether
                it was a 5xx reply to the mail's own commands.
        """
        with self._lock:
            ends = _now() + self.deadline
            try:
                try:
                    self._transaction(mail, ends)
                except _Stale:
                    self.close()  # closed by the server meanwhile: once afresh
                    self._transaction(mail, ends)
            except _Refused as e:
                self._after_refusal()
                raise DeliveryError(
                    f"mail {mail.message_id} to {mail.recipient} via "
                    f"{self.host}:{self.port}: {e}",
                    permanent=500 <= e.code < 600,
                ) from e
            except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
                self.close()
                late = " (past the send deadline)" if _now() >= ends else ""
                raise DeliveryError(
                    f"mail {mail.message_id} to {mail.recipient} "
                    f"via {self.host}:{self.port}: "
                    f"{type(e).__name__}: {e}{late}"
                ) from e
            if not self.reuse:
                self.close()

    def close(self) -> None:
        """End the connection kept open (``QUIT``, whatever it answers)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        with suppress(smtplib.SMTPException, OSError, ssl.SSLError):
            smtp.quit()
        with suppress(OSError):
            smtp.close()

    # -- one send ---------------------------------------------------------------------

    def _transaction(self, mail: OutgoingMail, ends: float) -> None:
        """MAIL, RCPT, DATA on the kept connection or a new one, with a timer
        that shuts the socket down at the deadline."""
        watchdog = threading.Timer(max(ends - _now(), 0.0), self._cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            reused = self._smtp is not None
            smtp = self._smtp or self._connect(ends)
            message = mail.to_message(date=self.clock.now())
            self._step(smtp, ends)
            # an 8-bit body says so where the server takes it (RFC 6152)
            eight_bit = message.get("Content-Transfer-Encoding") == "8bit"
            options = (
                ["BODY=8BITMIME"] if eight_bit and smtp.has_extn("8bitmime") else []
            )
            try:
                code, text = smtp.mail(mail.sender, options)
            except (smtplib.SMTPServerDisconnected, OSError) as e:
                if reused:  # nothing of this mail reached the server
                    raise _Stale from e
                raise
            if code != 250:
                raise _Refused("MAIL FROM", code, text)
            self._step(smtp, ends)
            code, text = smtp.rcpt(mail.recipient)
            if code not in (250, 251):
                raise _Refused("RCPT TO", code, text)
            self._step(smtp, ends)
            try:
                code, text = smtp.data(_wire(message))
            except smtplib.SMTPDataError as e:  # DATA itself refused
                raise _Refused("DATA", e.smtp_code, e.smtp_error) from e
            if code != 250:  # the message refused
                raise _Refused("the message", code, text)
        finally:
            watchdog.cancel()

    def _connect(self, ends: float) -> smtplib.SMTP:
        wait = min(self.timeout, max(ends - _now(), 0.001))
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(timeout=wait, context=self.context)
        else:
            smtp = smtplib.SMTP(timeout=wait)
        self._smtp = smtp  # from here the deadline's timer can cut it
        smtp._host = self.host  # type: ignore[attr-defined]  # what TLS checks against
        smtp.connect(self.host, self.port)
        self._step(smtp, ends)
        smtp.ehlo_or_helo_if_needed()
        if self.security == "starttls":
            self._step(smtp, ends)
            smtp.starttls(context=self.context)
            smtp.ehlo_or_helo_if_needed()
        if self.username is not None:
            self._step(smtp, ends)
            smtp.login(self.username, self.password or "")
        return smtp

    def _step(self, smtp: smtplib.SMTP, ends: float) -> None:
        """Before each command: wait at most the time left."""
        left = ends - _now()
        if left <= 0:
            raise TimeoutError("the send deadline passed")
        if smtp.sock is not None:
            smtp.sock.settimeout(min(self.timeout, left))

    def _cut(self) -> None:
        """At the deadline: end whatever the send is waiting for."""
        smtp = self._smtp
        sock = None if smtp is None else smtp.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _after_refusal(self) -> None:
        """A refused mail leaves a transaction open: reset it, or close."""
        if not self.reuse or self._smtp is None:
            self.close()
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

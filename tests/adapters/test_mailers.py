"""Mail adapters against the shared contract, and SMTP against a real server."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from escalate.adapters.folder import FolderMailer
from escalate.adapters.smtp import SmtpMailer
from escalate.errors import ConfigError, DeliveryError
from escalate.mail import Mailer, OutgoingMail, message_id
from escalate.testing import MailerContract, RecordingMailer, example_mail
from escalate.timers import ManualClock


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps what it receives, and refuses nobody@."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content)
        return "250 Message accepted"


class TestRecordingMailer(MailerContract):
    def make_mailer(self) -> Mailer:
        self.mailer = RecordingMailer()
        return self.mailer

    def delivered(self) -> list[EmailMessage]:
        return [m.to_message() for m in self.mailer.sent]


class TestFolderMailer(MailerContract):
    @pytest.fixture(autouse=True)
    def folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "outbox"

    def make_mailer(self) -> Mailer:
        return FolderMailer(self.path)

    def delivered(self) -> list[EmailMessage]:
        return [parse(p.read_bytes()) for p in sorted(self.path.glob("*.eml"))]

    def test_a_mail_without_created_at_is_dated_by_the_mailer_clock(self) -> None:
        """Every mail carries a Date: one made without ``created_at`` gets the
        mailer's clock."""
        clock = ManualClock(datetime(2026, 11, 23, 8, tzinfo=UTC))
        FolderMailer(self.path, clock=clock).send(example_mail())
        (msg,) = self.delivered()
        assert parsedate_to_datetime(msg["Date"]) == clock.now()

    def test_one_file_per_message_id(self) -> None:
        """A resend rewrites the same file, atomically (no temporary files left)."""
        mailer = FolderMailer(self.path)
        mail = example_mail()
        mailer.send(mail)
        mailer.send(mail)
        assert [p.name for p in self.path.iterdir()] == [mailer.path_of(mail).name]

    def test_a_writer_killed_before_the_rename_leaves_nothing_behind(self) -> None:
        """A process killed between writing and renaming leaves a temporary file;
        the next FolderMailer on the folder removes it, and keeps a live writer's."""
        script = (
            "import os, signal, sys\n"
            "from escalate.adapters.folder import FolderMailer\n"
            "from escalate.testing import example_mail\n"
            "mailer = FolderMailer(sys.argv[1])\n"
            "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            "mailer.send(example_mail())\n"
        )
        done = subprocess.run([sys.executable, "-c", script, str(self.path)])
        assert done.returncode == -signal.SIGKILL
        (left,) = self.path.iterdir()
        assert left.name.startswith(".tmp-")
        live = self.path / f".tmp-{os.getpid()}-writing"
        live.write_bytes(b"half a mail")
        legacy = self.path / ".tmp-abc123"  # named by an earlier version
        legacy.write_bytes(b"half a mail")
        mailer = FolderMailer(self.path)
        assert set(mailer.removed) == {left.name, legacy.name}
        assert [p.name for p in self.path.iterdir()] == [live.name]

    def test_a_failed_write_leaves_no_temporary_file(self) -> None:
        """The temporary file of a write that failed stayed until the next
        start (here the rename fails: a folder has taken the mail's name)."""
        mailer = FolderMailer(self.path)
        mail = example_mail()
        mailer.path_of(mail).mkdir()
        with pytest.raises(DeliveryError, match="cannot write"):
            mailer.send(mail)
        assert [p.name for p in self.path.iterdir()] == [mailer.path_of(mail).name]


class TestSmtpMailer(MailerContract):
    def setup_method(self) -> None:
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        self.controller.start()

    def teardown_method(self) -> None:
        self.controller.stop()

    def make_mailer(self) -> Mailer:
        return SmtpMailer("127.0.0.1", self.controller.port, security="none")

    def delivered(self) -> list[EmailMessage]:
        return [parse(m) for m in self.inbox.messages]

    def test_a_mail_without_created_at_is_dated_by_the_mailer_clock(self) -> None:
        """Every mail carries a Date: one made without ``created_at`` gets the
        mailer's clock."""
        clock = ManualClock(datetime(2026, 11, 23, 8, tzinfo=UTC))
        port = self.controller.port
        SmtpMailer("127.0.0.1", port, security="none", clock=clock).send(example_mail())
        (msg,) = self.delivered()
        assert parsedate_to_datetime(msg["Date"]) == clock.now()

    def test_refused_recipient_is_a_delivery_error(self) -> None:
        """A recipient the server refuses raises DeliveryError naming the mail."""
        mail = example_mail(recipient="nobody@example.com")
        with pytest.raises(DeliveryError, match=r"550.*no such user") as e:
            self.make_mailer().send(mail)
        assert mail.message_id in str(e.value)

    def test_server_down_is_a_delivery_error(self) -> None:
        """No server listening raises DeliveryError."""
        mailer = SmtpMailer("127.0.0.1", free_port(), security="none", timeout=5)
        with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
            mailer.send(example_mail())


class TestSmtpStartTls:
    def setup_method(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server)
        self.client = ssl.create_default_context()
        ca.configure_trust(self.client)
        self.inbox = Inbox()

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                b"bot",
                b"s3cret",
            )
            return AuthResult(
                success=ok, handled=False
            )  # False: the server answers 535

        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=server,
            require_starttls=True,
            authenticator=authenticate,
            auth_require_tls=True,
        )
        self.controller.start()

    def teardown_method(self) -> None:
        self.controller.stop()

    def test_starttls_and_login(self) -> None:
        """STARTTLS with a certificate made for the test, then login, then send."""
        mailer = SmtpMailer(
            "127.0.0.1",
            self.controller.port,
            security="starttls",
            username="bot",
            password="s3cret",
            context=self.client,
        )
        mailer.send(example_mail())
        assert len(self.inbox.messages) == 1

    def test_wrong_password(self) -> None:
        """A refused login is a DeliveryError."""
        mailer = SmtpMailer(
            "127.0.0.1",
            self.controller.port,
            security="starttls",
            username="bot",
            password="nope",
            context=self.client,
        )
        with pytest.raises(DeliveryError, match="SMTPAuthenticationError"):
            mailer.send(example_mail())

    def test_untrusted_certificate(self) -> None:
        """Without trusting the test CA, STARTTLS fails: a DeliveryError."""
        mailer = SmtpMailer(
            "127.0.0.1",
            self.controller.port,
            security="starttls",
            context=ssl.create_default_context(),
        )
        with pytest.raises(DeliveryError, match="SSL"):
            mailer.send(example_mail())


class TestOutgoingMail:
    def test_message_id_is_stable_per_key_and_recipient(self) -> None:
        """The Message-ID derives from the key and recipient only."""
        a = example_mail()
        assert a.message_id == example_mail(subject="other").message_id
        assert a.message_id != example_mail(recipient="boss@example.com").message_id
        assert a.message_id == message_id(a.key, a.recipient, domain="example.com")

    def test_bad_addresses_and_subjects(self) -> None:
        """A malformed address or a multi-line subject is refused."""
        with pytest.raises(ConfigError, match="recipient: expected one e-mail address"):
            example_mail(recipient="not an address")
        with pytest.raises(ConfigError, match="subject: expected one line"):
            example_mail(subject="a\nBcc: victim@example.com")

    def test_bad_security(self) -> None:
        """An unknown security mode is refused."""
        with pytest.raises(ConfigError, match="security"):
            SmtpMailer("localhost", security="tls")  # type: ignore[arg-type]

    def test_is_a_value(self) -> None:
        """OutgoingMail is a frozen value."""
        assert example_mail() == example_mail()
        assert isinstance(example_mail(), OutgoingMail)

"""Test helpers for escalate and for your own test suites (a pytest plugin).

Installed with escalate, this module is registered as a pytest plugin (the
``pytest11`` entry point), so any test suite in an environment with escalate
installed gets the ``manual_clock`` fixture:

.. code-block:: python

    def test_reminder(manual_clock):
        manual_clock.advance(timedelta(hours=2))
        ...

The clock starts at :data:`DEFAULT_START` (2026-01-05 09:00 UTC, a Monday); mark a
test ``@pytest.mark.clock_start("2026-03-29T00:30:00+00:00")`` to start elsewhere.

The ``escalate_postgres_dsn`` fixture (session-wide) starts a throwaway PostgreSQL
server from the machine's server binaries and gives its DSN; without them the
test is skipped naming what to install (a failure under ``CI=true``).

This module imports pytest, so ``escalate/__init__.py`` does not import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Final
from zoneinfo import ZoneInfo

import pytest

# The store contract lives in its own module; have pytest rewrite its asserts
# as it does this plugin's.
pytest.register_assert_rewrite("escalate._store_contract")

from escalate._postgres_server import postgres_server  # noqa: E402
from escalate._store_contract import (  # noqa: E402
    AssignmentLogContract,
    CaseStoreContract,
    DocumentStoreContract,
    HistoryStoreContract,
    LeadStoreContract,
    OutboxStoreContract,
    SettingsStoreContract,
    SlaEventLogContract,
    StoreContract,
    TaskStoreContract,
    TickLogContract,
    example_mail,
)
from escalate._workers_contract import WorkersContract  # noqa: E402
from escalate.errors import NaiveDatetimeError  # noqa: E402
from escalate.mail import Mailer, OutgoingMail  # noqa: E402
from escalate.timers import ManualClock  # noqa: E402

__all__ = [
    "AssignmentLogContract",
    "DEFAULT_START",
    "CaseStoreContract",
    "DocumentStoreContract",
    "HistoryStoreContract",
    "LeadStoreContract",
    "MailerContract",
    "OutboxStoreContract",
    "RecordingMailer",
    "SettingsStoreContract",
    "SlaEventLogContract",
    "StoreContract",
    "TaskStoreContract",
    "TickLogContract",
    "WorkersContract",
    "escalate_postgres_dsn",
    "example_mail",
    "manual_clock",
    "postgres_server",
]

DEFAULT_START: Final = datetime(2026, 1, 5, 9, tzinfo=UTC)
"""Where ``manual_clock`` starts unless a ``clock_start`` mark says otherwise."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clock_start(iso): start the manual_clock fixture at this aware ISO 8601 "
        "instant instead of escalate.testing.DEFAULT_START",
    )


@pytest.fixture(scope="session")
def escalate_postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server started for this test run (stopped and
    removed at its end)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def manual_clock(request: pytest.FixtureRequest) -> ManualClock:
    """A :class:`~escalate.timers.ManualClock` at ``DEFAULT_START`` (or the
    test's ``clock_start`` mark)."""
    mark = request.node.get_closest_marker("clock_start")
    if mark is None:
        return ManualClock(DEFAULT_START)
    start = datetime.fromisoformat(mark.args[0])
    if start.tzinfo is None:
        raise NaiveDatetimeError(
            f"clock_start: expected an ISO 8601 instant with an offset, got "
            f"{mark.args[0]!r}"
        )
    return ManualClock(start)


class RecordingMailer:
    """A mailer that keeps what it sends in ``sent`` (for tests)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def send(self, mail: OutgoingMail) -> None:
        """Record the mail."""
        self.sent.append(mail)


def _lines(text: str) -> str:
    """Text with SMTP's CRLF line ends read as LF."""
    return text.replace("\r\n", "\n")


class MailerContract:
    """The contract every :class:`~escalate.mail.Mailer` adapter passes.

    Subclass it in a test module as ``class TestMyMailer(MailerContract)`` and
    implement :meth:`make_mailer` and :meth:`delivered`; pytest then runs every
    ``test_*`` method against your adapter.
    """

    def make_mailer(self) -> Mailer:
        """A fresh mailer to test."""
        raise NotImplementedError

    def delivered(self) -> list[EmailMessage]:
        """The messages that arrived, in order, as ``EmailMessage`` s."""
        raise NotImplementedError

    def test_delivers_headers_and_body(self) -> None:
        """Recipient, sender, subject, body and Message-ID arrive as sent."""
        mail = example_mail()
        self.make_mailer().send(mail)
        (msg,) = self.delivered()
        assert msg["To"] == mail.recipient
        assert msg["From"] == mail.sender
        assert msg["Subject"] == mail.subject
        assert msg["Message-ID"] == mail.message_id
        body = msg.get_body(("plain",))
        assert body is not None
        assert _lines(body.get_content()) == mail.text

    def test_date_header(self) -> None:
        """A mail arrives dated when it was written (``created_at``), the same
        on every attempt."""
        written = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
        mail = example_mail(created_at=written)
        mailer = self.make_mailer()
        mailer.send(mail)
        mailer.send(mail)
        dates = [parsedate_to_datetime(m["Date"]) for m in self.delivered()]
        assert dates  # one file per Message-ID keeps one copy
        assert all(d == written for d in dates)

    def test_html_alternative(self) -> None:
        """With an HTML body the message is multipart/alternative."""
        self.make_mailer().send(example_mail(html="<p>Case <b>C-1042</b></p>"))
        (msg,) = self.delivered()
        html = msg.get_body(("html",))
        assert html is not None
        assert "<b>C-1042</b>" in html.get_content()

    def test_resend_keeps_the_message_id(self) -> None:
        """Sending the same mail twice is harmless: the same Message-ID."""
        mailer = self.make_mailer()
        mail = example_mail()
        mailer.send(mail)
        mailer.send(mail)
        assert {m["Message-ID"] for m in self.delivered()} == {mail.message_id}

    def test_non_ascii(self) -> None:
        """Non-ASCII subjects and bodies arrive intact."""
        self.make_mailer().send(
            example_mail(subject="Zaak C-1 geëscaleerd – nu", text="Groeten, Anaïs\n")
        )
        (msg,) = self.delivered()[-1:]
        assert msg["Subject"] == "Zaak C-1 geëscaleerd – nu"
        body = msg.get_body(("plain",))
        assert body is not None
        assert _lines(body.get_content()) == "Groeten, Anaïs\n"

"""The worker of ``escalate run`` in-process: ticks and dispatch side by side
(a slow mail server holds up no escalation), store errors survived, the
operator's SMTP settings used. On a real SQLite file and a real (slow)
in-process SMTP server; the waits are bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from escalate import cli
from escalate.adapters.smtp import SmtpMailer
from escalate.adapters.sqlite import SqliteStore
from escalate.config import load_config
from escalate.delivery import DeliveryPolicy
from escalate.engine import Escalator
from escalate.errors import StoreError
from escalate.model import OPERATOR, Actor, Case, Status
from escalate.ports import Store
from escalate.testing import example_mail
from escalate.timers import SystemClock
from escalate.worker import Backoff, Worker
from tests.adapters.test_mailers import free_port
from tests.adapters.test_postgres_worker_faults import TENANT
from tests.adapters.test_smtp_faults import FaultyInbox


def until(what: Callable[[], bool], limit: float = 60) -> None:
    ends = time.monotonic() + limit
    while not what():
        assert time.monotonic() < ends
        time.sleep(0.05)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[FaultyInbox, int]]:
    inbox = FaultyInbox()
    inbox.data_delay = 1.5  # a slow relay: a second and a half per mail
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def overdue_case(i: int) -> Case:
    return Case(
        id=f"c{i}",
        number=f"C-{i}",
        created_at=SystemClock().now() - timedelta(minutes=10),
        owner="queue",
        status=Status.ACTIVE_NEW,
    )


class TestTicksAndDispatchApart:
    def test_a_due_case_fires_on_time_while_mail_is_in_flight(
        self, slow_smtp: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """run ticked, then dispatched, in sequence: an 8 s-per-mail relay held
        it 49 s with no ticks. Now the ticks go on while the mail is sent."""
        inbox, port = slow_smtp
        config_file = tmp_path / "escalate.toml"
        config_file.write_text(TENANT)
        config = load_config(config_file)
        path = tmp_path / "w.db"
        store = SqliteStore(path)
        for i in range(6):  # six slow mails queued before the worker starts
            store.enqueue(
                example_mail(key=f"k/{i}", recipient=f"u{i}@example.com"),
                at=SystemClock().now(),
            )
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5, reuse=True)
        stop = threading.Event()
        policy = DeliveryPolicy(send_deadline=timedelta(seconds=5))

        def build(s: Store) -> Escalator:
            return Escalator.from_config(
                config, s, mailer, SystemClock(), by=OPERATOR, delivery=policy
            )

        worker = Worker(
            lambda: SqliteStore(path),
            build,
            mailer,
            stop,
            every=timedelta(milliseconds=200),
            delivery=policy,
        )
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            until(lambda: len(inbox.messages) >= 1)  # the relay is busy now
            esc = build(SqliteStore(path))
            esc.add_case(overdue_case(1), by=Actor("ann"))
            until(lambda: esc.store.fired_among(_keys(esc, "c1")) != set())
            assert len(inbox.messages) < 6  # fired while the mail was in flight
            ticks = worker.ticks
            until(lambda: worker.ticks > ticks + 2)  # and the ticks go on
            assert len(inbox.messages) < 6
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive()
        beats = SqliteStore(path).heartbeats(SystemClock().now() - timedelta(minutes=1))
        assert [b.worker for b in beats] == [worker.id]


def _keys(esc: Escalator, case_id: str) -> list[str]:
    from escalate.rules import evaluate

    case = esc.store.get_case(case_id)
    ev = evaluate(esc.settings.book, case, SystemClock().now(), esc.calendars)
    return [s.key for s in ev.steps]


class TestStoreErrors:
    def test_a_store_that_fails_is_opened_again_and_the_worker_goes_on(
        self, tmp_path: Path
    ) -> None:
        """Every store access is inside the handling: a store that cannot be
        opened at first, and a tick that fails, are logged and tried again."""
        config_file = tmp_path / "escalate.toml"
        config_file.write_text(TENANT)
        config = load_config(config_file)
        path = tmp_path / "f.db"
        opened = []

        def open_store() -> Store:
            opened.append(1)
            if len(opened) <= 2:
                raise StoreError("PostgreSQL: connection refused (not up yet)")
            return SqliteStore(path)

        stop = threading.Event()
        worker = Worker(
            open_store,
            lambda s: Escalator.from_config(
                config, s, _NoMail(), SystemClock(), by=OPERATOR
            ),
            _NoMail(),
            stop,
            every=timedelta(milliseconds=100),
            max_ticks=3,
            backoff=lambda: Backoff(
                timedelta(milliseconds=10), timedelta(milliseconds=40)
            ),
        )
        assert worker.run() is False  # errors were met on the way
        assert worker.ticks == 3
        errors = [
            worker.metrics.value("escalate_worker_errors_total", part=part)
            for part in ("start", "dispatch")  # each loop opens a store
        ]
        assert sum(errors) == 2
        assert errors[0] >= 1

    def test_a_store_that_cannot_be_opened_at_all_is_raised_when_asked(
        self, tmp_path: Path
    ) -> None:
        def open_store() -> Store:
            raise StoreError("no such file")

        worker = Worker(
            open_store,
            lambda s: pytest.fail("never built"),  # type: ignore[arg-type,return-value]
            _NoMail(),
            threading.Event(),
            every=timedelta(seconds=1),
            retry_start=False,
        )
        with pytest.raises(StoreError, match="no such file"):
            worker.run()


class _NoMail:
    def send(self, mail: object) -> None:
        raise AssertionError("no mail here")


class TestOperatorsSmtpSettings:
    def test_timeout_deadline_and_reuse_reach_the_mailer(self, tmp_path: Path) -> None:
        (tmp_path / "escalate.toml").write_text(
            TENANT + '[mail.smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n'
            'timeout = "7s"\ndeadline = "20s"\nreuse = true\n'
        )
        config = load_config(tmp_path / "escalate.toml")
        mailer = cli._mailer(config, None)
        assert isinstance(mailer, SmtpMailer)
        assert (mailer.timeout, mailer.deadline, mailer.reuse) == (7.0, 20.0, True)
        sending = cli._sending(config)
        assert sending["delivery"].send_deadline == timedelta(seconds=20)
        assert sending["lease"] == timedelta(minutes=5)  # at least twice the deadline


class TestBadArguments:
    def test_a_worker_refuses_what_cannot_work(self) -> None:
        from escalate.errors import ConfigError, WrongTypeError

        def make(**kw: object) -> Worker:
            return Worker(
                lambda: pytest.fail("never opened"),  # type: ignore[arg-type,return-value]
                lambda s: pytest.fail("never built"),  # type: ignore[arg-type,return-value]
                _NoMail(),
                threading.Event(),
                **{"every": timedelta(seconds=1), **kw},  # type: ignore[arg-type]
            )

        with pytest.raises(ConfigError, match="every: expected a positive"):
            make(every=timedelta(0))
        with pytest.raises(WrongTypeError, match="every: expected a timedelta"):
            make(every=5)
        with pytest.raises(ConfigError, match="max_ticks: expected 1 or more"):
            make(max_ticks=0)
        with pytest.raises(ConfigError, match="lease: expected at least twice"):
            make(lease=timedelta(seconds=10))

    def test_a_dispatch_limit_below_one_is_refused(self, tmp_path: Path) -> None:
        from escalate.delivery import Dispatcher
        from escalate.errors import ConfigError

        d = Dispatcher(SqliteStore(tmp_path / "d.db"), _NoMail(), SystemClock())
        for bad in (0, -1, True, "3"):
            with pytest.raises(ConfigError, match="limit: expected a whole number"):
                d.dispatch(limit=bad)  # type: ignore[arg-type]

    def test_a_statement_timeout_that_cannot_work_is_refused(
        self, postgres_dsn: str
    ) -> None:
        from escalate.adapters.postgres import PostgresStore
        from escalate.errors import ConfigError, WrongTypeError

        with pytest.raises(ConfigError, match="statement_timeout: expected a positive"):
            PostgresStore(postgres_dsn, statement_timeout=timedelta(0))
        with pytest.raises(WrongTypeError, match="statement_timeout: expected"):
            PostgresStore(postgres_dsn, statement_timeout=5)  # type: ignore[arg-type]

"""The contract of a store that claims to serve several workers at once.

:class:`WorkersContract` runs the engine itself on the store: N threads, each
with its own handle on the same data (``make_worker_store``), tick and dispatch
the same due cases together. Every action must be recorded once, every mail
queued once and sent once, whatever the interleaving. ``escalate.testing``
re-exports it; subclass it beside your adapter's ``StoreContract`` tests.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from escalate.engine import Escalator
from escalate.mail import OutgoingMail
from escalate.model import Case, Status
from escalate.ports import Store
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem
from escalate.templates import Templates
from escalate.timers import ManualClock

__all__ = ["WorkersContract"]

_T0: Final = datetime(2026, 11, 23, 9, tzinfo=UTC)
_H: Final = timedelta(hours=1)
_BOOK: Final = RuleBook.build(
    [
        Rule(
            name="main",
            items=[
                RuleItem(
                    id="all",
                    actions=[
                        EscalationAction(id="first", after=_H, escalate_to="lead"),
                        EscalationAction(id="second", after=2 * _H, escalate_to="boss"),
                    ],
                )
            ],
        )
    ],
    active="main",
)
_SOONER: Final = RuleBook.build(  # the first step after 30 minutes
    [
        Rule(
            name="main",
            items=[
                RuleItem(
                    id="all",
                    actions=[
                        EscalationAction(id="first", after=_H / 2, escalate_to="lead"),
                        EscalationAction(id="second", after=2 * _H, escalate_to="boss"),
                    ],
                )
            ],
        )
    ],
    active="main",
)
_TEMPLATES: Final = Templates(
    {
        "escalation.subject": "Case {{ case.number }} escalated",
        "escalation.txt": "Case {{ case.number }} is due since {{ due_at }}.\n",
    }
)
_ADDRESSES: Final = {"lead": "lead@example.com", "boss": "boss@example.com"}


class _SharedMailer:
    """Counts what every worker sends (threads share it)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self._lock = threading.Lock()

    def send(self, mail: OutgoingMail) -> None:
        with self._lock:
            self.sent.append(mail)


class WorkersContract:
    """Several workers on one store: each action once, each mail once."""

    workers: int = 4
    cases: int = 30

    def make_store(self) -> Store:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def make_worker_store(self, store: Store) -> Store:
        """Another worker's handle on the data of ``store`` (its own
        connection, say); the same object if the store is one in memory."""
        raise NotImplementedError

    def test_workers_fire_each_action_once_and_send_each_mail_once(self) -> None:
        """N workers tick and dispatch the same due cases at once."""
        store, clock = self._cases()
        clock.advance(3 * _H)
        mailer = _SharedMailer()
        fired: list[str] = []
        handled: list[int] = []
        lock = threading.Lock()

        def work(start: threading.Barrier) -> None:
            esc = _escalator(self.make_worker_store(store), mailer, clock)
            start.wait()
            for _ in range(3):
                report = esc.tick()
                while esc.dispatch(limit=7).sent:
                    pass
                with lock:
                    fired.extend(f.key for f in report.fired)
                    handled.append(report.cases)

        _run(self.workers, work)
        keys = Counter(fired)
        assert sum(handled) == self.cases  # each due case taken by one worker
        assert len(keys) == self.cases * 2  # two steps per case
        assert set(keys.values()) == {1}
        sent = Counter(m.message_id for m in mailer.sent)
        assert len(sent) == self.cases * 2
        assert set(sent.values()) == {1}
        assert store.pending() == 0

    def test_a_settings_change_is_recomputed_once_by_the_workers(self) -> None:
        """N workers under new settings tick at once: they take turns on the
        recompute's batches (each case recomputed once, by one of them), then
        fire what the change made due, once."""
        store, clock = self._cases()
        clock.advance(_H * 3 / 4)  # due under the new settings only
        mailer = _SharedMailer()
        recomputed: list[int] = []
        fired: list[str] = []
        lock = threading.Lock()

        def work(start: threading.Barrier) -> None:
            esc = _escalator(self.make_worker_store(store), mailer, clock, _SOONER)
            esc.batch = 4  # several batches to take turns on
            start.wait()
            report = esc.tick()
            with lock:
                recomputed.append(report.recomputed)
                fired.extend(f.key for f in report.fired)

        _run(self.workers, work)
        assert sum(recomputed) == self.cases
        assert sorted(Counter(fired).values()) == [1] * self.cases
        record = store.settings_record()
        assert record is not None
        assert (record.recomputed, record.through) == (True, None)

    def _cases(self) -> tuple[Store, ManualClock]:
        """A store with ``cases`` open cases created at T0, under ``_BOOK``."""
        store = self.make_store()
        clock = ManualClock(_T0)
        setup = _escalator(store, _SharedMailer(), clock)
        for i in range(self.cases):
            setup.add_case(
                Case(
                    id=f"c{i:03d}",
                    number=f"C-{i}",
                    created_at=_T0,
                    owner="queue",
                    status=Status.ACTIVE_NEW,
                ),
                by=None,
            )
        return store, clock


def _escalator(
    store: Store, mailer: _SharedMailer, clock: ManualClock, book: RuleBook = _BOOK
) -> Escalator:
    return Escalator(
        store, mailer, clock, book=book, templates=_TEMPLATES, addresses=_ADDRESSES
    )


def _run(workers: int, work: Callable[[threading.Barrier], None]) -> None:
    """``work`` in ``workers`` threads started together; the first failure of
    any of them is raised here."""
    failures: list[BaseException] = []
    start = threading.Barrier(workers)

    def guarded() -> None:
        try:
            work(start)
        except BaseException as e:  # raised below, in the test's thread
            failures.append(e)

    threads = [threading.Thread(target=guarded) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]

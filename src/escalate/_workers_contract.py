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
        clock.advance(3 * _H)
        mailer = _SharedMailer()
        fired: list[str] = []
        failures: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(self.workers)

        def work() -> None:
            try:
                esc = _escalator(self.make_worker_store(store), mailer, clock)
                start.wait()
                for _ in range(3):
                    report = esc.tick()
                    while esc.dispatch(limit=7).sent:
                        pass
                    with lock:
                        fired.extend(f.key for f in report.fired)
            except BaseException as e:  # reported below, in the test's thread
                failures.append(e)

        threads = [threading.Thread(target=work) for _ in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        keys = Counter(fired)
        assert len(keys) == self.cases * 2  # two steps per case
        assert set(keys.values()) == {1}
        sent = Counter(m.message_id for m in mailer.sent)
        assert len(sent) == self.cases * 2
        assert set(sent.values()) == {1}
        assert store.pending() == 0


def _escalator(store: Store, mailer: _SharedMailer, clock: ManualClock) -> Escalator:
    return Escalator(
        store, mailer, clock, book=_BOOK, templates=_TEMPLATES, addresses=_ADDRESSES
    )

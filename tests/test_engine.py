"""The Escalator: ticks, exactly-once, dispatch, errors that leave nothing behind."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.errors import DeliveryError
from escalate.hours import BusinessHours
from escalate.mail import OutgoingMail
from escalate.model import Actor, Case, Status
from escalate.rules import EscalationAction, ExpiryPolicy, Rule, RuleBook, RuleItem
from escalate.templates import Templates
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
TEMPLATES = Templates(
    {
        "escalation.subject": "Case {{ case.number }}: {{ action.escalate_to }}",
        "escalation.txt": "Case {{ case.number }} is due since {{ due_at }}.\n",
        "assignment.subject": "Case {{ case.number }} is yours",
        "assignment.txt": "Please take case {{ case.number }}.\n",
        "warning.subject": "Case {{ case.number }} escalates soon",
        "warning.txt": "{{ threshold }} of the time is gone.\n",
    }
)
ADDRESSES = {
    "lead": "lead@example.com",
    "boss": "boss@example.com",
    "queue": "queue@example.com",
    "senior": "senior@example.com",
}
BOOK = RuleBook.build(
    [
        Rule(
            name="main",
            items=[
                RuleItem(
                    id="all",
                    hours="office",
                    actions=[
                        EscalationAction(
                            id="first", after=H, escalate_to="lead", warnings=(50,)
                        ),
                        EscalationAction(
                            id="second",
                            after=2 * H,
                            escalate_to="boss",
                            new_owner="senior",
                        ),
                    ],
                )
            ],
        )
    ],
    active="main",
    expiry=ExpiryPolicy(after=timedelta(days=2)),
)


def escalator(
    store: object, clock: ManualClock, mailer: object | None = None, **kw: object
) -> Escalator:
    return Escalator(
        store,  # type: ignore[arg-type]
        mailer or RecordingMailer(),  # type: ignore[arg-type]
        clock,
        book=kw.pop("book", BOOK),  # type: ignore[arg-type]
        calendars={"office": OFFICE},
        templates=kw.pop("templates", TEMPLATES),  # type: ignore[arg-type]
        addresses=ADDRESSES,
        **kw,  # type: ignore[arg-type]
    )


def case(i: int = 1, **kw: object) -> Case:
    return Case(
        id=f"c{i}",
        number=f"C-{i}",
        created_at=T0,
        owner="queue",
        status=Status.ACTIVE_NEW,
        **kw,
    )


class TestTick:
    def test_ladder_fires_each_step_once(self) -> None:
        """Warning, first and second step fire once each, at their instants."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        kinds = []
        for _ in range(12):
            clock.advance(timedelta(minutes=15))
            kinds += [(f.kind.value, f.due_at) for f in esc.tick().fired]
        assert kinds == [
            ("warning", T0 + H / 2),
            ("escalation", T0 + H),
            ("escalation", T0 + 2 * H),
        ]
        assert esc.tick().fired == ()

    def test_new_owner_is_an_automatic_change(self) -> None:
        """The second step's new owner is set by the library: history says so,
        modified_at stays, and the new owner gets an assignment mail."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(3 * H)
        report = esc.tick()
        assert [f.mails for f in report.fired] == [1, 1, 2]
        stored = store.get_case("c1")
        assert (stored.owner, stored.modified_at) == ("senior", None)
        history = store.history("c1")
        assert [e.action.value for e in history] == ["case created", "case modified"]
        assert history[-1].actor is None
        assert [line.kind.value for line in store.lines("c1")] == [
            "case created",
            "handler changed",
        ]

    def test_dispatch_sends_each_mail(self) -> None:
        """Queued mails are sent once, with stable Message-IDs."""
        clock = ManualClock(T0)
        store, mailer = MemoryStore(), RecordingMailer()
        esc = escalator(store, clock, mailer)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(3 * H)
        esc.tick()
        report = esc.dispatch()
        assert len(report.sent) == 4
        assert sorted(m.recipient for m in mailer.sent) == [
            "boss@example.com",
            "lead@example.com",
            "queue@example.com",
            "senior@example.com",
        ]
        assert esc.dispatch().sent == ()
        subjects = {m.recipient: m.subject for m in mailer.sent}
        assert subjects["boss@example.com"] == "Case C-1: boss"

    def test_expiry(self) -> None:
        """A case pending for two days expires, by the library."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(
            store, clock, book=RuleBook(expiry=ExpiryPolicy(after=timedelta(days=2)))
        )
        esc.add_case(case(), by=Actor("ann"))
        esc.update_case("c1", {"status": Status.PENDING}, by=Actor("ann"))
        clock.advance(timedelta(days=2))
        (fired,) = esc.tick().fired
        assert fired.kind.value == "expiry"
        assert store.get_case("c1").status == Status.EXPIRED
        assert store.history("c1")[-1].action.value == "case closed"

    def test_a_bad_template_leaves_nothing_behind(self) -> None:
        """A missing template: an error in the report, nothing recorded or queued;
        once the template exists the action fires, once."""
        clock = ManualClock(T0)
        store = MemoryStore()
        broken = Templates({"warning.subject": "x", "warning.txt": "x"})
        esc = escalator(store, clock, templates=broken)
        esc.add_case(case(), by=Actor("ann"))
        esc.add_case(case(2, priority="x"), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        assert [cid for cid, _ in report.errors] == ["c1", "c2"]
        assert "template 'escalation.subject' does not exist" in report.errors[0][1]
        assert store.pending() == 0
        assert len(store.history("c1")) == 1
        fixed = escalator(store, clock)
        assert len(fixed.tick().fired) == 4
        assert fixed.tick().fired == ()

    def test_unknown_calendar_is_reported_and_the_rest_goes_on(self) -> None:
        """A book naming an unknown calendar fails that evaluation clearly."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        bad_book = RuleBook.build(
            [
                Rule(
                    name="m",
                    items=[
                        RuleItem(
                            id="x",
                            hours="night",
                            actions=[EscalationAction(after=H, escalate_to="lead")],
                        )
                    ],
                )
            ],
            active="m",
        )
        esc.book = bad_book
        clock.advance(H)
        report = esc.tick()
        assert "unknown calendar 'night'" in report.errors[0][1]


class FailingMailer:
    def __init__(self) -> None:
        self.down = True
        self.sent: list[OutgoingMail] = []

    def send(self, mail: OutgoingMail) -> None:
        if self.down:
            raise DeliveryError(f"mail {mail.message_id}: 421 service not available")
        self.sent.append(mail)


class TestDispatch:
    def test_failure_is_retried_with_backoff(self) -> None:
        """A refused mail stays queued, and is tried again after the backoff."""
        clock = ManualClock(T0)
        store, mailer = MemoryStore(), FailingMailer()
        esc = escalator(store, clock, mailer)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H / 2)
        esc.tick()
        report = esc.dispatch()
        assert report.sent == ()
        assert "421" in report.failed[0][1]
        mailer.down = False
        assert esc.dispatch().sent == ()  # not before the backoff
        clock.advance(timedelta(minutes=1))
        assert len(esc.dispatch().sent) == 1
        assert store.pending() == 0


class TestWorkers:
    def test_concurrent_workers_fire_each_action_once(self, tmp_path: Path) -> None:
        """Four workers (each its own connection) tick one SQLite file: every
        action is recorded once and every mail queued once."""
        path = tmp_path / "escalate.db"
        clock = ManualClock(T0)
        setup = escalator(SqliteStore(path), clock)
        for i in range(40):
            setup.add_case(case(i), by=Actor("ann"))
        reports = []
        lock = threading.Lock()

        def work() -> None:
            esc = escalator(SqliteStore(path), clock)
            for _ in range(3):
                r = esc.tick()
                with lock:
                    reports.append(r)

        clock.advance(3 * H)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        keys = Counter(f.key for r in reports for f in r.fired)
        assert len(keys) == 40 * 3
        assert set(keys.values()) == {1}
        assert SqliteStore(path).pending() == 40 * 4

"""The Escalator: ticks, exactly-once, dispatch, errors that leave nothing behind."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import PER_COMMIT, TICK_ATTEMPTS, Escalator
from escalate.errors import (
    ConfigError,
    ConflictError,
    DeliveryError,
    InvalidOperation,
    StoreError,
    WrongTypeError,
)
from escalate.history import DocumentKind, DocumentSettings
from escalate.hours import BusinessHours
from escalate.mail import OutgoingMail
from escalate.model import OPERATOR, Actor, Case, Status, Task
from escalate.rules import (
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    evaluate,
)
from escalate.settings import Settings
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
        addresses=kw.pop("addresses", ADDRESSES),  # type: ignore[arg-type]
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

    def test_a_due_case_is_evaluated_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Its evaluation for the actions gives its next due instant too, when
        the actions left it as it was (another for a case they changed)."""
        import escalate._engine_base
        import escalate.engine

        calls: list[str] = []

        def counted(book, case, now, calendars):  # type: ignore[no-untyped-def]
            calls.append(case.id)
            return evaluate(book, case, now, calendars)

        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock)
        esc.add_case(case(), by=Actor("ann"))
        assert esc.tick().fired == ()  # (the first tick stores the settings)
        monkeypatch.setattr(escalate.engine, "evaluate", counted)
        monkeypatch.setattr(escalate._engine_base, "evaluate", counted)
        clock.advance(H / 2)  # the warning: the case stays as it was
        assert [f.kind.value for f in esc.tick().fired] == ["warning"]
        assert calls == ["c1"]

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

    def test_a_bad_template_fails_its_action_alone(self) -> None:
        """A missing template: an error of that action in the report, nothing
        of it recorded or queued, while the case's other due action (its
        warning) is carried out; the case is put aside, and once the template
        exists its action fires, once."""
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
        assert [f.kind.value for f in report.fired] == ["warning", "warning"]
        assert store.pending() == 2  # the warnings; no escalation mail
        assert len(store.history("c1")) == 1
        fixed = escalator(store, clock)
        assert fixed.tick().fired == ()  # put aside for a minute
        clock.advance(timedelta(minutes=1))
        assert [f.kind.value for f in fixed.tick().fired] == ["escalation"] * 2
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
                            actions=[
                                EscalationAction(
                                    id="step-1", after=H, escalate_to="lead"
                                )
                            ],
                        )
                    ],
                )
            ],
            active="m",
        )
        esc.use_settings(Settings(bad_book, esc.calendars), by=OPERATOR)
        clock.advance(H)
        report = esc.tick()
        assert report.recomputed == 1
        assert "unknown calendar 'night'" in report.errors[0][1]
        assert esc.tick().errors == ()  # put aside for a minute
        clock.advance(timedelta(minutes=1))
        assert esc.tick().errors == report.errors  # reported until it is fixed
        assert store.quarantined_item("case", "c1").failures == 2  # type: ignore[union-attr]


class TestSettings:
    def test_first_tick_stores_the_settings(self) -> None:
        """The store learns the settings; the same settings recompute nothing."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        assert esc.tick().recomputed == 1
        record = store.settings_record()
        assert record is not None
        assert (record.digest, record.recomputed) == (esc.settings.digest, True)
        assert Settings.from_document(record.document) == esc.settings
        assert esc.tick().recomputed == 0
        assert escalator(store, clock).sync_settings() == 0  # another worker

    def test_a_calendar_change_moves_deadlines_and_fired_stays_fired(self) -> None:
        """New opening hours recompute the open cases: the next step moves, the
        one fired already does not fire again."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        assert len(esc.tick().fired) == 2  # the warning and the first step
        # the office now opens at 12:00 (a calendar is a value: the new hours
        # count for the whole life of the case): the second step, 2h of office
        # time, moves from 11:00 to 14:00; the first, now at 13:00, stays fired
        late = BusinessHours.from_spec({"mon-fri": "12:00-17:00"}, tz="UTC")
        esc.use_settings(Settings(BOOK, {"office": late}), by=OPERATOR)
        clock.advance(H)  # 11:00: the second step was due under the old hours
        report = esc.tick()
        assert (report.recomputed, report.moved, report.fired) == (1, 1, ())
        clock.advance(3 * H - timedelta(microseconds=1))
        assert esc.tick().fired == ()
        clock.advance(timedelta(microseconds=1))
        (fired,) = esc.tick().fired
        assert (fired.key.split("/")[3], fired.due_at) == ("second", T0 + 5 * H)
        assert fired.action is not None
        assert fired.action.basis_at == T0
        # the same hours under another name: recomputed, but no deadline moved
        esc.use_settings(Settings(BOOK, {"office": late, "spare": late}), by=OPERATOR)
        report = esc.tick()
        assert (report.recomputed, report.moved) == (1, 0)

    def test_a_recompute_cut_short_is_finished_by_the_next_worker(self) -> None:
        """A record left unfinished (a worker died) is recomputed again."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        esc.sync_settings()
        record = store.settings_record()
        assert record is not None
        store.save_settings(attrs.evolve(record, recomputed=False))
        assert escalator(store, clock).sync_settings() == 1

    def test_every_version_is_kept_and_the_record_names_the_one_before(self) -> None:
        """Each settings version synced is kept by digest, in order; the record
        says which digest was in force before."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.sync_settings()
        first = esc.settings.digest
        late = BusinessHours.from_spec({"mon-fri": "12:00-17:00"}, tz="UTC")
        esc.use_settings(Settings(BOOK, {"office": late}), by=OPERATOR)
        esc.sync_settings()
        assert [v.digest for v in store.settings_versions()] == [
            first,
            esc.settings.digest,
        ]
        assert Settings.from_document(store.settings_version(first).document) == (
            Settings(BOOK, {"office": OFFICE})
        )
        record = store.settings_record()
        assert record is not None
        assert (record.digest, record.previous) == (esc.settings.digest, first)

    def test_a_resumed_recompute_compares_with_the_version_before(self) -> None:
        """A worker finishing a recompute cut short still counts the deadlines
        that moved against the settings in force before the change."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        esc.sync_settings()
        late = BusinessHours.from_spec({"mon-fri": "12:00-17:00"}, tz="UTC")
        esc.use_settings(Settings(BOOK, {"office": late}), by=OPERATOR)
        esc.sync_settings()
        record = store.settings_record()
        assert record is not None
        store.save_settings(attrs.evolve(record, recomputed=False))  # cut short
        again = escalator(store, clock)
        again.use_settings(Settings(BOOK, {"office": late}), by=OPERATOR)
        report = again.tick()
        assert (report.recomputed, report.moved) == (1, 1)


TASK_TEMPLATES = Templates(
    {
        "task overdue.subject": "Overdue: {{ task.title }}",
        "task overdue.txt": "{{ task.title }} was due at {{ due_at }}.\n",
    }
)


class TestTasks:
    def task(self, **kw: object) -> Task:
        return Task(
            id=str(kw.pop("id", "t1")),
            title="Call back",
            owner="lead",
            due_at=T0 + H,
            **kw,  # type: ignore[arg-type]
        )

    def test_reminder_once_at_the_due_instant(self) -> None:
        """The owner is reminded by the first tick at or after the due instant,
        once; the mail is rendered from the task template."""
        clock = ManualClock(T0)
        store, mailer = MemoryStore(), RecordingMailer()
        esc = escalator(store, clock, mailer, templates=TASK_TEMPLATES)
        esc.save_task(self.task())
        clock.advance(H - timedelta(microseconds=1))
        assert esc.tick().reminded == ()
        clock.advance(timedelta(microseconds=1))
        assert esc.tick().reminded == ("t1",)
        assert esc.tick().reminded == ()
        esc.dispatch()
        (mail,) = mailer.sent
        assert (mail.recipient, mail.subject) == (
            "lead@example.com",
            "Overdue: Call back",
        )
        esc.save_task(self.task())  # saved again unchanged: no second reminder
        assert esc.tick().reminded == ()

    def test_done_in_time_or_moved(self) -> None:
        """A task done before it is due is not reminded; a new due instant is a
        new reminder."""
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock, templates=TASK_TEMPLATES)
        esc.save_task(self.task().done(T0))
        esc.save_task(self.task(id="t2"))
        clock.advance(H)
        assert esc.tick().reminded == ("t2",)
        esc.save_task(attrs.evolve(self.task(id="t2"), due_at=T0 + 2 * H))
        clock.advance(H)
        assert esc.tick().reminded == ("t2",)

    def test_missing_template_is_reported_and_retried(self) -> None:
        """Without the task template: an error, nothing recorded; once the
        template exists the reminder goes out."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.save_task(self.task())
        clock.advance(H)
        report = esc.tick()
        assert report.errors[0][0] == "t1"
        assert "task overdue.subject" in report.errors[0][1]
        assert store.pending() == 0
        clock.advance(timedelta(minutes=1))  # the task was put aside for a minute
        assert escalator(store, clock, templates=TASK_TEMPLATES).tick().reminded == (
            "t1",
        )

    def test_bad_task_is_refused(self) -> None:
        """save_task takes a Task."""
        esc = escalator(MemoryStore(), ManualClock(T0))
        with pytest.raises(WrongTypeError, match="task: expected a Task"):
            esc.save_task("t1")  # type: ignore[arg-type]


class TestDocumentsAndDeletion:
    def test_escalate_to_document_numbers_and_closes(self) -> None:
        """The store numbers the document; closing the case is in the history."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        doc = esc.escalate_to_document(
            "c1",
            DocumentKind.COMPLAINT,
            by=Actor("ann"),
            settings=DocumentSettings(close_case=True),
        )
        assert doc.number == "CMP-0001"
        assert store.documents("c1") == [doc]
        assert store.get_case("c1").status == Status.CLOSED
        assert store.history("c1")[-1].action.value == "case closed"

    def test_a_refused_document_takes_no_number(self) -> None:
        """A kind not enabled: InvalidOperation, and no number is used up."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        only_actions = DocumentSettings(enabled=frozenset({DocumentKind.ACTION}))
        with pytest.raises(InvalidOperation):
            esc.escalate_to_document(
                "c1", DocumentKind.COMPLAINT, by=Actor("ann"), settings=only_actions
            )
        assert store.next_number(DocumentKind.COMPLAINT) == "CMP-0001"

    def test_delete_case(self) -> None:
        """A deleted case leaves the store and the due index; its record stays."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        deletion = esc.delete_case("c1", by=Actor("ann"))
        assert store.case_deletions() == [deletion]
        assert deletion.head == store.history_head("c1")
        clock.advance(3 * H)
        assert esc.tick().fired == ()


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


class TestMailIdentity:
    @pytest.mark.parametrize("kind", ["memory", "sqlite"])
    def test_two_mails_of_one_action_to_one_person(
        self, kind: str, tmp_path: Path
    ) -> None:
        """The example's manager step escalates to mark and makes him the owner:
        the escalation and the assignment mail both reach him, with Message-IDs of
        their own, and the tick counts both (it lost the second one before)."""
        from escalate.config import example_config, load_config

        config = load_config(example_config())
        clock = ManualClock(datetime(2026, 11, 23, 8, tzinfo=UTC))  # Monday 09:00 CET
        store = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "e.db")
        mailer = RecordingMailer()
        esc = Escalator.from_config(config, store, mailer, clock)
        esc.add_case(
            Case(id="c1", number="C-1", priority="high", created_at=clock.now()),
            by=None,
        )
        clock.advance(5 * H)
        fired = {
            f.action.action.id: f
            for f in esc.tick().fired
            if f.action and f.action.action
        }
        manager = fired["manager"]
        assert manager.mails == 2
        assert manager.recipients == ("mark@example.com", "mark@example.com")
        esc.dispatch()
        to_mark = [m for m in mailer.sent if m.recipient == "mark@example.com"]
        assert sorted(m.purpose for m in to_mark) == ["assignment", "escalation"]
        assert len({m.message_id for m in to_mark}) == 2
        messages = [m.to_message() for m in to_mark]
        assert {m["X-Escalate-Purpose"] for m in messages} == {
            "assignment",
            "escalation",
        }

    def test_message_id_names_key_purpose_and_recipient(self) -> None:
        """Each of the three changes the Message-ID; the recipient's case does not."""
        from escalate.mail import message_id

        base = message_id("k", "ann@example.com", purpose="escalation")
        assert base == message_id("k", "Ann@Example.com", purpose="escalation")
        others = {
            message_id("k2", "ann@example.com", purpose="escalation"),
            message_id("k", "bob@example.com", purpose="escalation"),
            message_id("k", "ann@example.com", purpose="assignment"),
        }
        assert base not in others
        assert len(others) == 3


class TestNothingSilent:
    """A mail that cannot be addressed or rendered is an error of its action:
    the action is not recorded, the case's other actions are carried out, and
    it fires once the configuration is fixed (the case is put aside meanwhile,
    a minute the first time)."""

    def test_a_user_without_an_address(self) -> None:
        clock, store = ManualClock(T0), MemoryStore()
        addresses = {k: v for k, v in ADDRESSES.items() if k != "lead"}
        esc = escalator(store, clock, addresses=addresses)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        assert [f.kind.value for f in report.fired] == ["warning"]  # the rest goes on
        ((who, message),) = report.errors
        assert who == "c1"
        assert "escalate_to of escalation 'first': user 'lead' has no address" in (
            message
        )
        with pytest.raises(InvalidOperation, match="could not handle 1: c1: "):
            report.raise_for_errors()
        clock.advance(timedelta(minutes=1))
        fixed = escalator(store, clock).tick()
        assert fixed.errors == ()
        assert [f.kind.value for f in fixed.fired] == ["escalation"]
        assert escalator(store, clock).tick().fired == ()

    def test_a_template_that_fails(self) -> None:
        clock, store = ManualClock(T0), MemoryStore()
        broken = Templates(
            {**dict.fromkeys(TEMPLATES.names(), "x"), "escalation.txt": "{{ nope }}"}
        )
        esc = escalator(store, clock, templates=broken)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        assert "'nope' is undefined" in report.errors[0][1]
        assert [f.kind.value for f in report.fired] == ["warning"]
        clock.advance(timedelta(minutes=1))
        fixed = escalator(store, clock).tick().fired
        assert "first" in [
            f.action.action.id for f in fixed if f.action and f.action.action
        ]

    def test_a_task_owner_without_an_address(self) -> None:
        clock, store = ManualClock(T0), MemoryStore()
        esc = escalator(store, clock, task_template="escalation")
        esc.save_task(Task(id="t1", title="Call", owner="nobody", due_at=T0 + H))
        clock.advance(H)
        report = esc.tick()
        assert report.reminded == ()
        assert (
            "task 't1': its owner: user 'nobody' has no address"
            in (report.errors[0][1])
        )


class TestBadArguments:
    @pytest.mark.parametrize(
        ("kw", "error", "message"),
        [
            ({"batch": 0}, ConfigError, "batch: expected at least 1, got 0"),
            ({"batch": -1}, ConfigError, "batch: expected at least 1, got -1"),
            ({"batch": "500"}, WrongTypeError, "batch: expected a whole number"),
            ({"batch": True}, WrongTypeError, "batch: expected a whole number"),
            ({"lease": 300}, WrongTypeError, "lease: expected a timedelta"),
            ({"lease": timedelta(0)}, ConfigError, "lease: expected a positive"),
        ],
    )
    def test_a_batch_or_lease_that_cannot_work_is_refused(
        self, kw: dict[str, object], error: type[Exception], message: str
    ) -> None:
        """A batch of none (or all, as SQL's LIMIT -1 reads) would make a tick
        silently do nothing (or everything at once)."""
        with pytest.raises(error, match=message):
            escalator(MemoryStore(), ManualClock(T0), **kw)

    def test_a_dispatch_limit_below_one_is_refused(self) -> None:
        esc = escalator(MemoryStore(), ManualClock(T0))
        with pytest.raises(ConfigError, match="limit: expected at least 1, got 0"):
            esc.dispatch(limit=0)


class TestDefectsFoundByANewUser:
    def test_adding_a_case_that_exists_says_so(self) -> None:
        from escalate.errors import ConflictError

        esc = escalator(MemoryStore(), ManualClock(T0))
        esc.add_case(case(), by=Actor("ann"))
        with pytest.raises(ConflictError, match="case 'c1' exists already"):
            esc.add_case(case(), by=Actor("ann"))

    def test_due_actions_refuses_what_is_not_a_case(self) -> None:
        from escalate.rules import due_actions

        task = Task(id="t1", title="Call", owner="ann", due_at=T0)
        with pytest.raises(
            WrongTypeError, match="cases: expected Case values, got Task"
        ):
            due_actions(BOOK, [task], T0, {"office": OFFICE})  # type: ignore[list-item]


class TestFieldsTheStoreCannotKeep:
    def test_a_fraction_is_refused_and_nothing_is_written(self, tmp_path: Path) -> None:
        """update_case with a Fraction in a custom field: a ConfigError naming the
        field; the stored case, its history and its lines are as they were."""
        from fractions import Fraction

        from escalate.errors import ConfigError

        store = SqliteStore(tmp_path / "e.db")
        esc = escalator(store, ManualClock(T0))
        esc.add_case(case(fields={"customer": "acme"}), by=Actor("ann"))
        before = (store.get_case("c1"), store.history("c1"), store.lines("c1"))
        with pytest.raises(ConfigError, match=r"Case.fields\['score'\]"):
            esc.update_case("c1", {"fields": {"score": Fraction(1, 3)}}, by=None)
        assert (store.get_case("c1"), store.history("c1"), store.lines("c1")) == before


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


class _Contended(MemoryStore):
    """Another writer gets to each due case first, ``times`` times."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.takes = 0

    def take_due_case(self, case_id: str, until: datetime) -> Case | None:
        self.takes += 1
        if self.takes <= self.times:
            raise ConflictError(f"case {case_id!r}: could not serialize access")
        return super().take_due_case(case_id, until)


class TestConflictsInATick:
    def test_a_conflict_is_retried_at_once(self) -> None:
        """A serialization failure or stale version is tried again in the same
        tick (its transaction rolled back), and counted."""
        clock = ManualClock(T0)
        store = _Contended(times=TICK_ATTEMPTS - 1)
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        assert (report.cases, len(report.fired), report.errors) == (1, 2, ())
        retries = esc.metrics.value("escalate_conflict_retries_total")
        assert retries == TICK_ATTEMPTS - 1

    def test_conflicts_are_reported_after_a_bounded_number_of_attempts(
        self,
    ) -> None:
        """Still conflicting after TICK_ATTEMPTS attempts: reported with the
        case id, nothing fired, left for the next tick (which handles it)."""
        clock = ManualClock(T0)
        store = _Contended(times=TICK_ATTEMPTS)
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        ((who, message),) = report.errors
        assert (who, report.fired, store.takes) == ("c1", (), TICK_ATTEMPTS)
        assert f"changed meanwhile ({TICK_ATTEMPTS} attempts)" in message
        assert "could not serialize access" in message
        assert len(esc.tick().fired) == 2

    def test_a_key_another_worker_recorded_is_not_due_again(self) -> None:
        """A step whose key another worker recorded after this one looked
        counts as fired for the case's next due instant too: the case is not
        left due for the next tick."""

        class LateView(MemoryStore):
            def fired_among(self, keys: Collection[str]) -> set[str]:
                return set()  # looked before the other worker recorded them

        clock = ManualClock(T0)
        store = LateView()
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        ev = evaluate(BOOK, store.get_case("c1"), clock.now(), {"office": OFFICE})
        for action in ev.actions(set()):
            store.record_fired(action.key, clock.now())  # the other worker
        report = esc.tick()
        assert (report.cases, report.fired) == (1, ())
        assert store.due_cases(clock.now(), limit=10) == []


class _CommitFails(MemoryStore):
    """The commit of the next transaction that takes a due case fails once
    (a full disk, a lost connection): everything in it is rolled back."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.failures = 1

    def take_due_case(self, case_id: str, until: datetime) -> Case | None:
        self.armed = self.failures > 0
        return super().take_due_case(case_id, until)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with super().transaction():
            outermost = self._depth == 1
            yield
            if outermost and self.armed:
                self.armed = False
                self.failures -= 1
                raise StoreError("cannot commit: disk full")


class _BeginFails(MemoryStore):
    """The transaction of the next due batch cannot begin (the database is
    locked beyond the store's timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def due_cases(self, until: datetime, *, limit: int) -> list[Case]:
        due = super().due_cases(until, limit=limit)
        if due and self.failures == 0:
            self.failures = 1
        return due

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth == 0 and self.failures == 1:
            self.failures = 2
            raise StoreError("cannot begin a transaction: database is locked")
        with super().transaction():
            yield


class TestBatches:
    """A tick commits a batch of due cases at a time, each case in a
    savepoint of the batch's transaction."""

    def test_a_failing_case_undoes_only_itself(self) -> None:
        """A case whose work fails half-way (its warning's key recorded, then
        its owner found to have no address) leaves nothing; the case beside it
        in the same batch is carried out and committed."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.add_case(attrs.evolve(case(1), owner="nobody"), by=Actor("ann"))
        esc.add_case(case(2), by=Actor("ann"))
        clock.advance(H / 2)
        report = esc.tick()
        ((who, message),) = report.errors
        assert who == "c1"
        assert "user 'nobody' has no address" in message
        assert [f.case_id for f in report.fired] == ["c2"]
        assert (
            store.fired_among([f.key.replace("c2", "c1") for f in report.fired])
            == set()
        )
        assert len(store.history("c1")) == 1
        assert store.pending() == 1

    @pytest.mark.parametrize(
        ("store_class", "failure"),
        [(_CommitFails, "disk full"), (_BeginFails, "database is locked")],
    )
    def test_a_transaction_that_fails_leaves_nothing_and_reports_each_case(
        self, store_class: type[MemoryStore], failure: str
    ) -> None:
        """Every case of a transaction that cannot commit (or begin) is an
        error of the tick, nothing of it is kept or counted, and the next tick
        does them."""
        clock = ManualClock(T0)
        store = store_class()
        esc = escalator(store, clock)
        for i in (1, 2):
            esc.add_case(case(i), by=Actor("ann"))
        clock.advance(H)
        report = esc.tick()
        assert [who for who, _ in report.errors] == ["c1", "c2"]
        assert all("not committed" in m and failure in m for _, m in report.errors)
        assert (report.cases, report.fired) == (0, ())
        assert store.pending() == 0
        assert (
            esc.metrics.value("escalate_mails_queued_total", purpose="escalation") == 0
        )
        again = esc.tick()
        assert (again.cases, len(again.fired), again.errors) == (2, 4, ())

    @pytest.mark.parametrize(
        ("cases", "batch", "transactions"),
        [(5, 2, 3), (PER_COMMIT + 10, 500, 2), (2 * PER_COMMIT, PER_COMMIT, 2)],
    )
    def test_due_cases_are_committed_together(
        self, cases: int, batch: int, transactions: int
    ) -> None:
        """A tick's due cases are one transaction per read batch, or per
        PER_COMMIT of them in a larger batch (their savepoints inside),
        however many writes each case makes."""
        clock = ManualClock(T0)

        class Counted(MemoryStore):
            outermost = 0

            @contextmanager
            def transaction(self) -> Iterator[None]:
                self.outermost += self._depth == 0
                with super().transaction():
                    yield

        store = Counted()
        esc = escalator(store, clock, batch=batch)
        for i in range(cases):
            esc.add_case(case(i), by=Actor("ann"))
        clock.advance(H)
        esc.apply()
        before = store.outermost
        report = esc.tick()
        assert (report.cases, len(report.fired)) == (cases, 2 * cases)
        # and the tick's record (a transaction per case: cases + 1)
        assert store.outermost - before == transactions + 1

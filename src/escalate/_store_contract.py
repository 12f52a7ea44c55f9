"""The store contract: a test suite per part of the persistence port.

Each ``*Contract`` class checks one protocol of :mod:`escalate.ports`; subclass it
in a test module (``class TestMyStore(CaseStoreContract)``) and implement
``make_store()``, and pytest runs its ``test_*`` methods against your adapter.
:class:`StoreContract` runs them all, plus what spans the parts (transactions,
case deletion against the history head). ``escalate.testing`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest

from escalate.errors import ConfigError, ConflictError, InvalidOperation, NotFound
from escalate.history import (
    CaseFile,
    DocumentKind,
    HistoryHead,
    LineDeletion,
    Problem,
    add_line,
    apply_change,
    create_case,
    delete_case,
    delete_line,
    escalate_to_document,
    update_document,
    verify,
)
from escalate.leads import Lead
from escalate.mail import OutgoingMail
from escalate.matching import AssignmentRecord
from escalate.model import Actor, Case, Status, Task
from escalate.ports import (
    AssignmentLog,
    CaseState,
    CaseStore,
    Claim,
    DocumentStore,
    FiredKey,
    Governed,
    Heartbeat,
    HistoryStore,
    LeadStore,
    OutboxStore,
    Quarantined,
    SettingsRecord,
    SettingsStore,
    SettingsVersion,
    SlaEventLog,
    Store,
    TaskStore,
    TickLog,
    TickRecord,
)
from escalate.sla import SlaEvent, SlaHead

__all__ = [
    "AssignmentLogContract",
    "CaseStoreContract",
    "DocumentStoreContract",
    "HistoryStoreContract",
    "LeadStoreContract",
    "OutboxStoreContract",
    "SlaEventLogContract",
    "SettingsStoreContract",
    "StoreContract",
    "TaskStoreContract",
    "TickLogContract",
    "example_mail",
]

_T0: Final = datetime(2026, 11, 23, 9, tzinfo=UTC)


def example_mail(**changes: object) -> OutgoingMail:
    """An OutgoingMail for tests, with ``changes`` applied."""
    values: dict[str, object] = {
        "key": "escalation/c1/item-1/step-1/1795420800000000",
        "recipient": "lead@example.com",
        "sender": "escalate@example.com",
        "subject": "Case C-1042 escalated",
        "text": "Case C-1042 needs you.\n",
        "html": None,
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


class _StoreFactory:
    """What every part's contract shares: a case to store."""

    @staticmethod
    def case(case_id: str = "c1", **changes: Any) -> Case:
        """A case to store."""
        values: dict[str, Any] = {"number": f"N-{case_id}", "created_at": _T0}
        return Case(id=case_id, **(values | changes))


class CaseStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.CaseStore`:
    cases, optimistic versions and the due index."""

    def make_store(self) -> CaseStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_save_and_get(self) -> None:
        """A saved case comes back equal, one version up: custom fields of every
        kind a case may hold, a custom status, requirements, instants."""
        store = self.make_store()
        rich = self.case(
            fields={
                "region": "NL",
                "amount": 12,
                "ratio": 0.5,
                "vip": True,
                "none": None,
                "since": datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                "day": date(2026, 12, 24),
                "spent": timedelta(minutes=90, microseconds=1),
                "price": Decimal("19.99"),
                "tags": ["a", {"nested": date(2026, 1, 1)}],
            },
            status=Status("On hold", closed=False),
            owner="ann",
            priority="high",
            modified_at=_T0 + timedelta(microseconds=7),
            solution="fixed",
            requirements={"dutch": 3},
        )
        saved = store.save_case(rich, next_due=None)
        assert saved.version == 1
        assert store.get_case("c1") == saved
        assert dict(store.get_case("c1").fields) == dict(rich.fields)

    def test_a_case_at_every_limit_round_trips(self) -> None:
        """What the core lets a case hold, every store keeps exactly: ids and
        names of MAX_ID characters outside the BMP, a text field of MAX_TEXT,
        whole numbers at either end of MAX_NUMBER, fields nested
        MAX_FIELD_DEPTH deep (docs/model.md, "Values a store can keep")."""
        from escalate._text import MAX_ID, MAX_TEXT
        from escalate.model import MAX_FIELD_DEPTH, MAX_NUMBER

        store = self.make_store()
        nested: Any = "deep"
        for _ in range(MAX_FIELD_DEPTH):
            nested = [nested]
        wide = "\U0001f600é\u200b" * (MAX_ID // 3)
        case = self.case(
            wide[:MAX_ID],
            number=wide[:MAX_ID],
            owner=wide[:MAX_ID],
            priority=-MAX_NUMBER,
            status=Status(wide[:MAX_ID]),
            fields={
                wide[:MAX_ID]: "\u00e9" * MAX_TEXT,
                "big": MAX_NUMBER,
                "small": -MAX_NUMBER - 1,
                "nested": nested,
            },
            solution="x" * MAX_TEXT,
        )
        saved = store.save_case(case, next_due=None)
        assert store.get_case(case.id) == saved
        assert dict(store.get_case(case.id).fields) == dict(case.fields)

    def test_missing_case(self) -> None:
        """An unknown case is NotFound (a KeyError too)."""
        with pytest.raises(NotFound):
            self.make_store().get_case("nope")

    def test_stale_version_is_a_conflict(self) -> None:
        """Saving a change made to an old version raises ConflictError."""
        store = self.make_store()
        v1 = store.save_case(self.case(), next_due=None)
        store.save_case(v1.changed(_T0, by=None, priority="high"), next_due=None)
        with pytest.raises(ConflictError):
            store.save_case(v1.changed(_T0, by=None, priority="low"), next_due=None)
        with pytest.raises(ConflictError):
            store.save_case(self.case(), next_due=None)  # "new", but it exists
        assert store.get_case("c1").priority == "high"

    def test_due_index(self) -> None:
        """due_cases: open cases due by then, earliest first, then by id, limited."""
        store = self.make_store()
        h = timedelta(hours=1)
        store.save_case(self.case("b"), next_due=_T0 + 2 * h)
        store.save_case(self.case("a"), next_due=_T0 + 2 * h)
        store.save_case(self.case("c"), next_due=_T0 + h)
        store.save_case(self.case("d"), next_due=None)
        store.save_case(self.case("e", status=Status.CLOSED), next_due=_T0)
        store.save_case(self.case("f"), next_due=_T0 + 5 * h)
        assert [c.id for c in store.due_cases(_T0 + 2 * h, limit=10)] == ["c", "a", "b"]
        assert [c.id for c in store.due_cases(_T0 + 2 * h, limit=2)] == ["c", "a"]
        assert list(store.open_case_ids()) == ["a", "b", "c", "d", "f"]

    def test_take_due_case(self) -> None:
        """take_due_case gives the case only while it is open and due."""
        store = self.make_store()
        h = timedelta(hours=1)
        a = store.save_case(self.case("a"), next_due=_T0 + h)
        store.save_case(self.case("b"), next_due=None)
        store.save_case(self.case("e", status=Status.CLOSED), next_due=_T0)
        with store.transaction():
            assert store.take_due_case("a", _T0 + h) == a
            assert store.take_due_case("a", _T0) is None  # not due yet
            assert store.take_due_case("b", _T0 + h) is None  # nothing due
            assert store.take_due_case("e", _T0 + h) is None  # closed
            assert store.take_due_case("nope", _T0 + h) is None
        store.save_case(a, next_due=_T0 + 3 * h)  # handled: due later
        with store.transaction():
            assert store.take_due_case("a", _T0 + h) is None

    def test_due_backlog(self) -> None:
        """due_backlog counts the open cases due by then and names the earliest."""
        store = self.make_store()
        h = timedelta(hours=1)
        empty = store.due_backlog(_T0)
        assert (empty.count, empty.oldest) == (0, None)
        store.save_case(self.case("a"), next_due=_T0 + 2 * h)
        store.save_case(self.case("b"), next_due=_T0 + h)
        store.save_case(self.case("c"), next_due=_T0 + 3 * h)
        store.save_case(self.case("d"), next_due=None)
        store.save_case(self.case("e", status=Status.CLOSED), next_due=_T0)
        backlog = store.due_backlog(_T0 + 2 * h)
        assert (backlog.count, backlog.oldest) == (2, _T0 + h)

    def test_case_states(self) -> None:
        """Beside each case, its state: status, instants, and what governed it
        when saved (None if not given); for the open cases, by id, in batches."""
        store = self.make_store()
        governed = Governed(digest="d" * 64, item="gold")
        a = store.save_case(
            self.case("a", modified_at=_T0 + timedelta(hours=1)),
            next_due=None,
            governed=governed,
        )
        store.save_case(self.case("b", status=Status.CLOSED), next_due=None)
        store.save_case(self.case("c", status=Status("On hold")), next_due=None)
        a2 = store.save_case(
            a.changed(_T0 + timedelta(hours=2), by=None, status=Status.PENDING),
            next_due=None,
            governed=Governed(digest="d" * 64, item=None),
        )
        states = store.open_case_states(None, limit=10)
        assert [s.id for s in states] == ["a", "c"]
        first, second = states
        assert first == CaseState(
            id="a",
            version=2,
            status=Status.PENDING,
            status_since_us=a2.status_since_us,
            created_us=a2.created_us,
            modified_us=a2.modified_us,
            governed=Governed(digest="d" * 64, item=None),
        )
        assert (second.status, second.governed, second.modified_us) == (
            Status("On hold"),
            None,
            None,
        )
        assert [s.id for s in store.open_case_states("a", limit=1)] == ["c"]

    def test_open_cases_in_batches(self) -> None:
        """open_cases: the open cases after an id, by id, a batch at a time."""
        store = self.make_store()
        for case_id in ("d", "b", "a", "e", "c"):
            closed = Status.CLOSED if case_id == "c" else Status.NEW
            store.save_case(self.case(case_id, status=closed), next_due=None)
        first = store.open_cases(None, limit=2)
        assert [c.id for c in first] == ["a", "b"]
        assert first[0] == store.get_case("a")
        assert [c.id for c in store.open_cases("b", limit=2)] == ["d", "e"]
        assert store.open_cases("e", limit=2) == []

    def test_cases_by_number(self) -> None:
        """case_ids_by_number: every stored case with that number, open or
        closed, by id; a case saved with another number moves."""
        store = self.make_store()
        store.save_case(self.case("b", number="C-1"), next_due=None)
        store.save_case(
            self.case("a", number="C-1", status=Status.CLOSED), next_due=None
        )
        c = store.save_case(self.case("c", number="C-2"), next_due=None)
        assert store.case_ids_by_number("C-1") == ["a", "b"]
        assert store.case_ids_by_number("C-3") == []
        store.save_case(attrs.evolve(c, number="C-3"), next_due=None)
        assert store.case_ids_by_number("C-2") == []
        assert store.case_ids_by_number("C-3") == ["c"]

    def test_owned_cases_and_open_counts(self) -> None:
        """owned_cases: the open cases of an owner in a status, by id, a batch
        at a time; open_counts: the open cases per owner, 0 for none, following
        each save (an owner change, a close)."""
        store = self.make_store()
        new, assigned = Status.ACTIVE_NEW, Status.ACTIVE_ASSIGNED
        for case_id, owner, status in (
            ("d", "queue", new),
            ("b", "queue", new),
            ("a", "queue", Status.CLOSED),
            ("e", "queue", assigned),
            ("c", "ann", new),
            ("f", "queue", new),
        ):
            store.save_case(
                self.case(case_id, owner=owner, status=status), next_due=None
            )
        first = store.owned_cases("queue", status=new.name, after=None, limit=2)
        assert [c.id for c in first] == ["b", "d"]
        assert first[0] == store.get_case("b")
        rest = store.owned_cases("queue", status=new.name, after="d", limit=2)
        assert [c.id for c in rest] == ["f"]
        assert store.open_counts(["queue", "ann", "bob"]) == {
            "queue": 4,
            "ann": 1,
            "bob": 0,
        }
        b = store.get_case("b")
        store.save_case(
            b.changed(_T0, by=None, owner="ann", status=assigned), next_due=None
        )
        c = store.get_case("c")
        store.save_case(c.changed(_T0, by=None, status=Status.CLOSED), next_due=None)
        assert store.open_counts(["queue", "ann"]) == {"queue": 3, "ann": 1}
        assert [
            c.id
            for c in store.owned_cases("queue", status=new.name, after=None, limit=9)
        ] == ["d", "f"]


class HistoryStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.HistoryStore`:
    append-only history with its heads kept apart, and follow-up.

    Besides ``make_store``, implement :meth:`cut_history_tail`: how someone with
    raw access to your storage would remove a case's last entry.
    """

    def make_store(self) -> HistoryStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def cut_history_tail(self, store: HistoryStore, case_id: str) -> None:
        """Remove the case's last history entry the way someone with raw access to
        the storage would: past the adapter and any guard it has (triggers,
        permissions), touching nothing else. The contract uses it to show that the
        head is kept apart from the entries."""
        raise NotImplementedError

    def test_the_head_moves_with_its_entries(self) -> None:
        """Each append moves the case's head in the same transaction; a failed
        transaction leaves it where it was; history_heads lists every case's."""
        store = self.make_store()
        assert store.history_head("c1") == HistoryHead("c1")
        assert store.history_heads() == []
        first = create_case(self.case(), by=Actor("ann"))
        store.append_history(first.entries)
        other = create_case(self.case("b0"), by=None)
        store.append_history(other.entries)
        later = apply_change(first.file, {"priority": "high"}, by=Actor("ann"), at=_T0)

        def crash() -> None:
            with store.transaction():
                store.append_history(later.entries)
                raise RuntimeError("crash")

        with pytest.raises(RuntimeError):
            crash()
        assert store.history_head("c1") == first.file.head
        store.append_history(later.entries)
        assert store.history_head("c1") == later.file.head
        assert store.history_heads() == [other.file.head, later.file.head]

    def test_the_head_is_kept_apart_from_the_entries(self) -> None:
        """With the last entry cut behind the store's back, the head still says
        where the history ended, so verifying finds the cut."""
        store = self.make_store()
        first = create_case(self.case(), by=Actor("ann"))
        later = apply_change(first.file, {"priority": "high"}, by=Actor("ann"), at=_T0)
        store.append_history([*first.entries, *later.entries])
        self.cut_history_tail(store, "c1")
        assert store.history("c1") == list(first.entries)
        assert store.history_head("c1") == later.file.head
        result = verify(store.history("c1"), head=store.history_head("c1"))
        assert (result.ok, result.problem) == (False, Problem.TRUNCATED)

    def test_history_round_trip_and_chain(self) -> None:
        """Entries come back equal and verifiable; only the next entry fits."""
        store = self.make_store()
        change = create_case(
            self.case(), by=Actor("ann"), registration_confirmation="ok"
        )
        store.append_history(change.entries)
        later = apply_change(change.file, {"priority": "high"}, by=Actor("ann"), at=_T0)
        store.append_history(later.entries)
        entries = store.history("c1")
        assert entries == [*change.entries, *later.entries]
        assert verify(entries, head=store.history_head("c1")).ok
        with pytest.raises(ConflictError):
            store.append_history(later.entries)  # already there: the chain moved on

    def test_stored_history_gives_every_entry_as_stored(self) -> None:
        """stored_history: every case's entries by case id, then number; each
        hashes to its hash over its stored texts and decodes to the entry."""
        store = self.make_store()
        assert list(store.stored_history()) == []
        second = create_case(self.case("b0"), by=None)
        first = create_case(self.case(), by=Actor("ann"))
        # a change at a whole second: its instant is stored without a fraction
        later = apply_change(first.file, {"priority": "high"}, by=Actor("ann"), at=_T0)
        store.append_history([*first.entries, *later.entries, *second.entries])
        stored = list(store.stored_history())
        entries = [*second.entries, *first.entries, *later.entries]  # b0 < c1
        assert [(s.case_id, s.seq) for s in stored] == [
            (e.case_id, e.seq) for e in entries
        ]
        assert [s.entry() for s in stored] == entries
        assert [s.computed_hash() for s in stored] == [e.hash for e in entries]

    def test_follow_up_lines_and_deletions(self) -> None:
        """Lines and deletion markers are appended and read back in order."""
        store = self.make_store()
        change = create_case(self.case(), by=Actor("ann"))
        f = add_line(
            change.file,
            "called",
            by=Actor("ann"),
            at=_T0,
            duration=timedelta(minutes=5),
        )
        store.append_history([*change.entries, *f.entries])
        store.append_lines([*change.lines, *f.lines])
        gone = delete_line(f.file, 2, by=Actor("ann"), at=_T0)
        store.append_history(gone.entries)
        store.append_deletions(gone.deletions)
        assert store.lines("c1") == [*change.lines, *f.lines]
        assert store.deletions("c1") == list(gone.deletions)
        with pytest.raises(ConflictError):
            store.append_deletions(gone.deletions)
        with pytest.raises(ConflictError):
            store.append_lines(f.lines)

    def test_a_deletion_without_its_history_entry_is_refused(self) -> None:
        """The raw write is no way around delete_line: a marker for an
        automatic line, for another user's line with no history entry, or for
        a line that does not exist is refused, and nothing is written."""
        store = self.make_store()
        change = create_case(self.case(), by=Actor("ann"))
        f = add_line(change.file, "called", by=Actor("ann"), at=_T0)
        store.append_history([*change.entries, *f.entries])
        store.append_lines([*change.lines, *f.lines])
        forged = [
            LineDeletion(case_id="c1", line_seq=1, by="mallory", at=_T0),  # automatic
            LineDeletion(case_id="c1", line_seq=2, by="mallory", at=_T0),  # ann's
            LineDeletion(case_id="c1", line_seq=9, by="mallory", at=_T0),  # none
        ]
        for d in forged:
            with pytest.raises(InvalidOperation, match="line"):
                store.append_deletions([d])
        assert store.deletions("c1") == []
        gone = delete_line(f.file, 2, by=Actor("ann"), at=_T0)
        with pytest.raises(InvalidOperation, match="history entry"):
            store.append_deletions(gone.deletions)  # its entry not appended first
        assert store.deletions("c1") == []


class OutboxStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.OutboxStore`:
    unique fired keys, and the outbox's claim, lease, retry and order."""

    def make_store(self) -> OutboxStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_fired_keys_are_unique(self) -> None:
        """record_fired is True once per key."""
        store = self.make_store()
        assert store.record_fired("k", _T0) is True
        assert store.record_fired("k", _T0) is False
        assert store.is_fired("k")
        assert not store.is_fired("other")

    def test_a_key_recorded_as_skipped(self) -> None:
        """A skipped key is fired (it never fires again), and says it was skipped;
        fired_key tells when and how each key was recorded."""
        store = self.make_store()
        at = _T0 + timedelta(microseconds=1)
        assert store.record_fired("skip", at, skipped=True) is True
        assert store.record_fired("skip", at) is False
        assert store.is_fired("skip")
        assert store.fired_key("skip") == FiredKey(key="skip", at=at, skipped=True)
        store.record_fired("done", _T0)
        assert store.fired_key("done") == FiredKey(key="done", at=_T0, skipped=False)
        assert store.fired_key("never") is None

    def test_fired_among(self) -> None:
        """fired_among: which of many keys were recorded (skipped ones too), for
        any number of keys."""
        store = self.make_store()
        recorded = {f"k{i}" for i in range(0, 1200, 3)}
        for key in sorted(recorded):
            store.record_fired(key, _T0, skipped=key == "k3")
        asked = [f"k{i}" for i in range(1200)]
        assert store.fired_among(asked) == recorded
        assert store.fired_among([]) == set()
        assert store.fired_among(["k3", "nope"]) == {"k3"}
        # Keys as a plan asks about them: many of one kind, for neighbouring
        # cases; keys recorded in between that were not asked about stay out.
        cases = [f"escalation/c{i:04d}/item/step/1" for i in range(1000)]
        for i, key in enumerate(cases):
            if i % 3 == 0:
                store.record_fired(key, _T0)
        asked_cases = [key for i, key in enumerate(cases) if i % 2 == 0]
        assert store.fired_among([*asked_cases, "warning/c0001/x"]) == {
            key for i, key in enumerate(cases) if i % 6 == 0
        }

    def test_outbox_claim_lease_and_expiry(self) -> None:
        """A message goes to one claimant per lease; an expired lease frees it."""
        store = self.make_store()
        mail = example_mail()
        assert store.enqueue(mail, at=_T0) is True
        assert store.enqueue(mail, at=_T0) is False  # one Message-ID, once
        lease = timedelta(minutes=5)
        (first,) = store.claim(_T0, lease=lease, limit=10)
        assert (first.mail, first.attempt) == (mail, 1)
        assert store.claim(_T0 + timedelta(minutes=4), lease=lease, limit=10) == []
        (second,) = store.claim(_T0 + lease, lease=lease, limit=10)
        assert second.attempt == 2
        # the first claim lapsed: it is not marked, the second is
        ids = store.mark_sent([first, second], at=_T0 + lease)
        assert ids == [mail.message_id]
        assert store.pending() == 0
        assert store.mark_sent([second], at=_T0 + lease) == []  # not held any more
        assert store.claim(_T0 + 10 * lease, lease=lease, limit=10) == []

    def test_outbox_retry(self) -> None:
        """A failed send is retried at the time given, not before."""
        store = self.make_store()
        store.enqueue(example_mail(), at=_T0)
        (claim,) = store.claim(_T0, lease=timedelta(minutes=5), limit=1)
        store.mark_failed(
            claim, error="421 try later", retry_at=_T0 + timedelta(minutes=10)
        )
        assert (
            store.claim(_T0 + timedelta(minutes=9), lease=timedelta(minutes=5), limit=1)
            == []
        )
        (again,) = store.claim(
            _T0 + timedelta(minutes=10), lease=timedelta(minutes=5), limit=1
        )
        assert again.attempt == 2
        assert store.pending() == 1

    def test_mark_sent_in_one_go(self) -> None:
        """Several claims are marked in one call, in the order given."""
        store = self.make_store()
        mails = [example_mail(recipient=f"u{i}@example.com") for i in range(3)]
        for mail in mails:
            store.enqueue(mail, at=_T0)
        claims = store.claim(_T0, lease=timedelta(minutes=5), limit=3)
        marked = store.mark_sent(claims[::-1], at=_T0)
        assert marked == [m.message_id for m in mails[::-1]]
        assert store.pending() == 0

    def test_outbox_order(self) -> None:
        """Messages are claimed in the order they became due, then queued."""
        store = self.make_store()
        mails = [example_mail(recipient=f"u{i}@example.com") for i in range(3)]
        store.enqueue(mails[0], at=_T0 + timedelta(minutes=1))
        store.enqueue(mails[1], at=_T0)
        store.enqueue(mails[2], at=_T0)
        claims = store.claim(
            _T0 + timedelta(minutes=1), lease=timedelta(minutes=5), limit=2
        )
        assert [c.mail for c in claims] == [mails[1], mails[2]]

    def test_outbox_state(self) -> None:
        """outbox_state: the unsent mails, when the oldest was queued, and the
        ones whose last attempt failed with their error, limited."""
        store = self.make_store()
        state = store.outbox_state()
        assert (state.depth, state.oldest_queued_at, state.failing) == (0, None, ())
        mails = [example_mail(recipient=f"u{i}@example.com") for i in range(3)]
        for i, mail in enumerate(mails):
            store.enqueue(mail, at=_T0 + timedelta(minutes=i))
        lease = timedelta(minutes=5)
        first, second, _ = store.claim(_T0 + lease, lease=lease, limit=3)
        store.mark_sent([first], at=_T0 + lease)
        retry = _T0 + timedelta(hours=1)
        store.mark_failed(second, error="421 try later", retry_at=retry)
        state = store.outbox_state()
        assert state.depth == 2
        assert state.oldest_queued_at == _T0 + timedelta(minutes=1)
        (failing,) = state.failing
        assert failing.message_id == mails[1].message_id
        assert failing.recipient == "u1@example.com"
        assert (failing.attempts, failing.error) == (1, "421 try later")
        assert failing.retry_at == retry
        assert store.outbox_state(failing=0).failing == ()

    def test_dead_letters(self) -> None:
        """mark_dead takes a mail out of the queue (no claim, not pending, not
        in the waiting list) into the dead letters, with its error; retry_mail
        puts it back, attempts from 0; drop_mail ends it for good."""
        store = self.make_store()
        lease = timedelta(minutes=5)
        mails = [example_mail(recipient=f"d{i}@example.com") for i in range(3)]
        for i, mail in enumerate(mails):
            store.enqueue(mail, at=_T0 + timedelta(minutes=i))
        now = _T0 + timedelta(minutes=5)
        first, second, third = store.claim(now, lease=lease, limit=3)
        assert first.queued_at == _T0
        store.mark_dead(first, error="550 5.1.1 no such user", at=now)
        store.mark_dead(second, error="554 refused", at=now)
        store.mark_failed(third, error="451 later", retry_at=now)
        assert store.pending() == 1
        state = store.outbox_state(at=now)
        assert (state.depth, state.dead) == (1, 2)
        assert state.oldest_queued_at == _T0 + timedelta(minutes=2)
        assert [e.message_id for e in state.dead_letters] == [
            mails[0].message_id,
            mails[1].message_id,
        ]
        dead = store.outbox_entries(dead=True, limit=10)
        assert [(e.error, e.dead_at, e.attempts) for e in dead] == [
            ("550 5.1.1 no such user", now, 1),
            ("554 refused", now, 1),
        ]
        assert dead[0].dead
        assert dead[0].key == mails[0].key
        waiting = store.outbox_entries(dead=False, limit=10)
        assert [e.message_id for e in waiting] == [mails[2].message_id]
        assert not waiting[0].dead
        later = now + 2 * lease
        assert [c.mail for c in store.claim(later, lease=lease, limit=5)] == [mails[2]]
        with pytest.raises(InvalidOperation, match="not a dead letter"):
            store.retry_mail(mails[2].message_id, at=later)
        with pytest.raises(InvalidOperation, match="being sent by"):
            store.drop_mail(mails[2].message_id, at=later)
        with pytest.raises(NotFound):
            store.retry_mail("<nobody@example.com>", at=later)
        store.retry_mail(mails[0].message_id, at=later)
        (again,) = store.claim(later, lease=lease, limit=5)
        assert (again.mail, again.attempt, again.queued_at) == (mails[0], 1, later)
        store.mark_sent([again], at=later)
        with pytest.raises(InvalidOperation, match="sent already"):
            store.drop_mail(mails[0].message_id, at=later)
        store.drop_mail(mails[1].message_id, at=later)
        with pytest.raises(InvalidOperation, match="dropped already"):
            store.retry_mail(mails[1].message_id, at=later)
        assert store.outbox_state(at=later).dead == 0
        assert store.outbox_entries(dead=True, limit=10) == []
        assert store.enqueue(mails[1], at=later) is False  # never queued again

    def test_claims_name_their_worker_and_can_be_released(self) -> None:
        """claim(by=) is shown in outbox_state's claimed mails while its lease
        holds; release gives claims back at once, their attempt uncounted."""
        store = self.make_store()
        lease = timedelta(minutes=5)
        mails = [example_mail(recipient=f"w{i}@example.com") for i in range(2)]
        for mail in mails:
            store.enqueue(mail, at=_T0)
        first, second = store.claim(_T0, lease=lease, limit=2, by="host-a:41")
        (held,) = store.outbox_state(at=_T0).claimed[:1]
        assert (held.claimed_by, held.lease_until) == ("host-a:41", _T0 + lease)
        assert len(store.outbox_state(at=_T0).claimed) == 2
        assert store.outbox_state(at=_T0 + lease).claimed == ()  # lapsed
        store.release([second])
        assert [e.message_id for e in store.outbox_state(at=_T0).claimed] == [
            mails[0].message_id
        ]
        (taken,) = store.claim(_T0, lease=lease, limit=2, by="host-b:7")
        assert (taken.mail, taken.attempt) == (mails[1], 1)
        store.release([second])  # a claim given back once is not given back again
        assert store.claim(_T0, lease=lease, limit=2) == []
        assert store.mark_sent([first, taken], at=_T0) == [
            mails[0].message_id,
            mails[1].message_id,
        ]


class LeadStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.LeadStore`:
    leads, their versions and due index."""

    def make_store(self) -> LeadStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_leads_versions_and_due_index(self) -> None:
        """Leads come back equal, one version up; a stale version is a conflict;
        due_leads reads the next due instants."""
        store = self.make_store()
        h = timedelta(hours=1)
        leads = {
            i: store.save_lead(
                Lead(
                    id=i,
                    lead_type="web",
                    received_at=_T0,
                    team="north",
                    reached_team_at=_T0,
                ),
                next_due=None if n is None else _T0 + n * h,
            )
            for i, n in (("b", 2), ("a", 2), ("c", 1), ("d", None))
        }
        assert leads["a"].version == 1
        assert store.get_lead("a") == leads["a"]
        assert [d.id for d in store.due_leads(_T0 + 2 * h, limit=10)] == ["c", "a", "b"]
        assert [d.id for d in store.due_leads(_T0 + 2 * h, limit=1)] == ["c"]
        accepted = store.save_lead(leads["a"].accept(_T0 + h), next_due=None)
        assert accepted.version == 2
        with pytest.raises(ConflictError):
            store.save_lead(leads["a"], next_due=None)
        assert list(store.lead_ids()) == ["a", "b", "c", "d"]
        with pytest.raises(NotFound):
            store.get_lead("nope")

    def test_take_due_lead(self) -> None:
        """take_due_lead gives the lead only while it is due."""
        store = self.make_store()
        h = timedelta(hours=1)
        lead = store.save_lead(
            Lead(id="a", lead_type="web", received_at=_T0), next_due=_T0 + h
        )
        with store.transaction():
            assert store.take_due_lead("a", _T0 + h) == lead
            assert store.take_due_lead("a", _T0) is None
            assert store.take_due_lead("nope", _T0 + h) is None
        store.save_lead(lead, next_due=None)
        with store.transaction():
            assert store.take_due_lead("a", _T0 + h) is None


class TaskStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.TaskStore`:
    tasks and their due index."""

    def make_store(self) -> TaskStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_tasks_and_their_due_index(self) -> None:
        """Tasks come back equal; due_tasks reads the next due instants."""
        store = self.make_store()
        h = timedelta(hours=1)
        tasks = [
            Task(id=i, title="call back", owner="ann", due_at=_T0 + n * h)
            for i, n in (("b", 2), ("a", 2), ("c", 1), ("d", 9))
        ]
        for t in tasks:
            store.save_task(t, next_due=t.due_at)
        store.save_task(tasks[3], next_due=None)  # replaced: reminded already
        assert store.get_task("d") == tasks[3]
        assert [t.id for t in store.due_tasks(_T0 + 2 * h, limit=10)] == [
            "c",
            "a",
            "b",
        ]
        assert [t.id for t in store.due_tasks(_T0 + 9 * h, limit=2)] == ["c", "a"]
        with pytest.raises(NotFound):
            store.get_task("nope")
        with store.transaction():
            assert store.take_due_task("c", _T0 + h) == tasks[2]
            assert store.take_due_task("a", _T0 + h) is None  # not due yet
            assert store.take_due_task("d", _T0 + 9 * h) is None  # nothing due
            assert store.take_due_task("nope", _T0 + h) is None


class DocumentStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.DocumentStore`:
    document numbers and documents."""

    def make_store(self) -> DocumentStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_numbers_per_kind_and_rolled_back(self) -> None:
        """Numbers count per kind; a rolled-back number is handed out again."""
        store = self.make_store()
        assert store.next_number(DocumentKind.COMPLAINT) == "CMP-0001"
        assert store.next_number(DocumentKind.ACTION) == "ACT-0001"

        def crash() -> None:
            with store.transaction():
                store.next_number(DocumentKind.COMPLAINT)
                raise RuntimeError("crash")

        with pytest.raises(RuntimeError):
            crash()
        assert store.next_number(DocumentKind.COMPLAINT) == "CMP-0002"

    def test_documents(self) -> None:
        """Documents are stored by number, updated in place, listed per case."""
        store = self.make_store()
        file = create_case(self.case(), by=None).file
        docs = [
            escalate_to_document(file, kind, by=Actor("ann"), at=_T0, numbering=store)[
                0
            ]
            for kind in (DocumentKind.SERVICE_REPORT, DocumentKind.COMPLAINT)
        ]
        for d in docs:
            store.save_document(d)
        store.save_document(update_document(docs[0], status="done"))
        assert store.get_document("SRV-0001").status == "done"
        assert [d.number for d in store.documents("c1")] == ["SRV-0001", "CMP-0001"]
        assert store.documents("other") == []
        with pytest.raises(NotFound):
            store.get_document("CMP-0009")


class SettingsStoreContract(_StoreFactory):
    """The contract of a :class:`~escalate.ports.SettingsStore`:
    the settings record."""

    def make_store(self) -> SettingsStore:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_settings_record(self) -> None:
        """The settings record is absent, then the last one saved."""
        store = self.make_store()
        assert store.settings_record() is None
        first = SettingsRecord(
            digest="a" * 64, document="{}", saved_at=_T0, recomputed=False
        )
        store.save_settings(first)
        assert store.settings_record() == first
        second = attrs.evolve(first, previous="b" * 64, through="case/c 1/é")
        store.save_settings(second)
        assert store.settings_record() == second
        third = attrs.evolve(second, recomputed=True, through=None)
        with store.transaction():
            store.save_settings(third)
            assert store.settings_record() == third
        assert store.settings_record() == third

    def test_settings_versions_are_kept_by_digest(self) -> None:
        """Each version is kept once, read back by digest, listed in the order
        first stored; an unknown digest is NotFound."""
        store = self.make_store()
        first = SettingsVersion(digest="a" * 64, document='{"v": 1}', saved_at=_T0)
        second = SettingsVersion(
            digest="b" * 64, document='{"v": 2}', saved_at=_T0 + timedelta(hours=1)
        )
        assert store.settings_versions() == []
        assert store.save_settings_version(first) is True
        assert store.save_settings_version(second) is True
        assert store.save_settings_version(attrs.evolve(first, saved_at=_T0)) is False
        assert store.settings_version("a" * 64) == first
        assert store.settings_versions() == [first, second]
        with pytest.raises(NotFound):
            store.settings_version("c" * 64)


class TickLogContract:
    """The contract of a :class:`~escalate.ports.TickLog`: the latest tick."""

    def make_store(self) -> TickLog:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_the_latest_tick_is_kept(self) -> None:
        """A record replaces an older one, never a later one."""
        store = self.make_store()
        assert store.last_tick() is None
        first = TickRecord(at=_T0, cases=3, fired=2, errors=1)
        store.record_tick(first)
        assert store.last_tick() == first
        later = TickRecord(at=_T0 + timedelta(minutes=1), cases=0, fired=0, errors=0)
        store.record_tick(later)
        store.record_tick(first)  # a slower worker's tick, recorded after
        assert store.last_tick() == later

    def test_each_workers_latest_heartbeat(self) -> None:
        """One heartbeat per worker, the latest; heartbeats(since) gives those
        at or after it, latest first."""
        store = self.make_store()
        minute = timedelta(minutes=1)

        def beat(worker: str, at: datetime) -> Heartbeat:
            return Heartbeat(worker=worker, host="h", pid=7, started_at=_T0, at=at)

        store.record_heartbeat(beat("a", _T0 + minute))
        store.record_heartbeat(beat("b", _T0 + 3 * minute))
        store.record_heartbeat(beat("a", _T0 + 2 * minute))
        store.record_heartbeat(beat("a", _T0))  # late, and older: not kept
        assert store.heartbeats(_T0) == [
            beat("b", _T0 + 3 * minute),
            beat("a", _T0 + 2 * minute),
        ]
        assert store.heartbeats(_T0 + 3 * minute) == [beat("b", _T0 + 3 * minute)]


class AssignmentLogContract:
    """The contract of an :class:`~escalate.ports.AssignmentLog`: manual
    assignments, the latest first per assigner."""

    def make_store(self) -> AssignmentLog:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_assignments_latest_first(self) -> None:
        """Per assigner, the latest first (then the later recorded first), at
        most the limit; records keep their instant."""
        store = self.make_store()
        assert store.assignments_by("sup", limit=5) == []

        def record(agent: str, case_id: str, minutes: int, by: str = "sup") -> Any:
            at = _T0 + timedelta(minutes=minutes)
            return AssignmentRecord(assigner=by, agent=agent, case_id=case_id, at=at)

        records = [
            record("ann", "c1", 0),
            record("bob", "c2", 10),
            record("kim", "c3", 5),
            record("eve", "c4", 10),
            record("ann", "c5", 20, by="other"),
        ]
        for r in records:
            store.record_assignment(r)
        assert store.assignments_by("sup", limit=3) == [
            records[3],
            records[1],
            records[2],
        ]
        assert store.assignments_by("other", limit=9) == [records[4]]


class SlaEventLogContract:
    """The contract of an :class:`~escalate.ports.SlaEventLog`: each case's
    SLA events, in the order appended, never changed."""

    def make_store(self) -> SlaEventLog:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_sla_events_in_the_order_appended(self) -> None:
        """A case's events come back equal, in the order appended (not sorted
        by instant: the order given is the order at one instant), apart from
        other cases'; a rolled-back append leaves nothing."""
        store = self.make_store()
        assert store.sla_events("c1") == []
        first = [
            SlaEvent(_T0, "created"),
            SlaEvent(_T0, "priority", "urgent"),
            SlaEvent(_T0, "policy", "standard"),
        ]
        store.append_sla_events("c1", first)
        later = [
            SlaEvent(_T0 + timedelta(hours=2), "agent reply"),
            SlaEvent(_T0 + timedelta(hours=1), "reassigned", "kim"),
            SlaEvent(_T0 + timedelta(microseconds=1), "status", "Pending"),
        ]
        store.append_sla_events("c1", later)
        store.append_sla_events("c2", [SlaEvent(_T0, "created")])
        store.append_sla_events("c2", [])

        _append_rolled_back(store, "c1", [SlaEvent(_T0, "solved")])
        assert store.sla_events("c1") == first + later
        assert store.sla_events("c2") == [SlaEvent(_T0, "created")]

    def test_sla_heads_chain_the_events_appended(self) -> None:
        """Each case's head is the chain of its events in the order appended,
        moved with each append (in one or several), by case id; an empty
        append, or a rolled-back one, leaves it where it was."""
        store = self.make_store()
        assert store.sla_heads() == []
        store.append_sla_events("c2", [])
        assert store.sla_heads() == []
        events = [
            SlaEvent(_T0, "created"),
            SlaEvent(_T0, "priority", "urgent"),
            SlaEvent(_T0 + timedelta(hours=1), "agent reply"),
        ]
        store.append_sla_events("c2", events[:1])
        store.append_sla_events("c2", events[1:])
        store.append_sla_events("c1", events)
        whole = SlaHead("c1").after(events)
        other = SlaHead("c2").after(events)
        assert whole.count == other.count == 3
        assert whole.hash != other.hash  # the case is in each event's hash
        assert store.sla_heads() == [whole, other]

        _append_rolled_back(store, "c1", [SlaEvent(_T0, "solved")])
        assert store.sla_heads()[0] == whole
        store.append_sla_events("c1", [SlaEvent(_T0, "solved")])
        assert store.sla_heads()[0] == whole.after([SlaEvent(_T0, "solved")])


def _append_rolled_back(
    store: SlaEventLog, case_id: str, events: list[SlaEvent]
) -> None:
    """Append ``events`` in a transaction that then fails."""

    def append_then_fail() -> None:
        with store.transaction():
            store.append_sla_events(case_id, events)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        append_then_fail()


class StoreContract(
    AssignmentLogContract,
    SlaEventLogContract,
    CaseStoreContract,
    HistoryStoreContract,
    OutboxStoreContract,
    LeadStoreContract,
    TaskStoreContract,
    DocumentStoreContract,
    SettingsStoreContract,
    TickLogContract,
):
    """The contract of a whole :class:`~escalate.ports.Store`: every part's, and
    what spans them: optimistic concurrency, atomic transactions, append-only
    history and follow-up, unique fired keys, the outbox's claim, lease and
    expiry, leads, tasks, document numbers and documents, case deletion records
    and the settings record.
    """

    def make_store(self) -> Store:
        """A fresh, empty store to test."""
        raise NotImplementedError

    def test_transaction_is_all_or_nothing(self) -> None:
        """An exception inside a transaction leaves nothing of it."""
        store = self.make_store()
        write_all, nothing_written = self._every_write(store)

        def crash() -> None:
            with store.transaction():
                write_all()
                raise RuntimeError("crash")

        with pytest.raises(RuntimeError):
            crash()
        nothing_written()

    def test_a_savepoint_undoes_only_its_own_writes(self) -> None:
        """Inside a transaction, an exception inside a savepoint leaves nothing
        of the savepoint, and what the transaction wrote before and after it
        commits; a savepoint that ends well commits with the transaction; outside
        one, a savepoint is a transaction."""
        store = self.make_store()
        write_all, nothing_written = self._every_write(store)

        def failing(*keys: str, stale: bool = False) -> None:
            with store.savepoint():
                for key in keys:
                    store.record_fired(key, _T0)
                if stale:  # a ConflictError
                    store.save_case(self.case("new", version=3), next_due=_T0)
                write_all()
                raise RuntimeError("crash")

        with store.transaction():
            assert store.record_fired("before", _T0)
            with pytest.raises(RuntimeError):
                failing()
            with store.savepoint():
                assert store.record_fired("kept", _T0)
                with pytest.raises(ConflictError):
                    failing("inner", stale=True)
            assert store.record_fired("after", _T0)
        nothing_written()
        assert [store.is_fired(k) for k in ("before", "kept", "inner", "after")] == [
            True,
            True,
            False,
            True,
        ]
        with pytest.raises(RuntimeError):
            failing("alone")
        with store.savepoint():
            store.record_fired("alone too", _T0)
        assert not store.is_fired("alone")
        assert store.is_fired("alone too")

    def test_quarantine_moves_the_due_read_past_an_item(self) -> None:
        """An item put aside is not due until its ``until``; it is read back;
        the state counts what is put aside at an instant; a save of the item
        sets its due instant afresh; an unknown kind is refused."""
        store = self.make_store()
        minute = timedelta(minutes=1)
        store.save_case(self.case("poison"), next_due=_T0)
        store.save_case(self.case("healthy"), next_due=_T0 + minute)
        store.save_lead(Lead(id="l", lead_type="web", received_at=_T0), next_due=_T0)
        store.save_task(
            Task(id="t", title="call", owner="ann", due_at=_T0), next_due=_T0
        )
        later = _T0 + 10 * minute
        for kind, item in (("case", "poison"), ("lead", "l"), ("task", "t")):
            entry = Quarantined(
                kind=kind, id=item, failures=2, error="boom", at=_T0, until=later
            )
            store.quarantine(entry)
            assert store.quarantined_item(kind, item) == entry
        assert [c.id for c in store.due_cases(later - minute, limit=10)] == ["healthy"]
        assert store.due_leads(later - minute, limit=10) == []
        assert store.due_tasks(later - minute, limit=10) == []
        assert [c.id for c in store.due_cases(later, limit=10)] == ["healthy", "poison"]
        state = store.quarantine_state(_T0, limit=2)
        assert state.count == 3
        assert [(q.kind, q.id) for q in state.items] == [
            ("case", "poison"),
            ("lead", "l"),
        ]
        assert store.quarantine_state(later, limit=5).count == 0
        assert store.quarantined_item("case", "healthy") is None
        fixed = store.get_case("poison")
        store.save_case(fixed, next_due=_T0)  # the CRM fixed it: due at once
        assert [c.id for c in store.due_cases(_T0, limit=10)] == ["poison"]
        with pytest.raises(ConfigError, match="kind: expected 'case', 'lead'"):
            store.quarantine(attrs.evolve(entry, kind="ticket"))

    def test_reading_reads_and_joins_a_transaction(self) -> None:
        """``reading()`` reads what was committed; inside a transaction it
        joins it (and sees its writes); an exception inside leaves the store
        as it was."""
        store = self.make_store()
        store.record_fired("committed", _T0)
        with store.reading():
            assert store.is_fired("committed")
            assert store.last_tick() is None
        with store.transaction():
            store.record_fired("mine", _T0)
            with store.reading():
                assert store.is_fired("mine")
        with pytest.raises(RuntimeError), store.reading():
            raise RuntimeError("a probe gave up")
        assert store.is_fired("mine")

    def _every_write(
        self, store: Store
    ) -> tuple[Callable[[], None], Callable[[], None]]:
        """A write of each kind the store has (on a store holding a case
        "kept", a claimed mail), and a check that none of them is stored."""
        change = create_case(self.case(), by=None)

        kept = create_case(self.case("kept"), by=None)
        store.append_history(kept.entries)
        store.save_case(kept.file.case, next_due=_T0)
        store.enqueue(example_mail(), at=_T0)
        (claim,) = store.claim(_T0, lease=timedelta(minutes=5), limit=1)
        task = Task(id="t1", title="call back", owner="ann", due_at=_T0)
        record = SettingsRecord(
            digest="a" * 64, document="{}", saved_at=_T0, recomputed=True
        )

        def write_all() -> None:
            with store.transaction():
                store.save_case(change.file.case, next_due=_T0)
                store.append_history(change.entries)
                store.append_lines(change.lines)
                store.record_fired("k1", _T0)
                store.enqueue(example_mail(recipient="x@example.com"), at=_T0)
                store.mark_sent([claim], at=_T0)
                store.save_task(task, next_due=_T0)
                store.save_lead(
                    Lead(id="l1", lead_type="web", received_at=_T0), next_due=_T0
                )
                document, _ = escalate_to_document(
                    kept.file,
                    DocumentKind.ACTION,
                    by=Actor("ann"),
                    at=_T0,
                    numbering=store,
                )
                store.save_document(document)
                store.delete_case(delete_case(kept.file, by=Actor("ann"), at=_T0))
                store.save_settings(record)
                store.save_settings_version(
                    SettingsVersion(digest="a" * 64, document="{}", saved_at=_T0)
                )
                store.record_fired("k2", _T0, skipped=True)
                store.record_assignment(
                    AssignmentRecord(assigner="sup", agent="ann", case_id="c1", at=_T0)
                )

        def nothing_written() -> None:
            self._nothing_of_every_write(store, claim)

        return write_all, nothing_written

    def _nothing_of_every_write(self, store: Store, claim: Claim) -> None:
        with pytest.raises(NotFound):
            store.get_case("c1")
        assert store.history("c1") == []
        assert store.lines("c1") == []
        assert not store.is_fired("k1")
        assert store.pending() == 1  # the first mail, still claimed, not sent
        assert store.mark_sent([claim], at=_T0) == [claim.mail.message_id]
        assert store.due_tasks(_T0, limit=10) == []
        assert store.due_leads(_T0, limit=10) == []
        assert store.documents("kept") == []
        assert [c.id for c in store.due_cases(_T0, limit=10)] == ["kept"]
        assert store.case_deletions() == []
        assert store.settings_record() is None
        assert store.settings_versions() == []
        assert store.fired_key("k2") is None
        assert store.assignments_by("sup", limit=1) == []
        assert store.next_number(DocumentKind.ACTION) == "ACT-0001"

    def test_case_deletion_keeps_history_and_a_record(self) -> None:
        """A deleted case is gone; its history and the deletion record stay."""
        store = self.make_store()
        change = create_case(self.case(), by=None)
        store.append_history(change.entries)
        store.save_case(change.file.case, next_due=_T0)
        stale = delete_case(
            CaseFile(case=change.file.case, head=HistoryHead("c1")),
            by=Actor("ann"),
            at=_T0,
        )
        with pytest.raises(ConflictError):
            store.delete_case(stale)  # made before the history it would hide
        deletion = delete_case(change.file, by=Actor("ann"), at=_T0)
        store.delete_case(deletion)
        with pytest.raises(NotFound):
            store.get_case("c1")
        with pytest.raises(NotFound):
            store.delete_case(deletion)
        assert store.case_deletions() == [deletion]
        assert store.history("c1") == list(change.entries)
        assert store.history_heads() == [change.file.head]
        assert store.due_cases(_T0, limit=10) == []

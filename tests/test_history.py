"""Named behaviours of escalate.history: the table, follow-up rules, documents."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from escalate.adapters.memory import MemoryNumbering
from escalate.errors import (
    ConfigError,
    InvalidOperation,
    PermissionDenied,
    UnreadableEntry,
)
from escalate.history import (
    GENESIS,
    TRACKED_FIELDS,
    CaseFile,
    DocumentKind,
    DocumentSettings,
    FollowUpKind,
    HistoryAction,
    Problem,
    StoredEntry,
    add_line,
    apply_change,
    create_case,
    delete_case,
    delete_line,
    encode_entry,
    escalate_to_document,
    expire,
    log_message,
    update_document,
    verify,
    work_list,
)
from escalate.model import Actor, Case, Status

T = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
ANN = Actor("ann")
BOB = Actor("bob")
BOSS = Actor("boss", permissions={"delete follow-up lines"})


def opened(**kw: object) -> CaseFile:
    kw.setdefault("status", Status.ACTIVE_NEW)
    case = Case(id="c1", number="C-1", created_at=T, owner="queue", **kw)
    return create_case(case, by=ANN).file


def actions(change: object) -> list[str]:
    return [e.action.value for e in change.entries]  # type: ignore[attr-defined]


def kinds(change: object) -> list[str]:
    return [line.kind.value for line in change.lines]  # type: ignore[attr-defined]


class TestHistoryActions:
    def test_exactly_six(self) -> None:
        """The history logs exactly the six actions of the seed."""
        assert [a.value for a in HistoryAction] == [
            "case created",
            "case modified",
            "follow-up line deleted",
            "case reopened",
            "solution entered",
            "case closed",
        ]

    def test_no_api_to_change_an_entry(self) -> None:
        """Entries are frozen; their details are read-only."""
        entry = opened().head
        change = create_case(Case(id="c2", number="C-2", created_at=T), by=ANN)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            change.entries[0].seq = 5  # type: ignore[misc]
        with pytest.raises(TypeError):
            change.entries[0].details["number"] = "x"  # type: ignore[index]
        assert entry.count == 1


class TestTable:
    def test_create(self) -> None:
        """Create: history created; lines: case created (+ registration mail)."""
        case = Case(id="c1", number="C-1", created_at=T)
        change = create_case(case, by=ANN, registration_confirmation="We got it")
        assert actions(change) == ["case created"]
        assert kinds(change) == ["case created", "registration confirmation"]
        assert change.entries[0].prev == GENESIS

    def test_change_fields(self) -> None:
        """Changed fields: modified (old -> new), a line per tracked field, in order."""
        change = apply_change(
            opened(),
            {
                "fields": {"financial_status": "paid", "medium": "phone"},
                "priority": "high",
                "owner": "ann",
            },
            by=ANN,
            at=T + H,
        )
        assert actions(change) == ["case modified"]
        assert dict(change.entries[0].details["changes"]["priority"]) == {
            "old": None,
            "new": "high",
        }
        assert kinds(change) == [
            "handler changed",
            "priority changed",
            "medium changed",
            "financial status changed",
        ]
        assert change.file.case.modified_at == T + H

    def test_untracked_field_writes_no_line(self) -> None:
        """A custom field that is not tracked is in history, not in follow-up."""
        change = apply_change(opened(), {"fields": {"colour": "red"}}, by=ANN, at=T + H)
        assert actions(change) == ["case modified"]
        assert kinds(change) == []

    def test_solution(self) -> None:
        """Entering or changing the solution: solution entered, no line."""
        change = apply_change(opened(), {"solution": "Rebooted"}, by=ANN, at=T + H)
        assert actions(change) == ["solution entered"]
        assert kinds(change) == []

    def test_into_a_closed_status(self) -> None:
        """Closed: case closed, a status line, and the closing confirmation."""
        change = apply_change(
            opened(),
            {"status": Status.CLOSED},
            by=ANN,
            at=T + H,
            closing_confirmation="Bye",
        )
        assert actions(change) == ["case closed"]
        assert kinds(change) == ["status changed", "closing confirmation"]

    def test_out_of_a_closed_status(self) -> None:
        """Reopened: case reopened, and a case-reopened line."""
        closed = apply_change(
            opened(), {"status": Status.CLOSED}, by=ANN, at=T + H
        ).file
        change = apply_change(
            closed, {"status": Status.ACTIVE_ASSIGNED}, by=ANN, at=T + 2 * H
        )
        assert actions(change) == ["case reopened"]
        assert kinds(change) == ["case reopened"]

    def test_pending_expired(self) -> None:
        """Pending -> Expired: closed (Expired is closed), a pending-expired line,
        made by the library (modified_at stays)."""
        pending = apply_change(
            opened(), {"status": Status.PENDING}, by=ANN, at=T + H
        ).file
        change = expire(pending, at=T + 10 * H)
        assert actions(change) == ["case closed"]
        assert kinds(change) == ["pending expired"]
        assert change.entries[0].actor is None
        assert change.file.case.modified_at == T + H

    def test_pending_expired_into_an_open_status(self) -> None:
        """If the expired status is not closed, the history says modified."""
        pending = apply_change(
            opened(), {"status": Status.PENDING}, by=ANN, at=T + H
        ).file
        change = expire(pending, at=T + 10 * H, expired=Status("Expired (open)"))
        assert actions(change) == ["case modified"]
        assert kinds(change) == ["pending expired"]

    def test_escalation_new_owner(self) -> None:
        """An escalation's new owner: modified and a handler line, by the library."""
        change = apply_change(opened(), {"owner": "senior"}, by=None, at=T + H)
        assert actions(change) == ["case modified"]
        assert kinds(change) == ["handler changed"]
        assert change.file.case.modified_at is None

    def test_assignment_by_a_person(self) -> None:
        """Pull or bulk assignment: modified by the person, handler and status lines."""
        change = apply_change(
            opened(),
            {"owner": "ann", "status": Status.ACTIVE_ASSIGNED},
            by=ANN,
            at=T + H,
        )
        assert actions(change) == ["case modified"]
        assert change.entries[0].actor == "ann"
        assert kinds(change) == ["handler changed", "status changed"]

    def test_delete_a_manual_line(self) -> None:
        """Deleting a manual line: follow-up line deleted, with the line's details."""
        f = add_line(
            opened(), "Called", by=ANN, at=T + H, duration=timedelta(minutes=15)
        ).file
        change = delete_line(f, 2, by=ANN, at=T + 2 * H)
        assert actions(change) == ["follow-up line deleted"]
        details = change.entries[0].details
        assert (
            details["text"],
            details["kind"],
            details["duration"],
            details["author"],
        ) == (
            "Called",
            "manual",
            15 * 60 * 1_000_000,
            "ann",
        )
        assert [(d.line_seq, d.by) for d in change.deletions] == [(2, "ann")]


class TestFollowUp:
    @pytest.mark.parametrize(
        "kind",
        [
            FollowUpKind.EMAIL_TO_CUSTOMER,
            FollowUpKind.REGISTRATION_CONFIRMATION,
            FollowUpKind.CLOSING_CONFIRMATION,
            FollowUpKind.FAX_SENT,
        ],
    )
    def test_messages_are_logged(self, kind: FollowUpKind) -> None:
        """E-mails, confirmations and faxes write an automatic line."""
        change = log_message(opened(), kind, "sent", at=T + H)
        assert kinds(change) == [kind.value]
        assert change.entries == ()

    @pytest.mark.parametrize(("field", "kind"), TRACKED_FIELDS)
    def test_each_tracked_field_writes_its_line(
        self, field: str, kind: FollowUpKind
    ) -> None:
        """A change of each tracked field writes its own automatic line."""
        changes = (
            {field: Status.ACTIVE_ASSIGNED if field == "status" else "new value"}
            if field in ("owner", "status", "priority")
            else {"fields": {field: "new value"}}
        )
        change = apply_change(opened(), changes, by=ANN, at=T + H)
        assert kinds(change) == [kind.value]
        assert change.lines[0].kind.automatic

    def test_only_messages_through_log_message(self) -> None:
        """log_message refuses a kind that is not a message."""
        with pytest.raises(ConfigError, match="kind: expected one of"):
            log_message(opened(), FollowUpKind.STATUS_CHANGED, "x", at=T)

    def test_duration_needs_a_remark(self) -> None:
        """A line with a duration must say why."""
        with pytest.raises(ConfigError, match="needs a remark"):
            add_line(opened(), "  ", by=ANN, at=T, duration=H)
        assert add_line(opened(), "", by=ANN, at=T).lines[0].text == ""

    def test_duration_adds_and_subtracts(self) -> None:
        """Durations add to the case's; deleting the line subtracts it again."""
        f = add_line(opened(), "a", by=ANN, at=T, duration=H).file
        f = add_line(f, "b", by=BOB, at=T, duration=2 * H).file
        assert f.duration == 3 * H
        f = delete_line(f, 2, by=ANN, at=T + H).file
        assert f.duration == 2 * H

    def test_automatic_lines_cannot_be_deleted(self) -> None:
        """Deleting an automatic line raises InvalidOperation and changes nothing."""
        f = opened()
        with pytest.raises(InvalidOperation, match="only manual lines"):
            delete_line(f, 1, by=BOSS, at=T)

    def test_only_the_author_or_the_permission(self) -> None:
        """Someone else's manual line needs 'delete follow-up lines'."""
        f = add_line(opened(), "mine", by=ANN, at=T).file
        with pytest.raises(
            PermissionDenied,
            match="'bob' lacks the permission 'delete follow-up lines'",
        ):
            delete_line(f, 2, by=BOB, at=T + H)
        assert delete_line(f, 2, by=BOSS, at=T + H).entries[0].actor == "boss"

    def test_deleted_twice(self) -> None:
        """A deleted line cannot be deleted again."""
        f = delete_line(
            add_line(opened(), "x", by=ANN, at=T).file, 2, by=ANN, at=T
        ).file
        with pytest.raises(InvalidOperation, match="deleted already"):
            delete_line(f, 2, by=ANN, at=T)
        assert [line.seq for line in f.live_lines] == [1]


class TestChain:
    def build(self) -> list:
        f = opened()
        entries = []
        change = create_case(f.case, by=ANN)
        entries += change.entries
        f = change.file
        for i, prio in enumerate(["low", "high", "urgent"]):
            change = apply_change(f, {"priority": prio}, by=ANN, at=T + i * H)
            entries += change.entries
            f = change.file
        return [entries, f.head]

    def test_chain_verifies(self) -> None:
        """A chain built by the operations verifies, with or without its head."""
        entries, head = self.build()
        assert verify(entries)
        assert verify(entries, head=head).ok

    @pytest.mark.parametrize(
        ("tamper", "seq", "problem"),
        [
            (
                lambda es: [es[0], attrs.evolve(es[1], actor="mallory"), *es[2:]],
                2,
                Problem.EDITED,
            ),
            (lambda es: [es[0], *es[2:]], 2, Problem.REMOVED),
            (lambda es: [es[0], es[2], es[1], es[3]], 2, Problem.REORDERED),
            (lambda es: es[:3], 4, Problem.TRUNCATED),
            (lambda es: [es[0], es[0], *es[1:]], 2, Problem.INSERTED),
        ],
    )
    def test_tampering_is_named(self, tamper, seq: int, problem: Problem) -> None:  # type: ignore[no-untyped-def]
        """Each kind of tampering is found at the first sequence number that differs."""
        entries, head = self.build()
        result = verify(tamper(entries), head=head)
        assert not result.ok
        assert (result.seq, result.problem) == (seq, problem)

    def test_truncation_needs_the_head(self) -> None:
        """Without the head, a cut-off tail is a valid shorter chain."""
        entries, _ = self.build()
        assert verify(entries[:2]).ok

    def test_canonical_encoding_is_reproducible(self) -> None:
        """Anyone can recompute a hash from the documented encoding."""
        entries, _ = self.build()
        e = entries[1]
        text = json.dumps(
            {
                "action": e.action.value,
                "actor": e.actor,
                "at": e.at.astimezone(UTC).isoformat(timespec="microseconds"),
                "case": e.case_id,
                "details": json.loads(json.dumps(e.details)),
                "prev": e.prev,
                "seq": e.seq,
                "v": 1,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        assert text == encode_entry(
            case_id=e.case_id,
            seq=e.seq,
            action=e.action,
            at=e.at,
            actor=e.actor,
            details=e.details,
            prev=e.prev,
        )
        assert hashlib.sha256(text).hexdigest() == e.hash


class TestStoredEntries:
    """Entries as a store keeps them: hashed over their stored texts, decoded
    only when those do not give the hash."""

    def stored(self) -> tuple[list[StoredEntry], object]:
        entries, head = TestChain().build()
        return [StoredEntry.of(e) for e in entries], head

    def test_canonical_texts_are_hashed_without_decoding(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        stored, head = self.stored()
        assert any(len(s.at) == 25 for s in stored)  # a whole second: no fraction

        def refuse(self: StoredEntry, pos: int | None = None) -> None:
            raise AssertionError("decoded")

        monkeypatch.setattr(StoredEntry, "entry", refuse)
        assert verify(stored, head=head).ok

    def test_another_spelling_of_the_same_content_still_verifies(self) -> None:
        """An instant written with another offset, details with spaces: the
        decoded content gives the hash, as for entries read one by one."""
        stored, head = self.stored()
        e = stored[1]
        at = datetime.fromisoformat(e.at).astimezone(timezone(H))
        stored[1] = e._replace(
            at=at.isoformat(), details=json.dumps(json.loads(e.details), indent=1)
        )
        assert verify(stored, head=head).ok

    def test_other_content_is_an_edit(self) -> None:
        stored, head = self.stored()
        details = json.loads(stored[2].details)
        details["changes"]["priority"]["new"] = "low"
        stored[2] = stored[2]._replace(details=json.dumps(details))
        result = verify(stored, head=head)
        assert (result.seq, result.problem) == (3, Problem.EDITED)

    def test_texts_that_do_not_decode_are_unreadable(self) -> None:
        stored, head = self.stored()
        stored[2] = stored[2]._replace(details="{not json")
        with pytest.raises(UnreadableEntry, match="entry 3 cannot be read") as e:
            verify(stored, head=head)
        assert (e.value.case_id, e.value.seq) == ("c1", 3)
        stored, head = self.stored()
        stored[1] = stored[1]._replace(seq="2")
        with pytest.raises(UnreadableEntry, match=r"entry 2 cannot be read: .*'2'"):
            verify(stored, head=head)


class TestDeletion:
    def test_tombstone_keeps_who_when_and_head(self) -> None:
        """Deleting a case yields a record with who, when, number and head."""
        f = opened()
        record = delete_case(f, by=BOSS, at=T + H)
        assert (record.case_id, record.number, record.by, record.at) == (
            "c1",
            "C-1",
            "boss",
            T + H,
        )
        assert record.head == f.head


class TestDocuments:
    @pytest.mark.parametrize("kind", list(DocumentKind))
    def test_each_kind(self, kind: DocumentKind) -> None:
        """A case escalates into a complaint, service report or action, pre-filled."""
        f = opened(priority="high")
        doc, change = escalate_to_document(
            f, kind, by=ANN, at=T + H, numbering=MemoryNumbering()
        )
        assert doc.kind is kind
        assert (doc.case_number, doc.handler, doc.priority) == ("C-1", "queue", "high")
        assert change.entries == ()

    def test_numbers_are_unique_per_kind(self) -> None:
        """The numbering port hands out new numbers."""
        numbering = MemoryNumbering()
        f = opened()
        a, _ = escalate_to_document(
            f, DocumentKind.COMPLAINT, by=ANN, at=T, numbering=numbering
        )
        b, _ = escalate_to_document(
            f, DocumentKind.COMPLAINT, by=ANN, at=T, numbering=numbering
        )
        assert (a.number, b.number) == ("CMP-0001", "CMP-0002")

    def test_disabled_kind(self) -> None:
        """A kind that is not enabled is refused."""
        settings = DocumentSettings(enabled=frozenset({DocumentKind.COMPLAINT}))
        with pytest.raises(InvalidOperation, match="'action' is not enabled"):
            escalate_to_document(
                opened(),
                DocumentKind.ACTION,
                by=ANN,
                at=T,
                numbering=MemoryNumbering(),
                settings=settings,
            )

    def test_close_on_escalate(self) -> None:
        """With close_case, escalating closes the case and writes case closed."""
        settings = DocumentSettings(close_case=True)
        _, change = escalate_to_document(
            opened(),
            DocumentKind.COMPLAINT,
            by=ANN,
            at=T,
            numbering=MemoryNumbering(),
            settings=settings,
        )
        assert actions(change) == ["case closed"]
        assert change.file.case.status == Status.CLOSED

    def test_work_list(self) -> None:
        """One row per escalation, in time order, with its own status and priority."""
        numbering = MemoryNumbering()
        f = opened(priority="low")
        late, _ = escalate_to_document(
            f, DocumentKind.ACTION, by=ANN, at=T + 2 * H, numbering=numbering
        )
        early, _ = escalate_to_document(
            f,
            DocumentKind.COMPLAINT,
            by=ANN,
            at=T + H,
            numbering=numbering,
            priority="urgent",
            handler="kim",
        )
        early = update_document(early, status="in progress")
        rows = work_list(f.case, [late, early])
        assert [(r.document_number, r.status, r.priority, r.handler) for r in rows] == [
            ("CMP-0001", "in progress", "urgent", "kim"),
            ("ACT-0001", "open", "low", "queue"),
        ]
        assert rows[0].case_status == "Active – New"

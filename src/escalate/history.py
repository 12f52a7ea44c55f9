"""Case history and follow-up (seed 002), and escalation into documents (seed 001).

Semantics and invariants (``docs/history.md`` has the table of what each
operation writes, and the canonical encoding):

* The **history** logs exactly six actions (:class:`HistoryAction`). It is
  append-only by construction: there is no API to change or remove an entry. Each
  :class:`HistoryEntry` carries the SHA-256 hash of its canonical encoding, which
  includes the previous entry's hash, so the entries of a case form a chain;
  :func:`verify` finds the first place where it breaks. Given the expected head
  (count and last hash) it also detects entries cut off at the end; without it,
  that cannot be seen.
* **Follow-up lines** are automatic (written by the library: case created, mails,
  faxes, changes of tracked fields, reopening, Pending → Expired) or manual (added
  by users, optionally with a duration, which then needs a remark). Only manual
  lines can be deleted, by their author or by an actor with the permission
  ``delete follow-up lines``; a deletion is a marker beside the line (the line is
  never rewritten) and writes *follow-up line deleted* to the history. The case's
  duration is the sum of the durations of its live manual lines.
* Operations are pure: they take a :class:`CaseFile`, an actor and an instant, and
  return a :class:`Change` with the new file and what to append. Changes made by a
  person (an :class:`~escalate.model.Actor`) set ``Case.modified_at``; changes the
  library makes itself (``by=None``) do not.
* Deleting a case tombstones it: :func:`delete_case` returns a
  :class:`CaseDeletion` (who, when, the case number, the head of its history) for
  a log that outlives the case; the history itself stays.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import attrs

from escalate._history_chain import (
    GENESIS,
    HistoryAction,
    HistoryEntry,
    HistoryHead,
    Problem,
    StoredEntry,
    Verification,
    canonical_details,
    encode_entry,
    verify,
)
from escalate._instants import require_aware, require_duration, to_us, utc_from_us
from escalate._text import check_text
from escalate.errors import (
    ConfigError,
    ConflictError,
    InvalidOperation,
    WrongTypeError,
)
from escalate.model import Actor, Case, Permission, Status

__all__ = [
    "GENESIS",
    "TRACKED_FIELDS",
    "CaseDeletion",
    "CaseFile",
    "Change",
    "DocumentKind",
    "DocumentSettings",
    "EscalationDocument",
    "FollowUpKind",
    "FollowUpLine",
    "HistoryAction",
    "HistoryEntry",
    "HistoryHead",
    "LineDeletion",
    "Numbering",
    "Problem",
    "StoredEntry",
    "Verification",
    "WorkListRow",
    "add_line",
    "apply_change",
    "create_case",
    "delete_case",
    "delete_line",
    "canonical_details",
    "check_deletion",
    "encode_entry",
    "escalate_to_document",
    "expire",
    "log_message",
    "note_skipped",
    "update_document",
    "verify",
    "work_list",
]


class FollowUpKind(enum.Enum):
    """What a follow-up line records; all but MANUAL are written automatically."""

    CASE_CREATED = "case created"
    EMAIL_TO_CUSTOMER = "e-mail to customer"
    REGISTRATION_CONFIRMATION = "registration confirmation"
    CLOSING_CONFIRMATION = "closing confirmation"
    FAX_SENT = "fax sent"
    HANDLER_CHANGED = "handler changed"
    STATUS_CHANGED = "status changed"
    PRIORITY_CHANGED = "priority changed"
    REPORT_TYPE_CHANGED = "report type changed"
    MEDIUM_CHANGED = "medium changed"
    RELATION_CHANGED = "relation changed"
    FINANCIAL_STATUS_CHANGED = "financial status changed"
    CASE_REOPENED = "case reopened"
    PENDING_EXPIRED = "pending expired"
    STEP_SKIPPED = "step skipped"
    """An escalation step or warning that a change of the settings made due at
    once, recorded as skipped (``on_change = "skip"``) rather than sent."""
    MANUAL = "manual"

    @property
    def automatic(self) -> bool:
        """Written by the library (and so never deletable)."""
        return self is not FollowUpKind.MANUAL


TRACKED_FIELDS: Final[tuple[tuple[str, FollowUpKind], ...]] = (
    ("owner", FollowUpKind.HANDLER_CHANGED),
    ("status", FollowUpKind.STATUS_CHANGED),
    ("priority", FollowUpKind.PRIORITY_CHANGED),
    ("report_type", FollowUpKind.REPORT_TYPE_CHANGED),
    ("medium", FollowUpKind.MEDIUM_CHANGED),
    ("relation", FollowUpKind.RELATION_CHANGED),
    ("financial_status", FollowUpKind.FINANCIAL_STATUS_CHANGED),
)
"""The fields whose changes write a follow-up line, in the order the lines are
written. ``owner`` is the handler; ``report_type``, ``medium``, ``relation`` and
``financial_status`` are custom fields."""

_MESSAGE_KINDS: Final = frozenset(
    {
        FollowUpKind.EMAIL_TO_CUSTOMER,
        FollowUpKind.REGISTRATION_CONFIRMATION,
        FollowUpKind.CLOSING_CONFIRMATION,
        FollowUpKind.FAX_SENT,
    }
)


# -- follow-up lines -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FollowUpLine:
    """A follow-up line of a case.

    Attributes:
        case_id: The case.
        seq: The line number within the case, from 1.
        kind: What it records (MANUAL for a user's own line).
        at: When.
        author: The person who wrote it or caused it, or None for the library.
        text: The line's text (for a manual line, the remark).
        duration: Time spent, for a manual line; added to the case's duration.
    """

    case_id: str
    seq: int
    kind: FollowUpKind
    at: datetime
    author: str | None
    text: str
    duration: timedelta | None = None


@attrs.frozen(kw_only=True)
class LineDeletion:
    """The marker that deletes a manual follow-up line (appended beside it)."""

    case_id: str
    line_seq: int
    by: str
    at: datetime


@attrs.frozen(kw_only=True)
class CaseDeletion:
    """The tombstone of a deleted case: who, when, and the head of its history."""

    case_id: str
    number: str
    by: str
    at: datetime
    head: HistoryHead

    def require_current(self, head: HistoryHead) -> None:
        """Refuse the deletion if the stored history moved on since it was made.

        Raises:
            ConflictError: ``head`` (the stored one) is not the record's head.
        """
        if head != self.head:
            raise ConflictError(
                f"case {self.case_id!r}: the deletion was made at history entry "
                f"{self.head.count}, the history is at {head.count}"
            )


@attrs.frozen(kw_only=True)
class CaseFile:
    """A case with the parts of its history and follow-up the core works on.

    Attributes:
        case: The case.
        head: The head of its history chain.
        lines: Its follow-up lines.
        deleted: The line numbers of deleted manual lines.
    """

    case: Case
    head: HistoryHead
    lines: tuple[FollowUpLine, ...] = ()
    deleted: frozenset[int] = frozenset()

    @property
    def live_lines(self) -> tuple[FollowUpLine, ...]:
        """The follow-up lines not deleted."""
        return tuple(line for line in self.lines if line.seq not in self.deleted)

    @property
    def duration(self) -> timedelta:
        """The sum of the durations of the live manual lines."""
        return sum(
            (
                line.duration
                for line in self.lines
                if line.duration is not None and line.seq not in self.deleted
            ),
            timedelta(0),
        )


@attrs.frozen(kw_only=True)
class Change:
    """What an operation did: the new file, and what to append to the store.

    Attributes:
        file: The case file after the operation.
        entries: History entries to append, in order.
        lines: Follow-up lines to append, in order.
        deletions: Line deletion markers to append.
    """

    file: CaseFile
    entries: tuple[HistoryEntry, ...] = ()
    lines: tuple[FollowUpLine, ...] = ()
    deletions: tuple[LineDeletion, ...] = ()


class _Builder:
    """Accumulates entries and lines for one operation, chaining as it goes."""

    def __init__(self, file: CaseFile) -> None:
        self.file = file
        self.head = file.head
        self.entries: list[HistoryEntry] = []
        self.lines: list[FollowUpLine] = []
        self.deletions: list[LineDeletion] = []

    def history(
        self, action: HistoryAction, at: datetime, actor: str | None, **details: Any
    ) -> None:
        entry = HistoryEntry.chained(
            self.head, action=action, at=at, actor=actor, details=details
        )
        self.entries.append(entry)
        self.head = self.head.after(entry)

    def line(
        self,
        kind: FollowUpKind,
        at: datetime,
        author: str | None,
        text: str,
        duration: timedelta | None = None,
    ) -> None:
        seq = len(self.file.lines) + len(self.lines) + 1
        self.lines.append(
            FollowUpLine(
                case_id=self.file.case.id,
                seq=seq,
                kind=kind,
                at=utc_from_us(to_us(at, "at")),
                author=author,
                text=text,
                duration=duration,
            )
        )

    def done(
        self, case: Case | None = None, deleted: frozenset[int] | None = None
    ) -> Change:
        file = CaseFile(
            case=self.file.case if case is None else case,
            head=self.head,
            lines=self.file.lines + tuple(self.lines),
            deleted=self.file.deleted if deleted is None else deleted,
        )
        return Change(
            file=file,
            entries=tuple(self.entries),
            lines=tuple(self.lines),
            deletions=tuple(self.deletions),
        )


def _actor_id(by: Actor | None, name: str = "by") -> str | None:
    if by is None:
        return None
    if not isinstance(by, Actor):
        raise WrongTypeError(f"{name}: expected an Actor or None, got {by!r}")
    return by.id


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    return value.name if isinstance(value, Status) else str(value)


def create_case(
    case: Case,
    *,
    by: Actor | None,
    at: datetime | None = None,
    registration_confirmation: str | None = None,
) -> Change:
    """Open a case: *case created* in history and follow-up.

    Args:
        case: The new case (its owner may already be the default queue user).
        by: Who created it (None: the library, e.g. from an e-mail).
        at: When (default: ``case.created_at``).
        registration_confirmation: The text of the confirmation e-mail, if one
            was sent: writes a *registration confirmation* line.
    """
    when = case.created_at if at is None else require_aware(at, "at")
    b = _Builder(CaseFile(case=case, head=HistoryHead(case.id)))
    actor = _actor_id(by)
    b.history(
        HistoryAction.CASE_CREATED,
        when,
        actor,
        number=case.number,
        status=case.status,
        priority=case.priority,
        owner=case.owner,
    )
    b.line(FollowUpKind.CASE_CREATED, when, actor, f"Case {case.number} created")
    if registration_confirmation is not None:
        b.line(
            FollowUpKind.REGISTRATION_CONFIRMATION,
            when,
            actor,
            registration_confirmation,
        )
    return b.done()


def _tracked(case: Case, field: str) -> Any:
    if field in ("owner", "status", "priority"):
        return getattr(case, field)
    return case.fields.get(field)


def apply_change(
    file: CaseFile,
    changes: Mapping[str, Any],
    *,
    by: Actor | None,
    at: datetime,
    closing_confirmation: str | None = None,
    expiry: bool = False,
) -> Change:
    """Change a case and write what the change means (see the table in the docs).

    * changed fields (other than the solution, and other than a status change
      into or out of a closed status): *case modified*, with each field's old
      and new value, and one follow-up line per tracked field that changed (in
      the order of :data:`TRACKED_FIELDS`);
    * the solution entered or changed: *solution entered*;
    * into a closed status: *case closed* and a status-change line (and a
      closing-confirmation line if ``closing_confirmation`` is given);
    * out of a closed status: *case reopened* and a *case reopened* line.

    Args:
        file: The case file.
        changes: Attributes (``status``, ``priority``, ``owner``, ``solution``)
            and custom fields under ``fields`` (a value of None removes one).
        by: The person changing it, or None for the library (which does not set
            ``modified_at``).
        at: When.
        closing_confirmation: The text of the closing confirmation e-mail sent.
        expiry: This is the automatic Pending → Expired change (writes a
            *pending expired* line instead of a status-change line).
    """
    require_aware(at, "at")
    actor = _actor_id(by)
    old = file.case
    new = old.changed(at, by=by, **dict(changes))
    b = _Builder(file)
    diffs: dict[str, dict[str, Any]] = {}
    for name in ("priority", "owner"):
        if getattr(new, name) != getattr(old, name):
            diffs[name] = {"old": getattr(old, name), "new": getattr(new, name)}
    for key in sorted(set(old.fields) | set(new.fields)):
        if old.fields.get(key) != new.fields.get(key):
            diffs[f"fields.{key}"] = {
                "old": old.fields.get(key),
                "new": new.fields.get(key),
            }
    status_moved = new.status != old.status
    closing = status_moved and new.status.closed and not old.status.closed
    reopening = status_moved and old.status.closed and not new.status.closed
    if status_moved and not (closing or reopening):
        diffs["status"] = {"old": old.status, "new": new.status}
    if diffs:
        b.history(HistoryAction.CASE_MODIFIED, at, actor, changes=diffs)
    if new.solution != old.solution and new.solution:
        b.history(HistoryAction.SOLUTION_ENTERED, at, actor, solution=new.solution)
    if closing:
        b.history(HistoryAction.CASE_CLOSED, at, actor, old=old.status, new=new.status)
    if reopening:
        b.history(
            HistoryAction.CASE_REOPENED, at, actor, old=old.status, new=new.status
        )
    for field, kind in TRACKED_FIELDS:
        before, after = _tracked(old, field), _tracked(new, field)
        if before == after:
            continue
        if field == "status":
            if reopening:
                b.line(
                    FollowUpKind.CASE_REOPENED,
                    at,
                    actor,
                    f"Case reopened: {_show(after)}",
                )
                continue
            if expiry:
                b.line(
                    FollowUpKind.PENDING_EXPIRED,
                    at,
                    actor,
                    f"Status changed automatically: {_show(before)} → {_show(after)}",
                )
                continue
        b.line(kind, at, actor, f"{kind.value}: {_show(before)} → {_show(after)}")
    if closing and closing_confirmation is not None:
        b.line(FollowUpKind.CLOSING_CONFIRMATION, at, actor, closing_confirmation)
    return b.done(new)


def expire(file: CaseFile, *, at: datetime, expired: Status = Status.EXPIRED) -> Change:
    """The automatic Pending → Expired change (by the library: ``modified_at``
    stays). Writes *case closed* if the expired status is closed, else *case
    modified*, and a *pending expired* follow-up line."""
    return apply_change(file, {"status": expired}, by=None, at=at, expiry=True)


def log_message(
    file: CaseFile,
    kind: FollowUpKind,
    text: str,
    *,
    at: datetime,
    by: Actor | None = None,
) -> Change:
    """An automatic line for a message sent: an e-mail to the customer, a
    registration or closing confirmation, or a fax."""
    if kind not in _MESSAGE_KINDS:
        raise ConfigError(
            f"kind: expected one of {sorted(k.value for k in _MESSAGE_KINDS)}, "
            f"got {kind!r}"
        )
    b = _Builder(file)
    b.line(kind, require_aware(at, "at"), _actor_id(by), text)
    return b.done()


def note_skipped(file: CaseFile, steps: Iterable[str], *, at: datetime) -> Change:
    """An automatic *step skipped* line for each step (its label, such as
    ``step 'manager'``) that a change of the settings made due at once and that
    was recorded as skipped instead of sent."""
    b = _Builder(file)
    at = require_aware(at, "at")
    for step in steps:
        b.line(
            FollowUpKind.STEP_SKIPPED,
            at,
            None,
            f"skipped: made due by a configuration change ({step})",
        )
    return b.done()


def add_line(
    file: CaseFile,
    text: str,
    *,
    by: Actor,
    at: datetime,
    duration: timedelta | None = None,
) -> Change:
    """A manual follow-up line by ``by``; a duration is added to the case's.

    Raises:
        ConfigError: A duration without a remark (``text``), or a negative one.
    """
    author = _actor_id(by)
    if author is None:
        raise WrongTypeError("by: a manual line needs its author, got None")
    if not isinstance(text, str):
        raise WrongTypeError(f"text: expected a text, got {type(text).__name__}")
    check_text("text", text)
    if duration is not None:
        require_duration(duration, "duration")
        if duration < timedelta(0):
            raise ConfigError(f"duration: expected a duration >= 0, got {duration}")
        if not text.strip():
            raise ConfigError(
                "text: a line with a duration needs a remark saying why the time "
                f"was added, got {text!r}"
            )
    b = _Builder(file)
    b.line(FollowUpKind.MANUAL, require_aware(at, "at"), author, text, duration)
    return b.done()


def check_deletion(
    deletion: LineDeletion,
    lines: Sequence[FollowUpLine],
    entries: Sequence[HistoryEntry],
    deleted: Collection[int],
) -> None:
    """Refuse a deletion marker that :func:`delete_line` would not have made:
    what a store checks before it appends one, so that its raw write is not a
    way around the rules.

    Args:
        deletion: The marker.
        lines: The case's follow-up lines.
        entries: The case's history (the marker's entry appended first, in the
            same transaction).
        deleted: The lines deleted already.

    Raises:
        InvalidOperation: No such line, an automatic line, a line deleted
            already, or no *follow-up line deleted* history entry by the same
            person for it.
    """
    where = f"case {deletion.case_id!r}, line {deletion.line_seq}"
    line = next((x for x in lines if x.seq == deletion.line_seq), None)
    if line is None:
        raise InvalidOperation(f"{where}: there is no such follow-up line to delete")
    if line.kind.automatic:
        raise InvalidOperation(
            f"{where}: the line ({line.kind.value}) was written by the library; only "
            "manual lines can be deleted"
        )
    if deletion.line_seq in deleted:
        raise InvalidOperation(f"{where}: the line is deleted already")
    if not any(
        e.action is HistoryAction.FOLLOW_UP_LINE_DELETED
        and e.details.get("line") == deletion.line_seq
        and e.actor == deletion.by
        for e in reversed(entries)
    ):
        raise InvalidOperation(
            f"{where}: a deletion needs its 'follow-up line deleted' history entry "
            f"by {deletion.by!r}, appended first; delete lines with delete_line"
        )


def delete_line(file: CaseFile, line_seq: int, *, by: Actor, at: datetime) -> Change:
    """Delete a manual line (its author, or someone allowed to): a deletion marker,
    *follow-up line deleted* in history, and its duration no longer counts.

    Raises:
        InvalidOperation: The line is automatic, or deleted already.
        PermissionDenied: ``by`` is not its author and lacks the permission
            ``delete follow-up lines``.
        ConfigError: No such line.
    """
    require_aware(at, "at")
    actor = _actor_id(by)
    line = next((x for x in file.lines if x.seq == line_seq), None)
    if line is None:
        raise ConfigError(
            f"line_seq: case {file.case.id!r} has no follow-up line {line_seq!r}"
        )
    if line.kind.automatic:
        raise InvalidOperation(
            f"delete_line: line {line_seq} ({line.kind.value}) was written by the "
            "library; only manual lines can be deleted"
        )
    if line_seq in file.deleted:
        raise InvalidOperation(f"delete_line: line {line_seq} is deleted already")
    if line.author != actor:
        by.require(Permission.DELETE_FOLLOW_UP_LINES, "delete_line")
    b = _Builder(file)
    b.history(
        HistoryAction.FOLLOW_UP_LINE_DELETED,
        at,
        actor,
        line=line_seq,
        text=line.text,
        kind=line.kind,
        duration=line.duration,
        author=line.author,
    )
    assert actor is not None
    b.deletions.append(
        LineDeletion(
            case_id=file.case.id,
            line_seq=line_seq,
            by=actor,
            at=utc_from_us(to_us(at, "at")),
        )
    )
    return b.done(deleted=file.deleted | {line_seq})


def delete_case(file: CaseFile, *, by: Actor, at: datetime) -> CaseDeletion:
    """The tombstone for deleting a case: who, when, its number and history head.

    The history is not touched (it can never be erased); keep the returned record
    in a log that outlives the case.
    """
    actor = _actor_id(by)
    assert actor is not None
    return CaseDeletion(
        case_id=file.case.id,
        number=file.case.number,
        by=actor,
        at=utc_from_us(to_us(at, "at")),
        head=file.head,
    )


# -- escalation into documents (seed 001) ----------------------------------------------


class DocumentKind(enum.Enum):
    """What a case can be escalated into."""

    COMPLAINT = "complaint"
    SERVICE_REPORT = "service report"
    ACTION = "action"

    def number(self, n: int, *, width: int = 4) -> str:
        """The ``n``-th document number of this kind: ``CMP-0001``,
        ``SRV-0001``, ``ACT-0001``."""
        prefix = {"complaint": "CMP", "service report": "SRV", "action": "ACT"}
        return f"{prefix[self.value]}-{n:0{width}d}"


class Numbering(Protocol):
    """Hands out document numbers (a port: stores supply their own sequences)."""

    def next_number(self, kind: DocumentKind) -> str:
        """A new, unique number for a document of ``kind``."""
        ...


@attrs.frozen(kw_only=True)
class DocumentSettings:
    """Which document kinds are enabled, and whether escalating closes the case.

    Attributes:
        enabled: The kinds a case may be escalated into (the seed needs the
            matching module for each).
        close_case: Escalating closes the case (then *case closed* is written).
        closed_status: The status it closes with.
    """

    enabled: frozenset[DocumentKind] = frozenset(DocumentKind)
    close_case: bool = False
    closed_status: Status = Status.CLOSED


@attrs.frozen(kw_only=True)
class EscalationDocument:
    """A complaint, service report or action escalated from a case.

    Attributes:
        number: Its own number.
        kind: Complaint, service report or action.
        case_id: The case it came from.
        case_number: That case's number.
        description: Pre-filled from the case, editable.
        status: The escalation's own status.
        handler: Who handles the escalated item.
        priority: The escalation's own priority (informational, independent of
            the case priority).
        created_at: When it was escalated.
        created_by: Who escalated.
    """

    number: str
    kind: DocumentKind
    case_id: str
    case_number: str
    description: str
    status: str = "open"
    handler: str | None = None
    priority: str | int | None = None
    created_at: datetime
    created_by: str


def escalate_to_document(
    file: CaseFile,
    kind: DocumentKind,
    *,
    by: Actor,
    at: datetime,
    numbering: Numbering,
    settings: DocumentSettings | None = None,
    description: str | None = None,
    status: str = "open",
    handler: str | None = None,
    priority: str | int | None = None,
) -> tuple[EscalationDocument, Change]:
    """Escalate a case into a new document, pre-filled from the case.

    The description defaults to the case's ``description`` field (or its number),
    the handler to the case owner, the priority to the case priority; all can be
    given. If the settings say so, the case is closed (*case closed* written).

    Raises:
        InvalidOperation: The kind is not enabled.
    """
    settings = settings or DocumentSettings()
    actor = _actor_id(by)
    assert actor is not None
    if kind not in settings.enabled:
        raise InvalidOperation(
            f"escalate_to_document: {kind.value!r} is not enabled; enabled: "
            f"{sorted(k.value for k in settings.enabled)}"
        )
    case = file.case
    document = EscalationDocument(
        number=numbering.next_number(kind),
        kind=kind,
        case_id=case.id,
        case_number=case.number,
        description=description
        if description is not None
        else str(
            case.fields.get("description") or f"Escalated from case {case.number}"
        ),
        status=status,
        handler=handler if handler is not None else case.owner,
        priority=priority if priority is not None else case.priority,
        created_at=utc_from_us(to_us(at, "at")),
        created_by=actor,
    )
    if settings.close_case and not case.closed:
        return document, apply_change(
            file, {"status": settings.closed_status}, by=by, at=at
        )
    return document, Change(file=file)


def update_document(document: EscalationDocument, **changes: Any) -> EscalationDocument:
    """The document with its status, handler, priority or description changed."""
    allowed = {"status", "handler", "priority", "description"}
    unknown = set(changes) - allowed
    if unknown:
        raise ConfigError(
            f"update_document: unknown fields {sorted(unknown)}; expected "
            f"{sorted(allowed)}"
        )
    return attrs.evolve(document, **changes)


@attrs.frozen(kw_only=True)
class WorkListRow:
    """A row of a case's escalation work list (seed 001)."""

    case_number: str
    case_status: str
    status: str
    at: datetime
    kind: DocumentKind
    document_number: str
    handler: str | None
    priority: str | int | None


def work_list(
    case: Case, documents: Iterable[EscalationDocument]
) -> tuple[WorkListRow, ...]:
    """One row per escalation of ``case``, in time order (then document number)."""
    rows = [
        WorkListRow(
            case_number=case.number,
            case_status=case.status.name,
            status=d.status,
            at=d.created_at,
            kind=d.kind,
            document_number=d.number,
            handler=d.handler,
            priority=d.priority,
        )
        for d in documents
        if d.case_id == case.id
    ]
    rows.sort(key=lambda r: (to_us(r.at, "at"), r.document_number))
    return tuple(rows)

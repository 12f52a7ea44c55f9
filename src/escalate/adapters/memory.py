"""In-memory adapters: for tests, simulations and the default where nothing is
persisted."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import attrs

from escalate._instants import to_us, utc_from_us
from escalate._outbox_rules import check_dead, check_not_held, check_unsent
from escalate.errors import ConfigError, ConflictError, NotFound
from escalate.history import (
    CaseDeletion,
    DocumentKind,
    EscalationDocument,
    FollowUpLine,
    HistoryEntry,
    HistoryHead,
    LineDeletion,
    StoredEntry,
    check_deletion,
)
from escalate.leads import Lead
from escalate.mail import OutgoingMail
from escalate.matching import AssignmentRecord
from escalate.model import Case, Task
from escalate.ports import (
    Backlog,
    CaseState,
    Claim,
    FailingMail,
    FiredKey,
    Governed,
    Heartbeat,
    OutboxEntry,
    OutboxState,
    Quarantined,
    QuarantineState,
    SettingsRecord,
    SettingsVersion,
    TickRecord,
)
from escalate.sla import SlaEvent, SlaHead

__all__ = ["MemoryNumbering", "MemoryStore"]


class _Versioned(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...


_V = TypeVar("_V", bound=_Versioned)
_D = TypeVar("_D")


class MemoryNumbering:
    """Document numbers from counters in memory: ``CMP-0001``, ``SRV-0001``, ...

    One counter per kind; safe to share between threads.
    """

    def __init__(self, *, width: int = 4) -> None:
        self._next = dict.fromkeys(DocumentKind, 1)
        self._width = width
        self._lock = threading.Lock()

    def next_number(self, kind: DocumentKind) -> str:
        """A new number for a document of ``kind``."""
        with self._lock:
            n = self._next[kind]
            self._next[kind] = n + 1
        return kind.number(n, width=self._width)


@attrs.frozen
class _Outgoing:
    mail: OutgoingMail
    order: int
    attempts: int = 0
    next_attempt: int = 0
    token: str | None = None
    lease_until: int = 0
    sent: int | None = None
    error: str | None = None
    queued: int = 0
    dead: int | None = None
    dropped: int | None = None
    claimed_by: str | None = None
    claims: int = 0  # every claim, given back or not: what makes a token unique

    def entry(self) -> OutboxEntry:
        claimed = self.token is not None
        return OutboxEntry(
            message_id=self.mail.message_id,
            recipient=self.mail.recipient,
            purpose=self.mail.purpose,
            key=self.mail.key,
            queued_at=utc_from_us(self.queued),
            attempts=self.attempts,
            error=self.error,
            next_attempt_at=utc_from_us(self.next_attempt),
            dead_at=None if self.dead is None else utc_from_us(self.dead),
            claimed_by=self.claimed_by if claimed else None,
            lease_until=utc_from_us(self.lease_until) if claimed else None,
        )


class MemoryStore:
    """A :class:`~escalate.ports.Store` in memory, for tests and simulations.

    Transactions are serialised by a lock; every write inside one logs how to
    undo it, and a failed transaction undoes its writes in reverse (so a
    transaction costs what it writes, not what the store holds). Nothing
    outlives the process.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._cases: dict[str, tuple[Case, int | None]] = {}
        self._governed: dict[str, Governed | None] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._heads: dict[str, HistoryHead] = {}  # kept apart from the entries
        self._lines: dict[str, list[FollowUpLine]] = {}
        self._deletions: dict[str, list[LineDeletion]] = {}
        self._fired: dict[str, FiredKey] = {}
        self._outbox: dict[str, _Outgoing] = {}
        self._unsent: dict[str, None] = {}  # Message-IDs not sent, queue order
        self._tasks: dict[str, tuple[Task, int | None]] = {}
        self._leads: dict[str, tuple[Lead, int | None]] = {}
        self._documents: dict[str, EscalationDocument] = {}
        self._case_deletions: list[CaseDeletion] = []
        self._numbers: dict[DocumentKind, int] = {}
        self._settings: dict[str, SettingsRecord] = {}
        self._versions: dict[str, SettingsVersion] = {}  # in the order stored
        self._ticks: dict[str, TickRecord] = {}
        self._beats: dict[str, Heartbeat] = {}
        self._quarantine: dict[tuple[str, str], Quarantined] = {}
        self._assignments: dict[str, list[AssignmentRecord]] = {}
        self._sla_events: dict[str, list[SlaEvent]] = {}
        self._sla_heads: dict[str, SlaHead] = {}
        self._undo: list[Callable[[], object]] = []

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested transactions join the outermost one."""
        with self._lock:
            outermost = self._depth == 0
            self._depth += 1
            try:
                yield
            except BaseException:
                if outermost:
                    self._undo_to(0)
                raise
            finally:
                self._depth -= 1
                if outermost:
                    self._undo.clear()

    def reading(self) -> AbstractContextManager[None]:
        """A transaction that only reads (here, one like any other: the lock
        gives it one snapshot)."""
        return self.transaction()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """All or nothing inside the transaction under way (outside one, a
        transaction): an exception undoes what was written since it began."""
        with self._lock:
            if not self._depth:
                with self.transaction():
                    yield
                return
            mark = len(self._undo)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._undo_to(mark)
                raise
            finally:
                self._depth -= 1

    def _undo_to(self, mark: int) -> None:
        """Undo the writes logged after the first ``mark``, latest first."""
        while len(self._undo) > mark:
            self._undo.pop()()

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if key in table:
            old = table[key]
            self._undo.append(lambda: table.__setitem__(key, old))
        else:
            self._undo.append(lambda: table.pop(key))
        table[key] = value

    def _drop(self, table: dict[Any, Any], key: Any) -> None:
        old = table.pop(key)
        self._undo.append(lambda: table.__setitem__(key, old))

    def _save_versioned(
        self, table: dict[str, tuple[_V, int | None]], what: str, value: _V, due: Any
    ) -> _V:
        with self.transaction():
            stored = table.get(value.id)
            current = 0 if stored is None else stored[0].version
            if current != value.version:
                raise ConflictError.stale(what, current, value.version)
            new: _V = attrs.evolve(value, version=value.version + 1)  # type: ignore[misc]  # attrs values
            self._put(table, value.id, (new, due))
            return new

    def _add(self, table: dict[Any, list[Any]], key: Any, value: Any) -> None:
        if key not in table:
            self._put(table, key, [])
        table[key].append(value)
        self._undo.append(table[key].pop)

    # -- cases -----------------------------------------------------------------------

    def get_case(self, case_id: str) -> Case:
        """The stored case.

        Raises:
            NotFound: No such case.
        """
        try:
            return self._cases[case_id][0]
        except KeyError:
            raise NotFound(f"case {case_id!r} is not in the store") from None

    def save_case(
        self,
        case: Case,
        *,
        next_due: datetime | None,
        governed: Governed | None = None,
    ) -> Case:
        """Store ``case`` as ``version + 1`` if the stored version is
        ``case.version``, with its next due instant and what governs it.

        Raises:
            ConflictError: The stored version differs (someone saved it first).
        """
        due = None if next_due is None or case.closed else to_us(next_due, "next_due")
        with self.transaction():
            saved = self._save_versioned(self._cases, f"case {case.id!r}", case, due)
            self._put(self._governed, case.id, governed)
            return saved

    def due_cases(self, until: datetime, *, limit: int) -> list[Case]:
        """Open cases whose next due instant is at or before ``until``, earliest
        first (then by id), at most ``limit``."""
        return _due(self._cases, until, limit)

    def take_due_case(self, case_id: str, until: datetime) -> Case | None:
        """The case if it is open and due at or before ``until``, else None."""
        return _take_due(self._cases, case_id, until)

    def due_backlog(self, until: datetime) -> Backlog:
        """How many open cases are due at or before ``until``, and the earliest
        due instant among them."""
        x = to_us(until, "until")
        due = [d for _, d in self._cases.values() if d is not None and d <= x]
        return Backlog(count=len(due), oldest=utc_from_us(min(due)) if due else None)

    def open_cases(self, after: str | None, *, limit: int) -> list[Case]:
        """Open cases with an id after ``after`` (all if None), by id, at most
        ``limit``."""
        ids = heapq.nsmallest(
            limit,
            (
                cid
                for cid, (c, _) in self._cases.items()
                if not c.closed and (after is None or cid > after)
            ),
        )
        return [self._cases[cid][0] for cid in ids]

    def open_case_states(self, after: str | None, *, limit: int) -> list[CaseState]:
        """The states of the open cases with an id after ``after`` (all if
        None), by id, at most ``limit``."""
        return [
            CaseState(
                id=c.id,
                version=c.version,
                status=c.status,
                status_since_us=c.status_since_us,
                created_us=c.created_us,
                modified_us=c.modified_us,
                governed=self._governed.get(c.id),
                settings_version=c.settings_version,
            )
            for c in self.open_cases(after, limit=limit)
        ]

    def open_case_ids(self) -> Iterator[str]:
        """The ids of the open cases, sorted."""
        return iter(sorted(cid for cid, (c, _) in self._cases.items() if not c.closed))

    def delete_case(self, deletion: CaseDeletion) -> None:
        """Remove a case and keep its deletion record (its history stays).

        Raises:
            NotFound: No such case.
            ConflictError: The history moved on since the record was made.
        """
        with self.transaction():
            self.get_case(deletion.case_id)
            deletion.require_current(self.history_head(deletion.case_id))
            self._drop(self._cases, deletion.case_id)
            self._drop(self._governed, deletion.case_id)
            self._case_deletions.append(deletion)
            self._undo.append(self._case_deletions.pop)

    def case_deletions(self) -> list[CaseDeletion]:
        """The deletion records, in the order made."""
        return list(self._case_deletions)

    def case_ids_by_number(self, number: str) -> list[str]:
        """The ids of the stored cases (open or closed) numbered ``number``,
        sorted."""
        return sorted(cid for cid, (c, _) in self._cases.items() if c.number == number)

    def owned_cases(
        self, owner: str, *, status: str, after: str | None, limit: int
    ) -> list[Case]:
        """Open cases owned by ``owner`` in the status named ``status``, with an
        id after ``after`` (all if None), by id, at most ``limit``."""
        ids = heapq.nsmallest(
            limit,
            (
                cid
                for cid, (c, _) in self._cases.items()
                if c.owner == owner
                and c.status.name == status
                and not c.closed
                and (after is None or cid > after)
            ),
        )
        return [self._cases[cid][0] for cid in ids]

    def open_counts(self, owners: Collection[str]) -> dict[str, int]:
        """How many open cases each of ``owners`` owns (0 for none)."""
        counts = dict.fromkeys(owners, 0)
        for c, _ in self._cases.values():
            if not c.closed and c.owner in counts:
                counts[c.owner] += 1
        return counts

    # -- leads --------------------------------------------------------------------

    def save_lead(self, lead: Lead, *, next_due: datetime | None) -> Lead:
        """Store ``lead`` as ``version + 1`` if the stored version is
        ``lead.version``.

        Raises:
            ConflictError: The stored version differs (someone saved it first).
        """
        due = None if next_due is None else to_us(next_due, "next_due")
        return self._save_versioned(self._leads, f"lead {lead.id!r}", lead, due)

    def get_lead(self, lead_id: str) -> Lead:
        """The stored lead.

        Raises:
            NotFound: No such lead.
        """
        try:
            return self._leads[lead_id][0]
        except KeyError:
            raise NotFound(f"lead {lead_id!r} is not in the store") from None

    def due_leads(self, until: datetime, *, limit: int) -> list[Lead]:
        """Leads whose next due instant is at or before ``until``, earliest first
        (then by id), at most ``limit``."""
        return _due(self._leads, until, limit)

    def take_due_lead(self, lead_id: str, until: datetime) -> Lead | None:
        """The lead if it is due at or before ``until``, else None."""
        return _take_due(self._leads, lead_id, until)

    def lead_ids(self) -> Iterator[str]:
        """The ids of all stored leads, sorted."""
        return iter(sorted(self._leads))

    # -- tasks --------------------------------------------------------------------

    def save_task(self, task: Task, *, next_due: datetime | None) -> None:
        """Store a task (replacing one with its id) with its next due instant."""
        due = None if next_due is None else to_us(next_due, "next_due")
        with self.transaction():
            self._put(self._tasks, task.id, (task, due))

    def get_task(self, task_id: str) -> Task:
        """The stored task.

        Raises:
            NotFound: No such task.
        """
        try:
            return self._tasks[task_id][0]
        except KeyError:
            raise NotFound(f"task {task_id!r} is not in the store") from None

    def due_tasks(self, until: datetime, *, limit: int) -> list[Task]:
        """Tasks whose next due instant is at or before ``until``, earliest first
        (then by id), at most ``limit``."""
        return _due(self._tasks, until, limit)

    def take_due_task(self, task_id: str, until: datetime) -> Task | None:
        """The task if it is due at or before ``until``, else None."""
        return _take_due(self._tasks, task_id, until)

    # -- escalation documents ------------------------------------------------------

    def next_number(self, kind: DocumentKind) -> str:
        """A new number for a document of ``kind`` (taken back on rollback)."""
        with self.transaction():
            n = self._numbers.get(kind, 0) + 1
            self._put(self._numbers, kind, n)
            return kind.number(n)

    def save_document(self, document: EscalationDocument) -> None:
        """Store a document, or its new state (by number)."""
        with self.transaction():
            self._put(self._documents, document.number, document)

    def get_document(self, number: str) -> EscalationDocument:
        """The document with this number.

        Raises:
            NotFound: No such document.
        """
        try:
            return self._documents[number]
        except KeyError:
            raise NotFound(f"document {number!r} is not in the store") from None

    def documents(self, case_id: str) -> list[EscalationDocument]:
        """The documents escalated from a case, in the order first stored."""
        return [d for d in self._documents.values() if d.case_id == case_id]

    # -- settings --------------------------------------------------------------------

    def save_settings(self, record: SettingsRecord) -> None:
        """Store the settings in force (replacing the record before)."""
        with self.transaction():
            self._put(self._settings, "settings", record)

    def settings_record(self) -> SettingsRecord | None:
        """The settings in force, or None before any were stored."""
        return self._settings.get("settings")

    def save_settings_version(self, version: SettingsVersion) -> bool:
        """Keep a settings version by its digest; False if it is kept already."""
        with self.transaction():
            if version.digest in self._versions:
                return False
            self._put(self._versions, version.digest, version)
            return True

    def settings_version(self, digest: str) -> SettingsVersion:
        """The settings version with this digest.

        Raises:
            NotFound: No such version.
        """
        try:
            return self._versions[digest]
        except KeyError:
            raise NotFound(f"settings version {digest!r} is not in the store") from None

    def settings_versions(self) -> list[SettingsVersion]:
        """Every settings version, in the order first stored."""
        return list(self._versions.values())

    # -- history and follow-up ------------------------------------------------

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append entries that follow each case's stored head.

        Raises:
            ConflictError: An entry does not follow its case's head.
        """
        with self.transaction():
            for entry in entries:
                head = self.history_head(entry.case_id)
                head.require_next(entry)
                self._add(self._history, entry.case_id, entry)
                self._put(self._heads, entry.case_id, head.after(entry))

    def history(self, case_id: str) -> list[HistoryEntry]:
        """A case's history, in order."""
        return list(self._history.get(case_id, ()))

    def stored_history(self) -> Iterator[StoredEntry]:
        """Every case's history entries as stored, by case id then number."""
        for case_id in sorted(self._history):
            yield from map(StoredEntry.of, self._history[case_id])

    def history_head(self, case_id: str) -> HistoryHead:
        """Where a case's history ends (kept apart from the entries)."""
        return self._heads.get(case_id) or HistoryHead(case_id)

    def history_heads(self) -> list[HistoryHead]:
        """The head of every case with history (open, closed or deleted), sorted
        by case id; a case with entries but no head gets an empty head."""
        return [
            self.history_head(case_id)
            for case_id in sorted(self._heads.keys() | self._history.keys())
        ]

    def append_lines(self, lines: Sequence[FollowUpLine]) -> None:
        """Append follow-up lines (numbered after the stored ones)."""
        with self.transaction():
            for line in lines:
                count = len(self._lines.get(line.case_id, ()))
                if line.seq != count + 1:
                    raise ConflictError(
                        f"case {line.case_id!r}: follow-up line {line.seq} does not "
                        f"follow line {count}"
                    )
                self._add(self._lines, line.case_id, line)

    def append_deletions(self, deletions: Sequence[LineDeletion]) -> None:
        """Append deletion markers (one per line)."""
        with self.transaction():
            for d in deletions:
                stored = self._deletions.get(d.case_id, ())
                if any(x.line_seq == d.line_seq for x in stored):
                    raise ConflictError(
                        f"case {d.case_id!r}: line {d.line_seq} is deleted already"
                    )
                check_deletion(
                    d,
                    self.lines(d.case_id),
                    self.history(d.case_id),
                    {x.line_seq for x in stored},
                )
                self._add(self._deletions, d.case_id, d)

    def lines(self, case_id: str) -> list[FollowUpLine]:
        """A case's follow-up lines, in order."""
        return list(self._lines.get(case_id, ()))

    def deletions(self, case_id: str) -> list[LineDeletion]:
        """A case's deletion markers, in order."""
        return list(self._deletions.get(case_id, ()))

    # -- exactly once ---------------------------------------------------------

    def record_fired(self, key: str, at: datetime, *, skipped: bool = False) -> bool:
        """Record an action's key (as skipped, if so); False if it was recorded
        before."""
        with self.transaction():
            if key in self._fired:
                return False
            at = utc_from_us(to_us(at, "at"))
            self._put(self._fired, key, FiredKey(key=key, at=at, skipped=skipped))
            return True

    def is_fired(self, key: str) -> bool:
        """Whether the key was recorded."""
        return key in self._fired

    def fired_among(self, keys: Collection[str]) -> set[str]:
        """The keys among ``keys`` that were recorded."""
        return {k for k in keys if k in self._fired}

    def fired_key(self, key: str) -> FiredKey | None:
        """The recorded key, when and whether skipped; None if not recorded."""
        return self._fired.get(key)

    # -- outbox ---------------------------------------------------------------

    def enqueue(self, mail: OutgoingMail, *, at: datetime) -> bool:
        """Queue a mail; False if its Message-ID is queued already."""
        with self.transaction():
            if mail.message_id in self._outbox:
                return False
            x = to_us(at, "at")
            row = _Outgoing(
                mail=mail, order=len(self._outbox), next_attempt=x, queued=x
            )
            self._put(self._outbox, mail.message_id, row)
            self._put(self._unsent, mail.message_id, None)
            return True

    def claim(
        self, now: datetime, *, lease: timedelta, limit: int, by: str | None = None
    ) -> list[Claim]:
        """Claim up to ``limit`` waiting messages that are due and not leased."""
        x = to_us(now, "now")
        until = x + lease // timedelta(microseconds=1)
        with self.transaction():
            rows = (self._outbox[m] for m in self._unsent)
            ready = heapq.nsmallest(
                limit,
                (
                    (row.next_attempt, row.order, row)
                    for row in rows
                    if row.next_attempt <= x
                    and (row.token is None or row.lease_until <= x)
                ),
            )
            claims = []
            for _, _, row in ready:
                attempt = row.attempts + 1
                token = f"{row.mail.message_id}#{row.claims + 1}"
                self._set(
                    row,
                    attempts=attempt,
                    claims=row.claims + 1,
                    token=token,
                    lease_until=until,
                    claimed_by=by,
                )
                claims.append(
                    Claim(
                        mail=row.mail,
                        token=token,
                        attempt=attempt,
                        lease_until=utc_from_us(until),
                        queued_at=utc_from_us(row.queued),
                    )
                )
            return claims

    def _set(self, row: _Outgoing, **changes: Any) -> None:
        self._put(self._outbox, row.mail.message_id, attrs.evolve(row, **changes))

    def release(self, claims: Sequence[Claim]) -> None:
        """Give claims back untried (a claim that lapsed to another is left)."""
        with self.transaction():
            for claim in claims:
                row = self._outbox.get(claim.mail.message_id)
                if row is not None and row.token == claim.token:
                    self._set(
                        row, token=None, claimed_by=None, attempts=row.attempts - 1
                    )

    def _row(self, claim: Claim) -> _Outgoing:
        row = self._outbox.get(claim.mail.message_id)
        if row is None:
            raise NotFound(f"mail {claim.mail.message_id} is not in the outbox")
        if row.token != claim.token:
            raise ConflictError(
                f"mail {claim.mail.message_id}: the claim {claim.token} lapsed and "
                "another worker holds it"
            )
        return row

    def mark_sent(self, claims: Sequence[Claim], *, at: datetime) -> list[str]:
        """Mark claimed mails sent, in one transaction; returns the Message-IDs
        marked (a claim whose lease lapsed to another worker is not marked)."""
        x = to_us(at, "at")
        marked = []
        with self.transaction():
            for claim in claims:
                message_id = claim.mail.message_id
                row = self._outbox.get(message_id)
                if row is not None and row.token == claim.token:
                    self._set(row, sent=x, token=None, claimed_by=None)
                    self._drop(self._unsent, message_id)
                    marked.append(message_id)
        return marked

    def mark_failed(self, claim: Claim, *, error: str, retry_at: datetime) -> None:
        """Release a claimed mail for another try at ``retry_at``."""
        with self.transaction():
            row = self._row(claim)
            self._set(
                row,
                token=None,
                claimed_by=None,
                error=error,
                next_attempt=to_us(retry_at, "retry_at"),
            )

    def mark_dead(self, claim: Claim, *, error: str, at: datetime) -> None:
        """Make a claimed mail a dead letter: sending it stops."""
        with self.transaction():
            row = self._row(claim)
            self._set(
                row, token=None, claimed_by=None, error=error, dead=to_us(at, "at")
            )
            self._drop(self._unsent, claim.mail.message_id)

    def pending(self) -> int:
        """How many mails wait to be sent (dead letters apart)."""
        return len(self._unsent)

    def _waiting_rows(self) -> list[_Outgoing]:
        """In queue order (a retried dead letter was put back at the end)."""
        return sorted((self._outbox[m] for m in self._unsent), key=lambda r: r.order)

    def _dead_rows(self) -> list[_Outgoing]:
        rows = (r for r in self._outbox.values() if r.dead is not None)
        return sorted((r for r in rows if r.dropped is None), key=lambda r: r.order)

    def outbox_state(
        self, *, failing: int = 20, at: datetime | None = None
    ) -> OutboxState:
        """How many mails wait, since when, up to ``failing`` of those whose
        last attempt failed, of those a claim holds at ``at`` (any claim when
        None), and of the dead letters (each list oldest queued first)."""
        n = max(failing, 0)
        x = None if at is None else to_us(at, "at")
        rows = self._waiting_rows()
        dead = self._dead_rows()
        return OutboxState(
            depth=len(rows),
            oldest_queued_at=utc_from_us(rows[0].queued) if rows else None,
            failing=tuple(
                FailingMail(
                    message_id=r.mail.message_id,
                    recipient=r.mail.recipient,
                    attempts=r.attempts,
                    error=r.error,
                    retry_at=utc_from_us(r.next_attempt),
                )
                for r in rows
                if r.error is not None
            )[:n],
            claimed=tuple(
                r.entry()
                for r in rows
                if r.token is not None and (x is None or r.lease_until > x)
            )[:n],
            dead=len(dead),
            dead_letters=tuple(r.entry() for r in dead[:n]),
        )

    def outbox_entries(self, *, dead: bool, limit: int) -> list[OutboxEntry]:
        """The dead letters (``dead``), else the waiting mails, oldest queued
        first, at most ``limit``."""
        rows = self._dead_rows() if dead else self._waiting_rows()
        return [r.entry() for r in rows[: max(limit, 0)]]

    def _unsent_row(self, message_id: str) -> _Outgoing:
        row = self._outbox.get(message_id)
        check_unsent(
            message_id,
            found=row is not None,
            sent_us=None if row is None else row.sent,
            dropped_us=None if row is None else row.dropped,
        )
        assert row is not None
        return row

    def retry_mail(self, message_id: str, *, at: datetime) -> None:
        """Put a dead letter back into the queue, queued again at ``at``, its
        attempts from 0.

        Raises:
            NotFound: No such mail.
            InvalidOperation: It is not a dead letter.
        """
        with self.transaction():
            row = self._unsent_row(message_id)
            check_dead(message_id, row.dead)
            x = to_us(at, "at")
            self._set(row, dead=None, attempts=0, next_attempt=x, queued=x)
            self._put(self._unsent, message_id, None)

    def drop_mail(self, message_id: str, *, at: datetime) -> None:
        """Stop sending a dead or waiting mail, for good (it stays, dropped).

        Raises:
            NotFound: No such mail.
            InvalidOperation: It was sent or dropped, or a claim holds it now.
        """
        x = to_us(at, "at")
        with self.transaction():
            row = self._unsent_row(message_id)
            check_not_held(
                message_id,
                token=row.token,
                lease_until_us=row.lease_until,
                at_us=x,
                by=row.claimed_by,
            )
            if row.dead is None:
                self._drop(self._unsent, message_id)
            self._set(
                row,
                dropped=x,
                dead=x if row.dead is None else row.dead,
                token=None,
                claimed_by=None,
            )

    # -- tick log ---------------------------------------------------------------

    def record_tick(self, record: TickRecord) -> None:
        """Keep ``record`` unless a later tick is kept already."""
        with self.transaction():
            kept = self._ticks.get("last")
            if kept is None or to_us(kept.at, "at") <= to_us(record.at, "at"):
                self._put(self._ticks, "last", record)

    def last_tick(self) -> TickRecord | None:
        """The latest tick kept, or None."""
        return self._ticks.get("last")

    def record_heartbeat(self, beat: Heartbeat) -> None:
        """Keep ``beat`` as its worker's latest."""
        with self.transaction():
            kept = self._beats.get(beat.worker)
            if kept is None or to_us(kept.at, "at") <= to_us(beat.at, "at"):
                self._put(self._beats, beat.worker, beat)

    def heartbeats(self, since: datetime) -> list[Heartbeat]:
        """The workers' latest heartbeats at or after ``since``, latest first."""
        x = to_us(since, "since")
        beats = [b for b in self._beats.values() if to_us(b.at, "at") >= x]
        return sorted(beats, key=lambda b: (-to_us(b.at, "at"), b.worker))

    def quarantine(self, entry: Quarantined) -> None:
        """Keep ``entry`` and move the item's next due instant to ``until``."""
        tables: dict[str, dict[str, Any]] = {
            "case": self._cases,
            "lead": self._leads,
            "task": self._tasks,
        }
        table = tables.get(entry.kind)
        if table is None:
            raise ConfigError(
                f"kind: expected 'case', 'lead' or 'task', got {entry.kind!r}"
            )
        with self.transaction():
            self._put(self._quarantine, (entry.kind, entry.id), entry)
            stored = table.get(entry.id)
            if stored is not None and stored[1] is not None:
                self._put(table, entry.id, (stored[0], to_us(entry.until, "until")))

    def quarantined_item(self, kind: str, item_id: str) -> Quarantined | None:
        """The item's entry, if it was ever put aside."""
        return self._quarantine.get((kind, item_id))

    def quarantine_state(self, at: datetime, *, limit: int) -> QuarantineState:
        """The items put aside at ``at``: how many, and the first ``limit``."""
        x = to_us(at, "at")
        aside = sorted(
            (q for q in self._quarantine.values() if to_us(q.until, "until") > x),
            key=lambda q: (to_us(q.until, "until"), q.kind, q.id),
        )
        return QuarantineState(count=len(aside), items=tuple(aside[: max(limit, 0)]))

    # -- assignments -----------------------------------------------------------------

    def append_sla_events(self, case_id: str, events: Sequence[SlaEvent]) -> None:
        """Append a case's SLA events, and move its head."""
        if not events:
            return
        with self.transaction():
            head = self._sla_heads.get(case_id, SlaHead(case_id))
            for event in events:
                self._add(self._sla_events, case_id, event)
            self._put(self._sla_heads, case_id, head.after(events))

    def sla_events(self, case_id: str) -> list[SlaEvent]:
        """A case's SLA events, in the order appended."""
        return list(self._sla_events.get(case_id, ()))

    def sla_heads(self) -> list[SlaHead]:
        """The head of every case with SLA events, by case id."""
        ids = self._sla_heads.keys() | self._sla_events.keys()
        return [self._sla_heads.get(i, SlaHead(i)) for i in sorted(ids)]

    def record_assignment(self, record: AssignmentRecord) -> None:
        """Keep a manual assignment."""
        with self.transaction():
            self._add(self._assignments, record.assigner, record)

    def assignments_by(self, assigner: str, *, limit: int) -> list[AssignmentRecord]:
        """``assigner``'s latest assignments, latest first (then the later
        recorded first), at most ``limit``."""
        mine = self._assignments.get(assigner, [])
        order = sorted(
            range(len(mine)), key=lambda i: (to_us(mine[i].at, "at"), i), reverse=True
        )
        return [mine[i] for i in order[:limit]]


def _due(
    table: Mapping[str, tuple[_D, int | None]], until: datetime, limit: int
) -> list[_D]:
    """The values whose due instant is at or before ``until``, earliest first
    (then by id), at most ``limit``."""
    x = to_us(until, "until")
    due = heapq.nsmallest(
        limit, ((d, k) for k, (_, d) in table.items() if d is not None and d <= x)
    )
    return [table[k][0] for _, k in due]


def _take_due(
    table: Mapping[str, tuple[_D, int | None]], key: str, until: datetime
) -> _D | None:
    """The value under ``key`` if its due instant is at or before ``until``."""
    x = to_us(until, "until")
    stored = table.get(key)
    if stored is None or stored[1] is None or stored[1] > x:
        return None
    return stored[0]

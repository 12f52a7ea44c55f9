"""The ports: what the engine needs from a store and a mailer.

Data crossing a port is a frozen value, never a dict. Persistence is split by what
it keeps, so that a CRM that keeps its cases elsewhere can see which part it must
write, and a reader can hold each part in their head:

========================  ==========================================================
:class:`CaseStore`        cases, their index of next due instants, deletion records
:class:`HistoryStore`     history entries and their heads, follow-up lines, markers
:class:`OutboxStore`      fired idempotency keys and the outbox of mails
:class:`LeadStore`        leads and their due index
:class:`TaskStore`        tasks and their due index
:class:`DocumentStore`    escalation documents and their numbers
:class:`SettingsStore`    the settings in force, and every version by digest
:class:`TickLog`          the last tick, heartbeats, what is put aside (``status``)
:class:`AssignmentLog`    manual assignments (what suggestions are made from)
:class:`SlaEventLog`      each case's SLA events (what its service level is from)
========================  ==========================================================

:class:`Store` is their union, which the engine asks for. Every write happens
inside ``transaction()`` (each part has it): the writes of one transaction commit
together or not at all, and transactions of concurrent workers are serialised.
``escalate.adapters`` has ready implementations (``MemoryStore``,
``SqliteStore``; ``SmtpMailer``, ``FolderMailer``), and ``escalate.testing`` has a
contract suite per part (``StoreContract`` runs them all) that every adapter, a
user's own included, must pass. ``docs/stores.md`` lists every method with its
contract and the test that checks it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from escalate.history import (
    CaseDeletion,
    DocumentKind,
    EscalationDocument,
    FollowUpLine,
    HistoryEntry,
    HistoryHead,
    LineDeletion,
    StoredEntry,
)
from escalate.leads import Lead
from escalate.mail import Mailer, OutgoingMail
from escalate.matching import AssignmentRecord
from escalate.model import Case, Status, Task
from escalate.sla import SlaEvent, SlaHead

__all__ = [
    "AssignmentLog",
    "Backlog",
    "CaseState",
    "CaseStore",
    "Claim",
    "DocumentStore",
    "FailingMail",
    "FiredKey",
    "Governed",
    "Heartbeat",
    "HistoryStore",
    "LeadStore",
    "Mailer",
    "OutboxEntry",
    "OutboxState",
    "OutboxStore",
    "QuarantineState",
    "Quarantined",
    "SettingsRecord",
    "SettingsStore",
    "SettingsVersion",
    "SlaEventLog",
    "Store",
    "TaskStore",
    "TickLog",
    "TickRecord",
]


@attrs.frozen(kw_only=True)
class Claim:
    """An outbox message claimed for sending, until ``lease_until``.

    Attributes:
        mail: The message.
        token: Proves the claim when marking it sent or failed.
        attempt: Which attempt this is (1 for the first).
        lease_until: When the claim lapses and another worker may take it.
    """

    mail: OutgoingMail
    token: str
    attempt: int
    lease_until: datetime
    queued_at: datetime | None = None


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One unsent mail of the outbox, as ``escalate outbox list`` shows it.

    Attributes:
        message_id: Its Message-ID.
        recipient: Who it is for.
        purpose: Its template's name.
        key: The idempotency key of the action that queued it.
        queued_at: When it was queued.
        attempts: How many attempts were made.
        error: The last attempt's error, or None.
        next_attempt_at: When it is tried next (a dead letter: never).
        dead_at: When it became a dead letter (sending stopped), or None.
        claimed_by: The worker whose claim holds it, or None.
        lease_until: Until when that claim holds it, or None.
    """

    message_id: str
    recipient: str
    purpose: str
    key: str
    queued_at: datetime
    attempts: int
    error: str | None
    next_attempt_at: datetime
    dead_at: datetime | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None

    @property
    def dead(self) -> bool:
        """Whether it is a dead letter."""
        return self.dead_at is not None


@attrs.frozen(kw_only=True)
class Governed:
    """Which rule item governed a case when the engine last saved it, and under
    which settings: what a plan reads instead of matching the case again.

    Attributes:
        digest: The digest of the settings it was found under.
        item: The governing item's id, or None when none governs the case (or
            nothing escalates).
    """

    digest: str
    item: str | None


@attrs.frozen(kw_only=True)
class CaseState:
    """What a store keeps beside each case in plain fields, for reading many
    cases without decoding them: the case's status and instants (in µs since
    the epoch, UTC) and what governed it when last saved.

    It has the names a case has for them (``id``, ``status``, ``created_us``,
    ``modified_us``, ``status_since_us``), so what needs only these takes either.

    Attributes:
        id: The case's id.
        version: The stored version.
        status: Its status.
        status_since_us: When it entered that status.
        created_us: When it was created.
        modified_us: When a person last modified it, or None.
        governed: What governed it when last saved, or None if not known.
        settings_version: The case's ``settings_version``.
    """

    id: str
    version: int
    status: Status
    status_since_us: int
    created_us: int
    modified_us: int | None
    governed: Governed | None = None
    settings_version: str | None = None


@attrs.frozen(kw_only=True)
class SettingsRecord:
    """The settings a store's next due instants were computed under.

    Attributes:
        digest: ``Settings.digest`` of them.
        document: ``Settings.document()`` of them (read back with
            ``Settings.from_document``).
        saved_at: When they were stored.
        recomputed: Whether every open case's next due instant was recomputed
            under them (False while a recompute is under way or was cut short).
        previous: The digest of the settings in force before them (None for the
            first): what a recompute resumed by another worker compares with.
        through: How far the recompute under way has got: ``case/<id>`` or
            ``lead/<id>``, the last one recomputed in a committed batch (None
            before the first); another worker resumes after it.
    """

    digest: str
    document: str
    saved_at: datetime
    recomputed: bool
    previous: str | None = None
    through: str | None = None


@attrs.frozen(kw_only=True)
class SettingsVersion:
    """One version of the settings, kept by its digest for as long as the store
    lives (cases created under it may keep it).

    Attributes:
        digest: ``Settings.digest`` of them.
        document: ``Settings.document()`` of them.
        saved_at: When the version was first stored.
    """

    digest: str
    document: str
    saved_at: datetime


@attrs.frozen(kw_only=True)
class FiredKey:
    """A recorded idempotency key.

    Attributes:
        key: The key.
        at: When it was recorded.
        skipped: True when the action was recorded as skipped (made due at once
            by a change of the settings, under ``on_change = "skip"``) rather
            than carried out.
    """

    key: str
    at: datetime
    skipped: bool = False


@attrs.frozen(kw_only=True)
class Backlog:
    """Open cases due at or before an instant and not handled yet.

    Attributes:
        count: How many.
        oldest: The earliest next due instant among them, or None when none.
    """

    count: int
    oldest: datetime | None


@attrs.frozen(kw_only=True)
class FailingMail:
    """A queued mail whose last attempt failed.

    Attributes:
        message_id: Its Message-ID.
        recipient: Who it is for.
        attempts: How many attempts were made.
        error: The last attempt's error.
        retry_at: When it is tried again.
    """

    message_id: str
    recipient: str
    attempts: int
    error: str
    retry_at: datetime


@attrs.frozen(kw_only=True)
class OutboxState:
    """The outbox at a glance.

    Attributes:
        depth: Mails waiting to be sent (claimed ones too; never dead letters).
        oldest_queued_at: When the oldest of them was queued, or None.
        failing: Waiting mails whose last attempt failed, oldest queued first
            (at most the limit asked for).
        claimed: Waiting mails a worker's claim holds at the instant asked
            about (by whom, until when), oldest queued first, at most the limit.
        dead: How many dead letters there are (mails sending gave up on).
        dead_letters: The oldest of them, at most the limit.
    """

    depth: int
    oldest_queued_at: datetime | None
    failing: tuple[FailingMail, ...] = ()
    claimed: tuple[OutboxEntry, ...] = ()
    dead: int = 0
    dead_letters: tuple[OutboxEntry, ...] = ()


@attrs.frozen(kw_only=True)
class TickRecord:
    """What the latest tick did, as a store keeps it.

    Attributes:
        at: The tick's instant.
        cases: How many due cases it handled.
        fired: How many actions, lead steps and reminders it carried out.
        errors: How many cases, leads or tasks it could not handle.
    """

    at: datetime
    cases: int
    fired: int
    errors: int


@attrs.frozen(kw_only=True)
class Quarantined:
    """A case, lead or task put aside after it failed: its next due instant
    moved to ``until``, so that the due read moves past it, and retried then.

    Attributes:
        kind: ``"case"``, ``"lead"`` or ``"task"``.
        id: Its id.
        failures: How many times in a row it failed.
        error: The last failure's error.
        at: When it last failed.
        until: When it is tried again.
    """

    kind: str
    id: str
    failures: int
    error: str
    at: datetime
    until: datetime


@attrs.frozen(kw_only=True)
class QuarantineState:
    """The items put aside at an instant.

    Attributes:
        count: How many are put aside (``until`` after the instant).
        items: The first of them, soonest retried first (at most the limit).
    """

    count: int
    items: tuple[Quarantined, ...] = ()


@attrs.frozen(kw_only=True)
class Heartbeat:
    """A worker's last sign of life: what ``escalate status`` lists.

    Attributes:
        worker: Its id (``host:pid`` and a start-up suffix).
        host: The machine it runs on.
        pid: Its process id.
        started_at: When it started.
        at: When it last ticked.
    """

    worker: str
    host: str
    pid: int
    started_at: datetime
    at: datetime


class _Transactional(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing; nested transactions join the outermost one."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """A transaction that only reads: one snapshot for every read in it,
        and no write lock (a probe such as ``escalate status`` never waits for
        a writer). Inside a transaction, it joins it."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """All or nothing inside the transaction under way: an exception
        raised in it undoes what was written in it, and the transaction goes
        on (it commits or rolls back as a whole). Outside a transaction, a
        transaction. A tick handles each due item of a batch in a savepoint
        of the batch's one transaction."""
        ...


@runtime_checkable
class CaseStore(_Transactional, Protocol):
    """Cases, their index of next due instants, and case deletion records.

    * ``save_case`` is optimistic: it refuses with ``ConflictError`` unless the
      stored version is the case's ``version`` (0 for a new one), and stores it
      as ``version + 1``, with its next due instant and what governs it (a
      :class:`CaseState`, read back with ``open_case_states``).
    * ``due_cases`` reads an index (open cases only), never a scan of every case;
      ``due_backlog`` counts what it would give with no limit.
    * ``take_due_case``, inside a transaction, gives the case only if it is
      still open and due and no other transaction has taken it (a store shared
      by several workers locks its row until the transaction ends and skips a
      locked one: ``FOR UPDATE SKIP LOCKED``); otherwise None. The engine
      handles each due case it read this way, so that workers share the due
      cases rather than queue behind each other's row locks.
    * ``delete_case`` removes the case and keeps the record, and refuses a record
      made before the case's history moved on; records are never removed.
    * ``case_ids_by_number``, ``owned_cases`` and ``open_counts`` are asked
      often: a store for many cases answers them from indexes (by number; by
      owner and status, open cases only), as ``SqliteStore`` does.
    """

    def get_case(self, case_id: str) -> Case: ...
    def save_case(
        self,
        case: Case,
        *,
        next_due: datetime | None,
        governed: Governed | None = None,
    ) -> Case: ...
    def due_cases(self, until: datetime, *, limit: int) -> list[Case]: ...
    def take_due_case(self, case_id: str, until: datetime) -> Case | None: ...
    def due_backlog(self, until: datetime) -> Backlog: ...
    def open_case_ids(self) -> Iterator[str]: ...
    def open_cases(self, after: str | None, *, limit: int) -> list[Case]: ...
    def open_case_states(self, after: str | None, *, limit: int) -> list[CaseState]: ...
    def delete_case(self, deletion: CaseDeletion) -> None: ...
    def case_deletions(self) -> list[CaseDeletion]: ...
    def case_ids_by_number(self, number: str) -> list[str]: ...
    def owned_cases(
        self, owner: str, *, status: str, after: str | None, limit: int
    ) -> list[Case]: ...
    def open_counts(self, owners: Collection[str]) -> dict[str, int]: ...


@runtime_checkable
class HistoryStore(_Transactional, Protocol):
    """History entries and their heads, follow-up lines and their deletion markers.

    * All three are append-only: an entry must follow its case's stored head
      (``ConflictError`` otherwise), a line the stored lines; a deletion is a
      marker beside the line, never a change to it.
    * Each case's head (count, last hash) is stored **apart from the entries**,
      written in the same transaction, so that a cut or rewritten tail of the
      entries no longer agrees with it. ``history_head`` reads that head, never
      the last entry.
    """

    def append_history(self, entries: Sequence[HistoryEntry]) -> None: ...
    def history(self, case_id: str) -> list[HistoryEntry]: ...
    def stored_history(self) -> Iterator[StoredEntry]: ...
    def history_head(self, case_id: str) -> HistoryHead: ...
    def history_heads(self) -> list[HistoryHead]: ...
    def append_lines(self, lines: Sequence[FollowUpLine]) -> None: ...
    def append_deletions(self, deletions: Sequence[LineDeletion]) -> None: ...
    def lines(self, case_id: str) -> list[FollowUpLine]: ...
    def deletions(self, case_id: str) -> list[LineDeletion]: ...


@runtime_checkable
class OutboxStore(_Transactional, Protocol):
    """Fired idempotency keys and the outbox: what exactly-once rests on.

    * ``record_fired`` is unique on the key: it returns False for a key recorded
      before. A key may be recorded as skipped; it is fired all the same (it
      never fires), and ``fired_key`` says which.
    * The outbox holds each Message-ID once; ``claim`` hands a message to one
      worker (``by``) for a lease; an expired lease makes it claimable again;
      ``release`` gives claims back untried; ``mark_sent`` marks only the
      claims still held.
    * ``mark_dead`` makes a claimed mail a dead letter: never claimed again
      until ``retry_mail`` puts it back (attempts from 0); ``drop_mail``
      removes a dead or waiting mail from sending for good (kept, so its
      Message-ID is never queued again). Neither touches a mail being sent
      (a claim holds it) or one sent.
    * ``outbox_state`` says how many mails wait (dead letters apart), since
      when, which failed, which a claim holds at ``at``, and the dead letters;
      ``outbox_entries`` lists unsent mails, waiting or dead.
    """

    def record_fired(
        self, key: str, at: datetime, *, skipped: bool = False
    ) -> bool: ...
    def is_fired(self, key: str) -> bool: ...
    def fired_among(self, keys: Collection[str]) -> set[str]: ...
    def fired_key(self, key: str) -> FiredKey | None: ...
    def enqueue(self, mail: OutgoingMail, *, at: datetime) -> bool: ...
    def claim(
        self, now: datetime, *, lease: timedelta, limit: int, by: str | None = None
    ) -> list[Claim]: ...
    def release(self, claims: Sequence[Claim]) -> None: ...
    def mark_sent(self, claims: Sequence[Claim], *, at: datetime) -> list[str]: ...
    def mark_failed(self, claim: Claim, *, error: str, retry_at: datetime) -> None: ...
    def mark_dead(self, claim: Claim, *, error: str, at: datetime) -> None: ...
    def pending(self) -> int: ...
    def outbox_state(
        self, *, failing: int = 20, at: datetime | None = None
    ) -> OutboxState: ...
    def outbox_entries(self, *, dead: bool, limit: int) -> list[OutboxEntry]: ...
    def retry_mail(self, message_id: str, *, at: datetime) -> None: ...
    def drop_mail(self, message_id: str, *, at: datetime) -> None: ...


@runtime_checkable
class LeadStore(_Transactional, Protocol):
    """Leads and their index of next due instants (``save_lead`` is optimistic,
    like ``save_case``; ``take_due_lead`` takes a due lead like
    ``take_due_case``)."""

    def save_lead(self, lead: Lead, *, next_due: datetime | None) -> Lead: ...
    def get_lead(self, lead_id: str) -> Lead: ...
    def due_leads(self, until: datetime, *, limit: int) -> list[Lead]: ...
    def take_due_lead(self, lead_id: str, until: datetime) -> Lead | None: ...
    def lead_ids(self) -> Iterator[str]: ...


@runtime_checkable
class TaskStore(_Transactional, Protocol):
    """Tasks and their index of next due instants (``take_due_task`` takes a
    due task like ``take_due_case``)."""

    def save_task(self, task: Task, *, next_due: datetime | None) -> None: ...
    def get_task(self, task_id: str) -> Task: ...
    def due_tasks(self, until: datetime, *, limit: int) -> list[Task]: ...
    def take_due_task(self, task_id: str, until: datetime) -> Task | None: ...


@runtime_checkable
class DocumentStore(_Transactional, Protocol):
    """Escalation documents, and their numbers (``next_number`` counts per kind and
    rolls back with its transaction, so a store is the ``Numbering`` of
    ``escalate_to_document``)."""

    def next_number(self, kind: DocumentKind) -> str: ...
    def save_document(self, document: EscalationDocument) -> None: ...
    def get_document(self, number: str) -> EscalationDocument: ...
    def documents(self, case_id: str) -> list[EscalationDocument]: ...


@runtime_checkable
class SettingsStore(_Transactional, Protocol):
    """The settings (rule book, calendars, lead types) in force, and every version
    of them by digest (versions are never changed or removed)."""

    def save_settings(self, record: SettingsRecord) -> None: ...
    def settings_record(self) -> SettingsRecord | None: ...
    def save_settings_version(self, version: SettingsVersion) -> bool: ...
    def settings_version(self, digest: str) -> SettingsVersion: ...
    def settings_versions(self) -> list[SettingsVersion]: ...


@runtime_checkable
class TickLog(_Transactional, Protocol):
    """The latest tick, each worker's heartbeat, and what is put aside.

    * ``record_tick`` keeps a record only if it is not older than the one kept
      (workers whose ticks interleave leave the latest).
    * ``record_heartbeat`` keeps a worker's latest heartbeat (one per worker
      id); ``heartbeats(since)`` gives those at or after ``since``, latest first.
    * ``quarantine`` keeps an item put aside (replacing its earlier one) and
      moves the item's next due instant to ``until``, so that the due reads
      move past it; ``quarantined_item`` reads it back (None if never put
      aside); ``quarantine_state(at)`` counts those whose ``until`` is after
      ``at`` and lists the first ``limit``, soonest retried first. A save of
      the item sets its due instant afresh (a fixed case fires at once).
    """

    def record_tick(self, record: TickRecord) -> None: ...
    def last_tick(self) -> TickRecord | None: ...
    def record_heartbeat(self, beat: Heartbeat) -> None: ...
    def heartbeats(self, since: datetime) -> list[Heartbeat]: ...
    def quarantine(self, entry: Quarantined) -> None: ...
    def quarantined_item(self, kind: str, item_id: str) -> Quarantined | None: ...
    def quarantine_state(self, at: datetime, *, limit: int) -> QuarantineState: ...


@runtime_checkable
class AssignmentLog(_Transactional, Protocol):
    """Manual assignments, kept so that suggestions come from each assigner's
    own recent ones: ``assignments_by`` gives the latest first (by instant, then
    the later recorded first), never removed."""

    def record_assignment(self, record: AssignmentRecord) -> None: ...
    def assignments_by(
        self, assigner: str, *, limit: int
    ) -> list[AssignmentRecord]: ...


@runtime_checkable
class SlaEventLog(_Transactional, Protocol):
    """The SLA events of each case (``docs/sla.md``), append-only: what a case's
    service level is computed from, again, whenever it is asked.
    ``sla_events`` gives a case's events in the order appended. Each case's
    events are chained (``SlaHead``): ``append_sla_events`` moves the case's
    head, kept apart from the events, in the same transaction, starting from
    the head kept (not from the events); ``sla_heads`` gives the head of every
    case with SLA events, sorted by case id (an empty head for events that have
    none, so that an audit shows them as added)."""

    def append_sla_events(self, case_id: str, events: Sequence[SlaEvent]) -> None: ...
    def sla_events(self, case_id: str) -> list[SlaEvent]: ...
    def sla_heads(self) -> list[SlaHead]: ...


@runtime_checkable
class Store(
    CaseStore,
    HistoryStore,
    OutboxStore,
    LeadStore,
    TaskStore,
    DocumentStore,
    SettingsStore,
    TickLog,
    AssignmentLog,
    SlaEventLog,
    Protocol,
):
    """Everything the engine keeps: the union of the parts above."""

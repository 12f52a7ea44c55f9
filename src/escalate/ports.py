"""The ports: what the engine needs from a store and a mailer.

Data crossing a port is a frozen value, never a dict. ``escalate.adapters`` has
ready implementations (``MemoryStore``, ``SqliteStore``; ``SmtpMailer``,
``FolderMailer``), and ``escalate.testing.StoreContract`` is the test suite every
store adapter, a user's own included, must pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
)
from escalate.leads import Lead
from escalate.mail import Mailer, OutgoingMail
from escalate.model import Case, Task

__all__ = ["Claim", "Mailer", "SettingsRecord", "Store"]


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
    """

    digest: str
    document: str
    saved_at: datetime
    recomputed: bool


@runtime_checkable
class Store(Protocol):
    """Persistence for the engine.

    Every write happens inside :meth:`transaction`: the writes of one transaction
    commit together or not at all (an exception inside leaves nothing), and
    transactions of concurrent workers are serialised.

    Invariants every adapter keeps (the contract suite checks them):

    * ``save_case`` and ``save_lead`` are optimistic: each refuses with
      ``ConflictError`` unless the stored version is the value's ``version`` (0
      for a new one), and stores it as ``version + 1``.
    * History entries and follow-up lines are append-only; an entry must follow
      the stored head (``ConflictError`` otherwise). A deletion is a marker.
    * ``record_fired`` is unique on the key: it returns False for a key recorded
      before.
    * The outbox holds each Message-ID once; ``claim`` hands a message to one
      worker for a lease; an expired lease makes it claimable again; ``mark_sent``
      marks only the claims still held.
    * ``next_number`` counts per document kind and rolls back with its
      transaction; case deletion records are never removed.
    """

    def transaction(self) -> AbstractContextManager[None]: ...

    # cases
    def get_case(self, case_id: str) -> Case: ...
    def save_case(self, case: Case, *, next_due: datetime | None) -> Case: ...
    def due_cases(self, until: datetime, *, limit: int) -> list[Case]: ...
    def open_case_ids(self) -> Iterator[str]: ...

    def delete_case(self, deletion: CaseDeletion) -> None: ...
    def case_deletions(self) -> list[CaseDeletion]: ...

    # leads
    def save_lead(self, lead: Lead, *, next_due: datetime | None) -> Lead: ...
    def get_lead(self, lead_id: str) -> Lead: ...
    def due_leads(self, until: datetime, *, limit: int) -> list[Lead]: ...
    def lead_ids(self) -> Iterator[str]: ...

    # tasks
    def save_task(self, task: Task, *, next_due: datetime | None) -> None: ...
    def get_task(self, task_id: str) -> Task: ...
    def due_tasks(self, until: datetime, *, limit: int) -> list[Task]: ...

    # escalation documents and their numbers
    def next_number(self, kind: DocumentKind) -> str: ...
    def save_document(self, document: EscalationDocument) -> None: ...
    def get_document(self, number: str) -> EscalationDocument: ...
    def documents(self, case_id: str) -> list[EscalationDocument]: ...

    # settings (the rule book and calendars)
    def save_settings(self, record: SettingsRecord) -> None: ...
    def settings_record(self) -> SettingsRecord | None: ...

    # history and follow-up
    def append_history(self, entries: Sequence[HistoryEntry]) -> None: ...
    def history(self, case_id: str) -> list[HistoryEntry]: ...
    def history_head(self, case_id: str) -> HistoryHead: ...
    def append_lines(self, lines: Sequence[FollowUpLine]) -> None: ...
    def append_deletions(self, deletions: Sequence[LineDeletion]) -> None: ...
    def lines(self, case_id: str) -> list[FollowUpLine]: ...
    def deletions(self, case_id: str) -> list[LineDeletion]: ...

    # exactly once
    def record_fired(self, key: str, at: datetime) -> bool: ...
    def is_fired(self, key: str) -> bool: ...

    # outbox
    def enqueue(self, mail: OutgoingMail, *, at: datetime) -> bool: ...
    def claim(self, now: datetime, *, lease: timedelta, limit: int) -> list[Claim]: ...
    def mark_sent(self, claims: Sequence[Claim], *, at: datetime) -> list[str]: ...
    def mark_failed(self, claim: Claim, *, error: str, retry_at: datetime) -> None: ...
    def pending(self) -> int: ...

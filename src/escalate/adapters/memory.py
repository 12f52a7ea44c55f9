"""In-memory adapters: for tests, simulations and the default where nothing is
persisted."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from escalate._instants import to_us, utc_from_us
from escalate.errors import ConflictError, NotFound
from escalate.history import (
    DocumentKind,
    FollowUpLine,
    HistoryEntry,
    HistoryHead,
    LineDeletion,
)
from escalate.mail import OutgoingMail
from escalate.model import Case
from escalate.ports import Claim

__all__ = ["MemoryNumbering", "MemoryStore"]

_PREFIXES: Final = {
    DocumentKind.COMPLAINT: "CMP",
    DocumentKind.SERVICE_REPORT: "SRV",
    DocumentKind.ACTION: "ACT",
}


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
        return f"{_PREFIXES[kind]}-{n:0{self._width}d}"


@attrs.define
class _Outgoing:
    mail: OutgoingMail
    order: int
    attempts: int = 0
    next_attempt: int = 0
    token: str | None = None
    lease_until: int = 0
    sent: int | None = None
    error: str | None = None


class MemoryStore:
    """A :class:`~escalate.ports.Store` in memory, for tests and simulations.

    Transactions are serialised by a lock and roll back by restoring a snapshot
    taken when the outermost one began. Nothing outlives the process.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._cases: dict[str, tuple[Case, int | None]] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._lines: dict[str, list[FollowUpLine]] = {}
        self._deletions: dict[str, list[LineDeletion]] = {}
        self._fired: dict[str, int] = {}
        self._outbox: dict[str, _Outgoing] = {}

    # -- transactions ------------------------------------------------------------

    def _state(self) -> tuple[Any, ...]:
        return (
            dict(self._cases),
            {k: list(v) for k, v in self._history.items()},
            {k: list(v) for k, v in self._lines.items()},
            {k: list(v) for k, v in self._deletions.items()},
            dict(self._fired),
            {k: attrs.evolve(v) for k, v in self._outbox.items()},
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested transactions join the outermost one."""
        with self._lock:
            snapshot = self._state() if self._depth == 0 else None
            self._depth += 1
            try:
                yield
            except BaseException:
                if snapshot is not None:
                    (
                        self._cases,
                        self._history,
                        self._lines,
                        self._deletions,
                        self._fired,
                        self._outbox,
                    ) = snapshot
                raise
            finally:
                self._depth -= 1

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

    def save_case(self, case: Case, *, next_due: datetime | None) -> Case:
        """Store ``case`` as ``version + 1`` if the stored version is ``case.version``.

        Raises:
            ConflictError: The stored version differs (someone saved it first).
        """
        with self.transaction():
            stored = self._cases.get(case.id)
            current = 0 if stored is None else stored[0].version
            if current != case.version:
                raise ConflictError(
                    f"case {case.id!r}: stored version is {current}, the change was "
                    f"made to version {case.version}"
                )
            new = attrs.evolve(case, version=case.version + 1)
            due = (
                None if next_due is None or case.closed else to_us(next_due, "next_due")
            )
            self._cases[case.id] = (new, due)
            return new

    def due_cases(self, until: datetime, *, limit: int) -> list[Case]:
        """Open cases whose next due instant is at or before ``until``, earliest
        first (then by id), at most ``limit``."""
        x = to_us(until, "until")
        due = sorted(
            (d, c.id, c) for c, d in self._cases.values() if d is not None and d <= x
        )
        return [c for _, _, c in due[:limit]]

    def open_case_ids(self) -> Iterator[str]:
        """The ids of the open cases, sorted."""
        return iter(sorted(cid for cid, (c, _) in self._cases.items() if not c.closed))

    # -- history and follow-up ------------------------------------------------

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append entries that follow each case's stored head.

        Raises:
            ConflictError: An entry does not follow its case's head.
        """
        with self.transaction():
            for entry in entries:
                head = self.history_head(entry.case_id)
                if entry.seq != head.count + 1 or entry.prev != head.hash:
                    raise ConflictError(
                        f"case {entry.case_id!r}: history entry {entry.seq} does not "
                        f"follow the stored head (entry {head.count})"
                    )
                self._history.setdefault(entry.case_id, []).append(entry)

    def history(self, case_id: str) -> list[HistoryEntry]:
        """A case's history, in order."""
        return list(self._history.get(case_id, ()))

    def history_head(self, case_id: str) -> HistoryHead:
        """Where a case's history ends."""
        entries = self._history.get(case_id)
        if not entries:
            return HistoryHead(case_id)
        return HistoryHead(case_id, entries[-1].seq, entries[-1].hash)

    def append_lines(self, lines: Sequence[FollowUpLine]) -> None:
        """Append follow-up lines (numbered after the stored ones)."""
        with self.transaction():
            for line in lines:
                stored = self._lines.setdefault(line.case_id, [])
                if line.seq != len(stored) + 1:
                    raise ConflictError(
                        f"case {line.case_id!r}: follow-up line {line.seq} does not "
                        f"follow line {len(stored)}"
                    )
                stored.append(line)

    def append_deletions(self, deletions: Sequence[LineDeletion]) -> None:
        """Append deletion markers (one per line)."""
        with self.transaction():
            for d in deletions:
                stored = self._deletions.setdefault(d.case_id, [])
                if any(x.line_seq == d.line_seq for x in stored):
                    raise ConflictError(
                        f"case {d.case_id!r}: line {d.line_seq} is deleted already"
                    )
                stored.append(d)

    def lines(self, case_id: str) -> list[FollowUpLine]:
        """A case's follow-up lines, in order."""
        return list(self._lines.get(case_id, ()))

    def deletions(self, case_id: str) -> list[LineDeletion]:
        """A case's deletion markers, in order."""
        return list(self._deletions.get(case_id, ()))

    # -- exactly once ---------------------------------------------------------

    def record_fired(self, key: str, at: datetime) -> bool:
        """Record an action's key; False if it was recorded before."""
        with self.transaction():
            if key in self._fired:
                return False
            self._fired[key] = to_us(at, "at")
            return True

    def is_fired(self, key: str) -> bool:
        """Whether the key was recorded."""
        return key in self._fired

    # -- outbox ---------------------------------------------------------------

    def enqueue(self, mail: OutgoingMail, *, at: datetime) -> bool:
        """Queue a mail; False if its Message-ID is queued already."""
        with self.transaction():
            if mail.message_id in self._outbox:
                return False
            self._outbox[mail.message_id] = _Outgoing(
                mail=mail, order=len(self._outbox), next_attempt=to_us(at, "at")
            )
            return True

    def claim(self, now: datetime, *, lease: timedelta, limit: int) -> list[Claim]:
        """Claim up to ``limit`` unsent messages that are due and not leased."""
        x = to_us(now, "now")
        with self.transaction():
            ready = sorted(
                (row.next_attempt, row.order, row)
                for row in self._outbox.values()
                if row.sent is None
                and row.next_attempt <= x
                and (row.token is None or row.lease_until <= x)
            )
            claims = []
            for _, _, row in ready[:limit]:
                row.attempts += 1
                row.token = f"{row.mail.message_id}#{row.attempts}"
                row.lease_until = x + lease // timedelta(microseconds=1)
                claims.append(
                    Claim(
                        mail=row.mail,
                        token=row.token,
                        attempt=row.attempts,
                        lease_until=utc_from_us(row.lease_until),
                    )
                )
            return claims

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

    def mark_sent(self, claim: Claim, *, at: datetime) -> None:
        """Mark a claimed mail sent."""
        with self.transaction():
            row = self._row(claim)
            row.sent, row.token = to_us(at, "at"), None

    def mark_failed(self, claim: Claim, *, error: str, retry_at: datetime) -> None:
        """Release a claimed mail for another try at ``retry_at``."""
        with self.transaction():
            row = self._row(claim)
            row.token, row.error = None, error
            row.next_attempt = to_us(retry_at, "retry_at")

    def pending(self) -> int:
        """How many mails are not sent yet."""
        return sum(row.sent is None for row in self._outbox.values())

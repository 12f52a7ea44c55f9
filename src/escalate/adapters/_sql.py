"""What the SQL stores share: every method of the :class:`~escalate.ports.Store`
written once, in the SQL that SQLite and PostgreSQL both speak.

A dialect (``SqliteStore``, ``PostgresStore``) supplies the connection and its
transactions, runs statements (``_rows``, ``_write``, translating driver errors
into :class:`~escalate.errors.StoreError`), its schema and migrations, and a few
fragments where the two differ: row locks (``_LOCK``, ``_SKIP_LOCKED``, empty on
SQLite, whose writers are serialised anyway) and the outbox's queue order
(``_NEXT_ORD``). Statements use ``?`` placeholders. Saves of versioned values
are one conditional statement each (an insert of a new one that is not there
yet, ``ON CONFLICT DO NOTHING``; an update ``WHERE version = <the version
read>``), so that two writers racing on one case cannot both win, whatever the
isolation level.

The class is built from parts, each a module: what they stand on (statements,
transactions, savepoints) in ``_sql_base.py``; the outbox in ``_sql_outbox.py``;
heartbeats and the items put aside in ``_sql_worklog.py``; the rest here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any, Final

from escalate._codec import (
    case_from_json,
    case_to_json,
    deletion_from_json,
    deletion_to_json,
    document_from_json,
    document_to_json,
    lead_from_json,
    lead_to_json,
    status_named,
    task_from_json,
    task_to_json,
)
from escalate._instants import to_us, utc_from_us
from escalate.adapters._sql_base import PER_QUERY as _PER_QUERY
from escalate.adapters._sql_outbox import SqlOutbox
from escalate.adapters._sql_worklog import SqlWorkLog
from escalate.errors import (
    ConflictError,
    NotFound,
    UnreadableEntry,
)
from escalate.history import (
    GENESIS,
    CaseDeletion,
    DocumentKind,
    EscalationDocument,
    FollowUpKind,
    FollowUpLine,
    HistoryEntry,
    HistoryHead,
    LineDeletion,
    StoredEntry,
    check_deletion,
)
from escalate.leads import Lead
from escalate.matching import AssignmentRecord
from escalate.model import Case, Task
from escalate.ports import (
    Backlog,
    CaseState,
    FiredKey,
    Governed,
    SettingsRecord,
    SettingsVersion,
    TickRecord,
)
from escalate.sla import SlaEvent, SlaHead

_SCAN_FROM: Final = 200  # keys of one kind from which one range scan is cheaper


class _RecentCases:
    """The stored text of the cases read or saved lately, by id.

    A tick reads each due case twice (in its due batch, then when it takes it)
    and mostly saves it unchanged but for its version and due instant: a row
    read again as the same text at the same version gives the case decoded
    before, and a save of the very value read or saved writes the text it came
    as. So the codec runs once per case and tick. Both checks are on content
    (text and version) or identity (the same object), never on time, so a kept
    entry cannot be stale; a miss costs the codec. At most ``size`` entries (a
    due read is 500 at most by default; a few MB in all), forgotten all at once
    when full.
    """

    def __init__(self, size: int = 2_000) -> None:
        self._size = size
        self._by_id: dict[str, tuple[Case, str]] = {}

    def case(self, case_id: str, data: str, version: int) -> Case:
        """The case of a row: the one kept if the row's text and version are
        the kept ones, else decoded (and kept)."""
        kept = self._by_id.get(case_id)
        if kept is not None and kept[0].version == version and kept[1] == data:
            return kept[0]
        case = case_from_json(data, version)
        self.keep(case, data)
        return case

    def text(self, case: Case) -> str:
        """The JSON text of ``case``: the kept one if ``case`` is the kept value."""
        kept = self._by_id.get(case.id)
        if kept is not None and kept[0] is case:
            return kept[1]
        return case_to_json(case)

    def keep(self, case: Case, text: str) -> None:
        if len(self._by_id) >= self._size:
            self._by_id.clear()
        self._by_id[case.id] = (case, text)


class SqlStore(SqlOutbox, SqlWorkLog):
    """Every Store method, over a dialect's ``_rows`` and ``_write``."""

    def __init__(self) -> None:
        self._recent = _RecentCases()

    def _lock_settings(self) -> None:
        """Lock the settings record (there or not yet) until the transaction
        ends. Nothing on SQLite, whose writers are serialised whole."""

    def _locked(self) -> str:
        """Inside a transaction, a case or lead read is locked until it ends: a
        second writer of the same case waits, then reads what the first wrote
        (rather than failing its save). Nothing on SQLite, whose writers are
        serialised whole."""
        return self._LOCK if self._depth else ""

    def _stored_version(self, table: str, key: str) -> int:
        rows = self._rows(f"SELECT version FROM {table} WHERE id = ?", (key,))
        return int(rows[0][0]) if rows else 0  # our table names

    def _stale(self, table: str, kind: str, key: str, version: int) -> None:
        """A conditional save changed nothing: someone saved it first."""
        current = self._stored_version(table, key)
        raise ConflictError.stale(f"{kind} {key!r}", current, version)

    # -- cases -----------------------------------------------------------------------

    def get_case(self, case_id: str) -> Case:
        """The stored case.

        Raises:
            NotFound: No such case.
        """
        rows = self._rows(
            f"SELECT data, version FROM cases WHERE id = ?{self._locked()}", (case_id,)
        )
        if not rows:
            raise NotFound(f"case {case_id!r} is not in the store")
        return case_from_json(rows[0][0], rows[0][1])

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
        new_version = case.version + 1
        text = self._recent.text(case)
        row = _case_row(case, new_version, next_due, governed, text)
        with self.transaction():
            # one conditional statement: an insert of a new case that is not
            # there yet, or an update of the stored version given
            if case.version == 0:
                saved = self._write(_SAVE_CASE, row)
            else:
                saved = self._write(_UPDATE_CASE, (*row[1:], case.id, case.version))
            if saved.rowcount != 1:  # saved meanwhile, or not there
                self._stale("cases", "case", case.id, case.version)
        stored = case._at_version(new_version)  # what was stored
        self._recent.keep(stored, text)
        return stored

    def due_cases(self, until: datetime, *, limit: int) -> list[Case]:
        """Open cases whose next due instant is at or before ``until``, earliest
        first (then by id), at most ``limit`` (through the due index)."""
        rows = self._rows(
            "SELECT id, data, version FROM cases WHERE open = 1 "
            "AND next_due_us IS NOT NULL "
            "AND next_due_us <= ? ORDER BY next_due_us, id LIMIT ?",
            (to_us(until, "until"), limit),
        )
        return [self._recent.case(*row) for row in rows]

    def take_due_case(self, case_id: str, until: datetime) -> Case | None:
        """Inside a transaction: the case if it is open, due at or before
        ``until`` and not taken by another transaction (which it then locks
        until this one ends), else None."""
        rows = self._take_due("cases", case_id, until, "open = 1 AND ")
        return None if not rows else self._recent.case(case_id, *rows[0])

    def _take_due(
        self,
        table: str,
        key: str,
        until: datetime,
        where: str = "",
        columns: str = "data, version",
    ) -> list[Any]:
        skip = self._SKIP_LOCKED if self._depth else ""
        return self._rows(
            f"SELECT {columns} FROM {table} WHERE id = ? AND {where}"
            f"next_due_us IS NOT NULL AND next_due_us <= ?{skip}",
            (key, to_us(until, "until")),
        )  # our table names

    def due_backlog(self, until: datetime) -> Backlog:
        """How many open cases are due at or before ``until``, and the earliest
        due instant among them (from the due index)."""
        ((count, oldest),) = self._rows(
            "SELECT COUNT(*), MIN(next_due_us) FROM cases "
            "WHERE open = 1 AND next_due_us IS NOT NULL AND next_due_us <= ?",
            (to_us(until, "until"),),
        )
        return Backlog(
            count=count, oldest=None if oldest is None else utc_from_us(oldest)
        )

    def open_cases(self, after: str | None, *, limit: int) -> list[Case]:
        """Open cases with an id after ``after`` (all if None), by id, at most
        ``limit``: a batch to read them all in."""
        rows = self._rows(
            "SELECT data, version FROM cases WHERE open = 1 AND id > ? "
            "ORDER BY id LIMIT ?",
            ("" if after is None else after, limit),
        )
        return [case_from_json(data, version) for data, version in rows]

    def open_case_states(self, after: str | None, *, limit: int) -> list[CaseState]:
        """The states of the open cases with an id after ``after`` (all if None),
        by id, at most ``limit``: read from their columns, nothing decoded."""
        return [
            CaseState(
                id=case_id,
                version=version,
                status=status_named(status, closed=False),
                status_since_us=since,
                created_us=created,
                modified_us=modified,
                governed=None if digest is None else Governed(digest=digest, item=item),
                settings_version=pinned,
            )
            for (
                case_id,
                version,
                status,
                since,
                created,
                modified,
                digest,
                item,
                pinned,
            ) in (
                self._rows(
                    "SELECT id, version, status, status_since_us, created_us, "
                    "modified_us, governed_digest, governed_item, settings_version "
                    "FROM cases "
                    "WHERE open = 1 AND id > ? ORDER BY id LIMIT ?",
                    ("" if after is None else after, limit),
                )
            )
        ]

    def case_ids_by_number(self, number: str) -> list[str]:
        """The ids of the stored cases (open or closed) numbered ``number``,
        sorted (through the number index)."""
        rows = self._rows(
            "SELECT id FROM cases WHERE number = ? ORDER BY id", (number,)
        )
        return [r[0] for r in rows]

    def owned_cases(
        self, owner: str, *, status: str, after: str | None, limit: int
    ) -> list[Case]:
        """Open cases owned by ``owner`` in the status named ``status``, with an
        id after ``after`` (all if None), by id, at most ``limit`` (through the
        owner index)."""
        rows = self._rows(
            "SELECT data, version FROM cases WHERE open = 1 AND owner = ? "
            "AND status = ? AND id > ? ORDER BY id LIMIT ?",
            (owner, status, "" if after is None else after, limit),
        )
        return [case_from_json(data, version) for data, version in rows]

    def open_counts(self, owners: Collection[str]) -> dict[str, int]:
        """How many open cases each of ``owners`` owns (0 for none), from the
        owner index."""
        counts = dict.fromkeys(owners, 0)
        names = list(counts)
        for i in range(0, len(names), _PER_QUERY):
            part = names[i : i + _PER_QUERY]
            marks = ", ".join("?" * len(part))
            for owner, n in self._rows(
                f"SELECT owner, COUNT(*) FROM cases WHERE open = 1 AND owner IN "
                f"({marks}) GROUP BY owner",
                part,
            ):
                counts[owner] = n
        return counts

    def open_case_ids(self) -> Iterator[str]:
        """The ids of the open cases, sorted."""
        return iter(
            [
                r[0]
                for r in self._rows("SELECT id FROM cases WHERE open = 1 ORDER BY id")
            ]
        )

    def delete_case(self, deletion: CaseDeletion) -> None:
        """Remove a case and keep its deletion record (its history stays).

        Raises:
            NotFound: No such case.
            ConflictError: The history moved on since the record was made.
        """
        with self.transaction():
            self.get_case(deletion.case_id)
            deletion.require_current(self.history_head(deletion.case_id))
            self._write("DELETE FROM cases WHERE id = ?", (deletion.case_id,))
            self._write(
                "INSERT INTO case_deletions (case_id, data) VALUES (?, ?)",
                (deletion.case_id, deletion_to_json(deletion)),
            )

    def case_deletions(self) -> list[CaseDeletion]:
        """The deletion records, in the order made."""
        return [
            deletion_from_json(r[0])
            for r in self._rows("SELECT data FROM case_deletions ORDER BY rowid")
        ]

    # -- leads --------------------------------------------------------------------

    def save_lead(self, lead: Lead, *, next_due: datetime | None) -> Lead:
        """Store ``lead`` as ``version + 1`` if the stored version is
        ``lead.version``.

        Raises:
            ConflictError: The stored version differs (someone saved it first).
        """
        due = None if next_due is None else to_us(next_due, "next_due")
        text = lead_to_json(lead)
        with self.transaction():
            if lead.version == 0:
                cursor = self._write(
                    "INSERT INTO leads (id, version, data, next_due_us) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (lead.id, 1, text, due),
                )
            else:
                cursor = self._write(
                    "UPDATE leads SET version = ?, data = ?, next_due_us = ? "
                    "WHERE id = ? AND version = ?",
                    (lead.version + 1, text, due, lead.id, lead.version),
                )
            if cursor.rowcount != 1:  # saved meanwhile, or not there
                self._stale("leads", "lead", lead.id, lead.version)
        return lead_from_json(text, lead.version + 1)

    def get_lead(self, lead_id: str) -> Lead:
        """The stored lead.

        Raises:
            NotFound: No such lead.
        """
        rows = self._rows(
            f"SELECT data, version FROM leads WHERE id = ?{self._locked()}", (lead_id,)
        )
        if not rows:
            raise NotFound(f"lead {lead_id!r} is not in the store")
        return lead_from_json(rows[0][0], rows[0][1])

    def due_leads(self, until: datetime, *, limit: int) -> list[Lead]:
        """Leads whose next due instant is at or before ``until``, earliest first
        (then by id), at most ``limit`` (through the due index)."""
        rows = self._rows(
            "SELECT data, version FROM leads WHERE next_due_us IS NOT NULL "
            "AND next_due_us <= ? ORDER BY next_due_us, id LIMIT ?",
            (to_us(until, "until"), limit),
        )
        return [lead_from_json(data, version) for data, version in rows]

    def take_due_lead(self, lead_id: str, until: datetime) -> Lead | None:
        """Inside a transaction: the lead if it is due at or before ``until``
        and not taken by another transaction (see ``take_due_case``)."""
        rows = self._take_due("leads", lead_id, until)
        return None if not rows else lead_from_json(rows[0][0], rows[0][1])

    def lead_ids(self) -> Iterator[str]:
        """The ids of all stored leads, sorted."""
        return iter([r[0] for r in self._rows("SELECT id FROM leads ORDER BY id")])

    # -- tasks --------------------------------------------------------------------

    def save_task(self, task: Task, *, next_due: datetime | None) -> None:
        """Store a task (replacing one with its id) with its next due instant."""
        due = None if next_due is None else to_us(next_due, "next_due")
        with self.transaction():
            self._write(
                "INSERT INTO tasks (id, data, next_due_us) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "data = excluded.data, next_due_us = excluded.next_due_us",
                (task.id, task_to_json(task), due),
            )

    def get_task(self, task_id: str) -> Task:
        """The stored task.

        Raises:
            NotFound: No such task.
        """
        rows = self._rows("SELECT data FROM tasks WHERE id = ?", (task_id,))
        if not rows:
            raise NotFound(f"task {task_id!r} is not in the store")
        return task_from_json(rows[0][0])

    def due_tasks(self, until: datetime, *, limit: int) -> list[Task]:
        """Tasks whose next due instant is at or before ``until``, earliest first
        (then by id), at most ``limit`` (through the due index)."""
        rows = self._rows(
            "SELECT data FROM tasks WHERE next_due_us IS NOT NULL "
            "AND next_due_us <= ? ORDER BY next_due_us, id LIMIT ?",
            (to_us(until, "until"), limit),
        )
        return [task_from_json(r[0]) for r in rows]

    def take_due_task(self, task_id: str, until: datetime) -> Task | None:
        """Inside a transaction: the task if it is due at or before ``until``
        and not taken by another transaction (see ``take_due_case``)."""
        rows = self._take_due("tasks", task_id, until, columns="data")
        return None if not rows else task_from_json(rows[0][0])

    # -- escalation documents ------------------------------------------------------

    def next_number(self, kind: DocumentKind) -> str:
        """A new number for a document of ``kind`` (taken back on rollback)."""
        with self.transaction():
            (n,) = self._write(
                "INSERT INTO numbering (kind, last) VALUES (?, 1) ON CONFLICT (kind) "
                "DO UPDATE SET last = numbering.last + 1 RETURNING last",
                (kind.value,),
            ).fetchone()
        return kind.number(n)

    def save_document(self, document: EscalationDocument) -> None:
        """Store a document, or its new state (by number)."""
        with self.transaction():
            self._write(
                "INSERT INTO documents (number, case_id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (number) "
                "DO UPDATE SET data = excluded.data",
                (document.number, document.case_id, document_to_json(document)),
            )

    def get_document(self, number: str) -> EscalationDocument:
        """The document with this number.

        Raises:
            NotFound: No such document.
        """
        rows = self._rows("SELECT data FROM documents WHERE number = ?", (number,))
        if not rows:
            raise NotFound(f"document {number!r} is not in the store")
        return document_from_json(rows[0][0])

    def documents(self, case_id: str) -> list[EscalationDocument]:
        """The documents escalated from a case, in the order first stored."""
        return [
            document_from_json(r[0])
            for r in self._rows(
                "SELECT data FROM documents WHERE case_id = ? ORDER BY rowid",
                (case_id,),
            )
        ]

    # -- settings --------------------------------------------------------------------

    def save_settings(self, record: SettingsRecord) -> None:
        """Store the settings in force (replacing the record before)."""
        with self.transaction():
            self._write(
                "INSERT INTO settings "
                "(id, digest, document, saved_at, recomputed, previous, through) "
                "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "digest = excluded.digest, document = excluded.document, "
                "saved_at = excluded.saved_at, recomputed = excluded.recomputed, "
                "previous = excluded.previous, through = excluded.through",
                (
                    record.digest,
                    record.document,
                    record.saved_at.isoformat(),
                    int(record.recomputed),
                    record.previous,
                    record.through,
                ),
            )

    def settings_record(self) -> SettingsRecord | None:
        """The settings in force, or None before any were stored. Inside a
        transaction the record is locked until it ends: the batches of a
        recompute, each of which moves ``through`` on, run one at a time."""
        if self._depth:
            self._lock_settings()
        rows = self._rows(
            "SELECT digest, document, saved_at, recomputed, previous, through "
            "FROM settings"
        )
        if not rows:
            return None
        digest, document, saved_at, recomputed, previous, through = rows[0]
        return SettingsRecord(
            digest=digest,
            document=document,
            saved_at=datetime.fromisoformat(saved_at),
            recomputed=bool(recomputed),
            previous=previous,
            through=through,
        )

    def save_settings_version(self, version: SettingsVersion) -> bool:
        """Keep a settings version by its digest; False if it is kept already."""
        with self.transaction():
            cursor = self._write(
                "INSERT INTO settings_versions (digest, document, saved_at) "
                "VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                (version.digest, version.document, version.saved_at.isoformat()),
            )
            return cursor.rowcount == 1

    def settings_version(self, digest: str) -> SettingsVersion:
        """The settings version with this digest.

        Raises:
            NotFound: No such version.
        """
        rows = self._rows(
            "SELECT digest, document, saved_at FROM settings_versions WHERE digest = ?",
            (digest,),
        )
        if not rows:
            raise NotFound(f"settings version {digest!r} is not in the store")
        return _version(rows[0])

    def settings_versions(self) -> list[SettingsVersion]:
        """Every settings version, in the order first stored."""
        return [
            _version(r)
            for r in self._rows(
                "SELECT digest, document, saved_at FROM settings_versions "
                "ORDER BY rowid"
            )
        ]

    # -- history and follow-up ------------------------------------------------

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append entries that follow each case's stored head.

        Raises:
            ConflictError: An entry does not follow its case's head.
        """
        with self.transaction():
            for e in entries:
                self.history_head(e.case_id).require_next(e)
                self._write(
                    "INSERT INTO history (case_id, seq, action, at, actor, "
                    "details, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    StoredEntry.of(e),  # its details: the canonical text hashed
                )

    def history(self, case_id: str) -> list[HistoryEntry]:
        """A case's history, in order.

        Raises:
            UnreadableEntry: A row cannot be read back as an entry (damaged or
                tampered), naming the case and the row's position.
        """
        rows = self._rows(
            "SELECT case_id, seq, action, at, actor, details, prev, hash FROM history "
            "WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        return [_history_entry(case_id, pos, r) for pos, r in enumerate(rows, 1)]

    def stored_history(self) -> Iterator[StoredEntry]:
        """Every case's history entries as stored, by case id then number (read
        in batches of ``_HISTORY_BATCH`` rows, by key)."""
        sql = (
            "SELECT case_id, seq, action, at, actor, details, prev, hash FROM history "
            "{} ORDER BY case_id, seq LIMIT ?"
        )
        rows = self._rows(sql.format(""), (_HISTORY_BATCH,))
        while rows:
            yield from map(tuple.__new__, repeat(StoredEntry), rows)
            if len(rows) < _HISTORY_BATCH:
                return
            last = rows[-1]
            rows = self._rows(
                sql.format("WHERE (case_id, seq) > (?, ?)"),
                (last[0], last[1], _HISTORY_BATCH),
            )

    def history_head(self, case_id: str) -> HistoryHead:
        """Where a case's history ends, as the heads table (not the entries) says.

        Raises:
            UnreadableEntry: The stored head is not a count and a hash.
        """
        rows = self._rows(
            "SELECT count, hash FROM history_heads WHERE case_id = ?", (case_id,)
        )
        return _head(case_id, *rows[0]) if rows else HistoryHead(case_id)

    def history_heads(self) -> list[HistoryHead]:
        """The head of every case with history (open, closed or deleted), sorted
        by case id; a case with entries but no head gets an empty head, so that
        verifying it shows the entries as added."""
        return [
            _head(case_id, count or 0, hash or GENESIS)
            for case_id, count, hash in self._rows(
                "SELECT ids.case_id, h.count, h.hash FROM "
                "(SELECT case_id FROM history_heads UNION "
                "SELECT DISTINCT case_id FROM history) AS ids "
                "LEFT JOIN history_heads AS h ON h.case_id = ids.case_id "
                "ORDER BY ids.case_id"
            )
        ]

    def append_lines(self, lines: Sequence[FollowUpLine]) -> None:
        """Append follow-up lines (numbered after the stored ones)."""
        with self.transaction():
            for line in lines:
                (count,) = self._rows(
                    "SELECT COUNT(*) FROM lines WHERE case_id = ?", (line.case_id,)
                )[0]
                if line.seq != count + 1:
                    raise ConflictError(
                        f"case {line.case_id!r}: follow-up line {line.seq} does not "
                        f"follow line {count}"
                    )
                duration = (
                    None
                    if line.duration is None
                    else line.duration // timedelta(microseconds=1)
                )
                self._write(
                    "INSERT INTO lines (case_id, seq, kind, at, author, text, "
                    "duration_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        line.case_id,
                        line.seq,
                        line.kind.value,
                        line.at.isoformat(),
                        line.author,
                        line.text,
                        duration,
                    ),
                )

    def append_deletions(self, deletions: Sequence[LineDeletion]) -> None:
        """Append deletion markers (one per line)."""
        with self.transaction():
            for d in deletions:
                stored = {x.line_seq for x in self.deletions(d.case_id)}
                if d.line_seq in stored:
                    raise ConflictError(
                        f"case {d.case_id!r}: line {d.line_seq} is deleted already"
                    )
                check_deletion(
                    d, self.lines(d.case_id), self.history(d.case_id), stored
                )
                self._write(
                    "INSERT INTO line_deletions (case_id, line_seq, by_actor, at) "
                    "VALUES (?, ?, ?, ?)",
                    (d.case_id, d.line_seq, d.by, d.at.isoformat()),
                )

    def lines(self, case_id: str) -> list[FollowUpLine]:
        """A case's follow-up lines, in order."""
        return [
            FollowUpLine(
                case_id=r[0],
                seq=r[1],
                kind=FollowUpKind(r[2]),
                at=datetime.fromisoformat(r[3]),
                author=r[4],
                text=r[5],
                duration=None if r[6] is None else timedelta(microseconds=r[6]),
            )
            for r in self._rows(
                "SELECT case_id, seq, kind, at, author, text, duration_us FROM lines "
                "WHERE case_id = ? ORDER BY seq",
                (case_id,),
            )
        ]

    def deletions(self, case_id: str) -> list[LineDeletion]:
        """A case's deletion markers, in order."""
        return [
            LineDeletion(
                case_id=r[0], line_seq=r[1], by=r[2], at=datetime.fromisoformat(r[3])
            )
            for r in self._rows(
                "SELECT case_id, line_seq, by_actor, at FROM line_deletions "
                "WHERE case_id = ? ORDER BY rowid",
                (case_id,),
            )
        ]

    # -- exactly once ---------------------------------------------------------

    def record_fired(self, key: str, at: datetime, *, skipped: bool = False) -> bool:
        """Record an action's key (as skipped, if so); False if it was recorded
        before."""
        with self.transaction():
            cursor = self._write(
                "INSERT INTO fired (key, at_us, skipped) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, to_us(at, "at"), int(skipped)),
            )
            return cursor.rowcount == 1

    def is_fired(self, key: str) -> bool:
        """Whether the key was recorded."""
        return bool(self._rows("SELECT 1 FROM fired WHERE key = ?", (key,)))

    def fired_among(self, keys: Collection[str]) -> set[str]:
        """The keys among ``keys`` that were recorded.

        Keys start with their kind and case (``escalation/<case>/...``), and a
        plan asks about the cases of one batch, neighbours in id order: so many
        keys of one kind are read with one scan of the key index over their span
        (the batches of a plan partition the cases, so all its scans together
        read each recorded key at most once); a few with ``IN (...)``.
        """
        found: set[str] = set()
        by_kind: dict[str, list[str]] = {}
        for key in keys:
            by_kind.setdefault(key.partition("/")[0], []).append(key)
        for group in by_kind.values():
            if len(group) >= _SCAN_FROM:
                wanted = set(group)
                found.update(
                    r[0]
                    for r in self._rows(
                        "SELECT key FROM fired WHERE key BETWEEN ? AND ?",
                        (min(group), max(group)),
                    )
                    if r[0] in wanted
                )
                continue
            for i in range(0, len(group), _PER_QUERY):
                part = group[i : i + _PER_QUERY]
                marks = ",".join("?" * len(part))
                found.update(
                    r[0]
                    for r in self._rows(
                        f"SELECT key FROM fired WHERE key IN ({marks})", part
                    )
                )
        return found

    def fired_key(self, key: str) -> FiredKey | None:
        """The recorded key, when and whether skipped; None if not recorded."""
        rows = self._rows("SELECT at_us, skipped FROM fired WHERE key = ?", (key,))
        if not rows:
            return None
        return FiredKey(key=key, at=utc_from_us(rows[0][0]), skipped=bool(rows[0][1]))

    # -- tick log ---------------------------------------------------------------

    def record_tick(self, record: TickRecord) -> None:
        """Keep ``record`` unless a later tick is kept already."""
        with self.transaction():
            self._write(
                "INSERT INTO ticks (id, at_us, cases, fired, errors) "
                "VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE "
                "SET at_us = excluded.at_us, cases = excluded.cases, "
                "fired = excluded.fired, errors = excluded.errors "
                "WHERE excluded.at_us >= ticks.at_us",
                (to_us(record.at, "at"), record.cases, record.fired, record.errors),
            )

    def append_sla_events(self, case_id: str, events: Sequence[SlaEvent]) -> None:
        """Append a case's SLA events (append-only: triggers refuse changes),
        numbered and chained after the head kept in ``sla_heads``, which moves
        in the same transaction.

        Raises:
            ConflictError: An event is stored beyond the case's head (another
                writer was first, or it was added outside escalate).
        """
        if not events:
            return
        with self.transaction():
            head = self._sla_head(case_id)
            for n, event in enumerate(events, head.count + 1):
                try:
                    self._write(
                        "INSERT INTO sla_events (case_id, seq, at_us, kind, value) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            case_id,
                            n,
                            to_us(event.at, "at"),
                            event.kind.value,
                            event.value,
                        ),
                    )
                except ConflictError as e:
                    raise ConflictError(
                        f"case {case_id!r}: SLA event {n} is stored already, beyond "
                        f"the head ({head.count}): another writer was first, or it "
                        f"was added outside escalate (escalate verify tells): {e}"
                    ) from e
            moved = head.after(events)
            self._write(
                "INSERT INTO sla_heads (case_id, count, hash) VALUES (?, ?, ?) "
                "ON CONFLICT (case_id) DO UPDATE "
                "SET count = excluded.count, hash = excluded.hash",
                (case_id, moved.count, moved.hash),
            )

    def _sla_head(self, case_id: str) -> SlaHead:
        """The case's SLA head as ``sla_heads`` keeps it (not from the events)."""
        rows = self._rows(
            "SELECT count, hash FROM sla_heads WHERE case_id = ?", (case_id,)
        )
        if not rows:
            return SlaHead(case_id)
        return SlaHead(case_id, int(rows[0][0]), str(rows[0][1]))

    def sla_events(self, case_id: str) -> list[SlaEvent]:
        """A case's SLA events, in the order appended."""
        rows = self._rows(
            "SELECT at_us, kind, value FROM sla_events WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        return [
            SlaEvent(utc_from_us(at_us), kind, value) for at_us, kind, value in rows
        ]

    def sla_heads(self) -> list[SlaHead]:
        """The head of every case with SLA events (or a head), by case id; a
        case with events but no head gets an empty head."""
        return [
            SlaHead(case_id, int(count or 0), str(hash or GENESIS))
            for case_id, count, hash in self._rows(
                "SELECT ids.case_id, h.count, h.hash FROM "
                "(SELECT case_id FROM sla_heads UNION "
                "SELECT DISTINCT case_id FROM sla_events) AS ids "
                "LEFT JOIN sla_heads AS h ON h.case_id = ids.case_id "
                "ORDER BY ids.case_id"
            )
        ]

    def record_assignment(self, record: AssignmentRecord) -> None:
        """Keep a manual assignment (append-only: triggers refuse changes)."""
        with self.transaction():
            self._write(
                "INSERT INTO assignments (assigner, agent, case_id, at_us) "
                "VALUES (?, ?, ?, ?)",
                (record.assigner, record.agent, record.case_id, to_us(record.at, "at")),
            )

    def assignments_by(self, assigner: str, *, limit: int) -> list[AssignmentRecord]:
        """``assigner``'s latest assignments, latest first (then the later
        recorded first), at most ``limit`` (through its index)."""
        rows = self._rows(
            "SELECT agent, case_id, at_us FROM assignments WHERE assigner = ? "
            "ORDER BY at_us DESC, seq DESC LIMIT ?",
            (assigner, limit),
        )
        return [
            AssignmentRecord(
                assigner=assigner,
                agent=agent,
                case_id=case_id,
                at=utc_from_us(at_us),
            )
            for agent, case_id, at_us in rows
        ]

    def last_tick(self) -> TickRecord | None:
        """The latest tick kept, or None."""
        rows = self._rows("SELECT at_us, cases, fired, errors FROM ticks")
        if not rows:
            return None
        at_us, cases, fired, errors = rows[0]
        return TickRecord(
            at=utc_from_us(at_us), cases=cases, fired=fired, errors=errors
        )


_SAVE_CASE: Final = (  # a new case, not stored yet
    "INSERT INTO cases (id, version, data, open, next_due_us, status, "
    "status_since_us, created_us, modified_us, governed_digest, governed_item, "
    "settings_version, number, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?) ON CONFLICT (id) DO NOTHING"
)
_UPDATE_CASE: Final = (  # the row after the id, then the id and stored version
    "UPDATE cases SET version = ?, data = ?, open = ?, next_due_us = ?, "
    "status = ?, status_since_us = ?, created_us = ?, modified_us = ?, "
    "governed_digest = ?, governed_item = ?, settings_version = ?, number = ?, "
    "owner = ? WHERE id = ? AND version = ?"
)


def _case_row(
    case: Case,
    version: int,
    next_due: datetime | None,
    governed: Governed | None,
    text: str | None = None,
) -> tuple[Any, ...]:
    """A case's row as :data:`_SAVE_CASE` writes it (the one place that knows
    the layout; the benchmarks load their cases with it too); ``text``: the
    case's JSON text, if known."""
    due = None if next_due is None or case.closed else to_us(next_due, "next_due")
    return (
        case.id,
        version,
        case_to_json(case) if text is None else text,
        int(not case.closed),
        due,
        case.status.name,
        case.status_since_us,
        case.created_us,
        case.modified_us,
        None if governed is None else governed.digest,
        None if governed is None else governed.item,
        case.settings_version,
        case.number,
        case.owner,
    )


def _version(row: Sequence[Any]) -> SettingsVersion:
    digest, document, saved_at = row
    return SettingsVersion(
        digest=digest, document=document, saved_at=datetime.fromisoformat(saved_at)
    )


_HISTORY_BATCH: Final = 10_000


def _history_entry(case_id: str, pos: int, row: Sequence[Any]) -> HistoryEntry:
    """A stored history row as an entry, or UnreadableEntry saying what is wrong."""
    return StoredEntry(case_id, *row[1:]).entry(pos)


def _head(case_id: str, count: Any, hash_: Any) -> HistoryHead:
    """A stored head, or UnreadableEntry if it is not a count and a hash."""
    if (
        not isinstance(count, int)
        or isinstance(count, bool)
        or not isinstance(hash_, str)
    ):
        raise UnreadableEntry(
            f"case {case_id!r}: the history head cannot be read: count {count!r}, "
            f"hash {hash_!r}",
            case_id=case_id,
            seq=None,
        )
    return HistoryHead(case_id, count, hash_)


def sla_heads_of(rows: Iterable[Sequence[Any]]) -> Iterator[SlaHead]:
    """The heads of stored SLA events, from rows ``(case id, at_us, kind,
    value)`` by case id, then number (a migration's backfill)."""
    for case_id, group in groupby(rows, key=itemgetter(0)):
        events = [
            SlaEvent(utc_from_us(at), kind, value) for _, at, kind, value in group
        ]
        yield SlaHead(case_id).after(events)

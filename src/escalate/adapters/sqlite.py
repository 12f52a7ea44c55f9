"""The embedded default store: one SQLite file (stdlib ``sqlite3``), in WAL mode.

The schema is created and migrated by the adapter (``PRAGMA user_version`` holds
its version). History entries, follow-up lines and deletion markers are
append-only in the database too: triggers refuse ``UPDATE`` and ``DELETE`` on
them, so "never erasable" holds whoever writes to the file. Each case's history
head (count and last hash) is kept apart from the entries, in ``history_heads``:
a trigger moves it with every entry inserted, in the same transaction, refuses an
entry that does not follow it, and refuses to move it back or delete it. So an
entry cut from the end, or the last entry rewritten with a recomputed hash, no
longer agrees with the head, and ``verify`` says so. The SLA events are chained
the same way, their heads in ``sla_heads`` (moved by the store with each append;
a trigger refuses to move one back or delete it). Transactions begin
``IMMEDIATE``, so the writes of concurrent workers (threads or processes, each
with its own ``SqliteStore``) are serialised; a failed transaction rolls back.
Driver errors are translated into :class:`~escalate.errors.StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final

from escalate._codec import case_from_json
from escalate.adapters._sql import SqlStore, sla_heads_of
from escalate.errors import ConflictError, StoreError
from escalate.history import GENESIS

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

SCHEMA_VERSION: Final = 15

_MIGRATIONS: Final = {
    1: """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        open INTEGER NOT NULL,
        next_due_us INTEGER
    );
    CREATE INDEX cases_due ON cases (next_due_us, id)
        WHERE open = 1 AND next_due_us IS NOT NULL;
    CREATE TABLE history (
        case_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL,
        at TEXT NOT NULL, actor TEXT, details TEXT NOT NULL,
        prev TEXT NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (case_id, seq)
    );
    CREATE TABLE lines (
        case_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        at TEXT NOT NULL, author TEXT, text TEXT NOT NULL, duration_us INTEGER,
        PRIMARY KEY (case_id, seq)
    );
    CREATE TABLE line_deletions (
        case_id TEXT NOT NULL, line_seq INTEGER NOT NULL, by_actor TEXT NOT NULL,
        at TEXT NOT NULL, PRIMARY KEY (case_id, line_seq)
    );
    CREATE TABLE fired (key TEXT PRIMARY KEY, at_us INTEGER NOT NULL);
    CREATE TABLE outbox (
        message_id TEXT PRIMARY KEY, ord INTEGER NOT NULL, data TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_us INTEGER NOT NULL,
        token TEXT, lease_until_us INTEGER NOT NULL DEFAULT 0,
        sent_us INTEGER, error TEXT
    );
    CREATE INDEX outbox_ready ON outbox (next_attempt_us, ord) WHERE sent_us IS NULL;
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
    CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
    """
        for table in ("history", "lines", "line_deletions")
    ),
    2: """
    CREATE TABLE tasks (id TEXT PRIMARY KEY, data TEXT NOT NULL, next_due_us INTEGER);
    CREATE INDEX tasks_due ON tasks (next_due_us, id) WHERE next_due_us IS NOT NULL;
    CREATE TABLE documents (
        number TEXT PRIMARY KEY, case_id TEXT NOT NULL, data TEXT NOT NULL
    );
    CREATE INDEX documents_case ON documents (case_id);
    CREATE TABLE numbering (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
    CREATE TABLE case_deletions (case_id TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE settings (
        id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL,
        document TEXT NOT NULL, saved_at TEXT NOT NULL, recomputed INTEGER NOT NULL
    );
    CREATE TRIGGER case_deletions_no_update BEFORE UPDATE ON case_deletions
    BEGIN SELECT RAISE(ABORT, 'case_deletions is append-only'); END;
    CREATE TRIGGER case_deletions_no_delete BEFORE DELETE ON case_deletions
    BEGIN SELECT RAISE(ABORT, 'case_deletions is append-only'); END;
    """,
    3: """
    CREATE TABLE leads (
        id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL,
        next_due_us INTEGER
    );
    CREATE INDEX leads_due ON leads (next_due_us, id) WHERE next_due_us IS NOT NULL;
    """,
    4: f"""
    CREATE TABLE history_heads (
        case_id TEXT PRIMARY KEY, count INTEGER NOT NULL, hash TEXT NOT NULL
    );
    INSERT INTO history_heads
        SELECT case_id, seq, hash FROM history AS h
        WHERE seq = (SELECT MAX(seq) FROM history WHERE case_id = h.case_id);
    CREATE TRIGGER history_follows_its_head BEFORE INSERT ON history
    WHEN NEW.seq != COALESCE(
            (SELECT count FROM history_heads WHERE case_id = NEW.case_id), 0) + 1
        OR NEW.prev != COALESCE(
            (SELECT hash FROM history_heads WHERE case_id = NEW.case_id), '{GENESIS}')
    BEGIN SELECT RAISE(ABORT, 'history entry does not follow its head'); END;
    CREATE TRIGGER history_moves_its_head AFTER INSERT ON history
    BEGIN
        INSERT INTO history_heads VALUES (NEW.case_id, NEW.seq, NEW.hash)
        ON CONFLICT (case_id) DO UPDATE SET count = excluded.count,
            hash = excluded.hash;
    END;
    CREATE TRIGGER history_heads_only_grow BEFORE UPDATE ON history_heads
    WHEN NEW.case_id != OLD.case_id OR NEW.count != OLD.count + 1
    BEGIN SELECT RAISE(ABORT, 'history_heads only move forward'); END;
    CREATE TRIGGER history_heads_no_delete BEFORE DELETE ON history_heads
    BEGIN SELECT RAISE(ABORT, 'history_heads is append-only'); END;
    """,
    5: """
    CREATE TABLE settings_versions (
        digest TEXT PRIMARY KEY, document TEXT NOT NULL, saved_at TEXT NOT NULL
    );
    INSERT INTO settings_versions SELECT digest, document, saved_at FROM settings;
    CREATE TRIGGER settings_versions_no_update BEFORE UPDATE ON settings_versions
    BEGIN SELECT RAISE(ABORT, 'settings_versions is append-only'); END;
    CREATE TRIGGER settings_versions_no_delete BEFORE DELETE ON settings_versions
    BEGIN SELECT RAISE(ABORT, 'settings_versions is append-only'); END;
    ALTER TABLE settings ADD COLUMN previous TEXT;
    ALTER TABLE fired ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    """,
    6: """
    ALTER TABLE cases ADD COLUMN status TEXT;
    ALTER TABLE cases ADD COLUMN status_since_us INTEGER;
    ALTER TABLE cases ADD COLUMN created_us INTEGER;
    ALTER TABLE cases ADD COLUMN modified_us INTEGER;
    ALTER TABLE cases ADD COLUMN governed_digest TEXT;
    ALTER TABLE cases ADD COLUMN governed_item TEXT;
    """,
    7: """
    ALTER TABLE cases ADD COLUMN settings_version TEXT;
    """,
    8: """
    ALTER TABLE outbox ADD COLUMN queued_us INTEGER;
    UPDATE outbox SET queued_us = next_attempt_us;
    CREATE INDEX outbox_unsent ON outbox (ord) WHERE sent_us IS NULL;
    CREATE TABLE ticks (
        id INTEGER PRIMARY KEY CHECK (id = 1), at_us INTEGER NOT NULL,
        cases INTEGER NOT NULL, fired INTEGER NOT NULL, errors INTEGER NOT NULL
    );
    """,
    9: """
    ALTER TABLE cases ADD COLUMN number TEXT;
    ALTER TABLE cases ADD COLUMN owner TEXT;
    CREATE INDEX cases_number ON cases (number);
    CREATE INDEX cases_owned ON cases (owner, status, id) WHERE open = 1;
    CREATE TABLE assignments (
        seq INTEGER PRIMARY KEY, assigner TEXT NOT NULL, agent TEXT NOT NULL,
        case_id TEXT NOT NULL, at_us INTEGER NOT NULL
    );
    CREATE INDEX assignments_by ON assignments (assigner, at_us, seq);
    CREATE TRIGGER assignments_no_update BEFORE UPDATE ON assignments
        BEGIN SELECT RAISE(ABORT, 'assignment records are append-only'); END;
    CREATE TRIGGER assignments_no_delete BEFORE DELETE ON assignments
        BEGIN SELECT RAISE(ABORT, 'assignment records are append-only'); END;
    """,
    10: """
    ALTER TABLE settings ADD COLUMN through TEXT;
    """,
    11: """
    CREATE TABLE sla_events (
        case_id TEXT NOT NULL, seq INTEGER NOT NULL, at_us INTEGER NOT NULL,
        kind TEXT NOT NULL, value TEXT, PRIMARY KEY (case_id, seq)
    );
    CREATE TRIGGER sla_events_no_update BEFORE UPDATE ON sla_events
        BEGIN SELECT RAISE(ABORT, 'sla_events is append-only'); END;
    CREATE TRIGGER sla_events_no_delete BEFORE DELETE ON sla_events
        BEGIN SELECT RAISE(ABORT, 'sla_events is append-only'); END;
    """,
    12: """
    CREATE INDEX outbox_order ON outbox (ord);
    """,
    13: """
    CREATE TABLE sla_heads (
        case_id TEXT PRIMARY KEY, count INTEGER NOT NULL, hash TEXT NOT NULL
    );
    CREATE TRIGGER sla_heads_only_grow BEFORE UPDATE ON sla_heads
    WHEN NEW.case_id != OLD.case_id OR NEW.count <= OLD.count
    BEGIN SELECT RAISE(ABORT, 'sla_heads only move forward'); END;
    CREATE TRIGGER sla_heads_no_delete BEFORE DELETE ON sla_heads
    BEGIN SELECT RAISE(ABORT, 'sla_heads is append-only'); END;
    """,
    14: """
    ALTER TABLE outbox ADD COLUMN dead_us INTEGER;
    ALTER TABLE outbox ADD COLUMN dropped_us INTEGER;
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
    UPDATE outbox SET claims = attempts;
    DROP INDEX outbox_ready;
    CREATE INDEX outbox_ready ON outbox (next_attempt_us, ord)
        WHERE sent_us IS NULL AND dead_us IS NULL;
    DROP INDEX outbox_unsent;
    CREATE INDEX outbox_unsent ON outbox (ord)
        WHERE sent_us IS NULL AND dead_us IS NULL;
    CREATE INDEX outbox_dead ON outbox (ord)
        WHERE dead_us IS NOT NULL AND dropped_us IS NULL;
    """,
    15: """
    CREATE TABLE quarantine (
        kind TEXT NOT NULL, id TEXT NOT NULL, failures INTEGER NOT NULL,
        error TEXT NOT NULL, at_us INTEGER NOT NULL, until_us INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX quarantine_until ON quarantine (until_us);
    CREATE TABLE workers (
        worker TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
        started_us INTEGER NOT NULL, at_us INTEGER NOT NULL
    );
    CREATE INDEX workers_at ON workers (at_us);
    """,
}


def _backfill_case_states(db: sqlite3.Connection) -> None:
    """Schema 6: the state columns of the cases stored before it, from their
    data (what governs them stays unknown until the engine saves them again)."""
    rows = db.execute("SELECT id, data, version FROM cases").fetchall()
    db.executemany(
        "UPDATE cases SET status = ?, status_since_us = ?, created_us = ?, "
        "modified_us = ? WHERE id = ?",
        [
            (
                c.status.name,
                c.status_since_us,
                c.created_us,
                c.modified_us,
                c.id,
            )
            for c in (case_from_json(data, version) for _, data, version in rows)
        ],
    )


def _backfill_case_keys(db: sqlite3.Connection) -> None:
    """Schema 9: the number and owner columns of the cases stored before it."""
    rows = db.execute("SELECT id, data, version FROM cases").fetchall()
    db.executemany(
        "UPDATE cases SET number = ?, owner = ? WHERE id = ?",
        [
            (c.number, c.owner, c.id)
            for c in (case_from_json(data, version) for _, data, version in rows)
        ],
    )


def _backfill_sla_heads(db: sqlite3.Connection) -> None:
    """Schema 13: the heads of the SLA events stored before it (chained as
    they are now: the chain vouches for them from here on)."""
    rows = db.execute(  # read as the heads are written: one case's at a time
        "SELECT case_id, at_us, kind, value FROM sla_events ORDER BY case_id, seq"
    )
    db.executemany(
        "INSERT INTO sla_heads (case_id, count, hash) VALUES (?, ?, ?)",
        ((h.case_id, h.count, h.hash) for h in sla_heads_of(rows)),
    )


# Steps of a migration that SQL alone cannot take, run after its statements.
_BACKFILLS: Final = {
    6: _backfill_case_states,
    9: _backfill_case_keys,
    13: _backfill_sla_heads,
}


class SqliteStore(SqlStore):
    """A :class:`~escalate.ports.Store` in one SQLite file.

    Args:
        path: The database file (created if missing, when ``create``).
        timeout: Seconds to wait for another writer's transaction.
        create: Create or migrate the schema (a worker's store). False opens an
            existing store as it is, for reading (``status``, ``verify``,
            ``plan``): a missing file, an empty one, one that is not an
            escalate store or whose schema is not this version's is refused
            with a :class:`~escalate.errors.StoreError`, and nothing is
            written to it.

    Raises:
        StoreError: The file cannot be opened, is corrupt, or (``create=False``)
            is not a store of this version.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 60.0,
        create: bool = True,
    ) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self._depth = 0
        self._ended: str | None = None
        if not create and not os.path.isfile(self.path):
            raise StoreError(f"{self.path!r}: no escalate store there (no such file)")
        try:
            self._db = sqlite3.connect(
                self.path,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {self.path!r}: {e}") from e
        try:
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            else:
                self._db.execute("PRAGMA query_only=1")
            self._db.execute("PRAGMA foreign_keys=ON")
            if create:
                self._migrate()
            else:
                self._check_schema()
        except sqlite3.Error as e:
            self._db.close()
            raise _store_error(e, f"cannot open the store {self.path!r}") from e
        except StoreError:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def integrity_problems(self, *, limit: int = 20) -> list[str]:
        """What ``PRAGMA quick_check`` finds wrong with the file (empty when it
        is sound): torn or zeroed pages, broken indexes. It reads every page,
        so its cost grows with the file (about a second per GB)."""
        try:
            rows = self._db.execute(f"PRAGMA quick_check({int(limit)})").fetchall()
        except sqlite3.Error as e:
            return [str(e)]
        found = [str(r[0]) for r in rows]
        return [] if found == ["ok"] else found

    def _check_schema(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            raise StoreError(
                f"{self.path!r} is not an escalate store (no escalate schema in it); "
                "escalate tick or run creates one"
            )
        raise StoreError(
            f"the store {self.path!r} has schema version {version}, this escalate "
            f"{SCHEMA_VERSION}: "
            + (
                "upgrade escalate"
                if version > SCHEMA_VERSION
                else "escalate tick or run migrates it"
            )
        )

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path!r} has schema version {version}; this escalate "
                f"knows up to {SCHEMA_VERSION}: upgrade escalate"
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _statements(_MIGRATIONS[v]):
                    self._db.execute(statement)
                if v in _BACKFILLS:
                    _BACKFILLS[v](self._db)
                self._db.execute(f"PRAGMA user_version = {v}")

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def _outermost(self, read_only: bool = False) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` (``BEGIN DEFERRED`` for a read: no write lock):
        the writers of every connection serialised."""
        begin = "BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE"
        try:
            self._db.execute(begin)
        except sqlite3.Error as e:
            raise _store_error(e, f"cannot begin a transaction on {self.path!r}") from e
        self._depth = 1
        self._ended = None
        try:
            yield
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        if self._ended is not None:  # SQLite rolled it back; its error was raised
            raise StoreError(f"{self.path}: not committed: {self._ended}")
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise _store_error(e, f"cannot commit to {self.path!r}") from e

    def _rollback(self) -> None:
        """Roll back the transaction, unless SQLite already did (after a disk
        full or an I/O error it ends the transaction itself, and a ROLLBACK
        then fails with an error that would hide the one that says why)."""
        if self._db.in_transaction:  # the error being raised says what went wrong
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _ensure_open(self) -> None:
        """Inside a transaction SQLite ended after an error, no statement may
        run: it would run on its own, outside the transaction, and commit."""
        if self._depth and not self._db.in_transaction:
            self._ended = self._ended or "SQLite rolled the transaction back"
            raise StoreError(
                f"{self.path}: the transaction was rolled back after an earlier "
                f"error ({self._ended}); nothing of it was written"
            )

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        self._ensure_open()
        try:
            return self._db.execute(sql, params)
        except sqlite3.IntegrityError as e:
            raise ConflictError(f"{self.path}: {e}") from e
        except sqlite3.Error as e:
            raise self._failed(e) from e

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._ensure_open()
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._failed(e) from e

    def _failed(self, e: sqlite3.Error) -> StoreError:
        """The error of a statement; one that ended the transaction is kept,
        so that what follows in it fails with the cause."""
        if self._depth and not self._db.in_transaction:
            self._ended = str(e)
        return _store_error(e, self.path)


def _store_error(e: sqlite3.Error, where: str) -> StoreError:
    """A driver error as escalate's, saying what it means for the file."""
    text = str(e)
    if "malformed" in text or "not a database" in text:
        return StoreError(
            f"{where}: the database file is corrupt ({text}); run escalate verify "
            "and restore it from a backup"
        )
    if "disk is full" in text or "disk I/O error" in text:
        return StoreError(
            f"{where}: {text}: free space on the disk (nothing of the failed "
            "transaction was written)"
        )
    return StoreError(f"{where}: {text}")


def _statements(script: str) -> list[str]:
    """The statements of a migration script (triggers keep their inner ';')."""
    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            current = []
    return out

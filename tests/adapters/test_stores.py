"""Store adapters against the shared contract, and SQLite on real files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate._codec import case_to_json
from escalate.adapters import _sql
from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    SqliteStore,
    _statements,
)
from escalate.audit import audit
from escalate.errors import StoreError
from escalate.history import (
    add_line,
    apply_change,
    create_case,
    delete_case,
    delete_line,
)
from escalate.matching import AssignmentRecord
from escalate.model import Actor, Case, Status, Task
from escalate.ports import HistoryStore, SettingsVersion, Store
from escalate.sla import SlaEvent, SlaHead
from escalate.testing import StoreContract, WorkersContract

T = datetime(2026, 11, 23, 9, tzinfo=UTC)


class TestMemoryStore(StoreContract):
    def make_store(self) -> Store:
        return MemoryStore()

    def cut_history_tail(self, store: HistoryStore, case_id: str) -> None:
        assert isinstance(store, MemoryStore)
        store._history[case_id].pop()


class TestMemoryWorkers(WorkersContract):
    def make_store(self) -> Store:
        return MemoryStore()

    def make_worker_store(self, store: Store) -> Store:
        return store  # one store in memory, shared by the threads


class TestSqliteWorkers(WorkersContract):
    @pytest.fixture(autouse=True)
    def folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "escalate.db"

    def make_store(self) -> Store:
        return SqliteStore(self.path)

    def make_worker_store(self, store: Store) -> Store:
        return SqliteStore(self.path)  # its own connection to the file


class TestSqliteStore(StoreContract):
    @pytest.fixture(autouse=True)
    def folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "escalate.db"

    def make_store(self) -> Store:
        return SqliteStore(self.path)

    def cut_history_tail(self, store: HistoryStore, case_id: str) -> None:
        with sqlite3.connect(self.path) as db:  # as someone with the file would
            db.execute("DROP TRIGGER history_no_delete")
            db.execute(
                "DELETE FROM history WHERE case_id = ? AND seq = "
                "(SELECT MAX(seq) FROM history WHERE case_id = ?)",
                (case_id, case_id),
            )

    def test_history_is_append_only_in_the_database(self) -> None:
        """Triggers refuse UPDATE and DELETE on history, lines and deletions."""
        store = SqliteStore(self.path)
        ann = Actor("ann")
        change = create_case(Case(id="c1", number="1", created_at=T), by=None)
        line = add_line(change.file, "x", by=ann, at=T)
        gone = delete_line(line.file, 2, by=ann, at=T)
        store.append_history([*change.entries, *gone.entries])
        store.append_lines([*change.lines, *line.lines])
        store.append_deletions(gone.deletions)
        store.save_case(change.file.case, next_due=None)
        store.delete_case(delete_case(gone.file, by=ann, at=T))
        db = sqlite3.connect(self.path)
        for sql in (
            "UPDATE history SET actor = 'mallory'",
            "DELETE FROM history",
            "UPDATE lines SET text = 'x'",
            "DELETE FROM lines",
            "DELETE FROM line_deletions",
            "DELETE FROM case_deletions",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)
        assert store.history("c1") == [*change.entries, *gone.entries]

    def test_stored_history_reads_in_batches_by_key(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch ending inside a case, and a full last batch: no entry is
        lost or read twice."""
        monkeypatch.setattr(_sql, "_HISTORY_BATCH", 3)
        store = SqliteStore(self.path)
        expected = []
        for case_id in ("a", "b", "c"):
            change = create_case(
                Case(id=case_id, number=case_id, created_at=T), by=None
            )
            later = apply_change(change.file, {"priority": "high"}, by=None, at=T)
            store.append_history([*change.entries, *later.entries])
            expected += [*change.entries, *later.entries]
        assert len(expected) == 6  # a1 a2 b1 | b2 c1 c2 | (none)
        assert [s.entry() for s in store.stored_history()] == expected

    def test_the_next_mail_is_ordered_by_an_index_not_a_count(self) -> None:
        """Each enqueue finds the next queue position in the order index: its
        cost does not grow with the mails sent before (a count read them all)."""
        SqliteStore(self.path).close()
        db = sqlite3.connect(self.path)
        plan = db.execute(
            f"EXPLAIN QUERY PLAN SELECT {_sql.SqlStore._NEXT_ORD}"
        ).fetchall()
        # a search of the index (its last entry), not a scan of it
        assert any(row[-1].startswith("SEARCH outbox") for row in plan), plan
        assert not any(row[-1].startswith("SCAN outbox") for row in plan), plan

    def test_two_stores_on_one_file(self) -> None:
        """What one store commits, another on the same file sees."""
        a, b = SqliteStore(self.path), SqliteStore(self.path)
        a.save_case(Case(id="c1", number="1", created_at=T), next_due=T)
        assert b.get_case("c1").version == 1
        assert b.record_fired("k", T)
        assert not a.record_fired("k", T)

    def test_a_due_case_changed_after_the_due_read_is_taken_as_stored(self) -> None:
        """The store keeps the cases of its due read so that taking one does
        not decode it again: a case saved meanwhile by another store, or its
        row rewritten in place, is taken as it is stored now."""
        a, b = SqliteStore(self.path), SqliteStore(self.path)
        a.save_case(Case(id="c1", number="1", created_at=T), next_due=T)
        (due,) = a.due_cases(T, limit=10)
        b.save_case(attrs.evolve(due, priority="high"), next_due=T)
        with a.transaction():
            taken = a.take_due_case("c1", T)
        assert taken is not None
        assert (taken.priority, taken.version) == ("high", 2)
        (due,) = a.due_cases(T, limit=10)
        with sqlite3.connect(self.path) as db:  # same version, other content
            db.execute(
                "UPDATE cases SET data = ? WHERE id = 'c1'",
                (case_to_json(attrs.evolve(due, priority="low")),),
            )
        with a.transaction():
            taken = a.take_due_case("c1", T)
        assert taken is not None
        assert (taken.priority, taken.version) == ("low", 2)

    def test_a_save_writes_the_value_saved(self) -> None:
        """A save of the case read writes the text it was read as; a save of
        another value of the same case (same id and version) writes that one."""
        a, b = SqliteStore(self.path), SqliteStore(self.path)
        a.save_case(Case(id="c1", number="1", created_at=T), next_due=T)
        (due,) = a.due_cases(T, limit=10)
        saved = a.save_case(due, next_due=T)
        assert b.get_case("c1") == saved
        assert saved.version == 2
        changed = attrs.evolve(saved, owner="ann")
        assert a.save_case(changed, next_due=T).owner == "ann"
        assert b.get_case("c1").owner == "ann"

    def test_schema_version(self) -> None:
        """The adapter creates the schema and records its version."""
        SqliteStore(self.path).close()
        (version,) = (
            sqlite3.connect(self.path).execute("PRAGMA user_version").fetchone()
        )
        assert version == SCHEMA_VERSION
        SqliteStore(self.path).close()  # opening again migrates nothing

    def test_migrates_a_version_1_file(self) -> None:
        """A file made by schema version 1 is migrated in place; its cases stay."""
        db = sqlite3.connect(self.path)
        for statement in _statements(_MIGRATIONS[1]):
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.commit()
        db.close()
        case = Case(id="c1", number="1", created_at=T)
        with sqlite3.connect(self.path) as db:  # a row as version 1 wrote it
            db.execute(
                "INSERT INTO cases VALUES ('c1', 1, ?, 1, NULL)", (case_to_json(case),)
            )
        store = SqliteStore(self.path)
        assert store.get_case("c1").version == 1
        store.save_task(Task(id="t", title="x", owner="ann", due_at=T), next_due=T)
        assert [t.id for t in store.due_tasks(T, limit=1)] == ["t"]
        (version,) = store._db.execute("PRAGMA user_version").fetchone()
        assert version == SCHEMA_VERSION

    def test_migration_4_keeps_heads_apart(self) -> None:
        """A version-3 file's history gets its heads from its entries; from then
        on the heads table, not the entries, says where each history ends."""
        db = sqlite3.connect(self.path)
        for v in (1, 2, 3):
            for statement in _statements(_MIGRATIONS[v]):
                db.execute(statement)
        db.execute("PRAGMA user_version = 3")
        first = create_case(Case(id="c1", number="1", created_at=T), by=None)
        later = add_line(first.file, "x", by=Actor("ann"), at=T)
        gone = delete_line(later.file, 2, by=Actor("ann"), at=T)
        for e in (*first.entries, *gone.entries):  # rows as version 3 wrote them
            db.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.case_id,
                    e.seq,
                    e.action.value,
                    e.at.isoformat(),
                    e.actor,
                    e._details_text,
                    e.prev,
                    e.hash,
                ),
            )
        db.commit()
        db.close()
        store = SqliteStore(self.path)
        assert store.history_head("c1") == gone.file.head
        assert store.history_heads() == [gone.file.head]
        self.cut_history_tail(store, "c1")
        assert store.history_head("c1") == gone.file.head

    def test_migration_5_keeps_the_settings_in_force_as_a_version(self) -> None:
        """A version-4 file's settings record becomes its first kept version; its
        fired keys read as carried out, not skipped."""
        db = sqlite3.connect(self.path)
        for v in (1, 2, 3, 4):
            for statement in _statements(_MIGRATIONS[v]):
                db.execute(statement)
        db.execute("PRAGMA user_version = 4")
        db.execute(
            "INSERT INTO settings VALUES (1, ?, '{}', ?, 1)", ("d" * 64, T.isoformat())
        )
        db.execute("INSERT INTO fired VALUES ('k', 0)")
        db.commit()
        db.close()
        store = SqliteStore(self.path)
        assert store.settings_versions() == [
            SettingsVersion(digest="d" * 64, document="{}", saved_at=T)
        ]
        record = store.settings_record()
        assert record is not None
        assert (record.digest, record.previous) == ("d" * 64, None)
        fired = store.fired_key("k")
        assert fired is not None
        assert not fired.skipped

    def test_migration_6_fills_the_case_states(self) -> None:
        """The cases of a version-5 file get their state from their data; what
        governs them is not known until the engine saves them again."""
        db = sqlite3.connect(self.path)
        for v in range(1, 6):
            for statement in _statements(_MIGRATIONS[v]):
                db.execute(statement)
        db.execute("PRAGMA user_version = 5")
        case = Case(
            id="c1",
            number="1",
            created_at=T,
            status=Status.PENDING,
            modified_at=T + timedelta(minutes=5),
        )
        db.execute(
            "INSERT INTO cases (id, version, data, open, next_due_us) "
            "VALUES ('c1', 3, ?, 1, NULL)",
            (case_to_json(case),),
        )
        db.commit()
        db.close()
        (state,) = SqliteStore(self.path).open_case_states(None, limit=5)
        assert (state.id, state.version, state.status, state.governed) == (
            "c1",
            3,
            Status.PENDING,
            None,
        )
        assert (state.created_us, state.modified_us, state.status_since_us) == (
            case.created_us,
            case.modified_us,
            case.status_since_us,
        )

    def test_migration_9_indexes_numbers_and_owners(self) -> None:
        """The cases of a version-8 file are found by number and by owner."""
        db = sqlite3.connect(self.path)
        for v in range(1, 9):
            for statement in _statements(_MIGRATIONS[v]):
                db.execute(statement)
        db.execute("PRAGMA user_version = 8")
        case = Case(
            id="c1", number="C-1042", created_at=T, owner="queue", status="Active - New"
        )
        db.execute(
            "INSERT INTO cases (id, version, data, open, next_due_us, status) "
            "VALUES ('c1', 2, ?, 1, NULL, ?)",
            (case_to_json(case), case.status.name),
        )
        db.commit()
        db.close()
        store = SqliteStore(self.path)
        assert store.case_ids_by_number("C-1042") == ["c1"]
        assert store.open_counts(["queue"]) == {"queue": 1}
        (waiting,) = store.owned_cases(
            "queue", status=case.status.name, after=None, limit=5
        )
        assert waiting.version == 2

    def test_migration_13_chains_the_sla_events_stored_before(self) -> None:
        """A version-12 file's SLA events get their heads from the events as
        stored; appends then chain after those heads, and an audit passes."""
        db = sqlite3.connect(self.path)
        for v in range(1, 13):
            for statement in _statements(_MIGRATIONS[v]):
                db.execute(statement)
        db.execute("PRAGMA user_version = 12")
        events = [SlaEvent(T, "created"), SlaEvent(T, "priority", "urgent")]
        for case_id in ("b", "a"):
            for seq, e in enumerate(events, 1):
                db.execute(
                    "INSERT INTO sla_events VALUES (?, ?, ?, ?, ?)",
                    (case_id, seq, e._us, e.kind.value, e.value),
                )
        db.commit()
        db.close()
        store = SqliteStore(self.path)
        assert store.sla_heads() == [
            SlaHead("a").after(events),
            SlaHead("b").after(events),
        ]
        store.append_sla_events("a", [SlaEvent(T, "agent reply")])
        assert store.sla_heads()[0] == SlaHead("a").after(
            [*events, SlaEvent(T, "agent reply")]
        )
        report = audit(store)
        assert (report.ok, report.sla_checked) == (True, 2)

    def test_assignment_records_and_sla_events_are_append_only(self) -> None:
        """Triggers refuse to change or remove a kept assignment record or SLA
        event."""
        store = SqliteStore(self.path)
        store.record_assignment(
            AssignmentRecord(assigner="sup", agent="ann", case_id="c1", at=T)
        )
        store.append_sla_events("c1", [SlaEvent(T, "created")])
        for sql in (
            "UPDATE assignments SET agent = 'bob'",
            "DELETE FROM assignments",
            "UPDATE sla_events SET kind = 'solved'",
            "DELETE FROM sla_events",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                store._db.execute(sql)

    def test_newer_schema_is_refused(self) -> None:
        """A database from a newer escalate is refused with a clear error."""
        db = sqlite3.connect(self.path)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
        with pytest.raises(StoreError, match="upgrade escalate"):
            SqliteStore(self.path)

    def test_wal_mode(self) -> None:
        """The file is in WAL mode, so readers do not block the writer."""
        SqliteStore(self.path)
        (mode,) = sqlite3.connect(self.path).execute("PRAGMA journal_mode").fetchone()
        assert mode == "wal"

"""Tampering with a SQLite store as an attacker with the file would: triggers
dropped, rows edited, dropped, swapped, inserted, cut and rewritten with
recomputed hashes. `audit` (and `escalate verify`) find each; a checkpoint kept
elsewhere finds what also rewrites the heads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate.adapters.sqlite import SqliteStore
from escalate.audit import Checkpoint, audit, check_against, take_checkpoint
from escalate.errors import ConfigError
from escalate.history import (
    HistoryAction,
    HistoryEntry,
    HistoryHead,
    Problem,
    apply_change,
    create_case,
    delete_case,
)
from escalate.model import Actor, Case, Status
from tests.test_cli import run

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
ANN = Actor("ann")
TRIGGERS = (
    "history_no_update",
    "history_no_delete",
    "history_follows_its_head",
    "history_moves_its_head",
    "history_heads_only_grow",
    "history_heads_no_delete",
    "case_deletions_no_update",
    "case_deletions_no_delete",
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with three cases of three entries each; c3 is deleted."""
    path = tmp_path / "escalate.db"
    store = SqliteStore(path)
    for n in (1, 2, 3):
        case_id = f"c{n}"
        change = create_case(Case(id=case_id, number=f"C-{n}", created_at=T0), by=ANN)
        store.append_history(change.entries)
        file = change.file
        for i, fields in enumerate(({"priority": "high"}, {"status": Status.CLOSED})):
            change = apply_change(file, fields, by=ANN, at=T0 + timedelta(hours=i))
            store.append_history(change.entries)
            file = change.file
        store.save_case(file.case, next_due=None)
        if n == 3:
            store.delete_case(delete_case(file, by=ANN, at=T0 + timedelta(hours=3)))
    store.close()
    return path


def attacker(path: Path) -> sqlite3.Connection:
    """A plain connection with every guard dropped."""
    db = sqlite3.connect(path, isolation_level=None)
    for trigger in TRIGGERS:
        db.execute(f"DROP TRIGGER {trigger}")
    return db


def entry(db: sqlite3.Connection, case_id: str, seq: int) -> HistoryEntry:
    """An entry as stored, read back through a store on the same file."""
    (_, _, path) = db.execute("PRAGMA database_list").fetchone()
    return SqliteStore(path).history(case_id)[seq - 1]


def rewrite(db: sqlite3.Connection, e: HistoryEntry, **changes: object) -> str:
    """Rewrite an entry's row with ``changes`` and a recomputed hash (and the
    next entry's prev, if any); returns the new hash."""
    new = attrs.evolve(e, **changes)
    digest = new.computed_hash()
    db.execute(
        "UPDATE history SET actor = ?, prev = ?, hash = ? "
        "WHERE case_id = ? AND seq = ?",
        (new.actor, new.prev, digest, e.case_id, e.seq),
    )
    db.execute(
        "UPDATE history SET prev = ? WHERE case_id = ? AND seq = ?",
        (digest, e.case_id, e.seq + 1),
    )
    return digest


def edit(db: sqlite3.Connection) -> None:
    db.execute("UPDATE history SET actor = 'mallory' WHERE case_id = 'c1' AND seq = 2")


def drop(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM history WHERE case_id = 'c1' AND seq = 2")


def swap(db: sqlite3.Connection) -> None:
    for a, b in ((2, -1), (3, 2), (-1, 3)):
        db.execute(
            "UPDATE history SET seq = ? WHERE case_id = 'c1' AND seq = ?", (b, a)
        )


def insert(db: sqlite3.Connection) -> None:
    last = entry(db, "c1", 3)
    forged = HistoryEntry.chained(
        HistoryHead("c1", last.seq, last.hash),
        action=HistoryAction.CASE_REOPENED,
        at=T0 + timedelta(days=1),
        actor="mallory",
    )
    db.execute(
        "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "c1",
            forged.seq,
            forged.action.value,
            forged.at.isoformat(),
            forged.actor,
            "{}",
            forged.prev,
            forged.hash,
        ),
    )


def cut_tail(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM history WHERE case_id = 'c1' AND seq = 3")


def rewrite_tail(db: sqlite3.Connection) -> None:
    rewrite(db, entry(db, "c1", 3), actor="mallory")


def delete_history(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM history WHERE case_id = 'c1'")


def delete_deleted_history(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM history WHERE case_id = 'c3'")
    db.execute("DELETE FROM history_heads WHERE case_id = 'c3'")


def not_json(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE history SET details = '{not json' WHERE case_id = 'c1' AND seq = 2"
    )


def unknown_action(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE history SET action = 'case teleported' WHERE case_id = 'c1' AND seq = 2"
    )


def unreadable_instant(db: sqlite3.Connection) -> None:
    db.execute("UPDATE history SET at = 'yesterday' WHERE case_id = 'c1' AND seq = 2")


def naive_instant(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE history SET at = '2026-11-23T10:00:00' WHERE case_id = 'c1' AND seq = 2"
    )


def text_number(db: sqlite3.Connection) -> None:
    db.execute("UPDATE history SET seq = 'three' WHERE case_id = 'c1' AND seq = 3")


def deep_details(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE history SET details = ? WHERE case_id = 'c1' AND seq = 2",
        ("[" * 100_000 + "]" * 100_000,),
    )


def rewrite_first(db: sqlite3.Connection) -> None:
    rewrite(db, entry(db, "c1", 1), prev="f" * 64)


# (tampering, the entry verify names, the problem it names)
TAMPERINGS: list[tuple[Callable[[sqlite3.Connection], None], int, Problem]] = [
    (edit, 2, Problem.EDITED),
    (drop, 2, Problem.REMOVED),
    (swap, 2, Problem.EDITED),
    (insert, 4, Problem.INSERTED),
    (cut_tail, 3, Problem.TRUNCATED),
    (rewrite_tail, 3, Problem.EDITED),
    (delete_history, 1, Problem.TRUNCATED),
    (not_json, 2, Problem.UNREADABLE),
    (unknown_action, 2, Problem.UNREADABLE),
    (unreadable_instant, 2, Problem.UNREADABLE),
    (naive_instant, 2, Problem.UNREADABLE),
    (text_number, 3, Problem.UNREADABLE),
    (deep_details, 2, Problem.UNREADABLE),
    (rewrite_first, 1, Problem.EDITED),
]


class TestAudit:
    def test_an_untouched_store_passes(self, db: Path) -> None:
        """Three histories checked, the deleted one included; nothing broken."""
        report = audit(SqliteStore(db))
        assert (report.ok, report.checked) == (True, 3)

    @pytest.mark.parametrize(
        ("tamper", "seq", "problem"),
        TAMPERINGS,
        ids=[t.__name__ for t, _, _ in TAMPERINGS],
    )
    def test_every_kind_of_tampering_is_found(
        self,
        db: Path,
        tamper: Callable[[sqlite3.Connection], None],
        seq: int,
        problem: Problem,
    ) -> None:
        """With the triggers dropped, each tampering of c1's history is found and
        named: the case, the entry and what is wrong."""
        tamper(attacker(db))
        report = audit(SqliteStore(db))
        assert [(r.case_id, r.seq, r.problem) for r in report.broken] == [
            ("c1", seq, problem)
        ]

    def test_a_deleted_case_keeps_its_head_in_the_tombstone(self, db: Path) -> None:
        """Deleting a deleted case's history and its head: the deletion record
        still says how long it was."""
        delete_deleted_history(attacker(db))
        (broken,) = audit(SqliteStore(db)).broken
        assert (broken.case_id, broken.problem) == ("c3", Problem.TRUNCATED)
        assert "deletion record" in broken.reason

    def test_the_database_refuses_a_head_moved_back(self, db: Path) -> None:
        """With the triggers in place, heads cannot be deleted or moved back, and
        an entry that does not follow its head is refused, whoever writes."""
        raw = sqlite3.connect(db, isolation_level=None)
        for sql in (
            "DELETE FROM history_heads",
            "UPDATE history_heads SET count = 2 WHERE case_id = 'c1'",
            "UPDATE history_heads SET count = 9 WHERE case_id = 'c1'",
            "INSERT INTO history SELECT case_id, 9, action, at, actor, details, "
            "prev, hash FROM history WHERE case_id = 'c1' AND seq = 3",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(sql)
        assert audit(SqliteStore(db)).ok


def full_rewrite(db: sqlite3.Connection) -> None:
    """Rewrite c1's last entry and its head to match: only a checkpoint sees it."""
    digest = rewrite(db, entry(db, "c1", 3), actor="mallory")
    db.execute("UPDATE history_heads SET hash = ? WHERE case_id = 'c1'", (digest,))


def full_cut(db: sqlite3.Connection) -> None:
    second = entry(db, "c1", 2)
    db.execute("DELETE FROM history WHERE case_id = 'c1' AND seq = 3")
    db.execute(
        "UPDATE history_heads SET count = 2, hash = ? WHERE case_id = 'c1'",
        (second.hash,),
    )


def full_delete(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM history WHERE case_id = 'c1'")
    db.execute("DELETE FROM history_heads WHERE case_id = 'c1'")


def tombstone_removed(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM case_deletions WHERE case_id = 'c3'")


FULL_ACCESS: list[tuple[Callable[[sqlite3.Connection], None], str, Problem]] = [
    (full_rewrite, "c1", Problem.EDITED),
    (full_cut, "c1", Problem.TRUNCATED),
    (full_delete, "c1", Problem.TRUNCATED),
    (tombstone_removed, "c3", Problem.TOMBSTONE_REMOVED),
]


class TestCheckpoint:
    @pytest.mark.parametrize(
        ("tamper", "case_id", "problem"),
        FULL_ACCESS,
        ids=[t.__name__ for t, _, _ in FULL_ACCESS],
    )
    def test_a_rewrite_of_entries_and_heads_is_found(
        self,
        db: Path,
        tamper: Callable[[sqlite3.Connection], None],
        case_id: str,
        problem: Problem,
    ) -> None:
        """Rewritten consistently, heads and all, the store passes its own audit;
        against a checkpoint taken before, it does not."""
        checkpoint = take_checkpoint(SqliteStore(db), T0 + timedelta(days=1))
        kept = Checkpoint.from_document(checkpoint.document())
        tamper(attacker(db))
        store = SqliteStore(db)
        assert audit(store).ok
        report = check_against(store, kept)
        assert [(r.case_id, r.problem) for r in report.broken] == [(case_id, problem)]

    def test_a_store_that_grew_extends_its_checkpoint(self, db: Path) -> None:
        """New entries and new cases after the checkpoint are fine."""
        store = SqliteStore(db)
        checkpoint = take_checkpoint(store, T0 + timedelta(days=1))
        more = create_case(Case(id="c4", number="C-4", created_at=T0), by=ANN)
        store.append_history(more.entries)
        report = check_against(store, checkpoint)
        assert (report.ok, report.checked) == (True, 3)

    def test_an_edited_checkpoint_file_is_refused(self, db: Path) -> None:
        """A checkpoint whose cases no longer give its root: ConfigError."""
        text = take_checkpoint(SqliteStore(db), T0).document()
        data = json.loads(text)
        data["cases"][0][1] = 2  # c1 had 3 entries
        edited = json.dumps(data)
        with pytest.raises(ConfigError, match="the file was changed"):
            Checkpoint.from_document(edited)
        with pytest.raises(ConfigError, match="expected a checkpoint"):
            Checkpoint.from_document('{"format": "something else"}')
        with pytest.raises(ConfigError, match="expected a checkpoint document"):
            Checkpoint.from_document("not json")


class TestVerifyCommand:
    def test_verify_finds_a_cut_tail(self, db: Path) -> None:
        """`escalate verify` exits 1 naming the case, the entry and the cut."""
        cut_tail(attacker(db))
        result = run("verify", "--db", db)
        assert result.returncode == 1
        assert (
            "TAMPERED case 'c1', entry 3: the chain ends at entry 2 but the head "
            "says 3" in result.stdout
        )
        assert "3 case histories checked, 1 broken" in result.stdout
        assert result.stderr == ""

    @pytest.mark.parametrize(
        "tamper", [not_json, unknown_action, unreadable_instant, text_number]
    )
    def test_an_unreadable_entry_is_a_break_not_a_crash(
        self, db: Path, tamper: Callable[[sqlite3.Connection], None]
    ) -> None:
        """A row that cannot be read is reported as c1's broken entry; the other
        cases are still checked, and nothing is printed on stderr."""
        tamper(attacker(db))
        result = run("verify", "--db", db)
        assert result.returncode == 1
        assert "TAMPERED case 'c1', entry " in result.stdout
        assert "cannot be read" in result.stdout
        assert "3 case histories checked, 1 broken" in result.stdout
        assert result.stderr == ""

    def test_entry_one_is_named_when_the_chain_does_not_start(self, db: Path) -> None:
        """Entry 1 rewritten to follow something else: entry 1, not entry 0."""
        rewrite_first(attacker(db))
        result = run("verify", "--db", db)
        assert "TAMPERED case 'c1', entry 1: entry 1 does not start the chain" in (
            result.stdout
        )

    def test_checkpoint_then_against(self, db: Path, tmp_path: Path) -> None:
        """--checkpoint writes a file and prints its root; --against proves the
        store extends it, until someone rewrites entries and heads."""
        kept = tmp_path / "elsewhere" / "checkpoint.json"
        kept.parent.mkdir()
        now = "2026-11-24T09:00:00+00:00"
        first = run("verify", "--db", db, "--checkpoint", kept, "--now", now)
        assert first.returncode == 0, first.stderr
        root = Checkpoint.from_document(kept.read_text()).root
        assert f"written to {kept}\nroot: {root}" in first.stdout
        again = run("verify", "--db", db, "--against", kept)
        assert again.returncode == 0
        assert f"(root {root}): 3 cases, the database extends it" in again.stdout
        full_rewrite(attacker(db))
        plain = run("verify", "--db", db)
        assert plain.returncode == 0  # the heads were rewritten too
        caught = run("verify", "--db", db, "--against", kept)
        assert caught.returncode == 1
        assert "TAMPERED case 'c1', entry 3:" in caught.stdout
        assert "since the checkpoint of 2026-11-24T09:00:00+00:00" in caught.stdout
        assert "1 no longer as they were" in caught.stdout

    def test_no_checkpoint_of_a_tampered_store(self, db: Path, tmp_path: Path) -> None:
        """A store with broken histories gets no checkpoint that would bless them."""
        edit(attacker(db))
        result = run("verify", "--db", db, "--checkpoint", tmp_path / "c.json")
        assert result.returncode == 1
        assert "no checkpoint written" in result.stdout
        assert not (tmp_path / "c.json").exists()

    def test_a_bad_checkpoint_file(self, db: Path, tmp_path: Path) -> None:
        """A missing or damaged checkpoint: exit 1 with the reason, no traceback."""
        missing = run("verify", "--db", db, "--against", tmp_path / "none.json")
        assert missing.returncode == 1
        assert "cannot read the checkpoint file" in missing.stderr
        (tmp_path / "bad.json").write_text("{}")
        bad = run("verify", "--db", db, "--against", tmp_path / "bad.json")
        assert bad.returncode == 1
        assert "expected a checkpoint" in bad.stderr
        assert "Traceback" not in missing.stderr + bad.stderr

"""Tampering with the SLA events of a SQLite store as an attacker with the file
would: an event back-dated, edited, dropped, swapped or added, with the
triggers dropped. ``audit`` (and ``escalate verify``) find each against the
heads kept apart; a checkpoint kept elsewhere finds what also rewrites a head."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from escalate.adapters.sqlite import SqliteStore
from escalate.audit import Checkpoint, audit, check_against, take_checkpoint
from escalate.errors import ConfigError, ConflictError
from escalate.history import Problem
from escalate.sla import SlaEvent, SlaHead
from tests.test_cli import run

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
EVENTS = [
    SlaEvent(T0, "created"),
    SlaEvent(T0 + H, "customer message"),
    SlaEvent(T0 + 2 * H, "status", "Open"),
    SlaEvent(T0 + 5 * H, "agent reply"),
]
PENDING = SlaEvent(T0 - 7 * 24 * H, "status", "Pending")
TRIGGERS = (
    "sla_events_no_update",
    "sla_events_no_delete",
    "sla_heads_only_grow",
    "sla_heads_no_delete",
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with the SLA events of two cases."""
    path = tmp_path / "escalate.db"
    store = SqliteStore(path)
    store.append_sla_events("c1", EVENTS[:2])
    store.append_sla_events("c1", EVENTS[2:])
    store.append_sla_events("c2", EVENTS[:1])
    store.close()
    return path


def attacker(path: Path) -> sqlite3.Connection:
    """A plain connection with every guard of the SLA events dropped."""
    db = sqlite3.connect(path, isolation_level=None)
    for trigger in TRIGGERS:
        db.execute(f"DROP TRIGGER {trigger}")
    return db


def back_dated_insert(db: sqlite3.Connection) -> None:
    """A "Pending" last week, which would pause the clock and erase a breach."""
    db.execute(
        "INSERT INTO sla_events VALUES ('c1', 5, ?, 'status', 'Pending')",
        (PENDING._us,),
    )


def back_date(db: sqlite3.Connection) -> None:
    db.execute("UPDATE sla_events SET at_us = at_us - 3600000000 WHERE seq = 4")


def edit_value(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE sla_events SET value = 'Pending' WHERE case_id = 'c1' AND seq = 3"
    )


def drop(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM sla_events WHERE case_id = 'c1' AND seq = 2")


def drop_last(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM sla_events WHERE case_id = 'c1' AND seq = 4")


def swap(db: sqlite3.Connection) -> None:
    for a, b in ((2, -1), (3, 2), (-1, 3)):
        db.execute(
            "UPDATE sla_events SET seq = ? WHERE case_id = 'c1' AND seq = ?", (b, a)
        )


def unknown_kind(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE sla_events SET kind = 'teleported' WHERE case_id = 'c1' AND seq = 2"
    )


def drop_all(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM sla_events WHERE case_id = 'c1'")


def rewrite_with_head(db: sqlite3.Connection) -> None:
    """The last event back-dated and the head recomputed to match."""
    back_date(db)
    forged = [*EVENTS[:3], SlaEvent(EVENTS[3].at - H, "agent reply")]
    head = SlaHead("c1").after(forged)
    db.execute("UPDATE sla_heads SET hash = ? WHERE case_id = 'c1'", (head.hash,))


def drop_with_head(db: sqlite3.Connection) -> None:
    drop_all(db)
    db.execute("DELETE FROM sla_heads WHERE case_id = 'c1'")


# (tampering, the problem the audit names)
TAMPERINGS: list[tuple[Callable[[sqlite3.Connection], None], Problem]] = [
    (back_dated_insert, Problem.INSERTED),
    (back_date, Problem.EDITED),
    (edit_value, Problem.EDITED),
    (drop, Problem.REMOVED),
    (drop_last, Problem.REMOVED),
    (swap, Problem.EDITED),
    (unknown_kind, Problem.UNREADABLE),
    (drop_all, Problem.REMOVED),
]


class TestAudit:
    def test_an_untouched_store_passes(self, db: Path) -> None:
        report = audit(SqliteStore(db))
        assert (report.ok, report.sla_checked, report.sla_broken) == (True, 2, ())

    @pytest.mark.parametrize(
        ("tamper", "problem"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS]
    )
    def test_every_kind_of_tampering_is_found(
        self, db: Path, tamper: Callable[[sqlite3.Connection], None], problem: Problem
    ) -> None:
        tamper(attacker(db))
        report = audit(SqliteStore(db))
        assert not report.ok
        assert [(r.case_id, r.problem) for r in report.sla_broken] == [("c1", problem)]
        assert report.sla_broken[0].reason.startswith("SLA events: ")

    def test_the_database_refuses_changes_and_a_head_moved_back(self, db: Path) -> None:
        """With the triggers in place, whoever writes: events are neither changed
        nor removed, and heads neither moved back nor deleted."""
        raw = sqlite3.connect(db, isolation_level=None)
        for sql in (
            "UPDATE sla_events SET value = 'Pending' WHERE seq = 3",
            "DELETE FROM sla_events WHERE seq = 4",
            "DELETE FROM sla_heads",
            "UPDATE sla_heads SET count = 3 WHERE case_id = 'c1'",
            "UPDATE sla_heads SET count = 4 WHERE case_id = 'c1'",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(sql)
        assert audit(SqliteStore(db)).ok

    def test_an_event_added_beside_the_store_stops_its_appends(self, db: Path) -> None:
        """An INSERT the triggers let through (no head moved) is found by the
        audit, and the next append to that case is refused, naming it, instead
        of chaining over it."""
        back_dated_insert(sqlite3.connect(db, isolation_level=None))
        store = SqliteStore(db)
        with pytest.raises(ConflictError, match="case 'c1': SLA event 5 is stored"):
            store.append_sla_events("c1", [SlaEvent(T0 + 6 * H, "solved")])
        assert store.sla_events("c1")[-1] == PENDING
        store.append_sla_events("c2", [SlaEvent(T0 + 6 * H, "solved")])  # others go on


class TestCheckpoint:
    @pytest.mark.parametrize("tamper", [rewrite_with_head, drop_with_head])
    def test_a_rewritten_head_is_found_against_a_checkpoint(
        self, db: Path, tamper: Callable[[sqlite3.Connection], None]
    ) -> None:
        """Events rewritten together with their head pass the audit; the
        checkpoint taken before does not."""
        checkpoint = take_checkpoint(SqliteStore(db), T0 + 6 * H)
        tamper(attacker(db))
        store = SqliteStore(db)
        assert audit(store).ok
        report = check_against(store, checkpoint)
        assert [r.case_id for r in report.sla_broken] == ["c1"]
        assert "since the checkpoint of" in report.sla_broken[0].reason

    def test_appends_since_extend_it(self, db: Path) -> None:
        checkpoint = take_checkpoint(SqliteStore(db), T0 + 6 * H)
        store = SqliteStore(db)
        store.append_sla_events("c1", [SlaEvent(T0 + 6 * H, "solved")])
        report = check_against(store, checkpoint)
        assert (report.ok, report.sla_checked) == (True, 2)

    def test_its_document_keeps_the_sla_heads(self, db: Path) -> None:
        """Each leaf of a case with SLA events has two fields more; read back,
        the document gives the same root, and a row of another length is
        refused."""
        checkpoint = take_checkpoint(SqliteStore(db), T0 + 6 * H)
        leaf = checkpoint.leaf("c1")
        assert leaf.sla == SlaHead("c1").after(EVENTS)
        assert leaf.fields()[4:] == [4, leaf.sla.hash]
        again = Checkpoint.from_document(checkpoint.document())
        assert again == checkpoint
        broken = checkpoint.document().replace(f',\n   "{leaf.sla.hash}"', "", 1)
        with pytest.raises(ConfigError, match="a case is \\[id, count, hash"):
            Checkpoint.from_document(broken)


def test_verify_on_the_command_line(db: Path) -> None:
    result = run("verify", "--db", db)
    assert result.returncode == 0, result.stderr
    assert "2 cases' SLA events checked, 0 broken" in result.stdout
    edit_value(attacker(db))
    result = run("verify", "--db", db)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "TAMPERED case 'c1': SLA events: the first 4 no longer give their head's "
        "hash: an event was changed, removed or replaced"
    )
    assert "2 cases' SLA events checked, 1 broken" in result.stdout


def test_bad_heads_are_refused() -> None:
    from escalate.audit import CheckpointLeaf
    from escalate.errors import WrongTypeError
    from escalate.history import HistoryHead

    for bad, field in (
        (lambda: SlaHead(1), "case_id"),  # type: ignore[arg-type]
        (lambda: SlaHead("c1", -1), "count"),
        (lambda: SlaHead("c1", True), "count"),
        (lambda: SlaHead("c1", 1, "abc"), "hash"),
    ):
        with pytest.raises(WrongTypeError, match=f"^{field}: expected"):
            bad()
    with pytest.raises(ConfigError, match="sla: expected the head of case 'c1'"):
        CheckpointLeaf(HistoryHead("c1"), sla=SlaHead("c2"))

"""Storage faults, as the disk and the database give them: a full disk, a
corrupt page, an empty file, an exhausted pool. Each is a StoreError with its
cause, never a traceback from below, and a failed call leaves the store as it
was."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from escalate.adapters.postgres import PostgresStore
from escalate.adapters.sqlite import SqliteStore
from escalate.config import example_config
from escalate.errors import StoreError
from escalate.health import read_health
from escalate.model import Actor
from escalate.timers import ManualClock
from tests.test_cli import run
from tests.test_engine import T0, case, escalator

ANN = Actor("ann")


def filled(path: Path, cases: int = 30) -> None:
    """A store with ``cases`` cases, closed."""
    store = SqliteStore(path)
    esc = escalator(store, ManualClock(T0))
    for i in range(1, cases + 1):
        esc.add_case(case(i, solution="x" * 2_000), by=ANN)
    store.close()


def count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])


class TestDiskFull:
    def test_a_full_database_is_a_store_error_naming_it(self, tmp_path: Path) -> None:
        """SQLite ends the transaction itself on a full disk; the ROLLBACK that
        followed failed ("cannot rollback - no transaction is active") and hid
        "database or disk is full" behind a raw sqlite3 traceback."""
        path = tmp_path / "full.db"
        filled(path, 1)
        store = SqliteStore(path)
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        esc = escalator(store, ManualClock(T0))
        before = count(path)

        def fill() -> None:
            for i in range(2, 200):
                esc.add_case(case(i, solution="y" * 5_000), by=ANN)

        with pytest.raises(StoreError, match="database or disk is full") as e:
            fill()
        assert "free space" in str(e.value)
        assert not store._db.in_transaction
        store._db.execute("PRAGMA max_page_count = 1073741823")  # space again
        assert count(path) >= before
        esc.add_case(case(500), by=ANN)  # the store works on
        store.close()

    def test_a_tick_on_a_full_disk_reports_and_writes_nothing_half(
        self, tmp_path: Path
    ) -> None:
        """A tick whose batch cannot be written reports each case and leaves
        every fired key unrecorded: no statement ran outside the transaction
        SQLite had ended."""
        path = tmp_path / "tick.db"
        filled(path, 30)
        store = SqliteStore(path)
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        clock = ManualClock(T0 + timedelta(hours=3))
        report = escalator(store, clock).tick()
        assert report.errors
        assert all("disk is full" in message for _, message in report.errors)
        fired = store._db.execute("SELECT COUNT(*) FROM fired").fetchone()[0]
        queued = store._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        assert (fired, queued) == (0, 0)
        store.close()

    def test_a_file_the_system_will_not_grow_is_a_store_error(
        self, tmp_path: Path
    ) -> None:
        """The operating system's own refusal (RLIMIT_FSIZE: EFBIG, as a full
        disk gives ENOSPC) in a process of its own: a StoreError with the
        cause, and the cases written before it are all there."""
        db = tmp_path / "grow.db"
        filled(db, 1)
        size = db.stat().st_size + 64 * 1024

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        script = (
            "import sys\n"
            "from escalate.adapters.sqlite import SqliteStore\n"
            "from escalate.errors import StoreError\n"
            "from escalate.timers import ManualClock\n"
            "from tests.test_engine import T0, case, escalator\n"
            "from escalate.model import Actor\n"
            "store = SqliteStore(sys.argv[1])\n"
            "esc = escalator(store, ManualClock(T0))\n"
            "added = 1\n"
            "try:\n"
            "    for i in range(2, 2000):\n"
            "        esc.add_case(case(i, solution='z' * 9000), by=Actor('ann'))\n"
            "        added = i\n"
            "except StoreError as e:\n"
            "    print(added, e)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(db)],
            capture_output=True,
            text=True,
            preexec_fn=limit,
            timeout=120,
            check=False,
            cwd=Path(__file__).parents[2],
        )
        assert done.returncode == 0, done.stderr
        added, message = done.stdout.split(" ", 1)
        assert "disk" in message, message
        assert count(db) == int(added)


class TestCorruptFile:
    @pytest.fixture
    def corrupt(self, tmp_path: Path) -> Path:
        path = tmp_path / "corrupt.db"
        filled(path, 40)
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (size,) = db.execute("PRAGMA page_size").fetchone()
            (pages,) = db.execute("PRAGMA page_count").fetchone()
        with path.open("r+b") as f:  # zero every page but the first
            f.seek(size * 2)
            f.write(b"\0" * size * (pages - 2))
        return path

    def test_verify_runs_quick_check_and_calls_it_corrupt(self, corrupt: Path) -> None:
        """verify said the file was fine: it read the histories it could."""
        result = run("verify", "--db", corrupt)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "integrity: CORRUPT" in result.stdout
        assert "Traceback" not in result.stderr

    def test_status_calls_it_corrupt(self, corrupt: Path) -> None:
        result = run("status", "--db", corrupt)
        assert result.returncode != 0
        assert "corrupt" in (result.stdout + result.stderr).lower()
        assert "Traceback" not in result.stderr

    def test_a_tick_on_it_is_an_error_without_a_traceback(self, corrupt: Path) -> None:
        result = run("tick", "--config", example_config(), "--db", corrupt)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "corrupt" in result.stderr or "malformed" in result.stderr

    def test_a_sound_file_passes(self, tmp_path: Path) -> None:
        path = tmp_path / "sound.db"
        filled(path, 3)
        assert SqliteStore(path, create=False).integrity_problems() == []
        result = run("verify", "--db", path)
        assert result.returncode == 0, result.stdout
        assert "integrity: ok (quick_check)" in result.stdout


class TestReadersCreateNothing:
    @pytest.mark.parametrize(
        "command",
        ["status", "verify", "plan", "explain", "report", "timeline", "outbox"],
    )
    def test_an_empty_file_is_not_taken_for_a_store(
        self, tmp_path: Path, command: str
    ) -> None:
        """A 0-byte file was taken as a new store, and status wrote a schema
        into it. Every command that only reads opens the store as it is."""
        db = tmp_path / "empty.db"
        db.write_bytes(b"")
        config = ["--config", str(example_config())]
        extra = {
            "plan": config,
            "explain": [*config, "c1"],
            "report": [
                "--from",
                "2026-11-23T00:00:00+00:00",
                "--to",
                "2026-11-30T00:00:00+00:00",
            ],
            "timeline": ["c1", "--svg", str(tmp_path / "t.svg")],
        }.get(command, [])
        head = ["outbox", "list"] if command == "outbox" else [command]
        result = run(*head, "--db", db, *extra)
        assert result.returncode == (2 if command == "status" else 1)  # a probe
        assert "is not an escalate store" in result.stderr + result.stdout
        assert db.stat().st_size == 0
        assert not (tmp_path / "empty.db-wal").exists()

    def test_another_programs_database_is_left_alone(self, tmp_path: Path) -> None:
        db = tmp_path / "crm.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE customers (id INTEGER)")
        before = db.read_bytes()
        with pytest.raises(StoreError, match="is not an escalate store"):
            SqliteStore(db, create=False)
        assert db.read_bytes() == before

    def test_an_older_schema_is_named_not_migrated(self, tmp_path: Path) -> None:
        db = tmp_path / "old.db"
        filled(db, 1)
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 12")
        with pytest.raises(
            StoreError, match=r"schema version 12.*tick or run migrates"
        ):
            SqliteStore(db, create=False)

    def test_a_reader_never_takes_the_write_lock(self, tmp_path: Path) -> None:
        """status took a write transaction to read the outbox, and waited 62 s
        behind a writer: a reader with no patience at all still answers."""
        db = tmp_path / "busy.db"
        filled(db, 5)
        writer = sqlite3.connect(db, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE cases SET version = version")
        try:
            store = SqliteStore(db, create=False, timeout=0.0)
            health = read_health(store, T0 + timedelta(hours=3))
            assert health.backlog.count == 5
            with pytest.raises(StoreError, match="readonly"), store.transaction():
                pass  # and it refuses to write at all
            store.close()
        finally:
            writer.execute("ROLLBACK")
            writer.close()


class TestPostgresPool:
    def test_an_exhausted_pool_is_a_store_error(self, postgres_dsn: str) -> None:
        """psycopg_pool.PoolTimeout came up raw from tick, dispatch, add_case."""
        pool = ConnectionPool(
            postgres_dsn, min_size=1, max_size=1, timeout=0.2, open=True
        )
        try:
            store = PostgresStore(pool, schema="pool_faults")
            esc = escalator(store, ManualClock(T0))
            held = pool.getconn()
            try:
                for call in (
                    lambda: esc.add_case(case(1), by=ANN),
                    esc.dispatch,
                    lambda: esc.tick().raise_for_errors(),
                ):
                    with pytest.raises(StoreError, match="no connection free"):
                        call()
            finally:
                pool.putconn(held)
            esc.add_case(case(1), by=ANN)  # and works again once one is free
        finally:
            pool.close()

    def test_a_reader_of_a_missing_schema_creates_nothing(
        self, postgres_dsn: str
    ) -> None:
        with pytest.raises(StoreError, match="no escalate store in the schema"):
            PostgresStore(postgres_dsn, schema="never_made", create=False)
        import psycopg

        with psycopg.connect(postgres_dsn) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = 'never_made'"
            ).fetchall()
        assert found == []

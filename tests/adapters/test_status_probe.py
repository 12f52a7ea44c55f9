"""``escalate status`` as a safe probe: bounded in time behind any lock, on
SQLite and PostgreSQL; it lists the workers seen (their heartbeats)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import psycopg

from escalate.adapters.postgres import PostgresStore
from escalate.config import example_config
from tests.test_cli import run


class TestBoundedInTime:
    def test_sqlite_behind_an_exclusive_lock_could_not_tell(
        self, tmp_path: Path
    ) -> None:
        """status blocked 62 s behind a writer, then failed."""
        db = tmp_path / "locked.db"
        assert run("tick", "--config", example_config(), "--db", db).returncode == 0
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("CREATE TABLE other_programs_table (x)")
        try:
            begun = time.monotonic()
            result = run("status", "--db", db, "--timeout", "1s")
            assert time.monotonic() - begun < 30
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout.startswith("could not tell: ")

    def test_postgres_behind_a_table_lock_could_not_tell(
        self, postgres_dsn: str, postgres_url: str
    ) -> None:
        """status hung without limit behind a table lock."""
        PostgresStore(postgres_dsn).close()  # the schema exists
        with psycopg.connect(postgres_dsn) as locker:
            locker.execute("LOCK TABLE escalate.outbox IN ACCESS EXCLUSIVE MODE")
            begun = time.monotonic()
            result = run("status", "--db", postgres_url, "--timeout", "2s", "--json")
            assert time.monotonic() - begun < 30
        assert result.returncode == 2, result.stdout + result.stderr
        assert "could_not_tell" in json.loads(result.stdout)

    def test_a_timeout_that_cannot_work_is_refused(self, tmp_path: Path) -> None:
        result = run("status", "--db", tmp_path / "x.db", "--timeout", "0s")
        assert result.returncode != 0
        assert "--timeout" in result.stderr


class TestWorkersSeen:
    def test_each_worker_leaves_a_heartbeat(self, tmp_path: Path) -> None:
        db = tmp_path / "beats.db"
        for _ in range(2):  # two workers, one after the other
            done = run(
                "run",
                "--config",
                example_config(),
                "--db",
                db,
                "--max-ticks",
                "1",
                "--outbox",
                tmp_path / "out",
            )
            assert done.returncode == 0, done.stderr
        result = run("status", "--db", db, "--json")
        assert result.returncode == 0, result.stdout
        workers = json.loads(result.stdout)["workers"]
        assert len(workers) == 2
        assert {w["pid"] for w in workers} != {0}
        assert all(w["worker"].startswith(w["host"] + ":") for w in workers)
        text = run("status", "--db", db).stdout
        assert text.count("  worker ") == 2

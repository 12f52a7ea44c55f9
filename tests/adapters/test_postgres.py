"""The PostgreSQL store, on a real server started by the test run: the whole
store contract, the caller's transaction, the schema and its migration."""

from __future__ import annotations

import itertools
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from escalate.adapters.postgres import SCHEMA_VERSION, PostgresStore
from escalate.audit import audit
from escalate.engine import Escalator
from escalate.errors import (
    ConfigError,
    ConflictError,
    InvalidOperation,
    NotFound,
    StoreError,
)
from escalate.history import add_line, create_case
from escalate.leads import Lead
from escalate.mail import OutgoingMail
from escalate.model import Actor, Case, Task
from escalate.ports import HistoryStore, Store
from escalate.rules import RuleBook
from escalate.sla import SlaEvent, SlaHead
from escalate.testing import StoreContract, WorkersContract
from escalate.timers import ManualClock

T = datetime(2026, 11, 23, 9, tzinfo=UTC)
_SCHEMAS = itertools.count()


_EMPTY_BOOK = RuleBook.build([], active=None)


class _Discard:
    def send(self, mail: OutgoingMail) -> None:
        pass


def fresh_schema() -> str:
    return f"t{next(_SCHEMAS)}"


class _OnServer:
    """A fresh schema on the test run's server for each test."""

    @pytest.fixture(autouse=True)
    def server(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn
        self.schema = fresh_schema()

    def make_store(self) -> Store:
        return PostgresStore(self.dsn, schema=self.schema)


class TestPostgresStore(_OnServer, StoreContract):
    def cut_history_tail(self, store: HistoryStore, case_id: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as db:  # a superuser's edit
            db.execute("SET session_replication_role = replica")  # no triggers
            db.execute(
                f"DELETE FROM {self.schema}.history WHERE case_id = %s AND seq = "
                f"(SELECT MAX(seq) FROM {self.schema}.history WHERE case_id = %s)",
                (case_id, case_id),
            )

    def test_append_only_in_the_database(self) -> None:
        """Triggers refuse UPDATE and DELETE on history and follow-up lines."""
        store = self.make_store()
        change = create_case(Case(id="c1", number="1", created_at=T), by=None)
        store.append_history(change.entries)
        store.append_lines(change.lines)
        line = add_line(change.file, "x", by=Actor("ann"), at=T)
        store.append_lines(line.lines)
        store.append_sla_events("c1", [SlaEvent(T, "created")])
        for sql in (
            "UPDATE {s}.history SET actor = 'mallory'",
            "DELETE FROM {s}.history",
            "UPDATE {s}.lines SET text = 'y'",
            "DELETE FROM {s}.history_heads",
            "UPDATE {s}.sla_events SET kind = 'solved'",
            "DELETE FROM {s}.sla_events",
            "DELETE FROM {s}.sla_heads",
        ):
            with pytest.raises(ConflictError, match="append-only"):
                store._write(sql.replace("{s}.", ""))
            with (
                psycopg.connect(self.dsn, autocommit=True) as db,
                pytest.raises(psycopg.errors.IntegrityError),
            ):
                db.execute(sql.replace("{s}", self.schema))

    def test_sla_heads_only_move_forward(self) -> None:
        store = self.make_store()
        store.append_sla_events("c1", [SlaEvent(T, "created"), SlaEvent(T, "solved")])
        for count in (1, 2):
            with (
                psycopg.connect(self.dsn, autocommit=True) as db,
                pytest.raises(psycopg.errors.IntegrityError, match="move forward"),
            ):
                db.execute(f"UPDATE {self.schema}.sla_heads SET count = {count}")

    def test_migration_4_chains_the_sla_events_stored_before(self) -> None:
        """A version-3 schema's SLA events get their heads from the events as
        stored; the audit then passes."""
        PostgresStore(self.dsn, schema=self.schema).close()
        s = self.schema
        events = [SlaEvent(T, "created"), SlaEvent(T, "priority", "urgent")]
        with psycopg.connect(self.dsn, autocommit=True) as db:  # back to version 3
            db.execute(f"DROP TABLE {s}.sla_heads")
            db.execute(f"DROP FUNCTION {s}.sla_heads_only_grow()")
            db.execute(f"UPDATE {s}.schema_version SET version = 3")
            for case_id in ("b", "a"):
                for seq, e in enumerate(events, 1):
                    db.execute(
                        f"INSERT INTO {s}.sla_events VALUES (%s, %s, %s, %s, %s)",
                        (case_id, seq, e._us, e.kind.value, e.value),
                    )
        store = PostgresStore(self.dsn, schema=s)
        assert store.sla_heads() == [
            SlaHead("a").after(events),
            SlaHead("b").after(events),
        ]
        assert audit(store).ok


class TestPostgresWorkers(_OnServer, WorkersContract):
    def make_worker_store(self, store: Store) -> Store:
        return self.make_store()  # the same schema, its own connection

    def test_a_taken_case_lead_or_task_is_skipped_not_waited_for(self) -> None:
        """While one worker's transaction holds a due case, lead or task,
        another worker's take skips it at once (SKIP LOCKED) and its tick
        handles the rest."""
        first, second = self.make_store(), self.make_store()
        esc = Escalator(second, _Discard(), ManualClock(T), book=_EMPTY_BOOK)
        esc.apply()  # its settings stored first (a change recomputes open cases)
        for i in ("a", "b"):
            first.save_case(Case(id=i, number=i, created_at=T), next_due=T)
            first.save_lead(Lead(id=i, lead_type="web", received_at=T), next_due=T)
            first.save_task(Task(id=i, title="call", owner="ann", due_at=T), next_due=T)
        with first.transaction():
            assert first.take_due_case("a", T) is not None
            assert first.take_due_lead("a", T) is not None
            assert first.take_due_task("a", T) is not None
            with second.transaction():
                assert second.take_due_case("a", T) is None
                assert second.take_due_lead("a", T) is None
                assert second.take_due_task("a", T) is None
                assert second.take_due_case("b", T) is not None
            report = esc.tick()
            assert report.cases == 1  # b only
            # lead and task b fail here (no lead types, no templates); a is untouched
            assert {who for who, _ in report.errors} == {"b"}
        with second.transaction():
            assert second.take_due_case("a", T) is not None  # released


class TestConnections:
    def test_joins_the_callers_transaction(self, postgres_dsn: str) -> None:
        """On the caller's connection, escalate's writes commit or roll back
        with the caller's transaction: a ``with conn.transaction()`` block, or
        the transaction the caller's own statements opened."""
        schema = fresh_schema()
        with psycopg.connect(postgres_dsn) as conn:
            conn.execute("CREATE TABLE crm_cases (id TEXT PRIMARY KEY)")
            store = PostgresStore(conn, schema=schema)
            conn.commit()

            def crm_save_that_fails() -> None:
                with conn.transaction():
                    conn.execute("INSERT INTO crm_cases VALUES ('c1')")
                    case = Case(id="c1", number="1", created_at=T)
                    store.save_case(case, next_due=None)
                    raise RuntimeError("the CRM's save fails")

            with pytest.raises(RuntimeError):
                crm_save_that_fails()
            with pytest.raises(NotFound):
                store.get_case("c1")
            conn.execute("INSERT INTO crm_cases VALUES ('c1')")  # opens a transaction
            store.save_case(Case(id="c1", number="1", created_at=T), next_due=None)
            conn.rollback()
            assert conn.execute("SELECT count(*) FROM crm_cases").fetchone() == (0,)
            with pytest.raises(NotFound):
                store.get_case("c1")
            conn.rollback()
            with conn.transaction():
                conn.execute("INSERT INTO crm_cases VALUES ('c1')")
                store.save_case(Case(id="c1", number="1", created_at=T), next_due=None)
        other = PostgresStore(postgres_dsn, schema=schema)
        assert other.get_case("c1").version == 1

    def test_a_pool(self, postgres_dsn: str) -> None:
        """With a pool, each transaction takes a connection and gives it back."""
        with ConnectionPool(postgres_dsn, min_size=1, max_size=2, open=True) as pool:
            store = PostgresStore(pool, schema=fresh_schema())
            with store.transaction():
                store.save_case(Case(id="c1", number="1", created_at=T), next_due=None)
            assert store.get_case("c1").version == 1

    def test_one_connection_refuses_a_second_threads_transaction(
        self, postgres_dsn: str
    ) -> None:
        """Two threads' transactions on one connection would mix into one; the
        second is refused at once, naming the remedy, and nothing of it is
        written. With a pool, each thread has its own connection."""
        store = PostgresStore(postgres_dsn, schema=fresh_schema())
        inside, done = threading.Event(), threading.Event()
        refused: list[BaseException] = []

        def second() -> None:
            inside.wait()
            try:
                with store.transaction():
                    store.save_case(
                        Case(id="c2", number="2", created_at=T), next_due=None
                    )
            except InvalidOperation as e:
                refused.append(e)
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        with store.transaction():
            store.save_case(Case(id="c1", number="1", created_at=T), next_due=None)
            inside.set()
            done.wait()
        thread.join()
        assert "use a ConnectionPool" in str(refused[0])
        assert store.get_case("c1").version == 1
        with pytest.raises(NotFound):
            store.get_case("c2")

    def test_bad_targets(self, postgres_dsn: str) -> None:
        with pytest.raises(ConfigError, match="schema: expected a lower-case"):
            PostgresStore(postgres_dsn, schema="Drop Table")
        with pytest.raises(ConfigError, match="target: expected a DSN"):
            PostgresStore(42)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="cannot connect"):
            PostgresStore("host=/nonexistent port=1 user=x dbname=y")


class TestSchema:
    def test_a_newer_schema_is_refused(self, postgres_dsn: str) -> None:
        schema = fresh_schema()
        PostgresStore(postgres_dsn, schema=schema)
        with psycopg.connect(postgres_dsn, autocommit=True) as db:
            db.execute(f"UPDATE {schema}.schema_version SET version = %s", (99,))
        with pytest.raises(StoreError, match="upgrade escalate"):
            PostgresStore(postgres_dsn, schema=schema)

    def test_workers_starting_at_once_do_not_race(self, postgres_dsn: str) -> None:
        """Four stores created at once on an empty schema: one creates it, the
        others find it made; all work."""
        schema = fresh_schema()
        stores: list[Any] = []
        failures: list[BaseException] = []

        def start() -> None:
            try:
                stores.append(PostgresStore(postgres_dsn, schema=schema))
            except BaseException as e:
                failures.append(e)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert len(stores) == 4
        with psycopg.connect(postgres_dsn, autocommit=True) as db:
            row = db.execute(f"SELECT version FROM {schema}.schema_version").fetchall()
        assert row == [(SCHEMA_VERSION,)]


class TestCommandLine:
    def test_tick_and_status_on_postgres(
        self,
        postgres_url: str,
        tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """--db takes a PostgreSQL URL, and $ESCALATE_DB stands in for it."""
        from escalate.cli import main
        from escalate.config import example_config

        config = str(example_config())
        outbox = str(tmp_path / "outbox")
        now = "2026-11-23T09:00:00+01:00"
        args = ["tick", "--config", config, "--outbox", outbox, "--now", now]
        assert main([*args, "--db", postgres_url]) == 0
        monkeypatch.setenv("ESCALATE_DB", postgres_url)
        capsys.readouterr()
        assert main(["status", "--json", "--now", now]) == 0
        assert '"last_tick"' in capsys.readouterr().out

    def test_a_postgresql_url_without_the_extra(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without psycopg installed, a PostgreSQL URL is a clear error naming
        the extra to install, not a traceback."""
        from escalate.cli import main

        monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
        monkeypatch.delitem(sys.modules, "escalate.adapters.postgres")
        assert main(["status", "--db", "postgresql:///crm"]) != 0
        err = capsys.readouterr().err
        assert "pip install 'escalate[postgres]'" in err
        assert "Traceback" not in err


class TestWakeUp:
    def test_a_saved_case_is_announced(self, postgres_dsn: str) -> None:
        """A case saved with a next due instant is announced on the store's
        channel at commit: a listener returns at once with that instant."""
        store = PostgresStore(postgres_dsn, schema=fresh_schema())
        listener = store.listener()
        try:
            assert listener.wait(timedelta(0)) is None
            due = T + timedelta(minutes=5)
            with store.transaction():
                store.save_case(Case(id="c1", number="1", created_at=T), next_due=due)
            assert listener.wait(timedelta(seconds=30)) == due
            store.save_case(store.get_case("c1"), next_due=None)  # nothing due
            assert listener.wait(timedelta(0)) is None
        finally:
            listener.close()


class TestLostConnection:
    def test_a_lost_connection_is_a_store_error_then_reconnects(
        self, postgres_dsn: str
    ) -> None:
        """The server drops the store's connection: the call in flight fails
        with a StoreError (not a driver traceback); the next one reconnects."""
        store = PostgresStore(postgres_dsn, schema=fresh_schema())
        store.save_case(Case(id="c1", number="1", created_at=T), next_due=None)
        pid = store._rows("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="PostgreSQL"):
            store.get_case("c1")
        assert store.get_case("c1").version == 1

"""``escalate run`` on PostgreSQL through what a database does in production: a
terminated LISTEN connection or backends, a restart (fast and immediate), every
connection slot taken, a statement timeout, a server not up yet at start. The
worker stays alive and catches up: every case escalates, each mail reaches the
(in-process) SMTP server once.

A server of its own (a few connection slots), restarted by the tests; the waits
are on it and the worker, bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller

from escalate._postgres_server import pg_ctl, postgres_server
from escalate.adapters.postgres import PostgresStore
from escalate.config import load_config
from escalate.engine import Escalator
from escalate.model import OPERATOR, Actor, Case, Status
from escalate.testing import RecordingMailer
from escalate.timers import SystemClock
from tests.adapters.test_mailers import free_port
from tests.adapters.test_smtp_faults import FaultyInbox

SLOTS = 12
TENANT = """
[rules.fast]
[[rules.fast.items]]
id = "all"
[[rules.fast.items.actions]]
id = "lead"
after = "1m"
escalate_to = "lead"
[mail]
sender = "escalate@example.com"
[mail.addresses]
lead = "lead@example.com"
[templates.inline]
"escalation.subject" = "Case {{ case.number }}"
"escalation.txt" = "Due.\\n"
"""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server(
        f"-c max_connections={SLOTS} -c superuser_reserved_connections=0"
    ) as dsn:
        yield dsn


def url(dsn: str) -> str:
    parts = dict(p.split("=", 1) for p in dsn.split())
    return f"postgresql://{parts['user']}@/{parts['dbname']}?host={parts['host']}"


def until(
    what: Callable[[], bool], message: Callable[[], str], limit: float = 90
) -> None:
    """Wait (bounded) for the worker and the server to get there."""
    ends = time.monotonic() + limit
    while not what():
        assert time.monotonic() < ends, message()
        time.sleep(0.1)


class Harness:
    """A worker process, its SMTP server, and a way to add cases."""

    def __init__(self, dsn: str, tmp_path: Path) -> None:
        self.dsn = dsn
        self.inbox = FaultyInbox()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.config = tmp_path / "escalate.toml"
        self.config.write_text(
            TENANT + f'[mail.smtp]\nhost = "127.0.0.1"\nport = {self.smtp.port}\n'
            'security = "none"\ntimeout = "5s"\n'
        )
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.added = 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS escalate CASCADE")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "escalate.cli",
                "run",
                "--config",
                str(self.config),
                "--db",
                url(self.dsn),
                "--every",
                "1s",
                "-v",
                "--log-format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.log):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line, "level": "raw"})
        return out

    def logged(self, text: str) -> bool:
        return any(text in r["message"] for r in self.records())

    def add(self, n: int) -> None:
        """``n`` cases, each with its one step overdue (through its own store)."""
        store = PostgresStore(self.dsn)
        esc = Escalator.from_config(
            load_config(self.config),
            store,
            RecordingMailer(),
            SystemClock(),
            by=OPERATOR,
        )
        created = SystemClock().now() - timedelta(minutes=10)
        for _ in range(n):
            self.added += 1
            esc.add_case(
                Case(
                    id=f"c{self.added}",
                    number=f"C-{self.added}",
                    created_at=created,
                    owner="queue",
                    status=Status.ACTIVE_NEW,
                ),
                by=Actor("ann"),
            )
        store.close()

    def caught_up(self) -> bool:
        return len(self.inbox.messages) >= self.added

    def where(self) -> str:
        tail = "".join(self.log[-15:])
        return f"{len(self.inbox.messages)} of {self.added} delivered; log:\n{tail}"

    def check(self) -> None:
        """Alive, caught up, each mail once."""
        until(self.caught_up, self.where)
        assert self.process is not None
        assert self.process.poll() is None, self.where()
        copies = self.inbox.ids()
        assert len(copies) == self.added
        assert set(copies.values()) == {1}, copies
        with psycopg.connect(self.dsn) as conn:
            (fired,) = conn.execute("SELECT COUNT(*) FROM escalate.fired").fetchone()
        assert fired == self.added
        # status listed delivered mails as unsent after backend terminations
        command = [sys.executable, "-m", "escalate.cli", "status", "--json"]
        status = subprocess.run(
            [*command, "--db", url(self.dsn)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        data = json.loads(status.stdout)
        assert (data["outbox_depth"], data["claimed_mails"]) == (0, []), data
        assert len(data["workers"]) == 1

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            finally:
                self.process.kill()
        self.smtp.stop()


@pytest.fixture
def worker(server: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(server, tmp_path)
    try:
        yield h
    finally:
        h.close()
        if not _up(server):
            pg_ctl(server, "start")


def _up(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def terminate(
    dsn: str,
    where: str = "application_name != 'escalate-test'",
    on: psycopg.Connection[Any] | None = None,
) -> int:
    """Terminate the worker's backends (``where``), through ``on`` if given."""
    sql = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE pid != pg_backend_pid() AND datname IS NOT NULL AND {where}"
    )
    if on is not None:
        return len(on.execute(sql).fetchall())
    with psycopg.connect(dsn, autocommit=True, application_name="escalate-test") as c:
        return len(c.execute(sql).fetchall())


def running(h: Harness) -> None:
    h.start()
    until(lambda: h.logged("tick at "), h.where)
    h.add(5)
    until(h.caught_up, h.where)


class TestWorkerSurvivesTheDatabase:
    def test_a_terminated_listen_connection(self, worker: Harness) -> None:
        """It died: "PostgreSQL: listening failed", exit 1."""
        running(worker)
        assert terminate(worker.dsn, "query LIKE 'LISTEN%'") == 1
        worker.add(5)
        worker.check()
        until(lambda: worker.logged("listening again"), worker.where)

    def test_every_backend_terminated(self, worker: Harness) -> None:
        running(worker)
        assert terminate(worker.dsn) >= 2  # the ticks', the dispatch's, the listener
        worker.add(5)
        worker.check()

    @pytest.mark.parametrize("mode", ["fast", "immediate"])
    def test_a_server_restart(self, worker: Harness, mode: str) -> None:
        running(worker)
        pg_ctl(worker.dsn, "restart", "-m", mode)
        worker.add(5)
        worker.check()
        assert any(r.get("part") == "listen" for r in worker.records())

    def test_every_connection_slot_taken(self, worker: Harness) -> None:
        running(worker)
        admin = psycopg.connect(
            worker.dsn, autocommit=True, application_name="escalate-test"
        )
        held = [admin]

        def take_every_free_slot() -> None:
            while True:
                try:
                    held.append(
                        psycopg.connect(worker.dsn, application_name="escalate-test")
                    )
                except psycopg.OperationalError:
                    return

        try:
            take_every_free_slot()
            terminate(worker.dsn, on=admin)  # it must connect again: no slot free
            take_every_free_slot()  # the slots its backends had
            until(lambda: worker.logged("too many clients"), worker.where)
            assert worker.process is not None
            assert worker.process.poll() is None
        finally:
            for conn in held:
                conn.close()
        worker.add(5)
        worker.check()

    def test_a_tiny_statement_timeout(self, worker: Harness) -> None:
        """Every statement cancelled (a 100 ms timeout behind a lock held):
        errors, logged, and the worker goes on once they pass."""
        running(worker)
        test = "escalate-test"
        with psycopg.connect(
            worker.dsn, autocommit=True, application_name=test
        ) as admin:
            admin.execute("ALTER ROLE escalate SET statement_timeout = 100")
            try:
                terminate(worker.dsn)  # its new sessions get the timeout
                with psycopg.connect(worker.dsn, application_name=test) as locker:
                    locker.execute("SET statement_timeout = 0")
                    locker.execute("LOCK TABLE escalate.cases IN ACCESS EXCLUSIVE MODE")
                    until(lambda: worker.logged("statement timeout"), worker.where)
            finally:
                admin.execute("ALTER ROLE escalate RESET statement_timeout")
        terminate(worker.dsn)  # and now they do not
        worker.add(5)
        worker.check()

    def test_a_server_not_up_yet_at_start(self, worker: Harness) -> None:
        pg_ctl(worker.dsn, "stop", "-m", "fast")
        worker.start()
        until(lambda: worker.logged("start failed"), worker.where)
        pg_ctl(worker.dsn, "start")
        worker.add(5)
        worker.check()

"""escalate on PostgreSQL, side by side with SQLite on the same workload.

Run: ``python benchmarks/postgres.py [--dsn DSN] [--open 1000000] [--due 10000]``
(without ``--dsn`` a throwaway server is started from the machine's PostgreSQL
binaries, as the tests do).

Prints:

* ``tick()`` over ``--open`` open cases of which ``--due`` are due, and over a
  tenth as many open cases with the same due ones: the cost must follow the due
  cases, not the open ones (target: ratio <= 1.3); cases/s; SQLite beside it;
* ticks by 1, 2 and 4 worker processes on one schema (the same due cases);
* outbox dispatch by 4 worker processes with a recording mailer (target:
  >= 10,000 mails/s), each mail sent exactly once; SQLite beside it;
* the database size per open case and per history entry.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

# The workload of benchmarks/engine.py (run as a script, its folder is on the path)
from engine import BOOK, TEMPLATES, MemoryMailer  # type: ignore[import-not-found]

from escalate import (
    Case,
    ManualClock,
    OutgoingMail,
)
from escalate._postgres_server import postgres_server
from escalate.adapters._sql import _SAVE_CASE, _case_row
from escalate.adapters.postgres import PostgresStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.ports import Governed, Store

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
MAILS = 40_000
COLUMNS = (
    "id, version, data, open, next_due_us, status, status_since_us, created_us, "
    "modified_us, governed_digest, governed_item, settings_version, number, owner"
)


def escalator(store: Store, mailer: Any = None) -> Escalator:
    return Escalator(
        store,
        mailer or MemoryMailer(),
        ManualClock(T0 + H),
        book=BOOK,
        templates=TEMPLATES,
        addresses={"lead": "lead@example.com"},
    )


def rows(n_open: int, n_due: int, digest: str) -> Iterator[tuple[Any, ...]]:
    """The open cases as stored rows: ``n_due`` due now, the rest in a week."""
    due = T0 + H
    later = T0 + 7 * 24 * H
    for i in range(n_open):
        created = T0 if i < n_due else later - H
        case = Case(id=f"c{i:07d}", number=f"C-{i}", created_at=created, owner="q")
        yield _case_row(
            case, 1, due if i < n_due else later, Governed(digest=digest, item="all")
        )


def fresh(dsn: str, schema: str) -> PostgresStore:
    """A store in an empty schema (a previous run's is dropped)."""
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return PostgresStore(dsn, schema=schema)


def load_postgres(store: PostgresStore, dsn: str, n_open: int, n_due: int) -> None:
    digest = escalator(store).settings.digest
    escalator(store).sync_settings()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {store.schema}.cases ({COLUMNS}) FROM STDIN") as copy:
            for row in rows(n_open, n_due, digest):
                copy.write_row(row)
        conn.execute(f"ANALYZE {store.schema}.cases")


def load_sqlite(path: Path, n_open: int, n_due: int) -> None:
    store = SqliteStore(path)
    digest = escalator(store).settings.digest
    escalator(store).sync_settings()
    store.close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(_SAVE_CASE, rows(n_open, n_due, digest))
    db.close()


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = work()
    return time.perf_counter() - t0, result


def tick_figures(dsn: str, folder: Path, n_open: int, n_due: int) -> None:
    print(f"tick: {n_due:,} due cases, each one escalation with one mail")
    results = {}
    for label, opened in (("large", n_open), ("small", n_open // 10)):
        pg = fresh(dsn, f"tick_{label}")
        load_postgres(pg, dsn, opened, n_due)
        took, report = timed(escalator(pg).tick)
        assert len(report.fired) == n_due, report.errors[:3]
        path = folder / f"tick_{label}.db"
        load_sqlite(path, opened, n_due)
        lite_took, lite = timed(escalator(SqliteStore(path)).tick)
        assert len(lite.fired) == n_due
        results[label] = took
        print(
            f"  {opened:>9,} open: PostgreSQL {took:6.2f} s ({n_due / took:,.0f} "
            f"cases/s); SQLite {lite_took:6.2f} s ({n_due / lite_took:,.0f} cases/s)"
        )
    print(
        f"  ratio {n_open:,} / {n_open // 10:,} open on PostgreSQL: "
        f"{results['large'] / results['small']:.2f} (target <= 1.3)"
    )


def _worker_tick(dsn: str, schema: str, queue: Any, go: Any) -> None:
    esc = escalator(PostgresStore(dsn, schema=schema))
    esc.apply()  # up to date already: one read
    go.wait()  # all started and connected: the ticks alone are timed
    t0 = time.monotonic()
    report = esc.tick()
    queue.put(([f.key for f in report.fired], t0, time.monotonic()))


def scaling(dsn: str, n_due: int) -> None:
    print(f"ticks by several worker processes ({n_due:,} due cases, one schema):")
    ctx = multiprocessing.get_context("spawn")
    for workers in (1, 2, 4):
        schema = f"scale_{workers}"
        load_postgres(fresh(dsn, schema), dsn, n_due, n_due)
        queue, go = ctx.Queue(), ctx.Barrier(workers + 1)
        procs = [
            ctx.Process(target=_worker_tick, args=(dsn, schema, queue, go))
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        go.wait()
        results = [queue.get(timeout=900) for _ in procs]
        took = max(end for _, _, end in results) - min(t0 for _, t0, _ in results)
        for p in procs:
            p.join()
        keys = Counter(k for fired, _, _ in results for k in fired)
        assert len(keys) == n_due
        assert set(keys.values()) == {1}
        print(
            f"  {workers} worker(s): {took:6.2f} s wall, {n_due / took:,.0f} cases/s "
            "(each action once)"
        )


def _worker_dispatch(make: Callable[[], Store], queue: Any) -> None:
    mailer = MemoryMailer()
    esc = escalator(make(), mailer)
    while esc.dispatch(limit=500).sent:
        pass
    queue.put(mailer.sent)


def _pg(dsn: str) -> PostgresStore:
    return PostgresStore(dsn, schema="dispatch")


def _lite(path: str) -> SqliteStore:
    return SqliteStore(path)


def dispatch(dsn: str, folder: Path) -> None:
    print(f"outbox dispatch of {MAILS:,} mails by 4 worker processes:")
    ctx = multiprocessing.get_context("fork")
    fresh(dsn, "dispatch").close()
    for label, make in (
        ("PostgreSQL", lambda: _pg(dsn)),
        ("SQLite", lambda: _lite(str(folder / "dispatch.db"))),
    ):
        store = make()
        with store.transaction():
            for i in range(MAILS):
                store.enqueue(
                    OutgoingMail(
                        key=f"bench/{i}",
                        recipient="lead@example.com",
                        sender="escalate@example.com",
                        subject=f"mail {i}",
                        text="x\n",
                        html=None,
                    ),
                    at=T0,
                )
        queue = ctx.Queue()
        procs = [
            ctx.Process(target=_worker_dispatch, args=(make, queue)) for _ in "1234"
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        sent = [m for _ in procs for m in queue.get(timeout=900)]
        took = time.perf_counter() - t0
        for p in procs:
            p.join()
        counts = Counter(sent)
        assert len(counts) == MAILS
        assert set(counts.values()) == {1}
        print(f"  {label}: {MAILS / took:,.0f} mails/s, each sent once")


def sizes(dsn: str, n_history: int = 5_000) -> None:
    """Bytes per open case (the 1M-case schema of the tick figures), and per
    history entry: ``n_history`` cases added through the engine, each with its
    first entry, then changed twice."""
    store = fresh(dsn, "sizes")
    esc = escalator(store)
    for i in range(n_history):
        esc.add_case(
            Case(id=f"h{i:06d}", number=f"H-{i}", created_at=T0, owner="q"),
            by=None,
        )
        for priority in ("high", "low"):
            esc.update_case(f"h{i:06d}", {"priority": priority}, by=None)
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("VACUUM ANALYZE tick_large.cases")
        db.execute("VACUUM ANALYZE sizes.history")
        (cases, n) = db.execute(
            "SELECT pg_total_relation_size('tick_large.cases'), count(*) "
            "FROM tick_large.cases"
        ).fetchone()
        (history, entries) = db.execute(
            "SELECT pg_total_relation_size('sizes.history') "
            "+ pg_total_relation_size('sizes.history_heads'), count(*) "
            "FROM sizes.history"
        ).fetchone()
    print(
        f"size: {cases / n:,.0f} bytes per open case (with its indexes); "
        f"{history / entries:,.0f} bytes per history entry ({entries:,} entries, "
        "with the heads and indexes)"
    )


@contextmanager
def server(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
    else:
        with postgres_server() as started:
            yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn")
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    with server(args.dsn) as dsn, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tick_figures(dsn, folder, args.open, args.due)
        scaling(dsn, args.due)
        dispatch(dsn, folder)
        sizes(dsn)


if __name__ == "__main__":
    main()

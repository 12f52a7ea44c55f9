"""Engine speed on the embedded default store (SQLite, one file).

Run: ``python benchmarks/engine.py``

Prints:

* SQLite history appends per second: one entry per transaction (as a tick
  writes them, a case at a time) and a batch of 100 per transaction;
* ``tick()`` over 100,000 and over 1,000,000 open cases of which 1,000 are due;
  each due case fires one escalation with one mail; beside each, its SQL floor on
  a copy of the same file (the indexed select of the due rows, then one
  transaction per case with the same writes; target: the tick within 2x; each
  the better of two runs on copies, interleaved), and
  the ratio of the two ticks (target: <= 1.2x). The tick commits
  ``PER_COMMIT`` due cases at a time (each in a savepoint), so the same writes
  committed as the tick commits them are printed beside: what the tick's Python
  costs over its SQL;
* outbox dispatch with 2 worker processes and a memory mailer (target: over
  10,000 messages/s), checking that every message was sent exactly once; and the
  same with 2 threads on a ``MemoryStore``, side by side.
"""

from __future__ import annotations

import gc
import multiprocessing
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalate import (
    Case,
    EscalationAction,
    HistoryAction,
    HistoryEntry,
    HistoryHead,
    ManualClock,
    OutgoingMail,
    Rule,
    RuleBook,
    RuleItem,
    Templates,
)
from escalate._instants import utc_from_us
from escalate.adapters._sql import _SAVE_CASE, _UPDATE_CASE, _case_row
from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import PER_COMMIT, Escalator
from escalate.ports import Governed, Store

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
OPEN, DUE = 100_000, 1_000
MAILS = 40_000
BOOK = RuleBook.build(
    [
        Rule(
            name="main",
            items=[
                RuleItem(
                    id="all",
                    actions=[EscalationAction(id="lead", after=H, escalate_to="lead")],
                )
            ],
        )
    ],
    active="main",
)
TEMPLATES = Templates(
    {
        "escalation.subject": "Case {{ case.number }} escalated",
        "escalation.txt": "Case {{ case.number }} needs {{ action.escalate_to }}.\n",
    }
)


class MemoryMailer:
    """Keeps what it is given: the mailer of the dispatch figure."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, mail: OutgoingMail) -> None:
        self.sent.append(mail.message_id)


def appends(folder: Path) -> None:
    store = SqliteStore(folder / "history.db")
    for per_transaction in (1, 100):
        n, head, case = 10_000, HistoryHead("h"), f"h{per_transaction}"
        head = HistoryHead(case)
        entries = []
        for i in range(n):
            entry = HistoryEntry.chained(
                head,
                action=HistoryAction.CASE_MODIFIED,
                at=T0 + timedelta(seconds=i),
                actor="ann",
                details={"changes": {"priority": {"old": "low", "new": "high"}}},
            )
            entries.append(entry)
            head = head.after(entry)
        t0 = time.perf_counter()
        for i in range(0, n, per_transaction):
            with store.transaction():
                store.append_history(entries[i : i + per_transaction])
        took = time.perf_counter() - t0
        print(
            f"history appends, {per_transaction:>3} per transaction: "
            f"{n / took:>9,.0f} entries/s"
        )


def tick(folder: Path, open_cases: int = OPEN) -> float:
    """A tick over ``open_cases`` open cases of which DUE are due, beside its
    SQL floor, each on copies of the same file, interleaved, the better of two
    runs each; returns the tick's time."""
    path = folder / f"tick-{open_cases}.db"
    esc = _escalator(path)
    esc.sync_settings()  # the store knows these settings: no recompute in the tick
    digest = esc.settings.digest
    esc.store.close()  # type: ignore[attr-defined]
    due_us = (T0 + H - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    _load(path, open_cases, due_us, digest)
    floors: dict[int, list[float]] = {1: [], PER_COMMIT: []}
    ticks = []
    for n in range(2):  # floor, batched floor, tick; again
        for per in floors:
            copy = _copy(path, folder / f"floor-{open_cases}-{n}-{per}.db")
            floors[per].append(sql_floor(copy, due_us, digest, per))
            copy.unlink()
        copy = _copy(path, folder / f"tick-{open_cases}-{n}.db")
        worker = _escalator(copy)
        gc.collect()  # what loading left is not the tick's to collect
        t0 = time.perf_counter()
        report = worker.tick()
        ticks.append(time.perf_counter() - t0)
        worker.store.close()  # type: ignore[attr-defined]
        copy.unlink()
        assert report.ok, report.errors[:3]
        assert len(report.fired) == DUE
        assert report.recomputed == 0
    floor, batched, took = min(floors[1]), min(floors[PER_COMMIT]), min(ticks)
    print(
        f"tick over {open_cases:,} open cases, {DUE:,} due: {took:.2f} s "
        f"({took / DUE * 1e3:.2f} ms per due case); its SQL floor {floor:.2f} s "
        f"({floor / DUE * 1e3:.2f} ms): {took / floor:.2f}x (target <= 2x); "
        f"the same writes committed {PER_COMMIT} cases at a time, as the tick does: "
        f"{batched:.3f} s ({batched / DUE * 1e3:.3f} ms, {took / batched:.1f}x)"
    )
    return took


def _escalator(path: Path) -> Escalator:
    return Escalator(
        SqliteStore(path),
        MemoryMailer(),
        ManualClock(T0 + H),
        book=BOOK,
        templates=TEMPLATES,
        addresses={"lead": "lead@example.com"},
    )


def _copy(path: Path, copy: Path) -> Path:
    """A copy of the SQLite file (a file copy could miss what is in the WAL)."""
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


def _load(path: Path, open_cases: int, due_us: int, digest: str) -> None:
    """The open cases written straight into the table: DUE are due now, the
    rest in a week (what add_case would have stored, without its history)."""
    later_us = due_us + 7 * 24 * 3_600_000_000
    db = sqlite3.connect(path)
    with db:
        for start in range(0, open_cases, 100_000):
            rows = []
            for i in range(start, min(start + 100_000, open_cases)):
                created = T0 if i < DUE else T0 + 7 * 24 * H - H
                case = Case(
                    id=f"c{i:07d}", number=f"C-{i}", created_at=created, owner="queue"
                )
                due = utc_from_us(due_us if i < DUE else later_us)
                rows.append(
                    _case_row(case, 1, due, Governed(digest=digest, item="all"))
                )
            db.executemany(_SAVE_CASE, rows)
    db.close()


def sql_floor(path: Path, due_us: int, digest: str, per: int = 1) -> float:
    """What a tick's SQL costs at least: the indexed select of the due rows, then
    one transaction per ``per`` cases with the tick's writes (its fired key, its
    mail, its row saved), through the stdlib driver with the store's settings."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    later = utc_from_us(due_us + 7 * 24 * 3_600_000_000)
    saved = [  # the rows as the tick saves them (made before: not SQL)
        _case_row(
            Case(id=f"c{n:07d}", number=f"C-{n}", created_at=T0, owner="queue"),
            2,
            later,
            Governed(digest=digest, item="all"),
        )
        for n in range(DUE)
    ]
    t0 = time.perf_counter()
    rows = db.execute(
        "SELECT data, version FROM cases WHERE open = 1 AND next_due_us IS NOT "
        "NULL AND next_due_us <= ? ORDER BY next_due_us, id LIMIT 500",
        (due_us,),
    ).fetchall()
    rows += db.execute(
        "SELECT data, version FROM cases WHERE open = 1 AND next_due_us IS NOT "
        "NULL AND next_due_us <= ? ORDER BY next_due_us, id LIMIT 500 OFFSET 500",
        (due_us,),
    ).fetchall()
    for n, (data, version) in enumerate(rows):
        case_id = f"c{n:07d}"
        if n % per == 0:
            db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO fired (key, at_us, skipped) VALUES (?, ?, 0)",
            (f"escalation/{case_id}/all/lead/{due_us}", due_us),
        )
        db.execute(
            "INSERT INTO outbox (message_id, ord, data, next_attempt_us, queued_us) "
            "VALUES (?, (SELECT COALESCE(MAX(ord) + 1, 0) FROM outbox), ?, ?, ?)",
            (f"<{case_id}@example.com>", data, due_us, due_us),
        )
        db.execute(_UPDATE_CASE, (*saved[n][1:], case_id, version))
        if n % per == per - 1 or n == len(rows) - 1:
            db.execute("COMMIT")
    took = time.perf_counter() - t0
    db.close()
    return took


def _fill(store: Store) -> None:
    with store.transaction():
        for i in range(MAILS):
            store.enqueue(
                OutgoingMail(
                    key=f"escalation/c{i}/all/lead/0",
                    recipient="lead@example.com",
                    sender="escalate@example.com",
                    subject=f"Case C-{i} escalated",
                    text=f"Case C-{i} needs lead.\n",
                ),
                at=T0,
            )


def _dispatcher(store: Store) -> tuple[Escalator, MemoryMailer]:
    mailer = MemoryMailer()
    return Escalator(store, mailer, ManualClock(T0), book=BOOK), mailer


def _work(path: Path, results: multiprocessing.Queue[list[str]]) -> None:
    esc, mailer = _dispatcher(SqliteStore(path))
    while esc.dispatch(limit=1_000).sent:
        pass
    results.put(mailer.sent)


def _check(sent: list[list[str]], took: float, what: str) -> None:
    counts = Counter(m for part in sent for m in part)
    assert len(counts) == MAILS, "a message was not sent"
    assert set(counts.values()) == {1}, "a message was sent twice"
    shares = "/".join(f"{len(p):,}" for p in sent)
    print(
        f"dispatch, {what}: {MAILS / took:>9,.0f} messages/s (target > 10,000), "
        f"each exactly once (shares {shares})"
    )


def dispatch_sqlite(folder: Path) -> None:
    path = folder / "outbox.db"
    _fill(SqliteStore(path))
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[list[str]] = ctx.Queue()
    workers = [ctx.Process(target=_work, args=(path, results)) for _ in range(2)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    sent = [results.get() for _ in workers]
    took = time.perf_counter() - t0
    for w in workers:
        w.join()
    _check(sent, took, "SQLite, 2 processes")


def dispatch_memory() -> None:
    store = MemoryStore()
    _fill(store)
    pairs = [_dispatcher(store) for _ in range(2)]

    def work(esc: Escalator) -> None:
        while esc.dispatch(limit=1_000).sent:
            pass

    threads = [threading.Thread(target=work, args=(esc,)) for esc, _ in pairs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    _check([m.sent for _, m in pairs], took, "memory,  2 threads  ")


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        appends(folder)
        small = tick(folder)
        large = tick(folder, 10 * OPEN)
        print(
            f"tick, {10 * OPEN:,} open / {OPEN:,} open at the same {DUE:,} due: "
            f"{large / small:.2f}x (target <= 1.2x)"
        )
        dispatch_sqlite(folder)
        dispatch_memory()


if __name__ == "__main__":
    main()

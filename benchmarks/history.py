"""History chain speed: build and verify a 100,000-entry chain, in memory and
from a SQLite store through the CLI.

Run: ``python benchmarks/history.py``

The entries are what ``apply_change`` writes for a long-lived case (priority and
owner changes with their details). Targets: ``verify`` of entries in memory
under 1.5 s; ``escalate verify --db`` of 100,000 stored entries (10,000 cases
of 10) within 2x the raw floor measured in the same run: reading the rows and
taking SHA-256 over their canonical bytes (the stored texts, concatenated).

Then the SLA events' chains (no target in an issue; for reference): ``audit``
of 200,000 stored SLA events (10,000 cases of 20) beside the floor of reading
their rows and hashing them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from escalate.adapters.sqlite import SqliteStore
from escalate.audit import audit
from escalate.cli import main as cli
from escalate.history import (
    HistoryAction,
    HistoryEntry,
    HistoryHead,
    apply_change,
    create_case,
    verify,
)
from escalate.model import Actor, Case
from escalate.sla import SlaEvent

N = 100_000


def main() -> None:
    t0 = time.perf_counter()
    head = HistoryHead("case-1")
    entries = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(N):
        entry = HistoryEntry.chained(
            head,
            action=HistoryAction.CASE_MODIFIED,
            at=start + timedelta(seconds=i),
            actor=f"user-{i % 50}",
            details={
                "changes": {
                    "priority": {"old": "low", "new": "high"},
                    "owner": {"old": "ann", "new": "bob"},
                }
            },
        )
        entries.append(entry)
        head = head.after(entry)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = verify(entries, head=head)
    took = time.perf_counter() - t0
    assert result.ok
    print(f"{N:,} entries: build {built:.2f} s ({N / built:,.0f} appends/s)")
    print(f"verify with head: {took:.2f} s (target < 1.5 s), {N / took:,.0f} entries/s")
    with tempfile.TemporaryDirectory() as folder:
        stored(Path(folder) / "escalate.db")
    with tempfile.TemporaryDirectory() as folder:
        sla_stored(Path(folder) / "escalate.db")


def stored(db: Path) -> None:
    """escalate verify --db on 100,000 stored entries, beside the raw floor."""
    store = SqliteStore(db)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.transaction():
        for c in range(N // 10):
            change = create_case(
                Case(id=f"case-{c:05}", number=str(c), created_at=start), by=None
            )
            entries, file = list(change.entries), change.file
            for i in range(9):
                change = apply_change(
                    file,
                    {"priority": ("low", "high")[i % 2], "owner": f"user-{i}"},
                    by=Actor(f"user-{c % 50}"),
                    at=start + timedelta(minutes=i, microseconds=c),
                )
                entries += change.entries
                file = change.file
            store.append_history(entries)
    store.close()
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM history").fetchone()[0]
    floors, runs = [], []
    for _ in range(3):  # interleaved: floor, CLI, floor, CLI, ...
        floors.append(floor(db))
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli(["verify", "--db", str(db)])
        runs.append(time.perf_counter() - t0)
        assert code == 0, out.getvalue()
    best_floor, best = min(floors), min(runs)
    print(
        f"escalate verify --db, {rows:,} stored entries in {N // 10:,} cases: "
        f"{best:.2f} s; raw floor (read the rows, SHA-256 over their canonical "
        f"bytes) {best_floor:.2f} s: {best / best_floor:.2f}x (target <= 2x)"
    )


def floor(db: Path) -> float:
    """Read every history row and hash its canonical bytes: nothing else."""
    t0 = time.perf_counter()
    with sqlite3.connect(db) as raw:
        for case_id, seq, action, at, actor, details, prev, digest in raw.execute(
            "SELECT case_id, seq, action, at, actor, details, prev, hash "
            "FROM history ORDER BY case_id, seq"
        ):
            text = (
                f'{{"action":"{action}","actor":"{actor}","at":"{at}",'
                f'"case":"{case_id}","details":{details},"prev":"{prev}",'
                f'"seq":{seq},"v":1}}'
            )
            hashlib.sha256(text.encode()).hexdigest() == digest  # noqa: B015
    return time.perf_counter() - t0


KINDS = ("customer message", "agent reply", "solved", "reopened")


def sla_stored(db: Path) -> None:
    """audit's check of 200,000 stored SLA events, beside the raw floor."""
    store = SqliteStore(db)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cases = N // 10
    with store.transaction():
        for c in range(cases):
            events = [SlaEvent(start, "created"), SlaEvent(start, "status", "Open")]
            events += [
                SlaEvent(start + timedelta(minutes=i), KINDS[i % 4]) for i in range(18)
            ]
            store.append_sla_events(f"case-{c:05}", events)
    floors, runs = [], []
    for _ in range(3):
        floors.append(sla_floor(db))
        t0 = time.perf_counter()
        report = audit(store)
        runs.append(time.perf_counter() - t0)
        assert report.ok
        assert report.sla_checked == cases
    store.close()
    print(
        f"audit of {cases * 20:,} stored SLA events in {cases:,} cases (and their "
        f"empty histories): {min(runs):.2f} s; raw floor (read the rows, SHA-256 "
        f"each) {min(floors):.2f} s: {min(runs) / min(floors):.2f}x"
    )


def sla_floor(db: Path) -> float:
    """Read every SLA event row and chain its hash: nothing else."""
    t0 = time.perf_counter()
    with sqlite3.connect(db) as raw:
        prev, last = "", None
        for case_id, seq, at_us, kind, value in raw.execute(
            "SELECT case_id, seq, at_us, kind, value FROM sla_events "
            "ORDER BY case_id, seq"
        ):
            if case_id != last:
                prev, last = "0" * 64, case_id
            text = (
                f'{{"at":{at_us},"case":"{case_id}","kind":"{kind}","prev":"{prev}",'
                f'"seq":{seq},"v":1,"value":{"null" if value is None else value}}}'
            )
            prev = hashlib.sha256(text.encode()).hexdigest()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()

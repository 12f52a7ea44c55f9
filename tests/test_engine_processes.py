"""Exactly-once across worker processes on one SQLite file."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from pathlib import Path

from escalate.adapters.sqlite import SqliteStore
from escalate.model import Actor
from escalate.timers import ManualClock
from tests.test_engine import T0, case, escalator

CASES = 2_000
STEP = timedelta(hours=4)
STEPS = 42  # a week


def worker(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Tick through the week with a manual clock; report the keys fired."""
    clock = ManualClock(T0)
    esc = escalator(SqliteStore(path), clock)
    fired = []
    errors = []
    for _ in range(STEPS):
        clock.advance(STEP)
        report = esc.tick()
        fired += [f.key for f in report.fired]
        errors += [e for e in report.errors if "changed meanwhile" not in e[1]]
    queue.put((fired, errors))


class TestProcesses:
    def test_four_processes_fire_each_action_once(self, tmp_path: Path) -> None:
        """4 processes tick 2,000 cases through a week: each expected action is
        recorded exactly once and each mail is in the outbox exactly once."""
        path = str(tmp_path / "escalate.db")
        setup = escalator(SqliteStore(path), ManualClock(T0))
        for i in range(CASES):
            setup.add_case(case(i), by=Actor("ann"))
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        workers = [ctx.Process(target=worker, args=(path, queue)) for _ in range(4)]
        for p in workers:
            p.start()
        results = [queue.get(timeout=600) for _ in workers]
        for p in workers:
            p.join(timeout=60)
            assert p.exitcode == 0
        keys = Counter(k for fired, _ in results for k in fired)
        assert [e for _, errors in results for e in errors] == []
        # per case: a warning, the first and the second step
        assert len(keys) == CASES * 3
        assert set(keys.values()) == {1}
        store = SqliteStore(path)
        # mails: warning to the owner, lead, boss, and the new owner
        assert store.pending() == CASES * 4
        assert all(store.is_fired(k) for k in list(keys)[:50])

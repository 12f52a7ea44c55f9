"""A worker killed (SIGKILL) at random points: nothing lost, nothing doubled."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from escalate.adapters.folder import FolderMailer
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.model import Actor
from escalate.ports import Store
from escalate.timers import ManualClock
from tests.test_engine import ADDRESSES, BOOK, OFFICE, T0, TEMPLATES, case

CASES = 10
TRIALS = 50
# per case: a warning (1 mail), the first step (1), the second (2: boss, new owner)
ACTIONS, MAILS = CASES * 3, CASES * 4


def engine_on(store: Store, outbox: Path, progress: object = None) -> Escalator:
    """The trials' escalator on any store, three hours into the cases' life."""
    return Escalator(
        store,
        FolderMailer(outbox),
        ManualClock(T0 + 3 * timedelta(hours=1)),
        book=BOOK,
        calendars={"office": OFFICE},
        templates=TEMPLATES,
        addresses=ADDRESSES,
        progress=progress,  # type: ignore[arg-type]
    )


def work_then_die(esc_of: Callable[[object], Escalator], crash_after: int) -> None:
    """Tick and dispatch until the crash_after-th progress event, then die on
    the spot (``esc_of(progress)`` builds the worker's escalator)."""
    count = [0]

    def progress(step: str) -> None:
        count[0] += 1
        if count[0] >= crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    esc = esc_of(progress)
    esc.tick()
    esc.dispatch(limit=1000)
    os._exit(0)  # finished before the crash point


def engine(path: Path, outbox: Path, progress: object = None) -> Escalator:
    return engine_on(SqliteStore(path), outbox, progress)


def doomed(path: Path, outbox: Path, crash_after: int) -> None:
    work_then_die(lambda progress: engine(path, outbox, progress), crash_after)


class TestCrashes:
    def test_killed_workers_lose_and_double_nothing(self, tmp_path: Path) -> None:
        """50 trials: a worker is killed after a random number of progress events;
        a restarted worker completes the work: each action recorded once, each
        mail queued once, every mail delivered (a resend keeps its Message-ID)."""
        rng = random.Random(20261123)
        ctx = multiprocessing.get_context("fork")
        kills = 0
        for trial in range(TRIALS):
            path, outbox = tmp_path / f"t{trial}.db", tmp_path / f"out{trial}"
            setup = engine(path, outbox)
            for i in range(CASES):
                setup.add_case(case(i), by=Actor("ann"))
            setup.store.close()  # type: ignore[attr-defined]
            # progress events of a whole run: one batch recomputed (the first
            # tick stores the settings), per action fired + queued mails, per
            # case saved + committed, per mail sent, and one batch marked sent
            crash_after = rng.randint(1, 1 + ACTIONS + MAILS + 2 * CASES + MAILS + 1)
            p = ctx.Process(target=doomed, args=(path, outbox, crash_after))
            p.start()
            p.join(timeout=120)
            kills += p.exitcode == -signal.SIGKILL
            survivor = engine(path, outbox)
            survivor.tick()
            survivor.clock.advance(survivor.lease)  # type: ignore[attr-defined]  # leases lapse
            survivor.dispatch(limit=1000)
            store = survivor.store
            assert survivor.tick().fired == ()
            db = store._db  # type: ignore[attr-defined]
            (fired,) = db.execute("SELECT COUNT(*) FROM fired").fetchone()
            (queued,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            assert (fired, queued) == (ACTIONS, MAILS), trial
            assert store.pending() == 0
            assert len(list(outbox.glob("*.eml"))) == MAILS  # one file per Message-ID
        assert kills >= TRIALS * 0.9  # almost every trial really died mid-way

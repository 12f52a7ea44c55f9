"""Crash trials on PostgreSQL: four worker processes on one schema, each killed
(SIGKILL) at a random point, then restarted: nothing lost, nothing doubled."""

from __future__ import annotations

import multiprocessing
import random
import signal
from pathlib import Path

import psycopg

from escalate.adapters.postgres import PostgresStore
from escalate.engine import Escalator
from escalate.model import Actor
from tests.test_engine import case
from tests.test_engine_crash import (
    ACTIONS,
    CASES,
    MAILS,
    TRIALS,
    engine_on,
    work_then_die,
)

WORKERS = 4
# progress events of one worker doing everything alone (see test_engine_crash)
EVENTS = 1 + ACTIONS + MAILS + 2 * CASES + MAILS + 1


def engine(dsn: str, schema: str, outbox: Path, progress: object = None) -> Escalator:
    return engine_on(PostgresStore(dsn, schema=schema), outbox, progress)


def doomed(dsn: str, schema: str, outbox: Path, crash_after: int) -> None:
    work_then_die(lambda progress: engine(dsn, schema, outbox, progress), crash_after)


class TestCrashes:
    def test_killed_workers_lose_and_double_nothing(
        self, postgres_dsn: str, tmp_path: Path
    ) -> None:
        """50 trials of 4 workers killed at random points, then restarted: each
        action recorded once, each mail queued once and delivered under one
        Message-ID, every history verifies."""
        rng = random.Random(20261129)
        ctx = multiprocessing.get_context("fork")
        kills = 0
        for trial in range(TRIALS):
            schema, outbox = f"crash{trial}", tmp_path / f"out{trial}"
            setup = engine(postgres_dsn, schema, outbox)
            for i in range(CASES):
                setup.add_case(case(i), by=Actor("ann"))
            setup.store.close()  # type: ignore[attr-defined]
            workers = [
                ctx.Process(
                    target=doomed,
                    # the work is shared (each takes the due cases the others
                    # do not hold): each worker sees about a quarter of the
                    # events, so crash points are drawn from the first quarter
                    args=(
                        postgres_dsn,
                        schema,
                        outbox,
                        rng.randint(1, EVENTS // WORKERS),
                    ),
                )
                for _ in range(WORKERS)
            ]
            for p in workers:
                p.start()
            for p in workers:
                p.join(timeout=120)
                kills += p.exitcode == -signal.SIGKILL
            survivor = engine(postgres_dsn, schema, outbox)
            survivor.tick()
            survivor.clock.advance(survivor.lease)  # type: ignore[attr-defined]
            survivor.dispatch(limit=1000)
            assert survivor.tick().fired == (), trial
            with psycopg.connect(postgres_dsn, autocommit=True) as db:
                (fired,) = db.execute(f"SELECT COUNT(*) FROM {schema}.fired").fetchone()
                (queued,) = db.execute(
                    f"SELECT COUNT(*) FROM {schema}.outbox"
                ).fetchone()
            assert (fired, queued) == (ACTIONS, MAILS), trial
            assert survivor.store.pending() == 0, trial
            assert len(list(outbox.glob("*.eml"))) == MAILS, trial
            assert all(survivor.verify(f"c{i}").ok for i in range(CASES)), trial
            survivor.store.close()  # type: ignore[attr-defined]
        assert kills >= TRIALS * WORKERS * 0.8  # most workers really died mid-way

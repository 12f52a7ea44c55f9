"""When a worker wakes: the earliest due instant, at most the poll interval, and
earlier when a store announces an earlier due instant (driven by a manual clock)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from escalate.adapters.memory import MemoryStore
from escalate.cli import _sleep
from escalate.config import example_config
from escalate.errors import StoreError
from escalate.model import Actor
from escalate.timers import ManualClock
from tests.test_engine import T0, case, escalator

H = timedelta(hours=1)


class FakeListener:
    """Advances the manual clock by each wait; announces ``due`` once, after
    ``after`` of waiting."""

    def __init__(self, clock: ManualClock, due: datetime | None, after: timedelta):
        self.clock, self.due, self.after = clock, due, after
        self.waited = timedelta(0)
        self.calls = 0

    def wait(self, timeout: timedelta) -> datetime | None:
        self.calls += 1
        step = min(timeout, max(self.after - self.waited, timedelta(0)) or timeout)
        self.clock.advance(step)
        self.waited += step
        if self.due is not None and self.waited >= self.after:
            due, self.due = self.due, None
            return due
        return None

    def close(self) -> None:
        pass


def test_next_wake_is_the_earliest_due_instant_or_the_poll_interval() -> None:
    clock = ManualClock(T0)
    esc = escalator(MemoryStore(), clock)
    assert esc.next_wake(H) == T0 + H  # nothing due
    esc.add_case(case(1), by=Actor("ann"))  # its first step: a warning at 09:30
    due = esc.next_wake(2 * H)
    assert T0 < due < T0 + 2 * H
    assert esc.next_wake(timedelta(minutes=10)) == T0 + timedelta(minutes=10)
    clock.advance(3 * H)
    assert esc.next_wake(H) == clock.now()  # overdue: at once


def test_sleep_until_the_poll_interval_without_work() -> None:
    clock = ManualClock(T0)
    esc = escalator(MemoryStore(), clock)
    listener = FakeListener(clock, None, timedelta(0))
    _sleep(esc, H, threading.Event(), listener)
    assert clock.now() == T0 + H
    assert listener.calls == 3600  # a look at the stop flag each second


def test_an_announced_earlier_due_instant_wakes_the_worker() -> None:
    """A case saved elsewhere, due in 5 minutes, announced after 2 minutes of
    an hour's sleep: the worker wakes at its due instant, not after the hour."""
    clock = ManualClock(T0)
    esc = escalator(MemoryStore(), clock)
    due = T0 + timedelta(minutes=5)
    listener = FakeListener(clock, due, timedelta(minutes=2))
    _sleep(esc, H, threading.Event(), listener)
    assert clock.now() == due


def test_a_stop_ends_the_sleep() -> None:
    clock = ManualClock(T0)
    esc = escalator(MemoryStore(), clock)
    stop = threading.Event()
    stop.set()
    _sleep(esc, H, stop, FakeListener(clock, None, timedelta(0)))
    assert clock.now() == T0


def test_run_goes_on_after_a_store_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A tick that fails with a StoreError (the database went away) is logged,
    and the worker goes on with the next tick; the exit code says it failed."""
    from escalate import cli

    calls = []

    def flaky(esc: object, out: object, shown: bool) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("PostgreSQL: the connection was lost")
        return True

    monkeypatch.setattr(cli, "_tick_once", flaky)
    monkeypatch.setattr(cli, "_sleep", lambda *args: None)
    config = str(example_config())
    db = str(tmp_path / "run.db")
    code = cli.main(["run", "--config", config, "--db", db, "--max-ticks", "2"])
    assert (code, len(calls)) == (1, 2)
    assert "stopped after 2 ticks" in capsys.readouterr().out

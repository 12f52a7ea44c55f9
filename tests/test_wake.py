"""When a worker wakes: the earliest due instant, at most the poll interval, and
earlier when a store announces an earlier due instant (driven by a manual clock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from escalate.adapters.memory import MemoryStore
from escalate.errors import StoreError
from escalate.model import Actor
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from escalate.worker import Backoff, Worker, _Listening
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


class ManualStop:
    """A stop flag whose waits pass on the manual clock (no real sleep)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.set_ = False

    def is_set(self) -> bool:
        return self.set_

    def wait(self, timeout: float) -> bool:
        self.clock.advance(timedelta(seconds=timeout))
        return self.set_


def sleeper(
    clock: ManualClock, listen: object, stop: ManualStop | None = None
) -> tuple[Worker, _Listening, object]:
    """A worker on a memory store with the listener ``listen`` makes."""
    store = MemoryStore()
    esc = escalator(store, clock)
    worker = Worker(
        lambda: store,
        lambda s: esc,
        RecordingMailer(),
        stop or ManualStop(clock),
        every=H,
        listen=listen,  # type: ignore[arg-type]
        clock=clock,
    )
    return worker, _Listening(store, worker, Backoff()), esc


def test_sleep_until_the_poll_interval_without_work() -> None:
    clock = ManualClock(T0)
    listener = FakeListener(clock, None, timedelta(0))
    worker, listening, esc = sleeper(clock, lambda store: listener)
    worker._sleep(esc, listening)  # type: ignore[arg-type]
    assert clock.now() == T0 + H
    assert listener.calls == 3600  # a look at the stop flag each second


def test_an_announced_earlier_due_instant_wakes_the_worker() -> None:
    """A case saved elsewhere, due in 5 minutes, announced after 2 minutes of
    an hour's sleep: the worker wakes at its due instant, not after the hour."""
    clock = ManualClock(T0)
    due = T0 + timedelta(minutes=5)
    listener = FakeListener(clock, due, timedelta(minutes=2))
    worker, listening, esc = sleeper(clock, lambda store: listener)
    worker._sleep(esc, listening)  # type: ignore[arg-type]
    assert clock.now() == due


def test_a_stop_ends_the_sleep() -> None:
    clock = ManualClock(T0)
    stop = ManualStop(clock)
    stop.set_ = True
    listener = FakeListener(clock, None, timedelta(0))
    worker, listening, esc = sleeper(clock, lambda store: listener, stop)
    worker._sleep(esc, listening)  # type: ignore[arg-type]
    assert clock.now() == T0


class LostListener(FakeListener):
    """Its connection is terminated at the first wait."""

    def wait(self, timeout: timedelta) -> datetime | None:
        raise StoreError("PostgreSQL: listening failed: terminating connection")


def test_a_lost_listener_is_opened_again_and_a_tick_runs_after_it() -> None:
    """The listener never reconnected: "PostgreSQL: listening failed", exit 1.
    Now it polls meanwhile, opens again after a backoff, and the sleep ends at
    once after the reconnect, so that a tick catches what was announced while
    nobody listened."""
    clock = ManualClock(T0)
    opened: list[FakeListener] = []

    def listen(store: object) -> FakeListener:
        made = LostListener if not opened else FakeListener
        opened.append(made(clock, None, timedelta(0)))
        return opened[-1]

    worker, listening, esc = sleeper(clock, listen)
    worker._sleep(esc, listening)  # type: ignore[arg-type]
    assert len(opened) == 2  # lost once, opened again
    assert clock.now() == T0 + timedelta(seconds=1)  # woke at the reconnect, not H
    assert worker.metrics.value("escalate_worker_errors_total", part="listen") == 1


def test_a_listener_that_cannot_be_opened_is_polled_around() -> None:
    clock = ManualClock(T0)

    def listen(store: object) -> FakeListener:
        raise StoreError("PostgreSQL: cannot listen: too many clients")

    worker, listening, esc = sleeper(clock, listen)
    worker._sleep(esc, listening)  # type: ignore[arg-type]
    assert clock.now() == T0 + H  # slept its interval, polling
    assert worker.metrics.value("escalate_worker_errors_total", part="listen") >= 2


def test_run_goes_on_after_a_store_error() -> None:
    """A tick that fails with a StoreError (the database went away) is logged,
    and the worker goes on with the next tick; it reports that it failed."""
    clock = ManualClock(T0)
    store = MemoryStore()
    esc = escalator(store, clock)
    calls = []
    tick = esc.tick

    def flaky() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("PostgreSQL: the connection was lost")
        return tick()

    esc.tick = flaky  # type: ignore[method-assign]
    worker = Worker(
        lambda: store,
        lambda s: esc,
        RecordingMailer(),
        ManualStop(clock),
        every=timedelta(seconds=1),
        max_ticks=2,
        clock=clock,
    )
    assert worker.run() is False
    assert (len(calls), worker.ticks) == (3, 2)
    assert worker.metrics.value("escalate_worker_errors_total", part="tick") == 1

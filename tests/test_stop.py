"""How ``escalate run`` stops: a stop signal ends a wait at once, whichever
thread it lands on and whenever it lands, and everything is put back after."""

from __future__ import annotations

import linecache
import os
import signal
import sys
import threading
import time

from escalate._stop import StopOnSignal

# A wait that a missed signal would leave running: a failing test fails after it,
# a passing one never reaches it.
MISSED = 20.0


def test_a_signal_before_the_wait_ends_it_at_once() -> None:
    with StopOnSignal() as stop:
        assert not stop.is_set()
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
        started = time.monotonic()
        assert stop.wait(MISSED)
        assert time.monotonic() - started < MISSED


def test_a_signal_on_another_thread_ends_the_wait() -> None:
    """The kernel may hand a process's signal to any of its threads (a metrics
    server's, say). A wait blocked in a lock is not interrupted by a signal that
    lands elsewhere, so it slept on until its timeout; the wakeup socket ends it."""

    main = threading.get_ident()

    def signal_this_thread() -> None:
        deadline = time.monotonic() + MISSED
        while not _waiting(main) and time.monotonic() < deadline:
            os.sched_yield()
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    with StopOnSignal() as stop:
        other = threading.Thread(target=signal_this_thread)
        other.start()
        started = time.monotonic()
        assert stop.wait(MISSED)
        assert time.monotonic() - started < MISSED
        other.join()


def _waiting(thread: int) -> bool:
    """Whether ``thread`` is at its blocking call (a ``select``, or a lock's
    blocking ``acquire`` as in ``threading.Event.wait``): from there no step of
    Python runs before it blocks, so a signal that lands on another thread is
    seen only through the wakeup socket."""
    frame = sys._current_frames().get(thread)
    if frame is None:
        return False
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return "select(" in line or "acquire(True" in line


def test_without_a_signal_the_wait_lasts_its_timeout() -> None:
    with StopOnSignal() as stop:
        assert not stop.wait(0.0)
        assert not stop.wait(-1.0)  # a wake instant already passed: no wait
        assert not stop.is_set()


def test_blocked_signals_are_unblocked_while_it_runs() -> None:
    """A parent may start the worker with SIGINT blocked (masks survive exec);
    the worker would never see it. They are unblocked inside, and the mask put
    back on the way out."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with StopOnSignal() as stop:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set())
            assert signal.SIGINT not in blocked
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.wait(MISSED)
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def test_handlers_and_the_wakeup_fd_are_put_back() -> None:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopOnSignal():
        assert signal.getsignal(signal.SIGTERM) is not handlers[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert signal.set_wakeup_fd(-1) == -1  # none was set before

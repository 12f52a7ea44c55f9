"""``escalate run``: a worker that keeps working, whatever its database and its
mail server do.

Two loops run side by side, each on a store connection of its own:

* the **ticks** (this thread): a tick, a heartbeat (``TickLog.record_heartbeat``:
  worker id, host, pid, last tick), then a wait until the earliest due instant
  (at most ``every``), woken early on PostgreSQL by a ``LISTEN`` announcement;
* the **dispatch** (a thread of its own, :class:`~escalate.delivery.Dispatcher`):
  sends what is queued, woken by each tick, so that a slow or dead mail server
  never holds up an escalation, and a due case fires on time while mail is in
  flight.

Every store access of either loop (start-up, tick, heartbeat, next wake,
listening, dispatch) is inside the same handling: a :class:`StoreError` (a
server restarted or not up yet, a terminated backend, every connection slot
taken, a statement timeout, a full disk) is logged and counted
(``escalate_worker_errors_total``), and the loop goes on after a capped
backoff (1 s doubling to 30 s, reset by the next success); a store that could
not be opened is opened again. A lost listener is opened again the same way,
and a tick runs after every reconnect, so that nothing announced meanwhile is
missed. The worker reports through logging only (``escalate.worker``), never on
standard output.

This module reads the wall clock and the process's identity, and runs threads:
it is outside the pure core.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Final, Protocol

from escalate._instants import require_duration, to_us
from escalate.delivery import DeliveryPolicy, Dispatcher, check_lease
from escalate.engine import Escalator, TickReport
from escalate.errors import ConfigError, EscalateError, StoreError
from escalate.mail import Mailer
from escalate.metrics import Metrics
from escalate.ports import Heartbeat, Store
from escalate.timers import Clock, SystemClock

__all__ = ["Backoff", "Worker", "tick_summary", "worker_id"]

_log: Final = logging.getLogger("escalate.worker")
_SEND_BATCH: Final = 10  # mails claimed at a time: small, so claims stay short


class Stop(Protocol):
    """What tells the worker to stop (``StopOnSignal``, or a threading.Event)."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


class Waiter(Protocol):
    """A listener: the earliest due instant announced within a timeout."""

    def wait(self, timeout: timedelta) -> datetime | None: ...
    def close(self) -> None: ...


def worker_id(clock: Clock | None = None) -> str:
    """``host:pid`` and the start-up instant in µs (unique across restarts)."""
    at = (clock or SystemClock()).now()
    return f"{socket.gethostname()}:{os.getpid()}:{to_us(at, 'at')}"


class Backoff:
    """Capped exponential waits: ``first``, doubling, at most ``cap``; a
    success starts it over."""

    def __init__(
        self,
        first: timedelta = timedelta(seconds=1),
        cap: timedelta = timedelta(seconds=30),
    ) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> timedelta:
        """The wait before the next try (and the one after it doubles)."""
        wait = self._next
        self._next = min(self._next * 2, self.cap)
        return wait

    def reset(self) -> None:
        self._next = self.first


def tick_summary(report: TickReport, sent: int | None = None, failed: int = 0) -> str:
    """A tick in one line (then the change, if any, and each error)."""
    items = [
        f"{report.cases} due cases",
        f"{len(report.fired)} actions fired",
        f"{len(report.leads)} lead steps",
        f"{len(report.reminded)} task reminders",
        *([f"{len(report.sla)} SLA warnings and breaches"] if report.sla else []),
        *([] if sent is None else [f"{sent} mails sent"]),
    ]
    text = f"tick at {report.at.isoformat()}: " + ", ".join(items)
    if failed:
        text += f", {failed} mails failed (kept for a retry)"
    if report.change is not None:
        text += "\nthe configuration changed:" + "".join(
            f"\n  {line}" for line in report.change.lines()
        )
    for subject, message in report.errors:
        text += f"\nerror: {subject}: {message}"
    return text


class Worker:
    """Ticks and dispatch side by side, until ``stop`` is set or ``max_ticks``.

    Args:
        open_store: Opens a store connection (called again after a failure,
            and once for the dispatch thread).
        build: The escalator of a store (its settings, templates, addresses).
        mailer: Sends the mails.
        stop: Set to stop (the tick under way ends first; a mail in flight is
            finished within its deadline).
        every: The longest wait between two ticks.
        listen: Opens a listener on the store (PostgreSQL), or None to poll.
        max_ticks: Stop after this many ticks (the queue is sent out first).
        retry_start: Wait for a store that cannot be opened yet (a database
            server not up); False: the first failure to open it is raised.
        delivery: The delivery policy; lease: a claim's lease.
        metrics: Where both loops count.
        clock: The real time (a test's own clock otherwise).
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        build: Callable[[Store], Escalator],
        mailer: Mailer,
        stop: Stop,
        *,
        every: timedelta,
        listen: Callable[[Store], Waiter | None] | None = None,
        max_ticks: int | None = None,
        delivery: DeliveryPolicy | None = None,
        lease: timedelta = timedelta(minutes=5),
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        retry_start: bool = True,
    ) -> None:
        self.open_store = open_store
        self.build = build
        self.mailer = mailer
        self.stop = stop
        self.every = require_duration(every, "every")
        if every <= timedelta(0):
            raise ConfigError(f"every: expected a positive duration, got {every!r}")
        if max_ticks is not None and (
            not isinstance(max_ticks, int)
            or isinstance(max_ticks, bool)
            or max_ticks < 1
        ):
            raise ConfigError(f"max_ticks: expected 1 or more, got {max_ticks!r}")
        self.listen = listen
        self.max_ticks = max_ticks
        self.delivery = delivery or DeliveryPolicy()
        self.lease = check_lease(lease, self.delivery)
        self.retry_start = retry_start
        self.metrics = metrics or Metrics()
        self.clock = clock or SystemClock()
        self.backoff = backoff
        self.id = worker_id(self.clock)
        self.started_at = self.clock.now()
        self.ticks = 0
        self.ok = True
        self._wake = threading.Event()  # a tick queued mail: send it
        self._draining = threading.Event()  # the ticks are over: send what is due
        self._done = threading.Event()  # stop now

    # -- the tick loop ----------------------------------------------------------------

    def run(self) -> bool:
        """Run until stopped; whether every tick handled everything."""
        sender = threading.Thread(target=self._send_loop, name="escalate-dispatch")
        sender.daemon = True
        sender.start()
        ended = False
        try:
            self._tick_loop()
            ended = True
        finally:
            if self.stop.is_set() or not ended:  # stopped, or the ticks failed
                self._done.set()
            self._draining.set()
            self._wake.set()
            sender.join(timeout=(2 * self.delivery.send_deadline).total_seconds() + 5)
        _log.info("stopped after %d ticks", self.ticks, extra={"ticks": self.ticks})
        return self.ok

    def _tick_loop(self) -> None:
        esc: Escalator | None = None
        listener: _Listening | None = None
        wait = self.backoff()
        try:
            while not self.stop.is_set():
                part = "start" if esc is None else "tick"
                try:
                    if esc is None:
                        esc = self._start()
                        listener = _Listening(esc.store, self, self.backoff())
                    part = "tick"
                    self._tick(esc)
                    wait.reset()
                    if self.max_ticks is not None and self.ticks >= self.max_ticks:
                        return
                    part = "wait"
                    assert listener is not None
                    self._sleep(esc, listener)
                except StoreError as e:
                    if esc is None and not self.retry_start:
                        raise
                    self.ok = False
                    self.metrics.inc("escalate_worker_errors_total", part=part)
                    pause = wait.next()
                    _log.error(
                        "%s failed, tried again in %s: %s",
                        part,
                        pause,
                        e,
                        extra={"part": part, "error": str(e)},
                    )
                    self.stop.wait(pause.total_seconds())
        finally:
            if listener is not None:
                listener.close()
            if esc is not None:
                _close(esc.store)

    def _start(self) -> Escalator:
        """Open the store and build the escalator (a server not up yet is
        waited for by the loop's backoff)."""
        store = self.open_store()
        try:
            esc = self.build(store)
        except BaseException:
            _close(store)
            raise
        _log.info(
            "running as %s: a tick at least every %s",
            self.id,
            self.every,
            extra={"worker": self.id},
        )
        return esc

    def _tick(self, esc: Escalator) -> None:
        report = esc.tick()
        self.ticks += 1
        self.ok = report.ok and self.ok
        self._wake.set()
        esc.store.record_heartbeat(
            Heartbeat(
                worker=self.id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
                at=report.at,
            )
        )
        level = logging.WARNING if report.errors else logging.INFO
        _log.log(
            level,
            "%s",
            tick_summary(report),
            extra={
                "at": report.at.isoformat(),
                "cases": report.cases,
                "fired": len(report.fired),
                "errors": len(report.errors),
            },
        )

    def _sleep(self, esc: Escalator, listener: _Listening) -> None:
        """Until the earliest due instant (at most ``every``); an announcement
        of an earlier one, or a listener opened again, wakes it earlier."""
        wake = esc.next_wake(self.every)
        while not self.stop.is_set():
            left = wake - self.clock.now()
            if left <= timedelta(0):
                return
            announced = listener.wait(min(left, timedelta(seconds=1)))
            if announced is not None and announced < wake:
                wake = announced

    # -- the dispatch loop ------------------------------------------------------------

    def _send_loop(self) -> None:
        dispatcher: Dispatcher | None = None
        wait = self.backoff()
        while not self._done.is_set():
            self._wake.clear()  # what a tick queues from here on wakes the wait
            try:
                if dispatcher is None:
                    dispatcher = Dispatcher(
                        self.open_store(),
                        self.mailer,
                        self.clock,
                        lease=self.lease,
                        policy=self.delivery,
                        metrics=self.metrics,
                        worker=self.id,
                    )
                report = dispatcher.dispatch(limit=_SEND_BATCH, stop=self._done.is_set)
                wait.reset()
                busy = report.sent or report.failed or report.dead or report.released
                if busy:
                    continue
                if self._draining.is_set():
                    return
                self._wake.wait(self.every.total_seconds())
            except EscalateError as e:
                self.metrics.inc("escalate_worker_errors_total", part="dispatch")
                pause = wait.next()
                _log.error(
                    "dispatch failed, tried again in %s: %s",
                    pause,
                    e,
                    extra={"part": "dispatch", "error": str(e)},
                )
                if isinstance(e, StoreError) and dispatcher is not None:
                    _close(dispatcher.store)
                    dispatcher = None  # opened afresh
                if self._draining.is_set():  # the ticks are over: so is sending
                    return
                self._done.wait(pause.total_seconds())
        if dispatcher is not None:
            _close(dispatcher.store)
        close = getattr(self.mailer, "close", None)
        if callable(close):
            close()


class _Listening:
    """The worker's listener, opened again with backoff when it is lost; a
    reconnect answers "due now", so that a tick runs after it."""

    def __init__(self, store: Store, worker: Worker, backoff: Backoff) -> None:
        self.store = store
        self.worker = worker
        self.backoff = backoff
        self.listener: Waiter | None = None
        self.retry_at: datetime | None = None
        self.polling = worker.listen is None
        if not self.polling:
            self._open()

    def _open(self) -> bool:
        assert self.worker.listen is not None
        try:
            self.listener = self.worker.listen(self.store)
        except StoreError as e:
            self._failed(e)
            return False
        if self.listener is None:
            self.polling = True
            return False
        self.backoff.reset()
        self.retry_at = None
        return True

    def _failed(self, e: StoreError) -> None:
        self.worker.metrics.inc("escalate_worker_errors_total", part="listen")
        pause = self.backoff.next()
        self.retry_at = self.worker.clock.now() + pause
        _log.error(
            "listening failed, listened again in %s (polling meanwhile): %s",
            pause,
            e,
            extra={"part": "listen", "error": str(e)},
        )

    def wait(self, timeout: timedelta) -> datetime | None:
        now = self.worker.clock.now()
        if self.listener is None:
            retry = None if self.polling else self.retry_at
            if retry is not None and now >= retry and self._open():
                _log.info("listening again", extra={"part": "listen"})
                return now  # a tick now: nothing announced meanwhile is missed
            self.worker.stop.wait(timeout.total_seconds())
            return None
        try:
            return self.listener.wait(timeout)
        except StoreError as e:
            self.close()
            self._failed(e)
            return None

    def close(self) -> None:
        if self.listener is not None:
            with suppress(Exception):  # a broken connection closes as it can
                self.listener.close()
            self.listener = None


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            _log.debug("closing the store failed", exc_info=True)

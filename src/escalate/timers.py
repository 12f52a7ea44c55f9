"""Clocks, pausable SLA timers and two-phase timers.

Semantics and invariants (``docs/timers.md`` shows each with examples):

* A :class:`Clock` tells the time; :class:`SystemClock` is the one place in the
  library that reads the wall clock, :class:`ManualClock` is moved by hand and never
  goes backwards unless asked.
* An :class:`SlaTimer` is a frozen value; every operation returns a new timer. It
  counts business time (its :class:`~escalate.hours.BusinessHours`) while it is
  running; paused spans count zero, even when open.
* Events (``pause``, ``resume``, ``stop``, ``cancel``, ``reset``, ``retarget``,
  ``with_hours``) carry their instant and must come in time order (equal instants
  are fine); a timer may be started, and events recorded, retroactively.
* ``stop`` ends the timer *met* if counted time < target, else *breached* (so a
  stop exactly at ``due_at`` has breached). ``cancel`` ends it with no outcome.
  ``reset`` starts counting from zero again, forgetting pauses; allowed unless
  cancelled.
* While the target is not reached, ``due_at == hours.add(last_resume, target -
  counted)``; once reached, ``due_at`` is the instant it was reached (after a
  ``retarget`` below the counted time, the instant of the retarget). ``due_at`` is
  None while paused or ended, and when the deadline lies beyond the business
  hours' ten-year horizon (a calendar that never opens).
* Thresholds are exact fractions of the target; a threshold is *crossed* at the
  earliest instant at which counted time >= fraction × target (rounded up to the
  microsecond). Each crossing is an event that happens once: ``crossed(a, b) +
  crossed(b, c) == crossed(a, c)``. A retarget that brings counted time above a
  threshold crosses it at the retarget instant; one that brings counted time below
  a crossed threshold arms it again, and so does a reset for every threshold.

The timer keeps integer microseconds and recomputes its deadline and its future
threshold crossings on each event, so that ``due_at`` and ``crossed`` are cheap.
"""

from __future__ import annotations

import enum
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from escalate._instants import (
    fraction_of,
    from_us,
    require_aware,
    require_duration,
    to_us,
    us_of,
)
from escalate.errors import ConfigError, InvalidOperation, ScheduleError, WrongTypeError
from escalate.hours import BusinessHours

__all__ = [
    "Clock",
    "ManualClock",
    "Outcome",
    "Phase",
    "SlaTimer",
    "SystemClock",
    "TIMER_TRANSITIONS",
    "TimerEvent",
    "TimerState",
    "TwoPhaseTimer",
    "parse_thresholds",
    "stopwatch",
]


# -- clocks -------------------------------------------------------------------


@runtime_checkable
class Clock(Protocol):
    """Something that tells the time: ``now()`` returns an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time. The only place in escalate that reads the wall clock."""

    def now(self) -> datetime:
        """The current instant, in UTC."""
        return datetime.now(UTC)  # SystemClock: the one sanctioned wall-clock read

    def __repr__(self) -> str:
        return "SystemClock()"


def stopwatch() -> int:
    """Nanoseconds on the monotonic clock, for resource deadlines only (how long
    a template render may run); never for business time, which comes from a
    :class:`Clock`. The other sanctioned read of real time, beside SystemClock."""
    return time.monotonic_ns()  # stopwatch: a deadline, not an instant


class ManualClock:
    """A clock moved by hand, for tests and simulations.

    It refuses to go backwards unless asked explicitly, so a test cannot travel
    back in time by accident. Safe to share between threads.
    """

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start").astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The clock's current instant, in UTC."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (>= 0) and return the new instant.

        Raises:
            InvalidOperation: ``delta`` is negative.
        """
        require_duration(delta, "delta")
        if delta < timedelta(0):
            raise InvalidOperation(
                f"advance: delta: expected a duration >= 0, got {delta!r}; "
                "use set(t, backwards=True) to go back"
            )
        with self._lock:
            self._now = self._now + delta
            return self._now

    def set(self, t: datetime, *, backwards: bool = False) -> datetime:
        """Jump to ``t`` and return it (in UTC).

        Raises:
            InvalidOperation: ``t`` is before the current instant and
                ``backwards`` is not true.
        """
        new = require_aware(t, "t").astimezone(UTC)
        with self._lock:
            if new < self._now and not backwards:
                raise InvalidOperation(
                    f"set: t: {t.isoformat()} is before the clock's current "
                    f"instant {self._now.isoformat()}; pass backwards=True to go back"
                )
            self._now = new
            return new

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


# -- states and events ----------------------------------------------------------


class TimerState(enum.Enum):
    """Where a timer is."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class TimerEvent(enum.Enum):
    """What can happen to a timer."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    CANCEL = "cancel"
    RESET = "reset"
    RETARGET = "retarget"
    WITH_HOURS = "with_hours"


class Outcome(enum.Enum):
    """How a stopped timer ended."""

    MET = "met"
    BREACHED = "breached"


_S, _E = TimerState, TimerEvent

# The state machine, in one place. A pair not listed is refused with the reason
# in _REFUSALS. ``reset`` restarts counting from zero; ``retarget`` and
# ``with_hours`` keep the counted time and recompute the deadline.
TIMER_TRANSITIONS: Final[dict[tuple[TimerState, TimerEvent], TimerState]] = {
    (_S.RUNNING, _E.PAUSE): _S.PAUSED,
    (_S.RUNNING, _E.STOP): _S.STOPPED,
    (_S.RUNNING, _E.CANCEL): _S.CANCELLED,
    (_S.RUNNING, _E.RESET): _S.RUNNING,
    (_S.RUNNING, _E.RETARGET): _S.RUNNING,
    (_S.RUNNING, _E.WITH_HOURS): _S.RUNNING,
    (_S.PAUSED, _E.RESUME): _S.RUNNING,
    (_S.PAUSED, _E.STOP): _S.STOPPED,
    (_S.PAUSED, _E.CANCEL): _S.CANCELLED,
    (_S.PAUSED, _E.RESET): _S.RUNNING,
    (_S.PAUSED, _E.RETARGET): _S.PAUSED,
    (_S.PAUSED, _E.WITH_HOURS): _S.PAUSED,
    (_S.STOPPED, _E.RESET): _S.RUNNING,
}

# The same, by the members' values: a lookup that hashes texts, not members.
_ALLOWED: Final = frozenset((s._value_, e._value_) for s, e in TIMER_TRANSITIONS)

_REFUSALS: Final = {
    _S.RUNNING: "the timer is running already",
    _S.PAUSED: "the timer is paused already",
    _S.STOPPED: "the timer has stopped (reset it to count again)",
    _S.CANCELLED: "the timer was cancelled",
}


def parse_thresholds(
    values: Iterable[object], *, name: str = "thresholds"
) -> tuple[Fraction, ...]:
    """Exact, sorted, distinct fractions of a target.

    An ``int`` is a percentage (75 is 3/4), a ``Fraction`` is taken as it is, a
    float is read through its text (``Fraction(str(0.75))``). Each must be > 0.

    Raises:
        ConfigError: A value that is not a number, or not > 0.
    """
    if type(values) is tuple and all(type(v) is int for v in values):
        known = _PERCENTS.get(values)  # percentages as literals: parsed once
        if known is None:
            known = _parse(values, name)
            if len(_PERCENTS) < 256:
                _PERCENTS[values] = known
        return known
    return _parse(values, name)


_PERCENTS: Final[dict[tuple[int, ...], tuple[Fraction, ...]]] = {}


def _parse(values: Iterable[object], name: str) -> tuple[Fraction, ...]:
    out: set[Fraction] = set()
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
            raise ConfigError(
                f"{name}[{i}]: expected a percentage (int) or a Fraction, got {value!r}"
            )
        if isinstance(value, Fraction):
            f = value
        elif isinstance(value, int):
            f = Fraction(value, 100)
        else:
            f = Fraction(str(value))
        if f <= 0:
            raise ConfigError(f"{name}[{i}]: expected a threshold > 0, got {value!r}")
        out.add(f)
    return tuple(sorted(out))


# -- the SLA timer ------------------------------------------------------------------


@attrs.frozen
class _Segment:
    """A closed running span of the current run, with the hours it counted by."""

    start: int
    end: int
    hours: BusinessHours


@attrs.frozen(kw_only=True, repr=False, slots=False)  # (a __dict__: see _evolve)
class SlaTimer:
    """A pausable business-time timer with a target and thresholds.

    Build one with :meth:`start`; every operation returns a new timer. The
    fields are the timer's recorded state (integer microseconds since the epoch,
    UTC); use the methods and properties rather than reading them.
    """

    hours: BusinessHours
    target_us: int
    thresholds: tuple[Fraction, ...]
    state_now: TimerState
    outcome: Outcome | None = None
    run_start: int
    resumed: int | None
    banked: int
    last: int
    segments: tuple[_Segment, ...] = ()
    transitions: tuple[tuple[int, TimerState], ...]
    log: tuple[tuple[int, Fraction], ...] = ()
    ahead: tuple[tuple[int, Fraction], ...] = ()
    due: int | None = None
    reached: int | None = None
    # Derived when first asked for (each event makes a new timer):
    _cross_at: tuple[int, ...] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )
    _cross_f: tuple[Fraction, ...] | None = attrs.field(
        init=False, default=None, eq=False, repr=False
    )

    def _crossing_table(self) -> tuple[tuple[int, ...], tuple[Fraction, ...]]:
        """The instants of the crossings done and ahead, and their thresholds."""
        at, fs = self._cross_at, self._cross_f
        if at is None or fs is None:
            pairs = (*self.log, *self.ahead)
            at = tuple(x for x, _ in pairs)
            fs = tuple(f for _, f in pairs)
            object.__setattr__(self, "_cross_at", at)
            object.__setattr__(self, "_cross_f", fs)
        return at, fs

    # -- construction -----------------------------------------------------------

    @classmethod
    def start(
        cls,
        at: datetime,
        *,
        target: timedelta,
        hours: BusinessHours | None = None,
        thresholds: Iterable[int | float | Fraction] = (),
    ) -> SlaTimer:
        """A timer running from ``at`` (which may be in the past).

        Args:
            at: When it starts counting (aware).
            target: The business time allowed (> 0).
            hours: The business hours it counts in; 24/7 if not given.
            thresholds: Fractions of the target to report crossings of, e.g.
                ``(50, 75, 100)`` (percentages) or ``(Fraction(3, 4),)``.

        Raises:
            NaiveDatetimeError: ``at`` has no time zone.
            ConfigError: A target <= 0 or a bad threshold.
        """
        x = to_us(at, "at")
        if hours is not None and not isinstance(hours, BusinessHours):
            raise WrongTypeError(
                f"hours: expected BusinessHours, got {type(hours).__name__}"
            )
        timer = cls(
            hours=BusinessHours.always() if hours is None else hours,
            target_us=_target(target),
            thresholds=parse_thresholds(thresholds),
            state_now=TimerState.RUNNING,
            run_start=x,
            resumed=x,
            banked=0,
            last=x,
            transitions=((x, TimerState.RUNNING),),
        )
        return timer._recomputed()

    # -- events -----------------------------------------------------------------

    def pause(self, at: datetime) -> SlaTimer:
        """Stop counting at ``at`` until :meth:`resume`."""
        x, counted, done = self._event(at, TimerEvent.PAUSE)
        return self._closed(x, counted, done, TimerState.PAUSED)

    def resume(self, at: datetime) -> SlaTimer:
        """Count again from ``at``."""
        x, counted, done = self._event(at, TimerEvent.RESUME)
        ahead, due = _ahead(
            self.hours, x, counted, self.target_us, self.thresholds, self.reached
        )
        return self._evolve(
            state_now=TimerState.RUNNING,
            resumed=x,
            banked=counted,
            last=x,
            log=done,
            transitions=(*self.transitions, (x, TimerState.RUNNING)),
            ahead=ahead,
            due=due,
        )

    def stop(self, at: datetime) -> SlaTimer:
        """End the timer with an outcome: met if counted < target, else breached."""
        x, counted, done = self._event(at, TimerEvent.STOP)
        outcome = Outcome.BREACHED if counted >= self.target_us else Outcome.MET
        return attrs.evolve(
            self._closed(x, counted, done, TimerState.STOPPED), outcome=outcome
        )

    def cancel(self, at: datetime) -> SlaTimer:
        """End the timer with no outcome."""
        x, counted, done = self._event(at, TimerEvent.CANCEL)
        return self._closed(x, counted, done, TimerState.CANCELLED)

    def reset(self, at: datetime) -> SlaTimer:
        """Count again from zero at ``at``, forgetting pauses (not after cancel)."""
        x, _, done = self._event(at, TimerEvent.RESET)
        return attrs.evolve(
            self,
            state_now=TimerState.RUNNING,
            outcome=None,
            run_start=x,
            resumed=x,
            banked=0,
            last=x,
            segments=(),
            log=done,
            transitions=(*self.transitions, (x, TimerState.RUNNING)),
            reached=None,
        )._recomputed()

    def retarget(self, at: datetime, target: timedelta) -> SlaTimer:
        """A new target from ``at`` on; the business time counted is kept."""
        new_target = _target(target)
        x, counted, done = self._event(at, TimerEvent.RETARGET)
        crossed_now = tuple(
            (x, f)
            for f in self.thresholds
            if fraction_of(f, self.target_us) > counted >= fraction_of(f, new_target)
        )
        split = self._split(x, counted, (*done, *crossed_now))
        reached = None
        if counted >= new_target:
            reached = x if split.reached is None else split.reached
        return attrs.evolve(split, target_us=new_target, reached=reached)._recomputed()

    def with_hours(self, at: datetime, hours: BusinessHours) -> SlaTimer:
        """Count in other business hours from ``at`` on; counted time is kept."""
        if not isinstance(hours, BusinessHours):
            raise WrongTypeError(
                f"hours: expected BusinessHours, got {type(hours).__name__}"
            )
        x, counted, done = self._event(at, TimerEvent.WITH_HOURS)
        return attrs.evolve(self._split(x, counted, done), hours=hours)._recomputed()

    # -- questions ----------------------------------------------------------------

    @property
    def target(self) -> timedelta:
        """The business time allowed."""
        return timedelta(microseconds=self.target_us)

    @property
    def started_at(self) -> datetime:
        """When the current run started (the start, or the last reset), in UTC."""
        return from_us(self.run_start, UTC)

    @property
    def due_at(self) -> datetime | None:
        """The breach instant while running; None while paused or ended."""
        return None if self.due is None else from_us(self.due, self.hours.tz)

    def state(self, at: datetime) -> TimerState:
        """The state at ``at`` (from the recorded events; the last one holds on).

        Raises:
            InvalidOperation: ``at`` is before the timer started.
        """
        x = to_us(at, "at")
        state = None
        for when, s in self.transitions:
            if when > x:
                break
            state = s
        if state is None:
            raise InvalidOperation(
                f"state: at: {at.isoformat()} is before the timer started at "
                f"{from_us(self.transitions[0][0], UTC).isoformat()}"
            )
        return state

    def elapsed(self, at: datetime) -> timedelta:
        """Business time counted in the current run up to ``at`` (pauses excluded)."""
        return timedelta(microseconds=self._counted(to_us(at, "at")))

    def remaining(self, at: datetime) -> timedelta:
        """``target - elapsed(at)``; negative after a breach."""
        return timedelta(microseconds=self.target_us - self._counted(to_us(at, "at")))

    def fraction(self, at: datetime) -> Fraction:
        """``elapsed(at) / target``, exact."""
        return Fraction(self._counted(to_us(at, "at")), self.target_us)

    def breached(self, at: datetime) -> bool:
        """Whether counted time at ``at`` is >= the target."""
        return self._counted(to_us(at, "at")) >= self.target_us

    def threshold_at(self, f: int | float | Fraction) -> datetime | None:
        """The earliest instant of the current run at which counted time >= f ×
        target (rounded up to the µs); None if not reached and not running."""
        (frac,) = parse_thresholds((f,), name="f")
        need = fraction_of(frac, self.target_us)
        x = self._reach(need)
        return None if x is None else from_us(x, self.hours.tz)

    def crossed(self, since: datetime, until: datetime) -> tuple[Fraction, ...]:
        """The thresholds crossed in ``(since, until]``, in order."""
        at, fs = self._crossing_table()
        lo = bisect_right(at, to_us(since, "since"))
        return fs[lo : bisect_right(at, to_us(until, "until"), lo)]

    def crossings(
        self, since: datetime, until: datetime
    ) -> tuple[tuple[datetime, Fraction], ...]:
        """``(instant, threshold)`` for each crossing in ``(since, until]``."""
        tz = self.hours.tz
        return tuple((from_us(x, tz), f) for x, f in self._crossings(since, until))

    def __repr__(self) -> str:
        due = self.due_at
        return (
            f"SlaTimer({self.state_now.value}, target={self.target}, "
            f"counted={timedelta(microseconds=self.banked)} at "
            f"{from_us(self.last, UTC).isoformat()}, "
            f"due_at={None if due is None else due.isoformat()}, "
            f"outcome={None if self.outcome is None else self.outcome.value})"
        )

    # -- internals --------------------------------------------------------------

    def _event(
        self, at: datetime, event: TimerEvent
    ) -> tuple[int, int, tuple[tuple[int, Fraction], ...]]:
        """Check ``event`` at ``at``; return the instant, the counted time then,
        and the crossings that have happened by then."""
        x = to_us(at, "at")
        if (self.state_now._value_, event._value_) not in _ALLOWED:
            raise InvalidOperation(
                f"{event.value}: not allowed: {_REFUSALS[self.state_now]}"
            )
        if x < self.last:
            raise InvalidOperation(
                f"{event.value}: at: {at.isoformat()} is before the timer's last "
                f"event at {from_us(self.last, UTC).isoformat()}; events must come "
                "in time order"
            )
        ahead = self.ahead  # by instant: those reached by x come first
        reached = 0
        while reached < len(ahead) and ahead[reached][0] <= x:
            reached += 1
        done = self.log + ahead[:reached] if reached else self.log
        return x, self._counted(x), done

    def _closed(
        self,
        x: int,
        counted: int,
        done: tuple[tuple[int, Fraction], ...],
        state: TimerState,
    ) -> SlaTimer:
        """This timer with its running segment (if any) closed at ``x``."""
        segments = self.segments
        reached = self.reached
        if self.resumed is not None:
            segments = (*segments, _Segment(self.resumed, x, self.hours))
            if reached is None and self.due is not None and self.due <= x:
                reached = self.due
        return self._evolve(
            state_now=state,
            resumed=None,
            banked=counted,
            last=x,
            segments=segments,
            log=done,
            ahead=(),
            due=None,
            reached=reached,
            transitions=(*self.transitions, (x, state)),
        )

    def _split(
        self, x: int, counted: int, done: tuple[tuple[int, Fraction], ...]
    ) -> SlaTimer:
        """Close the running segment at ``x`` and open a new one (if running)."""
        if self.state_now is not TimerState.RUNNING:
            return attrs.evolve(self, last=x, log=done)
        closed = self._closed(x, counted, done, TimerState.RUNNING)
        return attrs.evolve(closed, resumed=x, transitions=self.transitions)

    def _recomputed(self) -> SlaTimer:
        """Recompute ``due`` and the future crossings (only while running)."""
        if self.state_now is not TimerState.RUNNING:
            return self._evolve(ahead=(), due=None)
        assert self.resumed is not None
        ahead, due = _ahead(
            self.hours,
            self.resumed,
            self.banked,
            self.target_us,
            self.thresholds,
            self.reached,
        )
        return self._evolve(ahead=ahead, due=due)

    def _evolve(self, **changes: Any) -> SlaTimer:
        """This timer with ``changes`` (fields of the right types, from the
        methods above): its ``__dict__`` copied, 4x cheaper than
        ``attrs.evolve`` on each event; what is derived is derived again."""
        new = object.__new__(SlaTimer)
        state = new.__dict__
        state.update(self.__dict__)
        state.update(changes)
        state["_cross_at"] = state["_cross_f"] = None
        return new

    def _counted(self, x: int) -> int:
        if x >= self.last:
            if self.resumed is None:
                return self.banked
            return self.banked + self.hours.elapsed_us(self.resumed, x)
        total = 0
        for seg in self.segments:
            if x <= seg.start:
                break
            total += seg.hours.elapsed_us(seg.start, min(seg.end, x))
        return total

    def _reach(self, need: int) -> int | None:
        """The earliest instant of the current run with counted >= need."""
        if need <= 0:
            return self.run_start
        before = 0
        for seg in self.segments:
            length = seg.hours.elapsed_us(seg.start, seg.end)
            if before + length >= need:
                return seg.hours.add_us(seg.start, need - before)
            before += length
        if self.resumed is None:
            return None
        return _reach_or_none(self.hours, self.resumed, need - before)

    def _crossings(
        self, since: datetime, until: datetime
    ) -> list[tuple[int, Fraction]]:
        at, fs = self._crossing_table()
        lo = bisect_right(at, to_us(since, "since"))
        hi = bisect_right(at, to_us(until, "until"), lo)
        return list(zip(at[lo:hi], fs[lo:hi], strict=True))


def _ahead(
    hours: BusinessHours,
    start: int,
    banked: int,
    target_us: int,
    thresholds: tuple[Fraction, ...],
    reached: int | None,
) -> tuple[tuple[tuple[int, Fraction], ...], int | None]:
    """The crossings ahead and the breach instant of a timer running from
    ``start`` with ``banked`` counted before."""
    reach: dict[int, int | None] = {}  # need -> instant: the 100 % is the due
    ahead = []
    for f in thresholds:
        need = fraction_of(f, target_us)
        if need > banked:
            x = reach[need] = _reach_or_none(hours, start, need - banked)
            if x is not None:
                ahead.append((x, f))
    if banked < target_us:
        due = (
            reach[target_us]
            if target_us in reach
            else (_reach_or_none(hours, start, target_us - banked))
        )
    else:
        due = reached if reached is not None else start
    return tuple(ahead), due


def _reach_or_none(hours: BusinessHours, start: int, need: int) -> int | None:
    """``hours.add_us``, or None when the instant lies beyond the hours' horizon
    (a schedule that does not open enough within ten years)."""
    try:
        return hours.add_us(start, need)
    except ScheduleError:
        return None


def _target(target: object) -> int:
    us = us_of(require_duration(target, "target"))
    if us <= 0:
        raise ConfigError(f"target: expected a duration > 0, got {target!r}")
    return us


# -- two phases ---------------------------------------------------------------------


class Phase(enum.Enum):
    """Which of a :class:`TwoPhaseTimer`'s two timers is counting."""

    FIRST = "first"
    SECOND = "second"
    DONE = "done"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class TwoPhaseTimer:
    """Two sequential timers: the second starts when the first is completed.

    E.g. a lead's *accept within X* (from reaching a team), then *first activity
    within Y after acceptance*. Each phase has its own target, business hours and
    breach; the whole is satisfied only when both phases are completed.

    Attributes:
        first: The first phase's timer.
        second: The second phase's timer, once the first is completed.
        second_within: The second phase's target.
        second_hours: The second phase's business hours.
        second_thresholds: The second phase's thresholds.
    """

    first: SlaTimer
    second: SlaTimer | None = None
    second_within: timedelta
    second_hours: BusinessHours
    second_thresholds: tuple[Fraction, ...] = ()

    @classmethod
    def start(
        cls,
        at: datetime,
        *,
        first_within: timedelta,
        second_within: timedelta,
        hours: BusinessHours | None = None,
        second_hours: BusinessHours | None = None,
        thresholds: Iterable[int | float | Fraction] = (100,),
    ) -> TwoPhaseTimer:
        """Start the first phase at ``at``.

        Args:
            at: When the first phase starts.
            first_within: The first phase's target.
            second_within: The second phase's target (counted from the first
                phase's completion).
            hours: The first phase's business hours (24/7 if not given).
            second_hours: The second phase's business hours (default: ``hours``).
            thresholds: Thresholds for both phases (default: the breach only).
        """
        first = SlaTimer.start(
            at, target=first_within, hours=hours, thresholds=thresholds
        )
        _target(second_within)
        return cls(
            first=first,
            second_within=second_within,
            second_hours=first.hours if second_hours is None else second_hours,
            second_thresholds=first.thresholds,
        )

    @property
    def phase(self) -> Phase:
        """The phase counting now (or DONE / CANCELLED)."""
        current = self.current
        if current.state_now is TimerState.CANCELLED:
            return Phase.CANCELLED
        if self.second is None:
            return Phase.FIRST
        if current.state_now is TimerState.STOPPED:
            return Phase.DONE
        return Phase.SECOND

    @property
    def current(self) -> SlaTimer:
        """The timer of the current (or last) phase."""
        return self.first if self.second is None else self.second

    @property
    def satisfied(self) -> bool:
        """Both phases completed."""
        return self.phase is Phase.DONE

    @property
    def due_at(self) -> datetime | None:
        """The current phase's breach instant (None while paused or done)."""
        return None if self.phase is Phase.DONE else self.current.due_at

    def complete_first(self, at: datetime) -> TwoPhaseTimer:
        """Stop the first phase at ``at`` and start the second there."""
        if self.second is not None:
            raise InvalidOperation(
                "complete_first: the first phase is complete already"
            )
        first = self.first.stop(at)
        second = SlaTimer.start(
            at,
            target=self.second_within,
            hours=self.second_hours,
            thresholds=self.second_thresholds,
        )
        return attrs.evolve(self, first=first, second=second)

    def complete_second(self, at: datetime) -> TwoPhaseTimer:
        """Stop the second phase at ``at``: the whole is satisfied."""
        if self.second is None:
            raise InvalidOperation(
                "complete_second: the first phase is not complete yet"
            )
        return attrs.evolve(self, second=self.second.stop(at))

    def pause(self, at: datetime) -> TwoPhaseTimer:
        """Pause the current phase."""
        return self._on_current(self.current.pause(at))

    def resume(self, at: datetime) -> TwoPhaseTimer:
        """Resume the current phase."""
        return self._on_current(self.current.resume(at))

    def cancel(self, at: datetime) -> TwoPhaseTimer:
        """Cancel the current phase (the whole stops escalating)."""
        return self._on_current(self.current.cancel(at))

    def with_hours(self, at: datetime, hours: BusinessHours) -> TwoPhaseTimer:
        """Other business hours from ``at`` on, for the current and later phase."""
        if self.second is None:
            return attrs.evolve(
                self, first=self.first.with_hours(at, hours), second_hours=hours
            )
        return attrs.evolve(
            self, second=self.second.with_hours(at, hours), second_hours=hours
        )

    def outcome(self, phase: Phase) -> Outcome | None:
        """How a completed phase ended (None if not completed)."""
        timer = self.first if phase is Phase.FIRST else self.second
        return None if timer is None else timer.outcome

    def breaches(self, at: datetime) -> tuple[Phase, ...]:
        """The phases whose counted time had reached their target by ``at``."""
        out = []
        if self.first.breached(at):
            out.append(Phase.FIRST)
        if self.second is not None and self.second.breached(at):
            out.append(Phase.SECOND)
        return tuple(out)

    def crossings(
        self, since: datetime, until: datetime
    ) -> tuple[tuple[datetime, Phase, Fraction], ...]:
        """``(instant, phase, threshold)`` crossed in ``(since, until]``, in order."""
        out = [(x, 0, f) for x, f in self.first._crossings(since, until)]
        if self.second is not None:
            out += [(x, 1, f) for x, f in self.second._crossings(since, until)]
        tz, phases = self.current.hours.tz, (Phase.FIRST, Phase.SECOND)
        return tuple((from_us(x, tz), phases[p], f) for x, p, f in sorted(out))

    def _on_current(self, timer: SlaTimer) -> TwoPhaseTimer:
        if self.second is None:
            return attrs.evolve(self, first=timer)
        return attrs.evolve(self, second=timer)

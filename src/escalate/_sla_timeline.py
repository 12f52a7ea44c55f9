"""The walk behind :func:`escalate.sla.timeline`: a case's events in order,
each metric run counted, paused, and its crossings of its target and warnings
found with the calendars' arithmetic (integer µs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from escalate._instants import to_us, utc_from_us
from escalate._sla_values import (
    _ALWAYS,
    _VALUED,
    EventKind,
    Metric,
    MetricRun,
    SlaEvent,
    SlaPolicy,
    SlaSettings,
    SlaTimeline,
    Target,
)
from escalate.errors import ConfigError, NotFound, WrongTypeError
from escalate.hours import BusinessHours


class _Run:
    """A metric run while the events are walked (integer µs)."""

    __slots__ = (
        "breach",
        "cfg",
        "counted",
        "end",
        "index",
        "metric",
        "paused",
        "pauses",
        "policy",
        "start",
        "target",
        "warned",
    )

    def __init__(self, metric: Metric, index: int, start: int) -> None:
        self.metric = metric
        self.index = index
        self.start = start
        self.end: int | None = None
        self.counted = 0
        self.paused = 0
        self.breach: int | None = None
        self.warned: dict[int, int] = {}
        self.pauses: list[list[int]] = []  # [from, to] of each paused stretch
        self.policy: str | None = None  # in force at its end
        self.target: Target | None = None  # in force at its end
        # in force now: its target, the calendar it counts in, whether paused
        self.cfg: tuple[Target | None, BusinessHours, bool] = (None, _ALWAYS, False)


class _Walk:
    """The state of a case while its events are walked."""

    def __init__(self, settings: SlaSettings, start: int) -> None:
        self.settings = settings
        self.start = start
        self.x = start  # the instant walked to
        self.status: str | None = None
        self.priority: str | None = None
        self.policy: SlaPolicy | None = None
        self.policy_since: int | None = None
        self.solved = False
        self.closed = False
        self.replied = False  # the first reply is done
        self.runs: list[_Run] = []
        self.running: dict[Metric, _Run] = {}
        self.counts: dict[Metric, int] = {}

    def begin(self, metric: Metric, at: int) -> None:
        if metric in self.running or metric not in self.settings.metrics:
            return
        index = self.counts.get(metric, 0)
        self.counts[metric] = index + 1
        run = _Run(metric, index, at)
        self._configure(run)
        self.runs.append(run)
        self.running[metric] = run

    def _configure(self, run: _Run) -> None:
        target = self.target(run.metric)
        run.cfg = (target, self.settings._hours(target), self.is_paused(run.metric))

    def _reconfigure(self) -> None:
        """The status, priority, policy or solved state changed."""
        for run in self.running.values():
            self._configure(run)

    def fulfil(self, metric: Metric, at: int) -> None:
        run = self.running.pop(metric, None)
        if run is not None:
            run.end = at
            run.policy = None if self.policy is None else self.policy.id
            run.target = run.cfg[0]  # kept current by _configure

    def target(self, metric: Metric) -> Target | None:
        return (
            None if self.policy is None else self.policy.target(metric, self.priority)
        )

    def is_paused(self, metric: Metric) -> bool:
        if metric.resolves and self.solved:
            return True
        return self.status is not None and metric in self.settings.pauses.get(
            self.status, ()
        )

    def advance(self, to: int) -> None:
        """Count the running metrics from ``x`` to ``to`` (their state fixed in
        between), noting the first instants they reach their targets."""
        x = self.x
        spans: dict[int, int] = {}  # business time from x to `to`, per calendar
        for run in self.running.values():
            a = x if run.start <= x else run.start  # a start after the creation
            if to < a:
                continue
            target, hours, paused = run.cfg
            if a == x:
                span = spans.get(id(hours))
                if span is None:
                    span = spans[id(hours)] = hours.elapsed_us(x, to)
            else:
                span = hours.elapsed_us(a, to)
            if paused:
                run.paused += span
                if run.pauses and run.pauses[-1][1] == a:
                    run.pauses[-1][1] = to  # the same stretch goes on
                elif to > a:
                    run.pauses.append([a, to])
                if target is not None:
                    _crossings(run, target, hours, a, 0)
            else:
                if target is not None:
                    _crossings(run, target, hours, a, span)
                run.counted += span
        self.x = max(x, to)

    def apply(self, event: SlaEvent, at: int) -> None:
        kind = event.kind
        if kind is EventKind.STATUS:
            self.status = event.value
            self._reconfigure()
        elif kind is EventKind.PRIORITY:
            self.priority = event.value
            self._reconfigure()
        elif kind is EventKind.POLICY:
            assert event.value is not None
            policy = self.settings.policy(event.value)
            if policy is not self.policy:
                self.policy, self.policy_since = policy, at
            self._reconfigure()
        elif kind is EventKind.CREATED:
            for m in _FROM_START:
                self.begin(m, self.start)
        elif kind is EventKind.AGENT_REPLY:
            if not (self.solved or self.closed):
                self.replied = True
                self.fulfil(Metric.FIRST_REPLY, at)
                self.fulfil(Metric.NEXT_REPLY, at)
                self.fulfil(Metric.PERIODIC_UPDATE, at)
                self.begin(Metric.PERIODIC_UPDATE, at)
        elif kind is EventKind.CUSTOMER_MESSAGE:
            if self.replied and not self.closed:
                self.begin(Metric.NEXT_REPLY, at)
        elif kind is EventKind.SOLVED:
            self.solved = True
            self.replied = True
            for m in (Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE):
                self.fulfil(m, at)
            self._reconfigure()
        elif kind is EventKind.REOPENED:
            self.solved = False
            self._reconfigure()
        elif kind is EventKind.CLOSED:
            self.closed = True
            for m in list(self.running):
                self.fulfil(m, at)


def _apply(walk: _Walk, event: SlaEvent, x: int) -> None:
    try:
        walk.apply(event, x)
    except NotFound as e:
        raise ConfigError(f"events: a policy event: {e}") from e


# The clocks that run from the start, in the order of Metric.
_FROM_START: Final = (
    Metric.FIRST_REPLY,
    Metric.REQUESTER_WAIT,
    Metric.AGENT_WORK,
    Metric.RESOLUTION,
)


def _crossings(
    run: _Run, target: Target, hours: BusinessHours, x: int, gained: int | None
) -> None:
    """Note the first instants at which ``run``, counting ``gained`` business
    time from ``x`` on (None: without end), reaches its target and warnings."""
    for percent, need in target._marks:
        if percent == 100:
            if run.breach is not None:
                continue
        elif percent in run.warned:
            continue
        left = need - run.counted
        if left <= 0:
            at = x
        elif gained is not None and left > gained:
            continue
        else:
            at = hours.add_us(x, left)
        if percent == 100:
            run.breach = at
        else:
            run.warned[percent] = at


def timeline(
    settings: SlaSettings,
    events: Sequence[SlaEvent],
    *,
    at: datetime,
    start_at: datetime | None = None,
) -> SlaTimeline:
    """A case's metric runs at ``at``, from its events.

    Args:
        settings: The policies, pauses and calendars.
        events: The case's events; the first is ``CREATED``. Events at the same
            instant apply in the order given. Events after ``at`` are not
            looked at.
        at: The instant asked: what is counted to it, and what is ahead of it
            if nothing else happens.
        start_at: When the clocks that run from the start (first reply,
            requester wait, agent work, resolution) start, if not at
            ``CREATED`` (a retroactive start from a case field).

    Raises:
        ConfigError: The first event is not ``CREATED``, or a ``POLICY`` event
            names a policy the settings do not have.
        NaiveDatetimeError: ``at`` or ``start_at`` has no time zone.
    """
    if not isinstance(settings, SlaSettings):
        raise WrongTypeError(f"settings: expected SlaSettings, got {settings!r}")
    now = to_us(at, "at")
    # by instant, then as given (the indexes are unique: events never compare)
    indexed = sorted((e._us, i, e) for i, e in enumerate(_events(events)))
    if not indexed:
        raise ConfigError("events: expected at least the 'created' event, got none")
    if indexed[0][2].kind is not EventKind.CREATED:
        raise ConfigError(
            "events: the first event (by instant) must be 'created', got "
            f"{indexed[0][2].kind.value!r}"
        )
    created = indexed[0][0]
    walk = _Walk(settings, created if start_at is None else to_us(start_at, "start_at"))
    if walk.start < created:  # a retroactive start: counted under the state
        for x, _, event in indexed:  # the case was created in
            if x != created:
                break
            if event.kind in _VALUED:
                _apply(walk, event, created)
        walk.x = walk.start
        _apply(walk, indexed[0][2], created)  # begins the runs at the start
    for x, _, event in indexed:
        if x > now:
            break
        walk.advance(x)
        _apply(walk, event, x)
    walk.advance(now)
    for run in walk.running.values():  # ahead of now, if nothing else happens
        target = walk.target(run.metric)
        if target is not None and not walk.is_paused(run.metric):
            _crossings(run, target, settings._hours(target), now, None)
    return SlaTimeline(
        at=at,
        policy=None if walk.policy is None else walk.policy.id,
        policy_since=None
        if walk.policy_since is None
        else utc_from_us(walk.policy_since),
        runs=tuple(_result(walk, run) for run in walk.runs),
    )


def _events(events: Sequence[SlaEvent]) -> Sequence[SlaEvent]:
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise WrongTypeError(f"events: expected a list of SlaEvent, got {events!r}")
    for e in events:
        if not isinstance(e, SlaEvent):
            raise WrongTypeError(f"events: expected SlaEvent values, got {e!r}")
    return events


def _result(walk: _Walk, run: _Run) -> MetricRun:
    live = run.end is None
    target = walk.target(run.metric) if live else run.target
    breach = run.breach
    if run.end is not None and breach is not None and breach >= run.end:
        breach = None  # fulfilled as its target was reached: on time
    return MetricRun(
        metric=run.metric,
        index=run.index,
        started_at=utc_from_us(run.start),
        fulfilled_at=None if run.end is None else utc_from_us(run.end),
        counted=timedelta(microseconds=run.counted),
        paused=timedelta(microseconds=run.paused),
        pauses=tuple((utc_from_us(a), utc_from_us(b)) for a, b in run.pauses),
        policy=(None if walk.policy is None else walk.policy.id)
        if live
        else run.policy,
        target=None if target is None else target.within,
        breached_at=None if breach is None else utc_from_us(breach),
        warnings=tuple((p, utc_from_us(x)) for p, x in sorted(run.warned.items())),
        running=live and not walk.is_paused(run.metric),
    )

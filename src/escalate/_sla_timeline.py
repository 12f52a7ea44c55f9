"""The walk behind :func:`escalate.sla.timeline`: a case's events in order,
each metric run counted, paused, and its crossings of its target and warnings
found with the calendars' arithmetic (integer µs).

A run's configuration (its target, the calendar it counts in, whether it is
paused: see ``_sla_states``) only changes at some events. Between two changes
the run is not touched: at a change (and at its end) it is *settled*,
counting the whole stretch at once as the difference of two calendar
positions (``BusinessHours._position``). Business time is additive, so this is
the sum an event-by-event walk counts, and the first crossing of a mark
inside the stretch is the same instant. The runs walked are kept as integers
(``_sla_runs``) until a timeline's runs are read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Final

from escalate._instants import to_us, utc_from_us
from escalate._sla_runs import Packed, Walked
from escalate._sla_states import (
    FROM_START,
    METRICS,
    NEVER,
    NEXT_REPLY,
    PERIODIC_UPDATE,
    REPLIES,
    Config,
    State,
    state_of,
)
from escalate._sla_values import (
    _VALUED,
    EventKind,
    SlaEvent,
    SlaPolicy,
    SlaSettings,
    SlaTimeline,
    Target,
)
from escalate.errors import ConfigError, NotFound, WrongTypeError
from escalate.hours import BusinessHours, _located, _require_years

_STATUS: Final = EventKind.STATUS
_PRIORITY: Final = EventKind.PRIORITY
_CUSTOMER_MESSAGE: Final = EventKind.CUSTOMER_MESSAGE
_AGENT_REPLY: Final = EventKind.AGENT_REPLY
_POLICY: Final = EventKind.POLICY
_CREATED: Final = EventKind.CREATED
_SOLVED: Final = EventKind.SOLVED
_REOPENED: Final = EventKind.REOPENED
_CLOSED: Final = EventKind.CLOSED


class _Run:
    """A metric run while the events are walked (integer µs).

    ``mark`` is the instant it is settled to, ``mark_pos`` that instant's
    position in the calendar of ``config`` (None: not asked yet; found when
    first needed, as a run often changes calendar at the instant it begins,
    when the policy is set); ``need`` the least counted time at
    which one of its marks not yet reached would be (``NEVER``: none).
    ``warned`` (percent to instant) and ``pauses`` (``from, to`` of each paused
    stretch, flat) are None until there is one (fewer objects to keep)."""

    __slots__ = (
        "breach",
        "config",
        "counted",
        "end",
        "index",
        "mark",
        "mark_pos",
        "metric",
        "need",
        "paused",
        "pauses",
        "policy",
        "start",
        "target",
        "warned",
    )

    def __init__(
        self, metric: int, index: int, start: int, mark: int, config: Config
    ) -> None:
        self.metric = metric
        self.index = index
        self.start = start
        self.end: int | None = None
        self.counted = 0
        self.paused = 0
        self.breach: int | None = None
        self.warned: dict[int, int] | None = None
        self.pauses: list[int] | None = None
        self.policy: str | None = None  # in force at its end
        self.target: Target | None = None  # in force at its end
        self.config = config  # in force now
        self.mark = mark
        self.mark_pos: int | None = None
        self.need = config.first


def _need(run: _Run, config: Config) -> int:
    warned = run.warned
    if warned is None and run.breach is None:
        return config.first
    need = NEVER
    for percent, at in config.marks:
        if percent == 100:
            reached = run.breach is not None
        else:
            reached = warned is not None and percent in warned
        if not reached and at < need:
            need = at
    return need


def _cross(run: _Run, x: int, gained: int | None) -> None:
    """Note the first instants at which ``run``, counting ``gained`` business
    time from ``x`` on (None: without end), reaches its target and warnings."""
    config = run.config
    for percent, need in config.marks:
        if percent == 100:
            if run.breach is not None:
                continue
        elif run.warned is not None and percent in run.warned:
            continue
        left = need - run.counted
        if left <= 0:
            at = x
        elif gained is not None and left > gained:
            continue
        else:
            at = config.hours.add_us(x, left)
        if percent == 100:
            run.breach = at
        elif run.warned is None:
            run.warned = {percent: at}
        else:
            run.warned[percent] = at
    run.need = _need(run, config)


class _Walk:
    """The state of a case while its events are walked."""

    __slots__ = (
        "closed",
        "counts",
        "memo_hours",
        "memo_pos",
        "memo_x",
        "policy_since",
        "replied",
        "running",
        "runs",
        "settings",
        "start",
        "state",
        "x",
    )

    def __init__(self, settings: SlaSettings, start: int) -> None:
        self.settings = settings
        self.start = start
        self.x = start  # the instant walked to (see walk)
        self.state = state_of(settings, None, None, None, False)
        self.policy_since: int | None = None
        self.closed = False
        self.replied = False  # the first reply is done
        self.runs: list[_Run] = []
        self.running: list[_Run | None] = [None] * len(METRICS)
        self.counts = [0] * len(METRICS)
        # the position of one instant in one calendar, asked by runs in turn
        self.memo_x = -1
        self.memo_hours: BusinessHours | None = None
        self.memo_pos = 0

    def position(self, hours: BusinessHours, x: int) -> int:
        if x == self.memo_x and hours is self.memo_hours:
            return self.memo_pos
        pos = hours._position(x)
        self.memo_x, self.memo_hours, self.memo_pos = x, hours, pos
        return pos

    def begin(self, metric: int, at: int) -> None:
        config = self.state.table[metric]
        if config is None or self.running[metric] is not None:
            return
        index = self.counts[metric]
        self.counts[metric] = index + 1
        mark = at if at > self.x else self.x
        run = _Run(metric, index, at, mark, config)
        self.runs.append(run)
        self.running[metric] = run

    def settle(self, run: _Run, x: int) -> None:
        """Count ``run`` from its mark to ``x`` under its configuration (not
        before a start that lies ahead)."""
        a = run.mark
        if x <= a:  # nothing to count (no position to find)
            if x == a and run.counted >= run.need:  # retargeted below it
                _cross(run, a, 0)
            return
        config = run.config
        before = run.mark_pos
        if before is None:
            before = self.position(config.hours, a)
        pos = self.position(config.hours, x)
        span = pos - before
        if config.paused:
            run.paused += span
            pauses = run.pauses
            if pauses is None:
                if x > a:
                    run.pauses = [a, x]
            elif pauses[-1] == a:
                pauses[-1] = x  # the same stretch goes on
            elif x > a:
                pauses += (a, x)
            if run.counted >= run.need:  # retargeted below what it counted
                _cross(run, a, 0)
        else:
            if run.counted + span >= run.need:
                _cross(run, a, span)
            run.counted += span
        run.mark = x
        run.mark_pos = pos

    def _change(
        self,
        policy: SlaPolicy | None,
        priority: str | None,
        status: str | None,
        solved: bool,
        at: int,
    ) -> None:
        self._enter(state_of(self.settings, policy, priority, status, solved), at)

    def _enter(self, state: State, at: int) -> None:
        """The status, priority, policy or solved state changed at ``at``:
        each running metric whose configuration changes is settled, then runs
        under the new one."""
        before, self.state = self.state.table, state
        table = state.table
        if table is before:
            return
        for run in self.running:
            if run is None:
                continue
            config = table[run.metric]
            assert config is not None
            old = run.config
            if config is old:
                continue
            if config.hours is old.hours and config.paused is old.paused:
                need = _need(run, config)
                if run.counted + (0 if old.paused else at - run.mark) < min(
                    need, run.need
                ):
                    # only the target changed, and no mark of the old one or
                    # the new one is reached by ``at`` (business time is at
                    # most the wall time): the stretch is counted the same
                    # way on either side, so it need not be settled here
                    run.config = config
                    run.need = need
                    continue
            self.settle(run, at)
            run.config = config
            if config.hours is not old.hours:
                run.mark_pos = None  # found when next settled
            run.need = _need(run, config)

    def fulfil(self, metric: int, at: int) -> None:
        run = self.running[metric]
        if run is not None:
            self.running[metric] = None
            self.settle(run, at)
            run.end = at
            policy = self.state.policy
            run.policy = None if policy is None else policy.id
            run.target = run.config.target

    def walk(self, ordered: Sequence[SlaEvent], now: int) -> None:
        """Apply the events (by instant) up to ``now``, then count to it."""
        created = ordered[0]._us
        if self.start < created:  # a retroactive start: counted under the
            for event in ordered:  # state the case was created in
                if event._us != created:
                    break
                if event.kind in _VALUED:
                    self.apply(event, created)
            self.x = self.start
            self.apply(ordered[0], created)  # begins the runs at the start
        else:  # a start ahead (if any) is only that of the clocks from the
            self.x = created  # start: the others begin at their events
        apply = self.apply
        state = self.state
        for event in ordered[: bisect_right(ordered, now, key=_AT)]:
            kind = event.kind
            if kind is _STATUS:  # most events: inline
                to = state.by_status.get(event.value)
            elif kind is _PRIORITY:
                to = state.by_priority.get(event.value)
            else:
                self.x = x = event._us  # not before it: the events are in order
                apply(event, x)
                state = self.state
                continue
            if to is None:
                to = self._moved(kind, event.value)
            if to.table is state.table:  # no metric runs otherwise
                self.state = state = to
            else:
                self._enter(to, event._us)
                state = to
        for run in self.running:
            if run is not None:
                self.settle(run, now)
                config = run.config  # and what is ahead if nothing else happens:
                if config.marks and not config.paused:  # from its mark, which
                    _cross(run, run.mark, None)  # is now unless it starts later

    def _moved(self, kind: EventKind, value: str | None) -> State:
        """The state after a status or priority event (kept on the state)."""
        s = self.state
        if kind is _STATUS:
            to = state_of(self.settings, s.policy, s.priority, value, s.solved)
            s.by_status[value] = to
        else:
            to = state_of(self.settings, s.policy, value, s.status, s.solved)
            s.by_priority[value] = to
        return to

    def apply(self, event: SlaEvent, at: int) -> None:
        kind = event.kind
        state = self.state
        if kind is _STATUS or kind is _PRIORITY:
            self._enter(self._moved(kind, event.value), at)
        elif kind is _CUSTOMER_MESSAGE:
            if self.replied and not self.closed:
                self.begin(NEXT_REPLY, at)
        elif kind is _AGENT_REPLY:
            if not (state.solved or self.closed):
                self.replied = True
                running = self.running
                for m in REPLIES:
                    if running[m] is not None:
                        self.fulfil(m, at)
                if state.table[PERIODIC_UPDATE] is not None:
                    self.begin(PERIODIC_UPDATE, at)
        elif kind is _POLICY:
            assert event.value is not None
            policy = self.settings.policy(event.value)
            if policy is not state.policy:
                self.policy_since = at
            self._change(policy, state.priority, state.status, state.solved, at)
        elif kind is _CREATED:
            for m in FROM_START:
                self.begin(m, self.start)
        elif kind is _SOLVED:
            self.replied = True
            for m in REPLIES:
                self.fulfil(m, at)
            self._change(state.policy, state.priority, state.status, True, at)
        elif kind is _REOPENED:
            self._change(state.policy, state.priority, state.status, False, at)
        elif kind is _CLOSED:
            self.closed = True
            for m in range(len(METRICS)):
                self.fulfil(m, at)


_AT: Final = attrgetter("_us")


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
            ``CREATED``: before it (a retroactive start from a case field,
            counted under the status, priority and policy given at the
            creation) or after it (nothing counted, and no mark reached,
            until then). Next reply and periodic update run from their events.

    Raises:
        ConfigError: The first event is not ``CREATED``, or a ``POLICY`` event
            names a policy the settings do not have.
        NaiveDatetimeError: ``at`` or ``start_at`` has no time zone.
    """
    if not isinstance(settings, SlaSettings):
        raise WrongTypeError(f"settings: expected SlaSettings, got {settings!r}")
    now = to_us(at, "at")
    _require_years(now, at, "at")
    ordered = sorted(_events(events), key=_AT)  # stable: ties as given
    if not ordered:
        raise ConfigError("events: expected at least the 'created' event, got none")
    first = ordered[0]
    if first.kind is not EventKind.CREATED:
        raise ConfigError(
            "events: the first event (by instant) must be 'created', got "
            f"{first.kind.value!r}"
        )
    created = first._us  # every event walked lies between it and ``at``
    if created <= now:
        _require_years(created, first.at, "events: the created event's instant")
    walk = _Walk(
        settings, created if start_at is None else _located(start_at, "start_at")[0]
    )
    try:
        walk.walk(ordered, now)
    except NotFound as e:
        raise ConfigError(f"events: a policy event: {e}") from e
    policy = None if walk.state.policy is None else walk.state.policy.id
    return SlaTimeline(
        at=at,
        policy=policy,
        policy_since=None
        if walk.policy_since is None
        else utc_from_us(walk.policy_since),
        runs=Walked(tuple([_pack(run, policy) for run in walk.runs])),
    )


def _events(events: Sequence[SlaEvent]) -> Sequence[SlaEvent]:
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise WrongTypeError(f"events: expected a list of SlaEvent, got {events!r}")
    for e in events:
        if type(e) is not SlaEvent and not isinstance(e, SlaEvent):
            raise WrongTypeError(f"events: expected SlaEvent values, got {e!r}")
    return events


def _pack(run: _Run, policy: str | None) -> Packed:
    live = run.end is None
    target = run.config.target if live else run.target
    return (
        run.metric,
        run.index,
        run.start,
        run.end,
        run.counted,
        run.paused,
        run.breach,
        () if run.warned is None else tuple(sorted(run.warned.items())),
        () if run.pauses is None else tuple(run.pauses),
        policy if live else run.policy,
        None if target is None else target.within,
        not run.config.paused if live else None,
    )

"""The values of SLA policies (see :mod:`escalate.sla`): metrics, events,
targets, policies and their settings, and what a timeline gives (metric runs,
actions, the timeline)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

import attrs

from escalate._criteria import Node, Predicate, compile_criteria
from escalate._enums import member
from escalate._frozen import FrozenMap
from escalate._instants import require_aware, to_us, us_of
from escalate._text import MAX_ID, check_text
from escalate.errors import ConfigError, NotFound, WrongTypeError
from escalate.hours import BusinessHours
from escalate.model import Case
from escalate.rules import Condition


class Metric(enum.Enum):
    """What an SLA target measures; the value is how configuration names it."""

    FIRST_REPLY = "first reply"
    NEXT_REPLY = "next reply"
    PERIODIC_UPDATE = "periodic update"
    REQUESTER_WAIT = "requester wait"
    AGENT_WORK = "agent work"
    RESOLUTION = "resolution"

    @property
    def resolves(self) -> bool:
        """A clock from the start to the close (solving pauses it), rather than
        one answered by an agent reply."""
        return self in _RESOLVING


_RESOLVING: Final = frozenset(
    {Metric.REQUESTER_WAIT, Metric.AGENT_WORK, Metric.RESOLUTION}
)
_ORDER: Final = {m: i for i, m in enumerate(Metric)}


class EventKind(enum.Enum):
    """What happened to a case, as the CRM reports it."""

    CREATED = "created"
    CUSTOMER_MESSAGE = "customer message"
    AGENT_REPLY = "agent reply"  # a public reply
    STATUS = "status"  # value: the new status
    PRIORITY = "priority"  # value: the new priority
    REASSIGNED = "reassigned"  # value: the new owner or team, if given
    POLICY = "policy"  # value: the id of the policy in force from now on
    SOLVED = "solved"
    REOPENED = "reopened"
    CLOSED = "closed"


_VALUED: Final = frozenset({EventKind.STATUS, EventKind.PRIORITY, EventKind.POLICY})


def _kind(value: object) -> EventKind:
    return member(EventKind, "kind", value)


def _metric(value: object) -> Metric:
    return member(Metric, "metric", value)


def _aware_at(value: object) -> datetime:
    return require_aware(value, "at")


@attrs.frozen
class SlaEvent:
    """An event of a case.

    Attributes:
        at: When it happened (aware).
        kind: What happened (an :class:`EventKind` or its value).
        value: The new status, priority or policy id (``STATUS``, ``PRIORITY``,
            ``POLICY``: required); the new owner (``REASSIGNED``: optional);
            None otherwise.
    """

    at: datetime = attrs.field(converter=_aware_at)
    kind: EventKind = attrs.field(converter=_kind)
    value: str | None = None
    _us: int = attrs.field(init=False, eq=False, repr=False)  # ``at`` in UTC µs

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_us", to_us(self.at, "at"))
        valued = self.kind in _VALUED
        if valued and (not isinstance(self.value, str) or not self.value.strip()):
            raise ConfigError(
                f"value: a {self.kind.value} event needs the new "
                f"{self.kind.value} as a non-empty text, got {self.value!r}"
            )
        if not valued and self.kind is not EventKind.REASSIGNED and self.value:
            raise ConfigError(
                f"value: {self.kind.value!r} events take no value, got {self.value!r}"
            )
        if self.value is not None:
            if not isinstance(self.value, str):
                raise ConfigError(f"value: expected a text, got {self.value!r}")
            check_text("value", self.value, max_length=MAX_ID)


def _within(value: object) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigError(f"within: expected a positive duration, got {value!r}")
    return value


def _percents(value: Iterable[int]) -> tuple[int, ...]:
    out = tuple(value)
    if any(type(p) is not int or not 0 < p < 100 for p in out) or list(out) != sorted(
        set(out)
    ):
        raise ConfigError(
            "warnings: expected whole percents of the target between 1 and 99, "
            f"increasing, got {list(out)!r}"
        )
    return out


@attrs.frozen
class Target:
    """A metric's target for one priority.

    Attributes:
        metric: What it measures.
        priority: The case priority it applies to.
        within: The target (business time in ``hours``).
        hours: The name of the calendar it counts in; None: every hour.
        warnings: Percents of the target at which to warn (e.g. ``(75,)``).
    """

    metric: Metric = attrs.field(converter=_metric)
    priority: str
    within: timedelta = attrs.field(converter=_within)
    hours: str | None = None
    warnings: tuple[int, ...] = attrs.field(default=(), converter=_percents)
    _marks: tuple[tuple[int, int], ...] = attrs.field(
        init=False, eq=False, repr=False
    )  # (percent, µs counted at which it is reached): the warnings, then 100

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.priority, str) or not self.priority.strip():
            raise ConfigError(
                f"priority: expected a non-empty text, got {self.priority!r}"
            )
        total = us_of(self.within)
        marks = [(p, -(-total * p // 100)) for p in self.warnings]  # rounded up
        object.__setattr__(self, "_marks", (*marks, (100, total)))


def _targets(value: Iterable[object]) -> tuple[Target, ...]:
    out = []
    for t in value:
        if isinstance(t, Mapping):
            t = Target(**t)
        if not isinstance(t, Target):
            raise WrongTypeError(f"targets: expected Target values, got {t!r}")
        out.append(t)
    return tuple(out)


def _conditions(value: Iterable[object]) -> tuple[Condition, ...]:
    return tuple(c if isinstance(c, Condition) else Condition(*c) for c in value)  # type: ignore[misc]


@attrs.frozen
class SlaPolicy:
    """An SLA policy: which cases it applies to and its targets.

    Attributes:
        id: Its stable id (events and idempotency keys name it).
        targets: A :class:`Target` per metric and priority (at most one each).
        conditions: Numbered conditions on the case, as in rule items.
        logic: How they combine; all ANDed if None.
        start_field: A case field holding the instant its clocks start at (a
            retroactive start, like ServiceNow's "start at"); None: the
            case's creation.
        name: A label for people.
    """

    id: str
    targets: tuple[Target, ...] = attrs.field(converter=_targets)
    conditions: tuple[Condition, ...] = attrs.field(default=(), converter=_conditions)
    logic: str | None = None
    start_field: str | None = None
    name: str = ""
    _tree: Node | None = attrs.field(init=False, eq=False, repr=False)
    _predicate: Predicate = attrs.field(init=False, eq=False, repr=False)
    _by_key: Mapping[tuple[Metric, str], Target] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ConfigError(
                f"id: every SLA policy needs a stable id, got {self.id!r}"
            )
        by_key: dict[tuple[Metric, str], Target] = {}
        for t in self.targets:
            if (t.metric, t.priority) in by_key:
                raise ConfigError(
                    f"policy {self.id!r}: targets: {t.metric.value!r} for priority "
                    f"{t.priority!r} appears twice"
                )
            by_key[t.metric, t.priority] = t
        tree, predicate = compile_criteria(
            [c.compile() for c in self.conditions], self.logic
        )
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_predicate", predicate)
        object.__setattr__(self, "_by_key", by_key)

    def matches(self, case: Case) -> bool:
        """Whether the case meets its conditions (none: every case)."""
        return self._predicate(case)

    def target(self, metric: Metric, priority: str | None) -> Target | None:
        """The target of ``metric`` for that priority, or None."""
        return None if priority is None else self._by_key.get((metric, priority))

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """The metrics it has a target for, in the order of :class:`Metric`."""
        named = {t.metric for t in self.targets}
        return tuple(m for m in Metric if m in named)


def _pauses(value: Mapping[str, Iterable[object]]) -> Mapping[str, frozenset[Metric]]:
    if not isinstance(value, Mapping):
        raise WrongTypeError(
            f"pauses: expected status -> metrics it pauses, got {value!r}"
        )
    pauses = {}
    for status, metrics in value.items():
        where = f"pauses[{status!r}]"
        if isinstance(metrics, str | bytes) or not isinstance(metrics, Iterable):
            raise WrongTypeError(
                f"{where}: expected the metrics the status pauses, like "
                f"['resolution'], got {metrics!r}"
            )
        pauses[str(status)] = frozenset(member(Metric, where, m) for m in metrics)
    return FrozenMap(pauses)


def _frozen_calendars(
    value: Mapping[str, BusinessHours],
) -> FrozenMap[str, BusinessHours]:
    return FrozenMap(value)


def _policies(value: Iterable[object]) -> tuple[SlaPolicy, ...]:
    out: list[SlaPolicy] = []
    for p in value:
        if not isinstance(p, SlaPolicy):
            raise WrongTypeError(f"policies: expected SlaPolicy values, got {p!r}")
        out.append(p)
    ids = [p.id for p in out]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"policies: ids must be unique, got {ids}")
    return tuple(out)


@attrs.frozen
class SlaSettings:
    """The SLA policies in order (the first that matches applies), what each
    status pauses, and the calendars targets count in.

    Attributes:
        policies: The policies, in order.
        pauses: Status name to the metrics it pauses (a status not named
            pauses nothing), e.g. ``{"Pending": {"resolution", "next reply"}}``.
        calendars: Calendar name to business hours.
    """

    policies: tuple[SlaPolicy, ...] = attrs.field(converter=_policies)
    pauses: Mapping[str, frozenset[Metric]] = attrs.field(
        factory=FrozenMap, converter=_pauses
    )
    calendars: Mapping[str, BusinessHours] = attrs.field(
        factory=FrozenMap, converter=_frozen_calendars
    )
    metrics: frozenset[Metric] = attrs.field(init=False, eq=False)
    """The metrics some policy has a target for: the ones a timeline tracks."""
    # what the timelines work out once per state of a case (see _sla_timeline)
    _cache: dict[object, object] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self,
            "metrics",
            frozenset(t.metric for p in self.policies for t in p.targets),
        )
        for p in self.policies:
            for t in p.targets:
                if t.hours is not None and t.hours not in self.calendars:
                    raise ConfigError(
                        f"policy {p.id!r}: target {t.metric.value!r} for "
                        f"{t.priority!r}: hours: no calendar named {t.hours!r}; "
                        f"known: {sorted(self.calendars)}"
                    )

    def policy(self, policy_id: str) -> SlaPolicy:
        """The policy with that id.

        Raises:
            NotFound: No such policy.
        """
        for p in self.policies:
            if p.id == policy_id:
                return p
        raise NotFound(
            f"SLA policy {policy_id!r} is not in the settings; known: "
            f"{[p.id for p in self.policies]}"
        )

    def select(self, case: Case) -> SlaPolicy | None:
        """The first policy whose conditions the case meets, or None."""
        for p in self.policies:
            if p.matches(case):
                return p
        return None

    def _hours(self, target: Target | None) -> BusinessHours:
        if target is None or target.hours is None:
            return _ALWAYS
        return self.calendars[target.hours]


_ALWAYS: Final = BusinessHours.always()


@attrs.frozen(kw_only=True)
class MetricRun:
    """One run of a metric: from its start to its fulfilment (or the instant
    asked), what it counted and paused, its target and its breach.

    Attributes:
        metric: What it measures.
        index: Which run of its metric (0 for the first; next reply and periodic
            update run again and again).
        started_at: When its clock started.
        fulfilled_at: When it was fulfilled; None if it still runs.
        counted: The business time counted (to its fulfilment, or to the
            instant asked).
        paused: The business time it was paused, in the calendars it ran in.
        pauses: ``(from, to)`` of each stretch it was paused (to its
            fulfilment, or to the instant asked), in order.
        policy: The policy in force at its end (or the instant asked).
        target: Its target then; None if that policy has none for the metric
            and priority (then it counts every hour and never breaches).
        breached_at: The first instant its counted time reached its target: in
            the past, or ahead if it still runs unpaused; None if it did not
            (or, paused or fulfilled, will not).
        warnings: ``(percent, instant)`` of each warning reached or ahead, as
            for ``breached_at``.
        running: It was running (not fulfilled, not paused) at the instant asked.
    """

    metric: Metric
    index: int
    started_at: datetime
    fulfilled_at: datetime | None
    counted: timedelta
    paused: timedelta
    pauses: tuple[tuple[datetime, datetime], ...] = ()
    policy: str | None
    target: timedelta | None
    breached_at: datetime | None
    warnings: tuple[tuple[int, datetime], ...]
    running: bool

    @property
    def key(self) -> str:
        """``<metric>/<index>``: with the case id, what its actions are
        recorded under."""
        return f"{self.metric.name.lower()}/{self.index}"

    def marks(self) -> tuple[tuple[int, datetime], ...]:
        """Its warnings, then its breach (as percent 100), each with the
        instant reached (or ahead), in that order."""
        breach = () if self.breached_at is None else ((100, self.breached_at),)
        return (*self.warnings, *breach)

    def breached(self, at: datetime) -> bool:
        """Whether it had breached by ``at``."""
        return self.breached_at is not None and to_us(
            self.breached_at, "breached_at"
        ) <= to_us(at, "at")


@attrs.frozen(kw_only=True)
class SlaAction:
    """A warning or breach of a metric run that a tick carried out (its mail
    queued to the case's owner), once: recorded under ``key``.

    Attributes:
        key: Its idempotency key, ``sla/<case>/<metric>/<index>/<percent>``.
        case_id: The case.
        metric: The metric.
        index: Which run of the metric.
        percent: The warning's percent of the target; 100 for the breach.
        due_at: The instant the run reached it.
        policy: The policy in force then.
        target: The target then.
        mails: How many mails it queued (0 for a case without an owner).
    """

    key: str
    case_id: str
    metric: Metric
    index: int
    percent: int
    due_at: datetime
    policy: str | None
    target: timedelta | None
    mails: int

    @property
    def breach(self) -> bool:
        """It is the breach, not a warning."""
        return self.percent == 100


class _Runs:
    """A timeline's runs: given, or made when first asked for (a walk's runs
    are kept as integers until then, see ``_sla_timeline``)."""

    __slots__ = ("_made",)

    def __init__(self, runs: tuple[MetricRun, ...] | None) -> None:
        self._made = runs

    def get(self) -> tuple[MetricRun, ...]:
        made = self._made
        if made is None:
            made = self._made = self.make()
        return made

    def make(self) -> tuple[MetricRun, ...]:
        raise NotImplementedError

    def due(self) -> tuple[tuple[datetime, Metric, int, int], ...]:
        marks = sorted(
            (to_us(x, "at"), _ORDER[r.metric], r.index, p, x, r.metric)
            for r in self.get()
            if r.fulfilled_at is None
            for p, x in r.marks()
        )
        return tuple((x, m, i, p) for _, _, i, p, x, m in marks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Runs) and self.get() == other.get()

    def __hash__(self) -> int:
        return hash(self.get())

    def __repr__(self) -> str:
        return repr(self.get())


def _as_runs(value: Iterable[MetricRun] | _Runs) -> _Runs:
    return value if isinstance(value, _Runs) else _Runs(tuple(value))


@attrs.frozen(kw_only=True, repr=False)
class SlaTimeline:
    """A case's metric runs at an instant, in the order they started (then by
    :class:`Metric` order).

    Attributes:
        at: The instant asked.
        policy: The policy in force then; None if none applies.
        policy_since: Since when it has been in force.
        runs: The metric runs (made when first read: a timeline computed
            only for :meth:`due` never builds them).
    """

    at: datetime
    policy: str | None
    policy_since: datetime | None = None
    _runs: _Runs = attrs.field(alias="runs", converter=_as_runs)

    @property
    def runs(self) -> tuple[MetricRun, ...]:
        """The metric runs, in the order they started."""
        return self._runs.get()

    def due(self) -> tuple[tuple[datetime, Metric, int, int], ...]:
        """Each warning and breach of the runs not fulfilled, reached by
        :attr:`at` or ahead if they keep running, as ``(instant, metric, run
        index, percent)`` (percent 100: the breach), by instant, then metric
        (in :class:`Metric` order), run and percent: what a tick carries out
        as it reaches them."""
        return self._runs.due()

    def __repr__(self) -> str:
        return (
            f"SlaTimeline(at={self.at!r}, policy={self.policy!r}, "
            f"policy_since={self.policy_since!r}, runs={self.runs!r})"
        )

    def of(self, metric: Metric | str) -> tuple[MetricRun, ...]:
        """The runs of one metric, in order."""
        m = _metric(metric)
        return tuple(r for r in self.runs if r.metric is m)

    def explain(self, settings: SlaSettings) -> str:
        """Which policy applies and why, and for each run what it counted and
        paused, its target and its breach: one fact per line."""
        at = to_us(self.at, "at")
        if self.policy is None:
            lines = [
                "SLA: no policy applies (none of the policies' conditions are met)"
            ]
        else:
            conditions = settings.policy(self.policy).conditions
            why = (
                "its conditions are met: " + "; ".join(map(str, conditions))
                if conditions
                else "it has no conditions"
            )
            since = (
                ""
                if self.policy_since is None
                else (f" since {self.policy_since.isoformat()}")
            )
            lines = [f"SLA: policy {self.policy!r}{since} ({why})"]
        for run in self.runs:
            lines.append(f"  {run.metric.value} #{run.index}: {_state(run, at)}")
            target = "no target" if run.target is None else f"target {run.target}"
            lines.append(
                f"    started {run.started_at.isoformat()}; counted {run.counted} "
                f"({target}), paused {run.paused}"
            )
            if run.fulfilled_at is not None:
                lines.append(f"    fulfilled {run.fulfilled_at.isoformat()}")
            for percent, x in run.marks():
                what = "breach" if percent == 100 else f"warning at {percent}%"
                when = (
                    "reached" if to_us(x, "x") <= at else "ahead, if it keeps running"
                )
                lines.append(f"    {what}: {x.isoformat()} ({when})")
        return "\n".join(lines)


def _state(run: MetricRun, at: int) -> str:
    if run.breached_at is not None and to_us(run.breached_at, "breached_at") <= at:
        return "breached" if run.fulfilled_at is None else "fulfilled late"
    if run.fulfilled_at is not None:
        return "achieved"
    return "running" if run.running else "paused"

"""What each metric runs under in each state of a case (the policy in
force, the priority, the status, solved or not): its target, the calendar it
counts in, whether it is paused. Worked out once per state and kept on the
settings, since a few states recur across all cases; equal configurations
and tables are one object, so the walk compares them by identity."""

from __future__ import annotations

from typing import Final

from escalate._sla_values import Metric, SlaPolicy, SlaSettings, Target
from escalate.hours import BusinessHours

NEVER: Final = 1 << 62  # a need no run reaches

# Metrics by their place in Metric, for lists indexed by them (cheaper than
# hashing the enum members).
METRICS: Final = tuple(Metric)
FIRST_REPLY: Final = METRICS.index(Metric.FIRST_REPLY)
NEXT_REPLY: Final = METRICS.index(Metric.NEXT_REPLY)
PERIODIC_UPDATE: Final = METRICS.index(Metric.PERIODIC_UPDATE)
REPLIES: Final = (FIRST_REPLY, NEXT_REPLY, PERIODIC_UPDATE)
# The clocks that run from the start, in the order of Metric.
FROM_START: Final = tuple(
    METRICS.index(m)
    for m in (
        Metric.FIRST_REPLY,
        Metric.REQUESTER_WAIT,
        Metric.AGENT_WORK,
        Metric.RESOLUTION,
    )
)


class Config:
    """How a metric runs in one state of a case: its target (and its marks:
    ``(percent, counted time)``), the calendar it counts in and whether it is
    paused. Shared, so compared by identity."""

    __slots__ = ("first", "hours", "marks", "paused", "target")

    def __init__(self, target: Target | None, hours: BusinessHours, paused: bool):
        self.target = target
        self.hours = hours
        self.paused = paused
        self.marks = () if target is None else target._marks
        self.first = self.marks[0][1] if self.marks else NEVER


Table = tuple[Config | None, ...]  # by metric index; None: not tracked


class State:
    """What the metrics' configurations depend on: the policy in force, the
    priority, the status and whether the case is solved; with the table of
    configurations and the states one status or priority away (all cached on
    the settings: a few states recur across all cases, and equal tables are
    one object)."""

    __slots__ = (
        "by_priority",
        "by_status",
        "policy",
        "priority",
        "solved",
        "status",
        "table",
    )

    def __init__(
        self,
        policy: SlaPolicy | None,
        priority: str | None,
        status: str | None,
        solved: bool,
        table: Table,
    ) -> None:
        self.policy = policy
        self.priority = priority
        self.status = status
        self.solved = solved
        self.table = table
        self.by_status: dict[str | None, State] = {}
        self.by_priority: dict[str | None, State] = {}


def state_of(
    settings: SlaSettings,
    policy: SlaPolicy | None,
    priority: str | None,
    status: str | None,
    solved: bool,
) -> State:
    cache = settings._cache
    key = (None if policy is None else policy.id, priority, status, solved)
    cached = cache.get(key)
    if isinstance(cached, State):
        return cached
    if len(cache) > 4096:  # statuses and priorities are the CRM's own texts
        cache.clear()
    paused_by = settings.pauses.get(status, frozenset()) if status else frozenset()
    configs: list[Config | None] = []
    for m in METRICS:
        if m not in settings.metrics:
            configs.append(None)
            continue
        target = None if policy is None else policy.target(m, priority)
        paused = (m.resolves and solved) or m in paused_by
        interned = (id(target), paused)  # targets live as long as the settings
        config = cache.get(interned)
        if not isinstance(config, Config):
            config = cache[interned] = Config(target, settings._hours(target), paused)
        configs.append(config)
    ids = tuple(map(id, configs))
    table = cache.get(ids)
    if not isinstance(table, tuple):
        table = cache[ids] = tuple(configs)
    cache[key] = state = State(policy, priority, status, solved, table)
    return state

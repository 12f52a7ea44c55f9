"""Assignment and qualification matching (seed 004, 1CRM).

Every service case needs a handler (its owner). Three ways to get one:

* the company's **default queue user** gets every new case, whose status stays
  *Active – New* (:meth:`Routing.route_new`);
* **manual** assignment by a person, with **suggestions** from that person's own
  recent assignments (:func:`suggest`, :func:`assign_manually`; the status is not
  changed);
* **qualification-based**: the cases *waiting* are those owned by the queue user in
  *Active – New*; an agent **pulls** work (:func:`pull`) or a supervisor assigns
  many at once (:func:`assign_bulk`); matched cases go to the agent with status
  *Active – Assigned*.

Only fully qualified agents count: every required qualification at or above its
level (after the routing's relaxation steps, if the case has waited long enough).
An agent takes at most its free capacity (capacity − open cases it owns).

The score (documented in ``docs/matching.md``): a case scores
``CASE_SCORE = priority rank × 10,000 + minutes waited (at most 9,999)``; a pair
(case, agent) scores ``100 × case score − surplus``, where the surplus is how far
the agent's levels exceed the required ones (at most 99): urgent and old cases
first, and the agent that fits most tightly. Ties break by case id, then agent
id, so results do not depend on the order of the input.

Everything is pure: decisions come back as values with their reasons; applying
them (``history.apply_change``) is the caller's.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from escalate._durations import format_duration
from escalate._frozen import FrozenMap
from escalate._instants import require_aware, to_us
from escalate._maxflow import MaxFlow
from escalate.errors import ConfigError, InvalidOperation, WrongTypeError
from escalate.model import Actor, Case, Status

__all__ = [
    "Agent",
    "Assignment",
    "AssignmentRecord",
    "BulkResult",
    "MatchReason",
    "PullResult",
    "Qualification",
    "QualificationCatalog",
    "Relaxation",
    "Routing",
    "Unassigned",
    "WaitingQueue",
    "assign_bulk",
    "assign_manually",
    "pull",
    "suggest",
]

DEFAULT_PRIORITY_RANKS: Final = FrozenMap(
    {"urgent": 4, "high": 3, "normal": 2, "low": 1}
)
_INF: Final = 1 << 60


@attrs.frozen
class Qualification:
    """A freely defined qualification (technical or soft skill) with its scale.

    Attributes:
        name: e.g. ``"dutch"``, ``"networking"``, ``"patient"``.
        low: The lowest rating (default 1).
        high: The highest rating (default 10).
        soft: A soft skill (creative, patient, ...) rather than a technical one.
    """

    name: str
    low: int = attrs.field(default=1, kw_only=True)
    high: int = attrs.field(default=10, kw_only=True)
    soft: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"qualification name: expected a text, got {self.name!r}")
        if (
            not (isinstance(self.low, int) and isinstance(self.high, int))
            or self.low > self.high
        ):
            raise ConfigError(
                f"qualification {self.name!r}: expected a scale low <= high, got "
                f"{self.low!r}..{self.high!r}"
            )

    def check(self, level: object, where: str) -> int:
        """``level`` if it lies on the scale, else a ConfigError naming ``where``."""
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"{where}: expected a whole rating, got {level!r}")
        if not self.low <= level <= self.high:
            raise ConfigError(
                f"{where}: {level} is outside the scale of {self.name!r} "
                f"({self.low}-{self.high})"
            )
        return level


def _by_name(
    value: Iterable[Qualification] | Mapping[str, Qualification],
) -> FrozenMap[str, Qualification]:
    if isinstance(value, Mapping):
        return FrozenMap(value)
    return FrozenMap({q.name: q for q in value})


def _ints(value: Mapping[str, int]) -> FrozenMap[str, int]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _steps(value: Iterable[Relaxation]) -> tuple[Relaxation, ...]:
    return tuple(sorted(value, key=lambda r: r.after))


@attrs.frozen
class QualificationCatalog:
    """The qualifications a company uses, by name."""

    qualifications: FrozenMap[str, Qualification] = attrs.field(converter=_by_name)

    def qualification(self, name: str, where: str) -> Qualification:
        """The qualification ``name``, or a ConfigError listing the known ones."""
        try:
            return self.qualifications[name]
        except KeyError:
            raise ConfigError(
                f"{where}: unknown qualification {name!r}; known: "
                f"{sorted(self.qualifications)}"
            ) from None

    def check(self, ratings: Mapping[str, int], where: str) -> FrozenMap[str, int]:
        """Ratings (or required levels) checked against their scales."""
        return FrozenMap(
            {
                name: self.qualification(name, where).check(level, f"{where}[{name!r}]")
                for name, level in ratings.items()
            }
        )


@attrs.frozen(kw_only=True)
class Agent:
    """A service agent: rated qualifications, availability and capacity.

    Attributes:
        id: The user id (a case's owner).
        qualifications: Qualification name to rating.
        available: Whether the agent takes work now.
        capacity: How many open cases the agent may hold.
    """

    id: str
    qualifications: FrozenMap[str, int] = attrs.field(
        factory=FrozenMap, converter=_ints
    )
    available: bool = True
    capacity: int = 10

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"Agent.id: expected a text, got {self.id!r}")
        if (
            isinstance(self.capacity, bool)
            or not isinstance(self.capacity, int)
            or self.capacity < 0
        ):
            raise ConfigError(
                f"Agent {self.id!r}: capacity: expected a whole number >= 0, got "
                f"{self.capacity!r}"
            )


@attrs.frozen(kw_only=True)
class Relaxation:
    """After a case has waited ``after``, its requirements relax.

    Attributes:
        after: How long the case must have waited (since it entered its status).
        drop: Qualifications no longer required.
        lower: Qualification to the number of levels its requirement drops by.
    """

    after: timedelta
    drop: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    lower: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_ints)


def _where(case: Case) -> str:
    return f"case {case.id!r} requirements"


@attrs.frozen(kw_only=True)
class MatchReason:
    """One required qualification in a matching decision, as data.

    ``str(reason)`` renders it: ``dutch 8 >= 5``, ``dutch 2 < 5``,
    ``dutch >= 5 (not rated)``, ``patient dropped after waiting 2h``.

    Attributes:
        qualification: The qualification's name.
        asked: The level the case asks for.
        required: The level required now, after relaxation; None when a
            relaxation step dropped the requirement.
        held: The agent's rating (None: not rated, or no agent in question).
        relaxed_by: The relaxation steps that changed the requirement, in order
            (empty: not relaxed). A step that would lower a level already at the
            bottom of its scale changes nothing and is not listed.
    """

    qualification: str
    asked: int
    required: int | None
    held: int | None = None
    relaxed_by: tuple[Relaxation, ...] = ()

    @property
    def met(self) -> bool:
        """Whether the rating satisfies the requirement (a dropped one always is)."""
        return self.required is None or (
            self.held is not None and self.held >= self.required
        )

    def held_by(self, agent: Agent) -> MatchReason:
        """This requirement with ``agent``'s rating."""
        return attrs.evolve(self, held=agent.qualifications.get(self.qualification))

    @property
    def relaxation(self) -> str | None:
        """What relaxation did, as text (None: nothing)."""
        if not self.relaxed_by:
            return None
        after = format_duration(self.relaxed_by[-1].after)
        if self.required is None:
            return f"dropped {self.qualification} after waiting {after}"
        return (
            f"lowered {self.qualification} from {self.asked} to {self.required} "
            f"after waiting {after}"
        )

    def __str__(self) -> str:
        name, required, held = self.qualification, self.required, self.held
        if required is None:
            return self.relaxation or f"{name} not required"
        if held is None:
            return f"{name} >= {required} (not rated)"
        return f"{name} {held} {'>=' if held >= required else '<'} {required}"


@attrs.frozen(kw_only=True)
class Routing:
    """The company's assignment settings.

    Attributes:
        queue_user: The default queue user: every new case goes to this user.
        catalog: The qualifications and their scales.
        relaxation: Steps by which waiting cases' requirements relax, in order
            of ``after``.
        priority_ranks: A case priority to its rank in the score (unknown: 0).
    """

    queue_user: str
    catalog: QualificationCatalog
    relaxation: tuple[Relaxation, ...] = attrs.field(default=(), converter=_steps)
    priority_ranks: FrozenMap[str, int] = attrs.field(
        default=DEFAULT_PRIORITY_RANKS, converter=_ints
    )

    def route_new(self, case: Case) -> Case:
        """A new case given to the default queue user; its status is Active – New."""
        return attrs.evolve(
            case,
            owner=self.queue_user,
            status=Status.ACTIVE_NEW,
            status_since=case.created_at,
        )

    def is_waiting(self, case: Case) -> bool:
        """Owned by the queue user in Active – New: a case agents can pull."""
        return (
            case.owner == self.queue_user and case.status.name == Status.ACTIVE_NEW.name
        )

    def requirements(self, case: Case, now: datetime) -> FrozenMap[str, int]:
        """The case's requirements at ``now``, after relaxation."""
        return self.relaxed(case.requirements, self.stage(case, now), _where(case))

    def reasons(
        self, case: Case, now: datetime, agent: Agent | None = None
    ) -> tuple[MatchReason, ...]:
        """Each requirement of the case at ``now`` as data: the level asked, the
        level required after relaxation (and the steps that relaxed it), and the
        agent's rating when an agent is given. In qualification order."""
        reasons = self._reasons(case.requirements, self.stage(case, now), _where(case))
        if agent is None:
            return reasons
        return tuple(r.held_by(agent) for r in reasons)

    def stage(self, case: Case, now: datetime) -> int:
        """How many relaxation steps apply to the case at ``now``."""
        waited = to_us(now, "now") - case.status_since_us
        return bisect_right(
            [step.after // timedelta(microseconds=1) for step in self.relaxation],
            waited,
        )

    def relaxed(
        self, requirements: Mapping[str, int], stage: int, where: str
    ) -> FrozenMap[str, int]:
        """Requirements after the first ``stage`` relaxation steps."""
        return FrozenMap(
            {
                r.qualification: r.required
                for r in self._reasons(requirements, stage, where)
                if r.required is not None
            }
        )

    def _reasons(
        self, requirements: Mapping[str, int], stage: int, where: str
    ) -> tuple[MatchReason, ...]:
        asked = self.catalog.check(requirements, where)
        required: dict[str, int | None] = dict(asked)
        steps: dict[str, list[Relaxation]] = {name: [] for name in asked}
        for step in self.relaxation[:stage]:
            for name in step.drop:
                if required.get(name) is not None:
                    required[name] = None
                    steps[name].append(step)
            for name, by in step.lower.items():
                level = required.get(name)
                if level is not None:
                    low = self.catalog.qualification(name, "relaxation").low
                    if max(low, level - by) != level:
                        required[name] = max(low, level - by)
                        steps[name].append(step)
        return tuple(
            MatchReason(
                qualification=name,
                asked=asked[name],
                required=required[name],
                relaxed_by=tuple(steps[name]),
            )
            for name in sorted(asked)
        )

    def case_score(self, case: Case, now: datetime) -> int:
        """Priority rank × 10,000 + minutes waited (at most 9,999)."""
        rank = (
            self.priority_ranks.get(str(case.priority), 0)
            if case.priority is not None
            else 0
        )
        waited = (to_us(now, "now") - case.status_since_us) // 60_000_000
        return rank * 10_000 + max(0, min(waited, 9_999))


def _surplus(agent: Agent, required: Mapping[str, int]) -> int | None:
    """How far the agent exceeds the requirements (None: not qualified)."""
    total = 0
    ratings = agent.qualifications
    for name, level in required.items():
        have = ratings.get(name)
        if have is None or have < level:
            return None
        total += have - level
    return min(total, 99)


@attrs.frozen(kw_only=True)
class Assignment:
    """A decision: ``case`` goes to ``agent``, and why.

    The reasons are data (``method``, ``case_score``, ``surplus``,
    ``qualifications``); ``reasons`` renders them as sentences.

    Attributes:
        case_id: The case.
        agent: The agent's id.
        method: ``"pull"``, ``"bulk"`` or ``"manual"``.
        score: The pair's score (see the module docstring; 0 for manual).
        case_score: The case's score at ``at`` (0 for manual).
        surplus: How far the agent's ratings exceed the requirements (0 for
            manual).
        qualifications: Each requirement of the case with the agent's rating
            and any relaxation, in qualification order (empty for manual).
        before: The case as it was.
        changes: The changes to apply (``history.apply_change(file, changes,
            by=by, at=at)`` writes what they mean).
        by: Who assigns (the agent for a pull, the assigner otherwise).
        at: When.
    """

    case_id: str
    agent: str
    method: str
    score: int
    case_score: int = 0
    surplus: int = 0
    qualifications: tuple[MatchReason, ...] = ()
    before: Case
    changes: FrozenMap[str, Any]
    by: Actor
    at: datetime

    @property
    def case(self) -> Case:
        """The case as it is after the assignment."""
        return self.before.changed(self.at, by=self.by, **self.changes)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why, as sentences rendered from the data."""
        if self.method == "manual":
            return (f"assigned by hand by {self.by.id}",)
        met = [str(r) for r in self.qualifications if r.required is not None]
        waited = timedelta(
            microseconds=max(0, to_us(self.at, "at") - self.before.status_since_us)
        )
        return (
            "qualified: " + (", ".join(met) or "no requirements"),
            f"case score {self.case_score} (priority {self.before.priority!r}, "
            f"waited {format_duration(waited)}), surplus {self.surplus}",
            *(r.relaxation for r in self.qualifications if r.relaxation),
        )

    def __str__(self) -> str:
        return f"case {self.case_id} -> {self.agent}: " + "; ".join(self.reasons)


@attrs.frozen(kw_only=True)
class Unassigned:
    """A waiting case that got no agent, and why.

    Attributes:
        case_id: The case.
        requirements: Each requirement at the time, with ``held`` the best
            rating any available agent has (None: no available agent is rated).
        qualified_agents: How many available agents qualify (when more than 0,
            all of them were at capacity).
        agents: How many agents were available.
    """

    case_id: str
    requirements: tuple[MatchReason, ...]
    qualified_agents: int
    agents: int

    @property
    def reason(self) -> str:
        """Why, as a sentence rendered from the data."""
        if self.qualified_agents:
            return f"all {self.qualified_agents} qualified agents are at capacity"
        if not self.agents:
            return "no agent is available"
        for r in self.requirements:
            if not r.met:
                best = "none is rated" if r.held is None else f"the best has {r.held}"
                return (
                    f"no available agent has {r.qualification} >= {r.required} ({best})"
                )
        return "no available agent meets all requirements at once: " + ", ".join(
            f"{r.qualification} >= {r.required}"
            for r in self.requirements
            if r.required is not None
        )


def _assigned(
    case: Case,
    agent: Agent,
    *,
    method: str,
    case_score: int,
    surplus: int,
    qualifications: tuple[MatchReason, ...],
    by: Actor,
    now: datetime,
) -> Assignment:
    return Assignment(
        case_id=case.id,
        agent=agent.id,
        method=method,
        score=case_score * 100 - surplus,
        case_score=case_score,
        surplus=surplus,
        qualifications=tuple(r.held_by(agent) for r in qualifications),
        before=case,
        changes=FrozenMap({"owner": agent.id, "status": Status.ACTIVE_ASSIGNED}),
        by=by,
        at=now,
    )


def _free(agent: Agent, open_counts: Mapping[str, int]) -> int:
    return max(0, agent.capacity - open_counts.get(agent.id, 0))


def _waiting_groups(
    cases: Iterable[Case], routing: Routing, now: datetime
) -> dict[FrozenMap[str, int], list[Case]]:
    """The waiting cases grouped by their requirements at ``now`` (relaxed);
    every distinct requirement is checked and relaxed once. Groups are in no
    particular order: callers sort."""
    now_us = to_us(now, "now")
    thresholds = [
        step.after // timedelta(microseconds=1) for step in routing.relaxation
    ]
    queue, waiting = routing.queue_user, Status.ACTIVE_NEW.name
    by_key: dict[tuple[FrozenMap[str, int], int], list[Case]] = {}
    for case in cases:
        if case.owner != queue or case.status.name != waiting:
            continue
        key = (
            case.requirements,
            bisect_right(thresholds, now_us - case.status_since_us),
        )
        members = by_key.get(key)
        if members is None:
            by_key[key] = [case]
        else:
            members.append(case)
    # Relax each distinct (requirements, stage) once; merge what comes out equal.
    groups: dict[FrozenMap[str, int], list[Case]] = {}
    for (requirements, stage), members in by_key.items():
        where = f"case {members[0].id!r} requirements"
        groups.setdefault(routing.relaxed(requirements, stage, where), []).extend(
            members
        )
    return groups


class _Scores:
    """Case scores at one instant (priority rank × 10,000 + minutes waited)."""

    def __init__(self, routing: Routing, now: datetime) -> None:
        self.ranks = routing.priority_ranks
        self.now = to_us(now, "now")

    def __call__(self, case: Case) -> int:
        p = case.priority
        rank = self.ranks.get(str(p), 0) if p is not None else 0
        waited = (self.now - case.status_since_us) // 60_000_000
        return rank * 10_000 + (0 if waited < 0 else min(waited, 9_999))


class _Reasons:
    """The requirements of cases as data (:class:`MatchReason`, no agent yet),
    computed once per distinct requirements and relaxation stage."""

    def __init__(self, routing: Routing, now: datetime) -> None:
        self.routing = routing
        self.now_us = to_us(now, "now")
        self.thresholds = [
            step.after // timedelta(microseconds=1) for step in routing.relaxation
        ]
        self.cache: dict[tuple[FrozenMap[str, int], int], tuple[MatchReason, ...]] = {}

    def __call__(self, case: Case) -> tuple[MatchReason, ...]:
        stage = bisect_right(self.thresholds, self.now_us - case.status_since_us)
        key = (case.requirements, stage)
        reasons = self.cache.get(key)
        if reasons is None:
            reasons = self.cache[key] = self.routing._reasons(
                case.requirements, stage, _where(case)
            )
        return reasons


class _AgentIndex:
    """For each qualification and level, the agents rated at least that: the
    qualified agents of a requirement set are an intersection of sets."""

    def __init__(self, agents: Sequence[Agent], catalog: QualificationCatalog) -> None:
        self.all = frozenset(a.id for a in agents)
        self.at_least: dict[tuple[str, int], frozenset[str]] = {}
        for name, q in catalog.qualifications.items():
            for level in range(q.low, q.high + 1):
                self.at_least[(name, level)] = frozenset(
                    a.id
                    for a in agents
                    if a.qualifications.get(name, q.low - 1) >= level
                )

    def qualified(self, required: Mapping[str, int]) -> frozenset[str]:
        out = self.all
        for name, level in required.items():
            out = out & self.at_least[(name, level)]
            if not out:
                break
        return out


class WaitingQueue:
    """The waiting cases at one instant, grouped by requirements and sorted by
    score: build it once, then let many agents pull from it.

    ``without(case_ids)`` gives the queue minus cases taken meanwhile (cheap: the
    groups are shared, taken cases are skipped).
    """

    __slots__ = ("groups", "now", "routing", "size", "taken")

    def __init__(
        self,
        routing: Routing,
        now: datetime,
        groups: dict[FrozenMap[str, int], list[tuple[int, str, Case]]],
        taken: frozenset[str] = frozenset(),
    ) -> None:
        self.routing = routing
        self.now = now
        self.groups = groups
        self.taken = taken
        self.size = sum(map(len, groups.values())) - len(taken)

    @classmethod
    def of(cls, cases: Iterable[Case], routing: Routing, now: datetime) -> WaitingQueue:
        """The waiting cases among ``cases`` at ``now``."""
        require_aware(now, "now")
        score = _Scores(routing, now)
        groups = {
            g: sorted((-score(c), c.id, c) for c in members)
            for g, members in _waiting_groups(cases, routing, now).items()
        }
        return cls(routing, now, groups)

    def without(self, case_ids: Iterable[str]) -> WaitingQueue:
        """This queue minus the given cases."""
        return WaitingQueue(
            self.routing, self.now, self.groups, self.taken | set(case_ids)
        )

    def best_for(
        self, agent: Agent, k: int
    ) -> list[tuple[int, Case, FrozenMap[str, int], int]]:
        """The ``k`` best (pair score, case, requirements, surplus) for an agent."""
        heads = []
        for required, members in self.groups.items():
            surplus = _surplus(agent, required)
            if surplus is not None:
                heads.append((surplus, required, members))
        taken = self.taken

        def stream(
            surplus: int,
            required: FrozenMap[str, int],
            members: list[tuple[int, str, Case]],
        ) -> Iterator[tuple[int, str, Case, FrozenMap[str, int], int]]:
            for neg, cid, case in members:
                if cid not in taken:
                    yield (neg * 100 + surplus, cid, case, required, surplus)

        merged = heapq.merge(*(stream(*h) for h in heads))
        return [
            (-key, case, required, surplus)
            for key, _, case, required, surplus in itertools.islice(merged, k)
        ]

    def matching(self, agent: Agent) -> int:
        """How many waiting cases the agent is qualified for."""
        return sum(
            len(members)
            for required, members in self.groups.items()
            if _surplus(agent, required) is not None
        )

    def missing(self, agent: Agent) -> tuple[MatchReason, ...]:
        """What the agent lacks for the waiting cases it is not qualified for:
        per qualification, the lowest level some waiting case requires above
        the agent's rating (with that case's relaxation), in qualification
        order. Empty when the agent qualifies for every waiting case."""
        reasons = _Reasons(self.routing, self.now)
        nearest: dict[str, tuple[tuple[int, int, str], MatchReason]] = {}
        for required, members in self.groups.items():
            if _surplus(agent, required) is not None:
                continue
            first = next((c for _, cid, c in members if cid not in self.taken), None)
            if first is None:
                continue
            for r in reasons(first):
                r = r.held_by(agent)
                if r.met or r.required is None:
                    continue
                key = (r.required, r.asked, first.id)
                known = nearest.get(r.qualification)
                if known is None or key < known[0]:
                    nearest[r.qualification] = (key, r)
        return tuple(nearest[name][1] for name in sorted(nearest))


def _same_instant(queue: WaitingQueue, routing: Routing, now: datetime) -> None:
    """A queue's decisions hold at the instant it was built, for its routing."""
    if to_us(now, "now") != to_us(queue.now, "queue.now"):
        raise InvalidOperation(
            f"now: {now.isoformat()} is not the instant the WaitingQueue was built "
            f"at ({queue.now.isoformat()}); waiting times and relaxation would mix "
            "two instants: build a new queue with WaitingQueue.of(cases, routing, "
            "now)"
        )
    if routing is not queue.routing and routing != queue.routing:
        raise InvalidOperation(
            "routing: not the routing the WaitingQueue was built with; build a new "
            "queue with WaitingQueue.of(cases, routing, now)"
        )


# -- pull ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PullResult:
    """What a pull assigned, and why (also when nothing matched).

    Attributes:
        agent: The agent's id.
        assignments: The decisions, best first.
        free_before: The agent's free capacity before the pull.
        considered: How many cases were waiting.
        missing: When the agent qualified for no waiting case: per
            qualification, the nearest requirement it falls short of, with its
            rating (:meth:`WaitingQueue.missing`).
        reason: The outcome as a sentence, rendered from the above.
    """

    agent: str
    assignments: tuple[Assignment, ...]
    free_before: int
    considered: int
    missing: tuple[MatchReason, ...] = ()
    reason: str

    def explain(self) -> str:
        """The decision as text."""
        lines = [f"{self.agent} pulled: {self.reason}"]
        lines += [f"  {a}" for a in self.assignments]
        return "\n".join(lines)


def pull(
    agent: Agent,
    cases: Iterable[Case] | WaitingQueue,
    routing: Routing,
    *,
    now: datetime,
    open_counts: Mapping[str, int] | None = None,
) -> PullResult:
    """The best waiting cases the agent is fully qualified for, up to its free
    capacity, assigned to it (owner and Active – Assigned).

    Args:
        agent: The agent asking for work.
        cases: Cases to consider (only waiting ones count), or a
            :class:`WaitingQueue` built once for many pulls.
        routing: The company's settings.
        now: The instant (waiting time, relaxation). A queue must have been
            built at this instant, with this routing (else
            :class:`~escalate.errors.InvalidOperation`): one pull decides at
            one instant.
        open_counts: Agent id to the open cases it owns now.
    """
    require_aware(now, "now")
    routing.catalog.check(agent.qualifications, f"agent {agent.id!r}")
    free = _free(agent, open_counts or {})
    if isinstance(cases, WaitingQueue):
        _same_instant(cases, routing, now)
        queue = cases
    else:
        queue = WaitingQueue.of(cases, routing, now)

    def result(
        assignments: tuple[Assignment, ...],
        reason: str,
        missing: tuple[MatchReason, ...] = (),
    ) -> PullResult:
        return PullResult(
            agent=agent.id,
            assignments=assignments,
            free_before=free,
            considered=queue.size,
            missing=missing,
            reason=reason,
        )

    if not agent.available:
        return result((), "the agent is not available")
    if free == 0:
        return result((), f"no free capacity (capacity {agent.capacity}, all taken)")
    if not queue.size:
        return result((), "no case is waiting")
    best = queue.best_for(agent, free)
    if not best:
        missing = queue.missing(agent)
        return result(
            (),
            f"none of the {queue.size} waiting cases matches the agent's "
            "qualifications; nearest missing: " + ", ".join(map(str, missing)),
            missing,
        )
    actor = Actor(agent.id)
    reasons = _Reasons(routing, now)
    chosen = tuple(
        _assigned(
            case,
            agent,
            method="pull",
            case_score=(pair_score + surplus) // 100,
            surplus=surplus,
            qualifications=reasons(case),
            by=actor,
            now=now,
        )
        for pair_score, case, _, surplus in best
    )
    return result(chosen, f"{len(chosen)} best matching cases (free capacity {free})")


# -- manual assignment and suggestions -------------------------------------------


@attrs.frozen(kw_only=True)
class AssignmentRecord:
    """A past manual assignment: who assigned which case to whom, when."""

    assigner: str
    agent: str
    case_id: str
    at: datetime

    def __attrs_post_init__(self) -> None:
        for name in ("assigner", "agent", "case_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"AssignmentRecord.{name}: expected a non-empty text, got {value!r}"
                )
        require_aware(self.at, "AssignmentRecord.at")


def suggest(
    assigner: str,
    case: Case,
    history: Iterable[AssignmentRecord],
    agents: Iterable[Agent],
    routing: Routing,
    *,
    now: datetime,
    limit: int = 5,
) -> tuple[str, ...]:
    """Agents to suggest for a manual assignment, from ``assigner``'s own recent
    assignments: most recent first, distinct, at most ``limit``, only agents who
    are available and qualified where the case requires it. Ties (same instant)
    break by agent id."""
    if limit < 0:
        raise ConfigError(f"limit: expected a number >= 0, got {limit}")
    by_id = {a.id: a for a in agents}
    required = routing.requirements(case, now)
    mine = sorted(
        (r for r in history if r.assigner == assigner),
        key=lambda r: (-to_us(r.at, "at"), r.agent),
    )
    out: list[str] = []
    for record in mine:
        agent = by_id.get(record.agent)
        if agent is None or record.agent in out or not agent.available:
            continue
        if _surplus(agent, required) is None:
            continue
        out.append(record.agent)
        if len(out) == limit:
            break
    return tuple(out)


def assign_manually(case: Case, agent: str, *, by: Actor, now: datetime) -> Assignment:
    """Assign a case by hand: the owner changes, the status does not (the seed:
    the user sets Active – Assigned themselves)."""
    if not isinstance(by, Actor):
        raise WrongTypeError(f"by: expected an Actor, got {by!r}")
    if not agent:
        raise ConfigError(f"agent: expected a user id, got {agent!r}")
    require_aware(now, "now")
    return Assignment(
        case_id=case.id,
        agent=agent,
        method="manual",
        score=0,
        before=case,
        changes=FrozenMap({"owner": agent}),
        by=by,
        at=now,
    )


# -- bulk assignment -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BulkResult:
    """A bulk assignment at maximum coverage, next to a plain greedy pass.

    Attributes:
        assignments: The decisions, by case id.
        unassigned: The waiting cases left, with why.
        coverage: How many cases were assigned (the maximum possible).
        total_score: The sum of the assignments' scores.
        greedy_coverage: What a greedy pass (best score first) assigns.
        greedy_score: That pass's total score.
    """

    assignments: tuple[Assignment, ...]
    unassigned: tuple[Unassigned, ...]
    coverage: int
    total_score: int
    greedy_coverage: int
    greedy_score: int


def assign_bulk(
    cases: Iterable[Case],
    agents: Iterable[Agent],
    routing: Routing,
    *,
    now: datetime,
    by: Actor,
    open_counts: Mapping[str, int] | None = None,
) -> BulkResult:
    """Assign as many waiting cases as possible to available agents within their
    free capacities (exact maximum coverage), with a good total score.

    Cases with the same requirements are grouped; a maximum flow over groups and
    agents (started from the greedy assignment, best score first) gives how many
    cases of each group each agent takes; within a group the best-scored cases
    go first, each to its best-fitting agent. Pure Python.
    """
    require_aware(now, "now")
    counts = open_counts or {}
    pool = sorted((a for a in agents if a.available), key=lambda a: a.id)
    for a in pool:
        routing.catalog.check(a.qualifications, f"agent {a.id!r}")
    by_id = {a.id: a for a in pool}
    free = {a.id: _free(a, counts) for a in pool}
    score = _Scores(routing, now)
    index = _AgentIndex(pool, routing.catalog)
    best_rating: dict[str, int] = {}
    for a in pool:
        for name, rating in a.qualifications.items():
            best_rating[name] = max(rating, best_rating.get(name, rating))

    # Group the cases by their requirements now; find each group's agents.
    raw = _waiting_groups(cases, routing, now)
    keys = sorted(raw, key=lambda g: sorted(g.items()))
    groups: dict[FrozenMap[str, int], list[tuple[int, Case]]] = {}
    fits: dict[FrozenMap[str, int], list[tuple[int, str]]] = {}
    for g in keys:
        groups[g] = sorted(
            ((score(c), c) for c in raw[g]), key=lambda sc: (-sc[0], sc[1].id)
        )
        fits[g] = sorted(
            (s, aid)
            for aid in index.qualified(g)
            if (s := _surplus(by_id[aid], g)) is not None
        )

    # Greedy: best case score first, each case to the tightest agent with room
    # (a pointer per group skips the agents found full: they never free up).
    greedy_free = dict(free)
    greedy: dict[str, tuple[str, int]] = {}
    pointer = dict.fromkeys(keys, 0)
    order = sorted(
        ((-sc, case.id, g, case) for g in keys for sc, case in groups[g]),
        key=lambda x: (x[0], x[1]),
    )
    for neg, _, g, case in order:
        options, i = fits[g], pointer[g]
        while i < len(options) and greedy_free[options[i][1]] == 0:
            i += 1
        pointer[g] = i
        if i < len(options):
            surplus, agent = options[i]
            greedy_free[agent] -= 1
            greedy[case.id] = (agent, -neg * 100 - surplus)
    greedy_score = sum(s for _, s in greedy.values())

    # Maximum flow over groups and agents, starting from the greedy flow.
    node = {a.id: len(keys) + i for i, a in enumerate(pool)}
    source, sink = len(keys) + len(pool), len(keys) + len(pool) + 1
    flow = MaxFlow(sink + 1)
    taken: dict[tuple[int, str], int] = {}
    case_group = {case.id: gi for gi, g in enumerate(keys) for _, case in groups[g]}
    for cid, (agent, _) in greedy.items():
        key = (case_group[cid], agent)
        taken[key] = taken.get(key, 0) + 1
    used_by_group: dict[int, int] = {}
    for (gi, _), n in taken.items():
        used_by_group[gi] = used_by_group.get(gi, 0) + n
    edges: dict[tuple[int, str], list[int]] = {}
    for gi, g in enumerate(keys):
        used = used_by_group.get(gi, 0)
        flow.edge(source, gi, len(groups[g]), used)
        for _, agent in fits[g]:
            edges[(gi, agent)] = flow.edge(
                gi, node[agent], _INF, taken.get((gi, agent), 0)
            )
    for a in pool:
        used = free[a.id] - greedy_free[a.id]
        flow.edge(node[a.id], sink, free[a.id], used)
    flow.run(source, sink)

    # Turn group flows into case assignments: best cases first, tightest agents.
    reasons = _Reasons(routing, now)
    assignments: list[Assignment] = []
    unassigned: list[Unassigned] = []
    for gi, g in enumerate(keys):
        quota: list[tuple[int, str, int]] = []
        for surplus, agent in fits[g]:
            n = _INF - edges[(gi, agent)][1]  # the flow on the edge
            quota.extend([(surplus, agent, n)] if n > 0 else [])
        k = 0
        for sc, case in groups[g]:
            if k >= len(quota):
                unassigned.append(
                    Unassigned(
                        case_id=case.id,
                        requirements=tuple(
                            attrs.evolve(r, held=best_rating.get(r.qualification))
                            for r in reasons(case)
                        ),
                        qualified_agents=len(fits[g]),
                        agents=len(pool),
                    )
                )
                continue
            surplus, agent, n = quota[k]
            quota[k] = (surplus, agent, n - 1)
            if n == 1:
                k += 1
            assignments.append(
                _assigned(
                    case,
                    by_id[agent],
                    method="bulk",
                    case_score=sc,
                    surplus=surplus,
                    qualifications=reasons(case),
                    by=by,
                    now=now,
                )
            )
    assignments.sort(key=lambda a: a.case_id)
    unassigned.sort(key=lambda u: u.case_id)
    return BulkResult(
        assignments=tuple(assignments),
        unassigned=tuple(unassigned),
        coverage=len(assignments),
        total_score=sum(a.score for a in assignments),
        greedy_coverage=len(greedy),
        greedy_score=greedy_score,
    )

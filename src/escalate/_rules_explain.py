"""What governs one case and why: :func:`evaluate` and its explanation (see
:mod:`escalate.rules`)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Container, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Final

import attrs

from escalate._durations import format_duration
from escalate._instants import (
    fraction_of,
    from_us,
    to_us,
    us_of,
    utc_from_us,
)
from escalate._keys import action_key, basis_part
from escalate._rules_book import (
    ActionKind,
    ConditionResult,
    EscalationAction,
    RuleBook,
    RuleItem,
    TimeBasis,
)
from escalate._rules_due import DueAction, _basis_us, _calendar, _expiry, _reach
from escalate.hours import BusinessHours
from escalate.model import Case, Status

# -- evaluation -----------------------------------------------------------------------


class Verdict(enum.Enum):
    """Why a case is (or is not) governed by an item."""

    GOVERNED = "governed"
    DISARMED = "disarmed"
    NO_MATCH = "no item matches"
    CASE_CLOSED = "case closed"
    SCHEDULER_OFF = "scheduler off"
    NO_ACTIVE_RULE = "no active rule"


@attrs.frozen
class ItemTrial:
    """An item that was tried on the case, in order."""

    item: RuleItem
    matched: bool
    conditions: tuple[ConditionResult, ...]


@attrs.frozen
class StepStatus:
    """One ladder step (or warning) of the governing item, at the instant asked."""

    kind: ActionKind
    action: EscalationAction
    index: int
    due_at: datetime | None
    due: bool
    key: str
    threshold: Fraction | None = None
    superseded: bool = False
    """Due, but the item fires only its latest due step (``latest_only``)."""


@attrs.frozen(kw_only=True)
class Evaluation:
    """What governs one case at ``now``, each step's due instant, and why.

    Attributes:
        case: The case.
        now: The instant asked about.
        verdict: Governed, disarmed, or why not.
        rule: The active rule's name, if any.
        trials: The items tried, in order, with each condition's result.
        item: The governing item, if any.
        basis_at: The instant its clock counts from.
        elapsed: Business time from the basis to ``now``.
        steps: Each action (and warning) with its due instant and whether due.
        expiry: The Pending → Expired step, if the policy applies to the case.
    """

    case: Case
    now: datetime
    verdict: Verdict
    rule: str | None = None
    trials: tuple[ItemTrial, ...] = ()
    item: RuleItem | None = None
    basis_at: datetime | None = None
    elapsed: timedelta | None = None
    steps: tuple[StepStatus, ...] = ()
    expiry: DueAction | None = None
    expiry_due: bool = False

    @property
    def due(self) -> tuple[StepStatus, ...]:
        """The steps due at ``now`` that fire (not superseded)."""
        return tuple(s for s in self.steps if s.due and not s.superseded)

    @property
    def next_due_at(self) -> datetime | None:
        """The earliest due instant after ``now`` (steps, warnings, expiry)."""
        x = to_us(self.now, "now")
        future = [
            to_us(s.due_at, "due_at")
            for s in self.steps
            if s.due_at is not None and not s.due
        ]
        if self.expiry is not None and not self.expiry_due:
            future.append(to_us(self.expiry.due_at, "due_at"))
        future = [f for f in future if f > x]
        return None if not future else from_us(min(future), UTC)

    def actions(self, already_done: Container[str] = frozenset()) -> list[DueAction]:
        """The due actions of this case not in ``already_done``: what
        ``due_actions`` yields for it, in the same order, with UTC instants."""
        now = to_us(self.now, "now")
        found: list[tuple[tuple[Any, ...], DueAction]] = []
        expiry = self.expiry
        if expiry is not None and self.expiry_due and expiry.key not in already_done:
            found.append(((to_us(expiry.due_at, "due_at"), -1), expiry))
        basis = (
            None
            if self.basis_at is None
            else utc_from_us(to_us(self.basis_at, "basis"))
        )
        for s in self.due:
            if s.key in already_done or basis is None or self.item is None:
                continue
            due = now if s.due_at is None else to_us(s.due_at, "due_at")
            order = (0, s.threshold) if s.kind is ActionKind.WARNING else (1,)
            found.append(
                (
                    (due, s.index, *order),
                    DueAction(
                        key=s.key,
                        kind=s.kind,
                        case_id=self.case.id,
                        due_at=utc_from_us(due),
                        basis_at=basis,
                        rule=self.rule,
                        item_id=self.item.id,
                        action=s.action,
                        threshold=s.threshold,
                    ),
                )
            )
        found.sort(key=lambda pair: pair[0])
        return [action for _, action in found]

    def explain(self) -> Explanation:
        """The reasons, as data, with a text rendering (``str(...)``)."""
        return Explanation.of(self)


@attrs.frozen(kw_only=True)
class Explanation:
    """Why an evaluation came out as it did.

    ``lines`` is the readable rendering, one fact per line; the other attributes
    are the same facts as data.
    """

    verdict: Verdict
    summary: str
    trials: tuple[ItemTrial, ...]
    basis: TimeBasis | None
    basis_at: datetime | None
    elapsed: timedelta | None
    steps: tuple[tuple[StepStatus, str], ...]
    lines: tuple[str, ...]

    @classmethod
    def of(cls, ev: Evaluation) -> Explanation:
        lines = [f"case {ev.case.id} ({ev.case.number}) at {ev.now.isoformat()}"]
        summary = _SUMMARY[ev.verdict](ev)
        lines.append(summary)
        for trial in ev.trials:
            label = trial.item.name or trial.item.id
            lines.append(
                f"  item {label!r}: {'matches' if trial.matched else 'does not match'}"
                + (
                    f" (logic {trial.item.logic_text})"
                    if trial.item.conditions
                    else " (no conditions)"
                )
            )
            for r in trial.conditions:
                lines.append(
                    f"    {r.number}. {r.condition}: the case has {r.actual!r} -> "
                    f"{str(r.result).lower()}"
                )
        steps: list[tuple[StepStatus, str]] = []
        if ev.item is not None and ev.basis_at is not None:
            lines.append(
                f"  basis {ev.item.basis.value}: {ev.basis_at.isoformat()}; business "
                f"time since: {_fmt(ev.elapsed)}"
                + (f" in calendar {ev.item.hours!r}" if ev.item.hours else " (24/7)")
            )
            for s in ev.steps:
                why = _step_why(s, ev)
                steps.append((s, why))
                lines.append(f"    {why}")
        if ev.expiry is not None:
            state = "due" if ev.expiry_due else "not due yet"
            lines.append(
                f"  expiry: {ev.case.status.name} since "
                f"{ev.case.status_since.isoformat()} -> {ev.expiry.new_status} at "
                f"{ev.expiry.due_at.isoformat()} ({state})"
            )
        return cls(
            verdict=ev.verdict,
            summary=summary,
            trials=ev.trials,
            basis=None if ev.item is None else ev.item.basis,
            basis_at=ev.basis_at,
            elapsed=ev.elapsed,
            steps=tuple(steps),
            lines=tuple(lines),
        )

    def __str__(self) -> str:
        return "\n".join(self.lines)


def step_label(
    kind: ActionKind,
    action: EscalationAction | None,
    threshold: Fraction | None = None,
    new_status: Status | None = None,
) -> str:
    """A step as people name it: ``step 'manager'``, ``warning 75% of step
    'lead'``, ``expiry to Expired``."""
    if kind is ActionKind.EXPIRY:
        return f"expiry to {new_status.name if new_status else 'the expired status'}"
    assert action is not None
    if kind is ActionKind.WARNING:
        assert threshold is not None
        percent = threshold * 100
        shown = (
            str(percent.numerator)
            if percent.denominator == 1
            else f"{percent.numerator / percent.denominator:.4g}"
        )
        return f"warning {shown}% of step {action.id!r}"
    return f"step {action.id!r}"


def _count(steps: Iterable[StepStatus]) -> int:
    return sum(s.kind is ActionKind.ESCALATION for s in steps)


def _iso_or_none(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _fmt(d: timedelta | None) -> str:
    return "none" if d is None else format_duration(d)


def _step_why(s: StepStatus, ev: Evaluation) -> str:
    a = s.action
    what = (
        step_label(s.kind, a, s.threshold)
        if s.kind is ActionKind.WARNING
        else f"step {a.id!r} (after {format_duration(a.after)}, to {a.escalate_to})"
    )
    if s.due_at is None:
        return f"{what}: not due: its due instant lies beyond the calendar's horizon"
    if s.superseded:
        return (
            f"{what}: due since {s.due_at.isoformat()} but superseded: the item "
            "fires only its latest due step"
        )
    if s.due:
        return f"{what}: due since {s.due_at.isoformat()} (elapsed {_fmt(ev.elapsed)})"
    return f"{what}: not due until {s.due_at.isoformat()}"


_SUMMARY: Final[dict[Verdict, Callable[[Evaluation], str]]] = {
    Verdict.SCHEDULER_OFF: lambda ev: (
        "nothing escalates: the escalation scheduler is off"
    ),
    Verdict.NO_ACTIVE_RULE: lambda ev: "nothing escalates: no rule is active",
    Verdict.CASE_CLOSED: lambda ev: (
        f"nothing escalates: the case is closed (status {ev.case.status.name!r})"
    ),
    Verdict.NO_MATCH: lambda ev: f"rule {ev.rule!r}: no item matches the case",
    Verdict.DISARMED: lambda ev: (
        f"rule {ev.rule!r}: item {ev.item.id if ev.item else None!r} governs the case "
        "but is disarmed: its basis is 'created until modified' and the case was "
        f"modified at {_iso_or_none(ev.case.modified_at)}"
    ),
    Verdict.GOVERNED: lambda ev: (
        f"rule {ev.rule!r}: item {ev.item.id if ev.item else None!r} governs the case "
        f"({_count(ev.due)} of {_count(ev.steps)} steps due)"
    ),
}


def evaluate(
    book: RuleBook,
    case: Case,
    now: datetime,
    calendars: Mapping[str, BusinessHours] | None = None,
) -> Evaluation:
    """Which item governs ``case`` at ``now``, each step's due instant, and why.

    Args:
        book: The rule book.
        case: The case.
        now: The instant to evaluate at (aware).
        calendars: Calendar name to business hours, for items that name one.

    Raises:
        ConfigError: An item names a calendar that ``calendars`` lacks.
    """
    calendars = calendars or {}
    x_now = to_us(now, "now")
    expiry = _expiry(book, case, x_now, calendars)

    def result(verdict: Verdict, **facts: Any) -> Evaluation:
        return Evaluation(
            case=case,
            now=now,
            verdict=verdict,
            expiry=None if expiry is None else expiry[0],
            expiry_due=expiry is not None and expiry[1],
            **facts,
        )

    if case.status.closed:
        return result(Verdict.CASE_CLOSED)
    if not book.scheduler_on:
        return result(Verdict.SCHEDULER_OFF)
    rule = book.active_rule
    if rule is None:
        return result(Verdict.NO_ACTIVE_RULE)
    trials = []
    for item in rule.items:
        matched = item.matches(case)
        trials.append(ItemTrial(item, matched, item.condition_results(case)))
        if matched:
            break
    else:
        return result(Verdict.NO_MATCH, rule=rule.name, trials=tuple(trials))
    basis = _basis_us(item, case)
    if basis is None:
        return result(Verdict.DISARMED, rule=rule.name, trials=tuple(trials), item=item)
    hours = _calendar(
        calendars, item.hours, f"rule {rule.name!r}, item {item.id!r}: hours"
    )
    elapsed = hours.elapsed_us(basis, x_now) if x_now >= basis else 0
    started = x_now >= basis
    at = basis_part(basis)

    def step(
        i: int, a: EscalationAction, need: int, warning: Fraction | None = None
    ) -> StepStatus:
        """Action ``a``'s step (its warning at ``warning``, if given), reached
        after ``need`` of business time."""
        due_at = _reach(hours, basis, need)
        kind = ActionKind.ESCALATION if warning is None else ActionKind.WARNING
        parts = (at,) if warning is None else (at, warning)
        return StepStatus(
            kind=kind,
            action=a,
            index=i,
            due_at=None if due_at is None else from_us(due_at, hours.tz),
            due=started and elapsed >= need,
            key=action_key(kind.value, case.id, item.id, a.id, *parts),
            threshold=warning,
        )

    steps = []
    for i, a in enumerate(item.actions):
        after = us_of(a.after)
        steps += [step(i, a, fraction_of(f, after), f) for f in a.warnings]
        steps.append(step(i, a, after))
    if item.latest_only:
        # Only the latest due step fires; a warning only while its step is ahead.
        step_due = {s.index for s in steps if s.kind is ActionKind.ESCALATION and s.due}
        if step_due:
            afters = [us_of(a.after) for a in item.actions]
            latest = max(step_due, key=lambda i: (afters[i], i))
            steps = [
                attrs.evolve(s, superseded=True)
                if s.due
                and (
                    s.index in step_due
                    if s.kind is ActionKind.WARNING
                    else s.index != latest
                )
                else s
                for s in steps
            ]
    return result(
        Verdict.GOVERNED,
        rule=rule.name,
        trials=tuple(trials),
        item=item,
        basis_at=from_us(basis, hours.tz),
        elapsed=timedelta(microseconds=elapsed),
        steps=tuple(steps),
    )

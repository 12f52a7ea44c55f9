"""Planning a change of the settings: what it does to each open case and lead,
before it is applied.

A change of the rule book, the calendars or the lead types moves deadlines. This
module says how, as data, the way Terraform shows a plan before it applies one:
for one case, :func:`plan_case` evaluates it under the settings before and after
the change, at the same instant and with the same record of what has fired, and
compares. :func:`plan_lead` does the same for a lead. Nothing is written.

For each case or lead (a :class:`SubjectPlan`):

* what governs it before and after (the rule item, or the lead's phase), and its
  next deadline before and after;
* ``due_now``: the steps the change makes due at once: due after the change, not
  due before it, not carried out. The next tick fires them (or, with
  ``on_change = "skip"``, they are recorded as skipped);
* ``overdue``: steps that were due before the change already and are still due,
  not carried out yet (the store was not ticked since): the next tick fires
  them whatever the change;
* ``never``: steps waiting before the change that the case will never reach now
  (their item no longer governs it, the step or warning is gone, or its basis
  moved), as the case stands;
* ``moved``: steps and warnings still waiting whose due instant moves.

Due steps are found with exactly the evaluator the tick uses
(:meth:`~escalate.rules.Evaluation.actions`), so what the plan calls due is what
a tick fires. A :class:`ChangePlan` gathers the rows with a summary of counts
(``str(plan)`` renders the summary, then the rows that change).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Container, Iterable
from datetime import UTC, datetime, tzinfo
from fractions import Fraction
from typing import Any, Final

import attrs

from escalate._instants import to_us, utc_from_us
from escalate._keys import basis_part, key_part
from escalate._rule_index import Entry, RulePlan
from escalate._rules_due import Timed, _basis_us, _reach
from escalate._rules_due import _expiry as _due_expiry
from escalate._rules_due import _plan as _rule_plan
from escalate.errors import EscalateError
from escalate.hours import BusinessHours
from escalate.leads import Lead, lead_steps
from escalate.model import Case
from escalate.ports import CaseState
from escalate.rules import (
    ActionKind,
    DueAction,
    EscalationAction,
    Evaluation,
    RuleItem,
    evaluate,
    step_label,
)
from escalate.settings import OnChange, Settings
from escalate.settings import calendar_key as _calendar_key
from escalate.timers import Phase

__all__ = [
    "AppliedChange",
    "ChangePlan",
    "MovedStep",
    "PlanSummary",
    "PlannedStep",
    "PlanSubject",
    "SubjectPlan",
    "plan_case",
    "plan_lead",
]

_PHASES: Final = {Phase.FIRST: "accept", Phase.SECOND: "first activity"}


class PlanSubject(enum.Enum):
    """What a row of a plan is about."""

    CASE = "case"
    LEAD = "lead"


@attrs.frozen(kw_only=True)
class PlannedStep:
    """A step (escalation, warning, expiry, lead reminder) of a plan.

    Attributes:
        key: Its idempotency key.
        label: What it is, for people (``step 'manager'``, ``warning 75% of step
            'lead'``, ``expiry to Expired``, ``accept: internal reminder``).
        due_at: When it is due (UTC), or None beyond the calendar's horizon.
        kind: Escalation, warning or expiry (None for a lead's step).
    """

    key: str
    label: str
    due_at: datetime | None
    kind: ActionKind | None = None


@attrs.frozen(kw_only=True)
class MovedStep:
    """A waiting step whose due instant the change moves."""

    key: str
    label: str
    before: datetime | None
    after: datetime | None


@attrs.frozen(kw_only=True)
class SubjectPlan:
    """What a change does to one open case or lead (see the module docstring).

    Attributes:
        subject: Case or lead.
        id: Its id.
        governed_before: What governed it before (``item 'gold'``, ``accept
            phase``), or None.
        governed_after: What governs it after, or None.
        next_due_before: Its next deadline before (UTC), or None.
        next_due_after: Its next deadline after (UTC), or None.
        due_now: The steps the change makes due at once.
        overdue: Steps due before the change already, still due.
        never: Steps waiting before that will never fire now.
        moved: Waiting steps whose due instant moves.
        error: Why the settings after the change cannot evaluate it, if so (the
            next tick reports it as an error of this case).
    """

    subject: PlanSubject
    id: str
    governed_before: str | None = None
    governed_after: str | None = None
    next_due_before: datetime | None = None
    next_due_after: datetime | None = None
    due_now: tuple[PlannedStep, ...] = ()
    overdue: tuple[PlannedStep, ...] = ()
    never: tuple[PlannedStep, ...] = ()
    moved: tuple[MovedStep, ...] = ()
    error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the change does anything to it."""
        return bool(
            self.governed_before != self.governed_after
            or self.next_due_before != self.next_due_after
            or self.due_now
            or self.never
            or self.moved
            or self.error
        )

    def lines(self, tz: tzinfo | None = None) -> list[str]:
        """The row as text: one line, then one per step; instants in ``tz``
        (default UTC)."""

        def _when(t: datetime | None) -> str:
            return "none" if t is None else t.astimezone(tz or UTC).isoformat()

        head = f"{self.subject.value} {self.id}: "
        if self.error is not None:
            return [head + f"error: {self.error}"]
        parts = []
        if self.governed_before != self.governed_after:
            parts.append(
                f"{self.governed_before or 'nothing'} -> "
                f"{self.governed_after or 'nothing'}"
            )
        else:
            parts.append(self.governed_after or "nothing governs it")
        parts.append(
            f"next deadline {_when(self.next_due_before)} -> "
            f"{_when(self.next_due_after)}"
        )
        out = [head + "; ".join(parts)]
        out += [
            f"  due at once: {s.label} (due {_when(s.due_at)})" for s in self.due_now
        ]
        out += [f"  never fires: {s.label}" for s in self.never]
        out += [
            f"  moves: {m.label}: {_when(m.before)} -> {_when(m.after)}"
            for m in self.moved
        ]
        return out


@attrs.frozen(kw_only=True)
class AppliedChange:
    """What bringing a store to new settings did.

    Attributes:
        plan: The plan it followed, made when the change was applied.
        recomputed: How many open cases and leads got their next due instant
            recomputed.
        skipped: How many steps were recorded as skipped (``on_change =
            "skip"``): made due at once by the change, never sent.
    """

    plan: ChangePlan
    recomputed: int
    skipped: int

    def lines(self) -> list[str]:
        """The plan's summary, then what applying it did."""
        plan = self.plan
        before = "none" if plan.before is None else plan.before[:12]
        return [
            f"applied at {plan.at.isoformat()}: settings {before} -> {plan.after[:12]}",
            *plan.summary_lines()[1:],
            f"{self.recomputed} open cases and leads recomputed, {self.skipped} "
            "steps recorded as skipped",
        ]


@attrs.frozen(kw_only=True)
class PlanSummary:
    """The counts of a :class:`ChangePlan`.

    Attributes:
        cases: Open cases planned.
        leads: Leads planned.
        changed: Cases and leads the change does anything to.
        deadlines_moved: Cases and leads whose next deadline moves.
        due_now: Steps made due at once (fire, or are skipped, on the next tick).
        overdue: Steps due before the change already (fire on the next tick).
        never: Steps that will never fire now.
        moved: Waiting steps and warnings whose due instant moves.
        errors: Cases and leads the new settings cannot evaluate.
    """

    cases: int
    leads: int
    changed: int
    deadlines_moved: int
    due_now: int
    overdue: int
    never: int
    moved: int
    errors: int


_Unchanged = tuple[PlanSubject, str, str | None, int | None]
"""A case or lead the change leaves as it was: subject, id, what governs it, its
next due instant in µs (UTC)."""


def _row(entry: SubjectPlan | _Unchanged) -> SubjectPlan:
    if isinstance(entry, SubjectPlan):
        return entry
    subject, subject_id, governed, next_us = entry
    due = None if next_us is None else utc_from_us(next_us)
    return SubjectPlan(
        subject=subject,
        id=subject_id,
        governed_before=governed,
        governed_after=governed,
        next_due_before=due,
        next_due_after=due,
    )


def _entries(
    value: Iterable[SubjectPlan | _Unchanged],
) -> tuple[SubjectPlan | _Unchanged, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ChangePlan:
    """What applying new settings would do to every open case and lead.

    Build one with ``ChangePlan(at=..., before=..., after=..., entries=...)``
    where each entry is a :class:`SubjectPlan`, or for a case or lead the change
    leaves as it was, the compact ``(subject, id, governed, next due µs)``: a plan
    over many cases keeps those cheaply and makes rows of them when asked.

    Attributes:
        at: The instant planned for.
        before: The digest of the settings in force (None if the store has none).
        after: The digest of the new settings.
        on_change: What the new settings do with steps due at once: fire them
            on the next tick, or record them as skipped when applied.
    """

    at: datetime
    before: str | None
    after: str
    on_change: OnChange = OnChange.FIRE
    _entries: tuple[SubjectPlan | _Unchanged, ...] = attrs.field(
        alias="entries", converter=_entries
    )

    @functools.cached_property
    def rows(self) -> tuple[SubjectPlan, ...]:
        """One per open case (by id), then one per lead (by id)."""
        return tuple(map(_row, self._entries))

    @functools.cached_property
    def changes(self) -> tuple[SubjectPlan, ...]:
        """The rows of the cases and leads the change does anything to."""
        return tuple(
            e for e in self._entries if isinstance(e, SubjectPlan) and e.changed
        )

    @functools.cached_property
    def summary(self) -> PlanSummary:
        """The counts."""
        plans = [e for e in self._entries if isinstance(e, SubjectPlan)]
        cases = sum(
            (e.subject if isinstance(e, SubjectPlan) else e[0]) is PlanSubject.CASE
            for e in self._entries
        )
        return PlanSummary(
            cases=cases,
            leads=len(self._entries) - cases,
            changed=sum(r.changed for r in plans),
            deadlines_moved=sum(r.next_due_before != r.next_due_after for r in plans),
            due_now=sum(len(r.due_now) for r in plans),
            overdue=sum(len(r.overdue) for r in plans),
            never=sum(len(r.never) for r in plans),
            moved=sum(len(r.moved) for r in plans),
            errors=sum(r.error is not None for r in plans),
        )

    @property
    def unchanged(self) -> bool:
        """The settings are the ones in force: nothing to apply."""
        return self.before == self.after

    def summary_lines(self) -> list[str]:
        """The summary as text."""
        s = self.summary
        if self.unchanged:
            return [f"the settings in force are these ({self.after[:12]}): no change"]
        lines = [
            f"plan at {self.at.isoformat()}: settings "
            f"{'none' if self.before is None else self.before[:12]} -> "
            f"{self.after[:12]}",
            f"{s.cases} open cases and {s.leads} leads: {s.changed} change, "
            f"{s.deadlines_moved} next deadlines move",
            f"{s.due_now} steps become due at once, {s.never} will never fire, "
            f"{s.moved} waiting steps and warnings move",
        ]
        if s.due_now:
            lines.append(
                'on_change = "skip": applying records the steps due at once as '
                "skipped (expiries still happen)"
                if self.on_change is OnChange.SKIP
                else 'on_change = "fire": the next tick after applying fires the '
                "steps due at once"
            )
        if s.overdue:
            lines.append(
                f"{s.overdue} steps were overdue before the change and fire on the "
                "next tick whatever it does"
            )
        if s.errors:
            lines.append(f"{s.errors} cases and leads cannot be evaluated")
        return lines

    def lines(self, *, every_row: bool = False) -> list[str]:
        """The summary, then the rows that change (every row if asked)."""
        rows = self.rows if every_row else self.changes
        out = self.summary_lines()
        if rows:
            out.append("")
        for r in rows:
            out += r.lines(self.at.tzinfo)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def data(self) -> dict[str, Any]:
        """The plan as JSON-ready data (instants as ISO 8601 text)."""
        return {
            "at": self.at.isoformat(),
            "before": self.before,
            "after": self.after,
            "summary": attrs.asdict(self.summary),
            "rows": [_row_data(r) for r in self.rows],
        }


def _row_data(row: SubjectPlan) -> dict[str, Any]:
    def step(s: PlannedStep) -> dict[str, Any]:
        return {"key": s.key, "label": s.label, "due_at": _iso(s.due_at)}

    return {
        "subject": row.subject.value,
        "id": row.id,
        "changed": row.changed,
        "governed_before": row.governed_before,
        "governed_after": row.governed_after,
        "next_due_before": _iso(row.next_due_before),
        "next_due_after": _iso(row.next_due_after),
        "due_now": [step(s) for s in row.due_now],
        "overdue": [step(s) for s in row.overdue],
        "never": [step(s) for s in row.never],
        "moved": [
            {
                "key": m.key,
                "label": m.label,
                "before": _iso(m.before),
                "after": _iso(m.after),
            }
            for m in row.moved
        ],
        "error": row.error,
    }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


# -- one subject ---------------------------------------------------------------------


class _Rung:
    """One step of one side of a comparison. Its due instant (µs, UTC) is known,
    or computed on demand from the item's calendar, basis and need: a plan only
    needs the instants of steps whose definition changed, and the earliest."""

    __slots__ = ("_due_at", "basis", "due", "hours", "key", "kind", "label_of", "need")

    def __init__(
        self,
        key: str,
        due: bool,
        label_of: tuple[Any, ...],
        *,
        due_at: int | None = None,
        hours: BusinessHours | None = None,
        basis: int = 0,
        need: int = 0,
        kind: ActionKind | None = None,
    ) -> None:
        self.key = key
        self.due = due
        self.label_of = label_of
        self.hours = hours
        self.basis = basis
        self.need = need
        self.kind = kind
        self._due_at = due_at

    def due_at(self, reach: _Reach) -> int | None:
        if self.hours is None:
            return self._due_at
        return reach(self.hours, self.basis, self.need)

    def label(self) -> str:
        if self.kind is None:
            return str(self.label_of[0])
        return step_label(self.kind, *self.label_of)

    def step(self, reach: _Reach) -> PlannedStep:
        due = self.due_at(reach)
        return PlannedStep(
            key=self.key,
            label=self.label(),
            due_at=None if due is None else utc_from_us(due),
            kind=self.kind,
        )


class _Reach:
    """``hours.add`` from a basis, memoized: the same instants are asked for on
    both sides of a comparison, and for many cases created at one instant."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, int], int | None] = {}
        self._hours: dict[int, BusinessHours] = {}  # keeps the ids alive
        self._same: dict[tuple[int, int], bool] = {}
        self._canonical: dict[int, int] = {}

    def same(self, a: BusinessHours | None, b: BusinessHours | None) -> bool:
        """Whether two calendars (not None) are equal, each pair compared once."""
        if a is None or b is None:
            return False
        if a is b:
            return True
        pair = (id(a), id(b))
        if pair not in self._same:
            self._hours[id(a)], self._hours[id(b)] = a, b
            # As the digest sees them: a calendar read back from a stored
            # document is another object, with another holidays object.
            self._same[pair] = a == b or _calendar_key(a) == _calendar_key(b)
        return self._same[pair]

    def canonical(self, hours: BusinessHours) -> int:
        """An id shared by all equal calendars seen (the first one's)."""
        key = id(hours)
        known = self._canonical.get(key)
        if known is None:
            for other in list(self._canonical):
                if self.same(hours, self._hours[other]):
                    known = self._canonical[other]
                    break
            else:
                known = key
            self._hours[key] = hours
            self._canonical[key] = known
        return known

    def __call__(self, hours: BusinessHours, basis: int, need: int) -> int | None:
        memo = (id(hours), basis, need)
        if memo in self._known:
            return self._known[memo]
        self._hours[id(hours)] = hours
        result = self._known[memo] = _reach(hours, basis, need)
        return result


class _Side:
    """What governs a case or lead on one side of a change, and its steps."""

    __slots__ = ("governed", "rungs")

    def __init__(self, governed: str | None, rungs: Iterable[_Rung]) -> None:
        self.governed = governed
        self.rungs = {r.key: r for r in rungs}


_NOTHING: Final = _Side(None, ())


def _exact_side(ev: Evaluation) -> _Side:
    """A case's side from a full evaluation (the reference; and the fallback for
    settings the lean path cannot compile)."""
    rungs = [
        _Rung(
            s.key,
            s.due,
            (s.action, s.threshold),
            due_at=None if s.due_at is None else to_us(s.due_at, "due_at"),
            kind=s.kind,
        )
        for s in ev.steps
        if not s.superseded
    ]
    if ev.expiry is not None:
        rungs.insert(0, _expiry_rung(ev.expiry, ev.expiry_due))
    return _Side(None if ev.item is None else f"item {ev.item.id!r}", rungs)


def _expiry_rung(expiry: DueAction, due: bool) -> _Rung:
    return _Rung(
        expiry.key,
        due,
        (None, None, expiry.new_status),
        due_at=to_us(expiry.due_at, "due_at"),
        kind=ActionKind.EXPIRY,
    )


class _Compiled:
    """One side's settings compiled for many cases at one instant: the active
    rule's index (as ``due_actions`` uses it), or None where it cannot compile
    (then each case is evaluated in full, and fails alone)."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.x_now = to_us(now, "now")
        self.plan: RulePlan | None = None
        self.exact = False
        try:
            self.plan = _rule_plan(settings.book, settings.calendars, self.x_now)
        except EscalateError:
            self.exact = True

    def governing(self, case: Case) -> Entry | None:
        """The entry governing the case (None if none, or if nothing escalates)."""
        return None if self.plan is None else self.plan.governing(case)

    def expiry(self, case: Timed) -> _Rung | None:
        """The case's Pending → Expired step, if the policy applies to it."""
        book = self.settings.book
        if book.expiry is None or case.status.closed:
            return None
        expiry = _due_expiry(book, case, self.x_now, self.settings.calendars)
        return None if expiry is None else _expiry_rung(*expiry)

    def side(self, case: Timed, entry: Entry | None, elapsed: _Elapsed) -> _Side:
        """The case's side, governed by ``entry`` (which :meth:`governing` gave);
        raises an escalate error if it cannot be evaluated."""
        if self.exact:
            assert isinstance(case, Case), "a state is planned only from compiled rules"
            s = self.settings
            return _exact_side(evaluate(s.book, case, self.now, s.calendars))
        x_now = self.x_now
        rungs: list[_Rung] = []
        if case.status.closed:
            return _NOTHING
        expiry = self.expiry(case)
        if expiry is not None:
            rungs.append(expiry)
        if entry is None:
            return _Side(None, rungs)
        governed = f"item {entry.item.id!r}"
        basis = _basis_us(entry.item, case)
        if basis is None:
            return _Side(governed, rungs)  # disarmed
        rungs += _ladder(entry, case, basis, x_now, elapsed)
        return _Side(governed, rungs)


class _Elapsed:
    """Business time from a basis to the planned instant, memoized per calendar
    (equal calendars of the two sides share one): both sides of a change, and
    cases created at one instant, ask for the same."""

    def __init__(self, reach: _Reach, now: int) -> None:
        self._reach = reach
        self._now = now
        self._known: dict[tuple[int, int], int] = {}
        self._since: dict[int, Callable[[int], int]] = {}

    def __call__(self, hours: BusinessHours, basis: int) -> int:
        canonical = self._reach.canonical(hours)
        memo = (canonical, basis)
        known = self._known.get(memo)
        if known is None:
            since = self._since.get(canonical)
            if since is None:
                since = self._since[canonical] = hours.elapsed_to(self._now)
            known = self._known[memo] = since(basis)
        return known


def _ladder(
    entry: Entry, case: Timed, basis: int, x_now: int, since: _Elapsed
) -> list[_Rung]:
    """The governing item's steps and warnings, as ``evaluate`` has them, but
    with their needs instead of their instants; superseded ones left out."""
    item, afters, hours = entry.item, entry.afters, entry.hours
    started = x_now >= basis
    elapsed = since(hours, basis) if started else 0
    head = f"{key_part(case.id)}/{entry.item_part}/"
    tail = "/" + basis_part(basis)
    rungs: list[tuple[int, _Rung]] = []
    for i, action in enumerate(item.actions):
        part = head + entry.action_parts[i] + tail
        for f, need, f_part in entry.warnings[i]:
            rungs.append(
                (
                    i,
                    _Rung(
                        "warning/" + part + "/" + f_part,
                        started and elapsed >= need,
                        (action, f),
                        hours=hours,
                        basis=basis,
                        need=need,
                        kind=ActionKind.WARNING,
                    ),
                )
            )
        rungs.append(
            (
                i,
                _Rung(
                    "escalation/" + part,
                    started and elapsed >= afters[i],
                    (action, None),
                    hours=hours,
                    basis=basis,
                    need=afters[i],
                    kind=ActionKind.ESCALATION,
                ),
            )
        )
    if item.latest_only:
        # As evaluate: only the latest due step fires, a warning only while its
        # step is ahead; the others are superseded (never fire).
        step_due = {i for i, r in rungs if r.kind is ActionKind.ESCALATION and r.due}
        if step_due:
            latest = max(step_due, key=lambda i: (afters[i], i))
            return [
                r
                for i, r in rungs
                if not (
                    r.due
                    and (i in step_due if r.kind is ActionKind.WARNING else i != latest)
                )
            ]
    return [r for _, r in rungs]


def _compare(
    subject: PlanSubject,
    subject_id: str,
    before: _Side,
    after: _Side,
    fired: Container[str],
    reach: _Reach,
) -> SubjectPlan:
    waiting_b = {k: r for k, r in before.rungs.items() if k not in fired}
    waiting_a = {k: r for k, r in after.rungs.items() if k not in fired}
    due_b = {k for k, r in waiting_b.items() if r.due}
    moved = []
    for key, a in waiting_a.items():
        b = waiting_b.get(key)
        if b is None or a.due:
            continue
        if a.need == b.need and reach.same(a.hours, b.hours):
            continue  # the same key, calendar and need: the same instant
        was, now = b.due_at(reach), a.due_at(reach)
        if was != now:
            moved.append(
                MovedStep(
                    key=key,
                    label=a.label(),
                    before=None if was is None else utc_from_us(was),
                    after=None if now is None else utc_from_us(now),
                )
            )
    return SubjectPlan(
        subject=subject,
        id=subject_id,
        governed_before=before.governed,
        governed_after=after.governed,
        next_due_before=_earliest(waiting_b.values(), reach),
        next_due_after=_earliest(waiting_a.values(), reach),
        due_now=tuple(
            r.step(reach) for k, r in waiting_a.items() if r.due and k not in due_b
        ),
        overdue=tuple(
            r.step(reach) for k, r in waiting_a.items() if r.due and k in due_b
        ),
        never=tuple(r.step(reach) for k, r in waiting_b.items() if k not in waiting_a),
        moved=tuple(moved),
    )


def _earliest(rungs: Iterable[_Rung], reach: _Reach) -> datetime | None:
    """The earliest due instant. Steps of one item share its calendar and basis,
    so the earliest of them is the one that needs least: one addition."""
    fixed = []
    least: _Rung | None = None
    for r in rungs:
        if r.hours is None:
            fixed.append(r.due_at(reach))
        elif least is None or r.need < least.need:
            least = r
    if least is not None:
        fixed.append(least.due_at(reach))
    instants = [t for t in fixed if t is not None]
    return utc_from_us(min(instants)) if instants else None


def _criteria(item: RuleItem) -> tuple[Any, ...]:
    """What decides whether an item matches a case."""
    return (item.id, item.conditions, item.logic_text)


class _PairStep:
    """One step of a :class:`_Pair`: its key's parts and each side's need (None
    where the side does not have it)."""

    __slots__ = (
        "action_a",
        "action_b",
        "end",
        "kind",
        "middle",
        "need_a",
        "need_b",
        "prefix",
        "threshold",
    )

    def __init__(
        self,
        prefix: str,
        middle: str,
        end: str,
        kind: ActionKind,
        threshold: Fraction | None,
    ) -> None:
        # key: prefix + case/item + middle + basis + end
        self.prefix, self.middle, self.end = prefix, middle, end
        self.kind, self.threshold = kind, threshold
        self.need_b: int | None = None
        self.need_a: int | None = None
        self.action_b: EscalationAction | None = None
        self.action_a: EscalationAction | None = None

    def planned(self, key: str, due_at: int | None, after: bool) -> PlannedStep:
        action = self.action_a if after else self.action_b
        return PlannedStep(
            key=key,
            label=step_label(self.kind, action, self.threshold),
            due_at=None if due_at is None else utc_from_us(due_at),
            kind=self.kind,
        )


class _Pair:
    """Two entries governing a case on either side with the same item id, basis
    and calendar, and no ``latest_only``: the common edit (steps or warnings
    added, removed, re-timed, re-addressed). Their steps are matched once by key,
    so that for each case the keys are built once and each side's due steps are
    integer comparisons of one elapsed time with each side's need."""

    def __init__(self, before: Entry, after: Entry) -> None:
        self.hours = after.hours
        self.item = after.item
        self.governed = f"item {after.item.id!r}"
        self.item_part = after.item_part
        steps: dict[tuple[str, str, str], _PairStep] = {}
        for entry, side in ((after, "a"), (before, "b")):
            for i, action in enumerate(entry.item.actions):
                part = entry.action_parts[i]
                for f, need, f_part in entry.warnings[i]:
                    step = steps.setdefault(
                        ("warning/", part, f_part),
                        _PairStep(
                            "warning/", f"/{part}/", f"/{f_part}", ActionKind.WARNING, f
                        ),
                    )
                    setattr(step, f"need_{side}", need)
                    setattr(step, f"action_{side}", action)
                step = steps.setdefault(
                    ("escalation/", part, ""),
                    _PairStep(
                        "escalation/", f"/{part}/", "", ActionKind.ESCALATION, None
                    ),
                )
                setattr(step, f"need_{side}", entry.afters[i])
                setattr(step, f"action_{side}", action)
        self.steps = tuple(steps.values())

    @staticmethod
    def of(before: Entry, after: Entry, reach: _Reach) -> _Pair | None:
        b, a = before.item, after.item
        if (
            b.id != a.id
            or b.basis is not a.basis
            or b.latest_only
            or a.latest_only
            or not reach.same(before.hours, after.hours)
        ):
            return None
        return _Pair(before, after)

    def keys(self, case: Timed, basis: int) -> list[str]:
        head = key_part(case.id) + "/" + self.item_part
        b = basis_part(basis)
        return [s.prefix + head + s.middle + b + s.end for s in self.steps]


class _Fast:
    """A case prepared on the fast path (a :class:`_Pair` governs it)."""

    __slots__ = ("basis", "elapsed", "expiry_a", "expiry_b", "keys", "pair", "started")

    def __init__(
        self,
        pair: _Pair,
        basis: int | None,
        started: bool,
        elapsed: int,
        keys: list[str],
        expiry_b: _Rung | None,
        expiry_a: _Rung | None,
    ) -> None:
        self.pair, self.basis, self.started, self.elapsed = (
            pair,
            basis,
            started,
            elapsed,
        )
        self.keys, self.expiry_b, self.expiry_a = keys, expiry_b, expiry_a


_Prepared = _Fast | tuple[_Side, _Side] | str


class _Planner:
    """Plans one change of the settings at one instant, for many cases and leads
    (both sides compiled once).

    Where the two active rules have the same criteria, item for item, one lookup
    finds both governing items. Where both governing items make a :class:`_Pair`
    (the common edit), a case goes the fast way; otherwise each side is built in
    full (:class:`_Side`) and compared.
    """

    def __init__(self, before: Settings | None, after: Settings, now: datetime) -> None:
        self.now = now
        self.x_now = to_us(now, "now")
        self.before = None if before is None else _Compiled(before, now)
        self.after = _Compiled(after, now)
        self.reach = _Reach()
        self.elapsed = _Elapsed(self.reach, self.x_now)
        self.same_entries: dict[int, Entry] = {}
        self.entries_by_item: dict[str, Entry] = {}
        self.before_digest = None if before is None else before.digest
        self.pairs: dict[tuple[int, int], _Pair | None] = {}
        self.same_expiry = False
        b, a = self.before, self.after
        self.any_expiry = after.book.expiry is not None or (
            before is not None and before.book.expiry is not None
        )
        if b is None or b.plan is None or a.plan is None or b.exact or a.exact:
            return
        eb, ea = b.settings.book.expiry, a.settings.book.expiry
        self.same_expiry = eb == ea and (
            eb is None
            or eb.hours is None
            or self.reach.same(
                b.settings.calendars.get(eb.hours), a.settings.calendars.get(eb.hours)
            )
        )
        pairs = list(zip(b.plan.entries, a.plan.entries, strict=False))
        if len(b.plan.entries) == len(a.plan.entries) and all(
            _criteria(x.item) == _criteria(y.item) for x, y in pairs
        ):
            self.same_entries = {id(x): y for x, y in pairs}
            self.entries_by_item = {x.item.id: x for x, _ in pairs}

    def prepare(self, case: Case) -> _Prepared:
        """What comparing the case needs, short of the fired keys (see
        :meth:`keys`); or why the new settings cannot evaluate it."""
        b, a = self.before, self.after
        if case.status.closed:
            return _NOTHING, _NOTHING
        entry_b = None if b is None else b.governing(case)
        if entry_b is not None and self.same_entries:
            entry_a: Entry | None = self.same_entries[id(entry_b)]
        else:
            entry_a = a.governing(case)
        return self._prepared(case, entry_b, entry_a)

    def prepare_state(self, state: CaseState) -> _Prepared | None:
        """:meth:`prepare` from the state a store keeps beside the case, without
        the case: possible where the two books have the same criteria, item for
        item, and the state says what governed the case under the settings
        before the change. None where the case itself is needed."""
        governed = state.governed
        if (
            not self.same_entries
            or governed is None
            or governed.digest != self.before_digest
        ):
            return None
        if governed.item is None:
            return self._prepared(state, None, None)
        entry_b = self.entries_by_item.get(governed.item)
        if entry_b is None:
            return None
        return self._prepared(state, entry_b, self.same_entries[id(entry_b)])

    def _prepared(
        self, case: Timed, entry_b: Entry | None, entry_a: Entry | None
    ) -> _Prepared:
        if entry_b is not None and entry_a is not None:
            memo = (id(entry_b), id(entry_a))
            if memo not in self.pairs:
                self.pairs[memo] = _Pair.of(entry_b, entry_a, self.reach)
            pair = self.pairs[memo]
            if pair is not None:
                return self._fast(case, pair)
        return self._sides(case, entry_b, entry_a)

    def _fast(self, case: Timed, pair: _Pair) -> _Prepared:
        b, a = self.before, self.after
        assert b is not None
        expiry_a = expiry_b = None
        if self.any_expiry:
            try:
                expiry_a = a.expiry(case)
            except EscalateError as e:
                return str(e)
            try:
                expiry_b = expiry_a if self.same_expiry else b.expiry(case)
            except EscalateError:
                expiry_b = None
        basis = _basis_us(pair.item, case)
        if basis is None:  # disarmed on both sides
            return _Fast(pair, None, False, 0, [], expiry_b, expiry_a)
        started = self.x_now >= basis
        elapsed = self.elapsed(pair.hours, basis) if started else 0
        keys = pair.keys(case, basis)
        return _Fast(pair, basis, started, elapsed, keys, expiry_b, expiry_a)

    def _sides(
        self, case: Timed, entry_b: Entry | None, entry_a: Entry | None
    ) -> _Prepared:
        b, a = self.before, self.after
        try:
            after = a.side(case, entry_a, self.elapsed)
        except EscalateError as e:
            return str(e)
        before = _NOTHING
        if b is not None:
            try:
                before = b.side(case, entry_b, self.elapsed)
            except EscalateError:
                before = _NOTHING  # it could not be evaluated: nothing waited
        return before, after

    @staticmethod
    def keys(prepared: Iterable[_Prepared]) -> set[str]:
        """Every key these cases' comparisons ask about: what to ask the store."""
        keys: set[str] = set()
        for p in prepared:
            if isinstance(p, _Fast):
                keys.update(p.keys)
                keys.update(r.key for r in (p.expiry_b, p.expiry_a) if r is not None)
            elif not isinstance(p, str):
                for side in p:
                    keys.update(side.rungs)
        return keys

    def case(
        self, case_id: str, prepared: _Prepared, fired: Container[str]
    ) -> SubjectPlan | _Unchanged:
        """The case's row."""
        if isinstance(prepared, str):
            return SubjectPlan(subject=PlanSubject.CASE, id=case_id, error=prepared)
        if isinstance(prepared, _Fast):
            return self._fast_row(case_id, prepared, fired)
        return _compare(PlanSubject.CASE, case_id, *prepared, fired, self.reach)

    def _fast_row(
        self, case_id: str, p: _Fast, fired: Container[str]
    ) -> SubjectPlan | _Unchanged:
        pair, reach, elapsed, started = p.pair, self.reach, p.elapsed, p.started
        hours, basis = pair.hours, p.basis
        due_now: list[PlannedStep] = []
        overdue: list[PlannedStep] = []
        never: list[PlannedStep] = []
        moved: list[MovedStep] = []
        least_b = least_a = None
        steps = () if basis is None else pair.steps  # disarmed: no steps
        for step, key in zip(steps, p.keys, strict=True):
            if key in fired:
                continue
            nb, na = step.need_b, step.need_a
            if nb is not None and (least_b is None or nb < least_b):
                least_b = nb
            if na is not None and (least_a is None or na < least_a):
                least_a = na
            assert basis is not None
            if na is not None and started and elapsed >= na:
                due = nb is not None and elapsed >= nb
                (overdue if due else due_now).append(
                    step.planned(key, reach(hours, basis, na), after=True)
                )
            elif nb is not None and na is not None:
                if nb != na:
                    was, will = reach(hours, basis, nb), reach(hours, basis, na)
                    if was != will:
                        moved.append(
                            MovedStep(
                                key=key,
                                label=step_label(
                                    step.kind, step.action_a, step.threshold
                                ),
                                before=None if was is None else utc_from_us(was),
                                after=None if will is None else utc_from_us(will),
                            )
                        )
            elif nb is not None:
                never.append(step.planned(key, reach(hours, basis, nb), after=False))
        next_b = None if least_b is None else reach(hours, basis or 0, least_b)
        next_a = None if least_a is None else reach(hours, basis or 0, least_a)
        if p.expiry_b is None and p.expiry_a is None:
            if next_b == next_a and not (due_now or overdue or never or moved):
                return (PlanSubject.CASE, case_id, pair.governed, next_a)
            return SubjectPlan(
                subject=PlanSubject.CASE,
                id=case_id,
                governed_before=pair.governed,
                governed_after=pair.governed,
                next_due_before=None if next_b is None else utc_from_us(next_b),
                next_due_after=None if next_a is None else utc_from_us(next_a),
                due_now=tuple(due_now),
                overdue=tuple(overdue),
                never=tuple(never),
                moved=tuple(moved),
            )
        expiry = _compare(
            PlanSubject.CASE,
            case_id,
            _Side(None, () if p.expiry_b is None else (p.expiry_b,)),
            _Side(None, () if p.expiry_a is None else (p.expiry_a,)),
            fired,
            reach,
        )
        return SubjectPlan(
            subject=PlanSubject.CASE,
            id=case_id,
            governed_before=pair.governed,
            governed_after=pair.governed,
            next_due_before=_min(next_b, expiry.next_due_before),
            next_due_after=_min(next_a, expiry.next_due_after),
            due_now=(*expiry.due_now, *due_now),
            overdue=(*expiry.overdue, *overdue),
            never=(*expiry.never, *never),
            moved=(*expiry.moved, *moved),
        )

    @staticmethod
    def lead_error(lead: Lead, error: str) -> SubjectPlan:
        """The row of a lead that cannot be planned, saying why."""
        return SubjectPlan(subject=PlanSubject.LEAD, id=lead.id, error=error)

    def lead(self, lead: Lead, fired: Container[str]) -> SubjectPlan:
        x_now = self.after.x_now
        try:
            after = _lead_side(lead, self.after.settings, x_now)
        except EscalateError as e:
            return SubjectPlan(subject=PlanSubject.LEAD, id=lead.id, error=str(e))
        before = _NOTHING
        if self.before is not None:
            try:
                before = _lead_side(lead, self.before.settings, x_now)
            except EscalateError:
                before = _NOTHING
        return _compare(PlanSubject.LEAD, lead.id, before, after, fired, self.reach)


def _min(us: int | None, t: datetime | None) -> datetime | None:
    """The earlier of an instant in µs and a datetime, either may be None."""
    if us is None:
        return t
    if t is None or us < to_us(t, "t"):
        return utc_from_us(us)
    return t


def plan_case(
    case: Case,
    before: Settings | None,
    after: Settings,
    now: datetime,
    fired: Container[str],
) -> SubjectPlan:
    """What changing the settings from ``before`` to ``after`` does to ``case``
    at ``now``.

    Args:
        case: The case (as stored).
        before: The settings governing it before the change (None: none).
        after: The settings governing it after the change.
        now: The instant of the change (aware).
        fired: The idempotency keys recorded already (carried out or skipped).
    """
    planner = _Planner(before, after, now)
    return _row(planner.case(case.id, planner.prepare(case), fired))


def _lead_side(lead: Lead, settings: Settings, x_now: int) -> _Side:
    """A lead's side: the running phase, and its steps (due once their instant
    has come, as ``due_lead_actions`` has them)."""
    every = lead_steps(lead, settings.leads)
    rungs = []
    for a in every:
        due_at = to_us(a.due_at, "due_at")
        label = f"{_PHASES[a.phase]}: {a.step.value}"
        rungs.append(_Rung(a.key, due_at <= x_now, (label,), due_at=due_at))
    return _Side(None if not every else f"{_PHASES[every[0].phase]} phase", rungs)


def plan_lead(
    lead: Lead,
    before: Settings | None,
    after: Settings,
    now: datetime,
    fired: Container[str],
) -> SubjectPlan:
    """What changing the settings from ``before`` to ``after`` does to ``lead`` at
    ``now`` (see :func:`plan_case`)."""
    return _Planner(before, after, now).lead(lead, fired)

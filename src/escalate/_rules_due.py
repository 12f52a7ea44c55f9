"""The actions due over many cases: :func:`due_actions` (see
:mod:`escalate.rules`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Final, Protocol

import attrs

from escalate._instants import (
    from_us,
    to_us,
    us_of,
    utc_from_us,
)
from escalate._keys import action_key, basis_part, key_part
from escalate._rule_index import Entry, RulePlan
from escalate._rules_book import (
    _ALWAYS,
    ActionKind,
    EscalationAction,
    RuleBook,
    RuleItem,
    TimeBasis,
)
from escalate.errors import (
    ConfigError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import Case, Status


@attrs.frozen(kw_only=True)
class DueAction:
    """An action that is due: an escalation step, a warning, or an expiry.

    Attributes:
        key: The idempotency key: it fires once per key.
        kind: Escalation, warning or expiry.
        case_id: The case.
        due_at: When it became due.
        basis_at: The instant its clock counted from.
        rule: The rule's name (None for an expiry).
        item_id: The governing item's id (None for an expiry).
        action: The ladder step (for escalations and warnings).
        threshold: The warning's fraction of the step's ``after``.
        new_status: The status an expiry moves the case to.
    """

    key: str
    kind: ActionKind
    case_id: str
    due_at: datetime
    basis_at: datetime
    rule: str | None = None
    item_id: str | None = None
    action: EscalationAction | None = None
    threshold: Fraction | None = None
    new_status: Status | None = None


def _calendar(
    calendars: Mapping[str, BusinessHours], name: str | None, where: str
) -> BusinessHours:
    if name is None:
        return _ALWAYS
    try:
        return calendars[name]
    except KeyError:
        raise ConfigError(
            f"{where}: unknown calendar {name!r}; calendars: {sorted(calendars)}"
        ) from None


class Timed(Protocol):
    """What a case's time basis and expiry are found from: a
    :class:`~escalate.model.Case`, or the state a store keeps beside it."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def created_us(self) -> int: ...
    @property
    def modified_us(self) -> int | None: ...
    @property
    def status_since_us(self) -> int: ...


def _basis_us(item: RuleItem, case: Timed) -> int | None:
    """The basis instant (µs), or None when the item is disarmed."""
    basis = item.basis
    if basis is TimeBasis.CREATED:
        return case.created_us
    if basis is TimeBasis.MODIFIED:
        return case.created_us if case.modified_us is None else case.modified_us
    return case.created_us if case.modified_us is None else None


def _reach(hours: BusinessHours, start: int, need: int) -> int | None:
    try:
        return hours.add_us(start, need)
    except ConfigError:
        return None


def _expiry(
    book: RuleBook, case: Timed, x_now: int, calendars: Mapping[str, BusinessHours]
) -> tuple[DueAction, bool] | None:
    policy = book.expiry
    if policy is None or not policy.enabled or case.status.closed:
        return None
    if case.status.name != policy.pending.name:
        return None
    hours = _calendar(calendars, policy.hours, "expiry.hours")
    since = case.status_since_us
    due = _reach(hours, since, us_of(policy.after))
    if due is None:
        return None
    action = DueAction(
        key=action_key("expiry", case.id, basis_part(since)),
        kind=ActionKind.EXPIRY,
        case_id=case.id,
        due_at=from_us(due, UTC),
        basis_at=from_us(since, UTC),
        new_status=policy.expired,
    )
    return action, x_now >= due


def _plan(
    book: RuleBook, calendars: Mapping[str, BusinessHours], now: int
) -> RulePlan | None:
    rule = book.active_rule
    if rule is None or not book.scheduler_on:
        return None
    where = f"rule {rule.name!r}, item"
    entries = [
        Entry(
            n,
            item,
            _calendar(calendars, item.hours, f"{where} {item.id!r}: hours"),
            now,
        )
        for n, item in enumerate(rule.items)
    ]
    return RulePlan(rule.name, entries)


def due_actions(
    book: RuleBook,
    cases: Iterable[Case],
    now: datetime,
    calendars: Mapping[str, BusinessHours] | None = None,
    already_done: Collection[str] = frozenset(),
) -> list[DueAction]:
    """The actions due at ``now`` over ``cases`` and not in ``already_done``.

    Ordered by due instant, then case id, then item order, then ladder order
    (warnings before their step). When several steps of a ladder are overdue at
    once all of them are due, each once; an item with ``latest_only`` yields only
    the latest due step (and no older step ever fires after it). The instants of
    a :class:`DueAction` are in UTC.

    Args:
        book: The rule book.
        cases: The cases to consider (closed ones are skipped).
        now: The instant (aware).
        calendars: Calendar name to business hours.
        already_done: Idempotency keys of actions done already.

    Raises:
        ConfigError: An item or the expiry policy names an unknown calendar.
    """
    finder = _Finder(book, calendars or {}, to_us(now, "now"), already_done)
    for case in cases:
        if not isinstance(case, Case):
            raise WrongTypeError(
                f"cases: expected Case values, got {type(case).__name__} {case!r}"
            )
        if not case.status.closed:
            finder.case(case)
    return finder.actions()


class _Finder:
    """The actions due at one instant, found case by case (for
    :func:`due_actions`, and for ``RulePass`` on the cases it looks at)."""

    def __init__(
        self,
        book: RuleBook,
        calendars: Mapping[str, BusinessHours],
        x_now: int,
        already_done: Collection[str],
    ) -> None:
        self.book = book
        self.calendars = calendars
        self.x_now = x_now
        self.plan = _plan(book, calendars, x_now)
        self.rule = book.active or ""
        self.done = already_done
        self.found: list[tuple[tuple[Any, ...], DueAction]] = []

    def actions(self) -> list[DueAction]:
        """What was found, by due instant, case, item and step."""
        self.found.sort(key=lambda pair: pair[0])
        return [action for _, action in self.found]

    def governing(self, case: Case) -> tuple[Entry, int] | None:
        """The case's governing entry and its basis, if armed."""
        if self.plan is None:
            return None
        entry = self.plan.governing(case)
        if entry is None:
            return None
        basis = _basis_us(entry.item, case)
        if basis is None:
            return None  # created until modified, and modified: disarmed
        return entry, basis

    def case(self, case: Case) -> None:
        """Add the open case's due actions that are not done."""
        x_now, already_done = self.x_now, self.done
        if self.book.expiry is not None:
            expiry = _expiry(self.book, case, x_now, self.calendars)
            if expiry is not None and expiry[1] and expiry[0].key not in already_done:
                e = expiry[0]
                self.found.append(((to_us(e.due_at, "due_at"), case.id, -1, -1, 0), e))
        governed = self.governing(case)
        if governed is None:
            return
        entry, basis = governed
        if x_now < basis:
            return
        elapsed = entry.since(basis)
        if elapsed < entry.first_need:
            return  # nothing due yet: no keys to build
        item, afters = entry.item, entry.afters
        due_steps = [i for i, after in enumerate(afters) if elapsed >= after]
        if item.latest_only and due_steps:
            due_steps = [max(due_steps, key=lambda i: (afters[i], i))]
        head, tail = _key_ends(case, entry, basis)
        for i in due_steps:
            key = "escalation/" + head + entry.action_parts[i] + tail
            if key not in already_done:
                self._emit(case, entry, basis, i, afters[i], key, _ESCALATION, None)
        for i in range(len(afters)):
            if item.latest_only and elapsed >= afters[i]:
                continue  # its step is due: the warning is superseded
            for f, need, f_part in entry.warnings[i]:
                key = "warning/" + head + entry.action_parts[i] + tail + "/" + f_part
                if elapsed >= need and key not in already_done:
                    self._emit(case, entry, basis, i, need, key, _WARNING, f)

    def marks(self, case: Case) -> list[tuple[int, str]]:
        """Every action the open case can have due under its governing item
        (and its expiry), as (the instant it is due, its key), by instant:
        what is due at any later instant is among them."""
        out = []
        if self.book.expiry is not None:
            expiry = _expiry(self.book, case, self.x_now, self.calendars)
            if expiry is not None:
                out.append((to_us(expiry[0].due_at, "due_at"), expiry[0].key))
        governed = self.governing(case)
        if governed is not None:
            entry, basis = governed
            head, tail = _key_ends(case, entry, basis)
            hours = entry.hours
            for i, after in enumerate(entry.afters):
                part = entry.action_parts[i]
                out.append(
                    (_due(hours, basis, after), "escalation/" + head + part + tail)
                )
                for _, need, f_part in entry.warnings[i]:
                    key = "warning/" + head + part + tail + "/" + f_part
                    out.append((_due(hours, basis, need), key))
        out.sort()
        return out

    def _emit(
        self,
        case: Case,
        entry: Entry,
        basis: int,
        i: int,
        need: int,
        key: str,
        kind: ActionKind,
        threshold: Fraction | None,
    ) -> None:
        """Add the action due once ``need`` of business time has passed."""
        due = _reach(entry.hours, basis, need)
        due = self.x_now if due is None else due
        # Sorted by due instant, case, item, step; a warning before its step.
        order = (0, threshold) if kind is ActionKind.WARNING else (1,)
        self.found.append(
            (
                (due, case.id, entry.index, i, *order),
                DueAction(
                    key=key,
                    kind=kind,
                    case_id=case.id,
                    due_at=utc_from_us(due),
                    basis_at=utc_from_us(basis),
                    rule=self.rule,
                    item_id=entry.item.id,
                    action=entry.item.actions[i],
                    threshold=threshold,
                ),
            )
        )


_ESCALATION: Final = ActionKind.ESCALATION
_WARNING: Final = ActionKind.WARNING
_NEVER: Final = 1 << 62  # beyond the calendar's horizon: not due in practice


def _key_ends(case: Case, entry: Entry, basis: int) -> tuple[str, str]:
    """The parts of an action key around the action's id."""
    return f"{key_part(case.id)}/{entry.item_part}/", "/" + basis_part(basis)


def _due(hours: BusinessHours, basis: int, need: int) -> int:
    due = _reach(hours, basis, need)
    return _NEVER if due is None else due

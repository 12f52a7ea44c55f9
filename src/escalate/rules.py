"""Escalation rules (seed 000) and the evaluator that turns them into due actions.

A :class:`RuleBook` is immutable data: the escalation scheduler switch, named
:class:`Rule` s of which at most one is active, each an ordered list of
:class:`RuleItem` s (criteria, business hours, a time basis and an action ladder),
and the Pending → Expired :class:`ExpiryPolicy`. Every change takes an
:class:`~escalate.model.Actor` with the permission ``configure case escalation``
and returns a new book with ``version + 1``.

The evaluator is pure: :func:`evaluate` says what governs one case at an instant
and why; :func:`due_actions` yields, for many cases, the :class:`DueAction` s that
are due and not yet done, in a deterministic order. Nothing here sends mail or
writes anything.

Invariants:

* Items are tried in order; the first whose criteria match governs the case.
* An action is due iff ``now >= basis`` and ``hours.elapsed(basis, now) >=
  after`` (``after == 0`` is due at the basis itself).
* Each action fires once per case and basis: its idempotency key is built from
  (case id, item id, action id, basis instant) and nothing else. Every item and
  every action has an explicit id (refused without one), so reordering items,
  inserting items or steps, renaming, or changing criteria, templates or a
  step's ``after`` re-fires nothing; a new basis (``MODIFIED``) arms the ladder
  again.
* Closed cases, a switched-off scheduler or no active rule: nothing escalates.
  The expiry policy is separate (it has its own switch) and applies to open cases.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Final, Protocol, TypeVar

import attrs

from escalate._criteria import (
    Node,
    Operator,
    Predicate,
    compile_condition,
    compile_criteria,
    default_logic,
    field_getter,
    parse_operator,
    validate_value,
)
from escalate._durations import format_duration
from escalate._instants import (
    fraction_of,
    from_us,
    require_duration,
    to_us,
    us_of,
    utc_from_us,
)
from escalate._keys import action_key, basis_part, key_part
from escalate._rule_index import Entry, RulePlan
from escalate.errors import (
    ConfigError,
    CriteriaSyntaxError,
    InvalidOperation,
    RuleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import CASE_ATTRIBUTES, Actor, Case, Permission, Status
from escalate.timers import parse_thresholds

__all__ = [
    "ActionKind",
    "Condition",
    "ConditionResult",
    "DueAction",
    "EscalationAction",
    "Evaluation",
    "ExpiryPolicy",
    "Explanation",
    "ItemTrial",
    "Operator",
    "Rule",
    "RuleBook",
    "RuleItem",
    "StepStatus",
    "TimeBasis",
    "Verdict",
    "due_actions",
    "evaluate",
    "step_label",
]

_V = TypeVar("_V")
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ALWAYS: Final = BusinessHours.always()


class TimeBasis(enum.Enum):
    """The instant an item's clock counts from."""

    CREATED = "created"
    """When the case was created."""
    MODIFIED = "modified"
    """When a person last modified the case (its creation if never modified)."""
    CREATED_UNTIL_MODIFIED = "created until modified"
    """When it was created; disarmed once a person first modifies it."""


class ActionKind(enum.Enum):
    """What a :class:`DueAction` asks for."""

    ESCALATION = "escalation"
    WARNING = "warning"
    EXPIRY = "expiry"


def _rule_error(prefix: str, e: RuleError) -> RuleError:
    """``e`` with ``prefix`` put in front of its message (same class)."""
    if isinstance(e, CriteriaSyntaxError):
        message = str(e).split(" at position ", 1)[0]
        return CriteriaSyntaxError(
            f"{prefix}: {message}", expression=e.expression, position=e.position
        )
    return type(e)(f"{prefix}: {e}")


def _slug(text: str) -> str:
    """``text`` as a short id: lower case, words joined by ``-``."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())[:4])


def _require_id(value: object, what: str, suggestion: str) -> None:
    """Refuse a missing or empty id, suggesting one."""
    if isinstance(value, str) and value.strip():
        return
    raise RuleError(
        f"id: every {what} needs an explicit, stable id (its idempotency key is "
        "made of it, so that editing the rules never fires a step twice), got "
        f"{value!r}; add one such as id={suggestion!r}"
    )


def _text(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{owner}{name}: expected a non-empty text, got {value!r}")


# -- values -------------------------------------------------------------------------


def _operator(value: object) -> Operator:
    return parse_operator(value)


@attrs.frozen
class Condition:
    """One numbered condition of an item's criteria: ``(field, operator, value)``.

    ``field`` names a case attribute (``status``, ``priority``, ``owner``,
    ``number``, ...) or a custom field. ``in`` takes a list of values; ``is empty``
    and ``is not empty`` take none.
    """

    field: str
    operator: Operator = attrs.field(converter=_operator)
    value: Any = None

    def __attrs_post_init__(self) -> None:
        _text("", "field", self.field)
        object.__setattr__(self, "value", validate_value(self.operator, self.value))

    def compile(self) -> Predicate:
        """A predicate on a case."""
        custom = None if self.field in CASE_ATTRIBUTES else self.field
        return compile_condition(
            field_getter(self.field), self.operator, self.value, custom=custom
        )

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.field} {self.operator.value}"
        return f"{self.field} {self.operator.value} {self.value!r}"


def _conditions(value: Iterable[object]) -> tuple[Condition, ...]:
    out = []
    for i, c in enumerate(value):
        if isinstance(c, Condition):
            out.append(c)
            continue
        try:
            if isinstance(c, Mapping):
                out.append(Condition(**c))
            elif isinstance(c, tuple | list) and len(c) in (2, 3):
                out.append(Condition(*c))
            else:
                raise RuleError(f"expected (field, operator, value), got {c!r}")
        except RuleError as e:
            raise _rule_error(f"conditions[{i}] (condition {i + 1})", e) from e
    return tuple(out)


def _duration(value: object, where: str) -> timedelta:
    d = require_duration(value, where)
    if d < timedelta(0):
        raise RuleError(f"{where}: expected a duration >= 0, got {d}")
    return d


def _warnings(value: Iterable[int | float | Fraction]) -> tuple[Fraction, ...]:
    try:
        return parse_thresholds(value, name="warnings")
    except ConfigError as e:
        raise RuleError(str(e)) from e


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _as_items(value: Iterable[RuleItem | Mapping[str, Any]]) -> tuple[RuleItem, ...]:
    return tuple(value)  # type: ignore[arg-type]  # mappings: built in Rule


def _items(value: Iterable[object], rule: str) -> tuple[RuleItem, ...]:
    return _built(value, RuleItem, f"rule {rule!r}, items")


def _rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class EscalationAction:
    """One step of an item's action ladder.

    Attributes:
        after: Business time from the item's basis after which it fires (>= 0).
        escalate_to: The user escalated to (notified).
        escalation_template: The escalation template's name.
        new_owner: A new case owner (reassignment), or None.
        notify_template: The mail template used to notify the assignee.
        extra_emails: Additional e-mail addresses to notify.
        warnings: Fractions of ``after`` at which to warn before it fires
            (``Fraction`` s, or integer percentages; each strictly between 0 and 1).
        id: Its stable id, unique within the item (required): what has fired is
            recorded under it, so changing ``after`` keeps it fired or not.
    """

    id: str = ""
    after: timedelta
    escalate_to: str
    escalation_template: str | None = None
    new_owner: str | None = None
    notify_template: str | None = None
    extra_emails: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    warnings: tuple[Fraction, ...] = attrs.field(default=(), converter=_warnings)

    def __attrs_post_init__(self) -> None:
        _text("", "escalate_to", self.escalate_to)
        _require_id(self.id, "escalation action", f"to-{_slug(self.escalate_to)}")
        _duration(self.after, "after")
        for name in ("escalation_template", "new_owner", "notify_template"):
            _text("", name, getattr(self, name), optional=True)
        for i, address in enumerate(self.extra_emails):
            if not isinstance(address, str) or not _EMAIL.match(address):
                raise RuleError(
                    f"extra_emails[{i}]: expected an e-mail address like "
                    f"'name@example.com', got {address!r}"
                )
        for f in self.warnings:
            if f >= 1:
                raise RuleError(
                    f"warnings: a warning comes before the action, so each must be "
                    f"below 100 %, got {f}"
                )


def _actions(
    value: Iterable[EscalationAction | Mapping[str, Any]],
) -> tuple[EscalationAction, ...]:
    return _built(value, EscalationAction, "actions")


def _built(value: Iterable[object], cls: type[_V], where: str) -> tuple[_V, ...]:
    """Values of ``cls``, built from mappings where given as such; errors name
    ``where[index]``."""
    out = []
    for i, v in enumerate(value):
        if isinstance(v, Mapping):
            try:
                v = cls(**v)
            except RuleError as e:
                raise _rule_error(f"{where}[{i}]", e) from e
            except TypeError as e:
                raise RuleError(f"{where}[{i}]: {e}") from e
        if not isinstance(v, cls):
            raise RuleError(f"{where}[{i}]: expected a {cls.__name__}, got {v!r}")
        out.append(v)
    return tuple(out)


@attrs.frozen(kw_only=True)
class RuleItem:
    """A rule item: criteria, business hours, a time basis and an action ladder.

    Attributes:
        conditions: Numbered conditions (1, 2, ...), as :class:`Condition` s or
            ``(field, operator, value)`` tuples.
        logic: How they combine, e.g. ``"1 AND (2 OR 3)"``; all ANDed if None.
        hours: The name of the calendar its time runs in; None for 24/7.
        basis: The :class:`TimeBasis` its clock counts from.
        actions: The ladder (at least one step).
        latest_only: When several steps are overdue at once, fire only the latest.
        name: A label for people.
        id: Its stable id, unique in the book (required): what has fired is
            recorded under it, never under its position.
    """

    id: str = ""
    conditions: tuple[Condition, ...] = attrs.field(default=(), converter=_conditions)
    logic: str | None = None
    hours: str | None = None
    basis: TimeBasis = TimeBasis.CREATED
    actions: tuple[EscalationAction, ...] = attrs.field(converter=_actions)
    latest_only: bool = False
    name: str = ""
    _tree: Node | None = attrs.field(init=False, eq=False, repr=False)
    _predicate: Predicate = attrs.field(init=False, eq=False, repr=False)
    # Each condition compiled once, for the predicate, explanations and plans.
    _compiled: tuple[Predicate, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        label = self.id if self.id.strip() else self.name
        try:
            self._validate()
        except RuleError as e:
            if not label:
                raise
            raise _rule_error(f"item {label!r}", e) from e

    def _validate(self) -> None:
        _require_id(self.id, "rule item", _slug(self.name) or "all-cases")
        if not isinstance(self.basis, TimeBasis):
            raise RuleError(
                f"basis: expected one of {[b.value for b in TimeBasis]}, "
                f"got {self.basis!r}"
            )
        _text("", "hours", self.hours, optional=True)
        if not self.actions:
            raise RuleError("actions: expected at least one escalation action")
        ids = [a.id for a in self.actions]
        if len(ids) != len(set(ids)):
            raise RuleError(f"actions: action ids must be unique in an item, got {ids}")
        compiled = tuple(c.compile() for c in self.conditions)
        tree, predicate = compile_criteria(compiled, self.logic)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_predicate", predicate)
        object.__setattr__(self, "_compiled", compiled)

    def matches(self, case: Case) -> bool:
        """Whether the case meets the criteria (no conditions: every case)."""
        return self._predicate(case)

    def condition_results(self, case: Case) -> tuple[ConditionResult, ...]:
        """Each condition's field value and result, for explanations."""
        return tuple(
            ConditionResult(
                number=i,
                condition=c,
                actual=case.get(c.field),
                result=test(case),
            )
            for i, (c, test) in enumerate(
                zip(self.conditions, self._compiled, strict=True), 1
            )
        )

    def action(self, action_id: str) -> EscalationAction:
        """The action with this id."""
        for a in self.actions:
            if a.id == action_id:
                return a
        raise ConfigError(
            f"item {self.id!r}: no action {action_id!r}; it has "
            f"{[a.id for a in self.actions]}"
        )

    @property
    def logic_text(self) -> str:
        """The logic string in force (the default when none was given)."""
        if not self.conditions:
            return ""
        return (
            self.logic
            if self.logic is not None
            else default_logic(len(self.conditions))
        )


@attrs.frozen(kw_only=True)
class Rule:
    """A named escalation rule: an ordered list of items."""

    name: str
    items: tuple[RuleItem, ...] = attrs.field(default=(), converter=_as_items)

    def __attrs_post_init__(self) -> None:
        _text("rule ", "name", self.name)
        # Items given as mappings are built here, so errors can name the rule.
        object.__setattr__(self, "items", _items(self.items, self.name))

    def item(self, item_id: str) -> RuleItem:
        """The item with this id."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise ConfigError(
            f"rule {self.name!r}: no item {item_id!r}; it has "
            f"{[it.id for it in self.items]}"
        )


@attrs.frozen(kw_only=True)
class ExpiryPolicy:
    """Pending → Expired (seed 002): a case that stays pending ``after`` expires.

    Attributes:
        after: How long a case may stay in the pending status.
        pending: The pending status (matched by name).
        expired: The status it moves to.
        hours: A calendar name to count business time in; None for real time.
        enabled: Whether the policy applies.
    """

    after: timedelta
    pending: Status = Status.PENDING
    expired: Status = Status.EXPIRED
    hours: str | None = None
    enabled: bool = True

    def __attrs_post_init__(self) -> None:
        try:
            _duration(self.after, "after")
            _text("", "hours", self.hours, optional=True)
        except RuleError as e:
            raise _rule_error("expiry", e) from e


def _require(by: Actor, action: str) -> None:
    if not isinstance(by, Actor):
        raise ConfigError(f"{action}: by: expected an Actor, got {by!r}")
    by.require(Permission.CONFIGURE_CASE_ESCALATION, action)


@attrs.frozen(kw_only=True)
class RuleBook:
    """The escalation configuration: scheduler switch, rules, the active one.

    Build one with :meth:`RuleBook.build` (from configuration) or start from
    ``RuleBook()`` and change it through its methods, each of which
    takes the acting :class:`~escalate.model.Actor` (who needs the permission
    ``configure case escalation``) and returns a new book with ``version + 1``.

    Attributes:
        scheduler_on: The escalation scheduler switch; off, nothing escalates.
        rules: The rules, in creation order.
        active: The name of the active rule, or None.
        expiry: The Pending → Expired policy, or None.
        version: Increases by one with every change.
    """

    scheduler_on: bool = False
    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules)
    active: str | None = None
    expiry: ExpiryPolicy | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise RuleError(f"rules: names must be unique, got {names}")
        if self.active is not None and self.active not in names:
            raise RuleError(f"active: no rule named {self.active!r}; rules: {names}")
        seen: dict[str, str] = {}
        for rule in self.rules:
            for item in rule.items:
                if item.id in seen:
                    raise RuleError(
                        f"rule {rule.name!r}, item {item.id!r}: item ids must be "
                        f"unique in the book (also in rule {seen[item.id]!r})"
                    )
                seen[item.id] = rule.name

    # -- construction without an actor (configuration) -------------------------

    @classmethod
    def build(
        cls,
        rules: Iterable[Rule],
        *,
        scheduler_on: bool = True,
        active: str | None = None,
        expiry: ExpiryPolicy | None = None,
    ) -> RuleBook:
        """A book from configuration: its rules, the scheduler on by default."""
        return cls(
            scheduler_on=scheduler_on, rules=tuple(rules), active=active, expiry=expiry
        )

    # -- questions ----------------------------------------------------------------

    @property
    def active_rule(self) -> Rule | None:
        """The active rule, or None."""
        if self.active is None:
            return None
        return self.rule(self.active)

    def rule(self, name: str) -> Rule:
        """The rule with this name."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(
            f"rule: no rule named {name!r}; rules: {[r.name for r in self.rules]}"
        )

    def calendars_needed(self) -> frozenset[str]:
        """The calendar names the book's items and expiry policy refer to."""
        names = {it.hours for r in self.rules for it in r.items if it.hours}
        if self.expiry is not None and self.expiry.hours:
            names.add(self.expiry.hours)
        return frozenset(names)

    # -- changes --------------------------------------------------------------------

    def switch_scheduler(self, on: bool, *, by: Actor) -> RuleBook:
        """Switch the escalation scheduler on or off."""
        _require(by, "switch_scheduler")
        return self._next(scheduler_on=bool(on))

    def create_rule(self, name: str, *, by: Actor, active: bool = False) -> RuleBook:
        """Add an empty rule (active if asked: the previously active one stops).

        Raises:
            InvalidOperation: The scheduler is off (switch it on first, as the
                seed's steps do).
        """
        _require(by, "create_rule")
        if not self.scheduler_on:
            raise InvalidOperation(
                f"create_rule: the escalation scheduler is off; switch it on before "
                f"creating rule {name!r}"
            )
        if any(r.name == name for r in self.rules):
            raise RuleError(f"create_rule: a rule named {name!r} exists already")
        return self._next(
            rules=(*self.rules, Rule(name=name)),
            active=name if active else self.active,
        )

    def rename_rule(self, name: str, new_name: str, *, by: Actor) -> RuleBook:
        """Rename a rule (it stays active if it was)."""
        _require(by, "rename_rule")
        rule = self.rule(name)
        if new_name != name and any(r.name == new_name for r in self.rules):
            raise RuleError(f"rename_rule: a rule named {new_name!r} exists already")
        return self._next(
            rules=self._replace(name, attrs.evolve(rule, name=new_name)),
            active=new_name if self.active == name else self.active,
        )

    def delete_rule(self, name: str, *, by: Actor) -> RuleBook:
        """Delete a rule (if it was active, no rule is active afterwards)."""
        _require(by, "delete_rule")
        self.rule(name)
        return self._next(
            rules=tuple(r for r in self.rules if r.name != name),
            active=None if self.active == name else self.active,
        )

    def activate(self, name: str, *, by: Actor) -> RuleBook:
        """Make ``name`` the active rule; the previously active one is deactivated."""
        _require(by, "activate")
        self.rule(name)
        return self._next(active=name)

    def deactivate(self, *, by: Actor) -> RuleBook:
        """No rule active."""
        _require(by, "deactivate")
        return self._next(active=None)

    def add_item(
        self, rule: str, item: RuleItem, *, by: Actor, position: int | None = None
    ) -> RuleBook:
        """Add an item to a rule (at ``position``, default last)."""
        _require(by, "add_item")
        r = self.rule(rule)
        items = list(r.items)
        items.insert(len(items) if position is None else position, item)
        return self._next(
            rules=self._replace(rule, attrs.evolve(r, items=tuple(items)))
        )

    def replace_item(self, rule: str, item: RuleItem, *, by: Actor) -> RuleBook:
        """Replace the item with the same id (an edit; its place is kept)."""
        _require(by, "replace_item")
        r = self.rule(rule)
        old = r.item(item.id)
        items = tuple(item if it is old else it for it in r.items)
        return self._next(rules=self._replace(rule, attrs.evolve(r, items=items)))

    def remove_item(self, rule: str, item_id: str, *, by: Actor) -> RuleBook:
        """Remove an item."""
        _require(by, "remove_item")
        r = self.rule(rule)
        r.item(item_id)
        items = tuple(it for it in r.items if it.id != item_id)
        return self._next(rules=self._replace(rule, attrs.evolve(r, items=items)))

    def move_item(
        self, rule: str, item_id: str, position: int, *, by: Actor
    ) -> RuleBook:
        """Move an item to ``position`` (0-based) within its rule."""
        _require(by, "move_item")
        r = self.rule(rule)
        item = r.item(item_id)
        items = [it for it in r.items if it.id != item_id]
        if not 0 <= position <= len(items):
            raise RuleError(
                f"move_item: position: expected 0..{len(items)}, got {position}"
            )
        items.insert(position, item)
        return self._next(
            rules=self._replace(rule, attrs.evolve(r, items=tuple(items)))
        )

    def reorder_items(
        self, rule: str, item_ids: Sequence[str], *, by: Actor
    ) -> RuleBook:
        """Put a rule's items in the order of ``item_ids`` (all of them)."""
        _require(by, "reorder_items")
        r = self.rule(rule)
        if sorted(item_ids) != sorted(it.id for it in r.items):
            raise RuleError(
                f"reorder_items: expected each of {[it.id for it in r.items]} once, "
                f"got {list(item_ids)}"
            )
        items = tuple(r.item(i) for i in item_ids)
        return self._next(rules=self._replace(rule, attrs.evolve(r, items=items)))

    def add_action(
        self,
        rule: str,
        item_id: str,
        action: EscalationAction,
        *,
        by: Actor,
        position: int | None = None,
    ) -> RuleBook:
        """Add a step to an item's ladder (at ``position``, default last)."""
        _require(by, "add_action")
        r = self.rule(rule)
        item = r.item(item_id)
        actions = list(item.actions)
        actions.insert(len(actions) if position is None else position, action)
        new_item = attrs.evolve(item, actions=tuple(actions))
        items = tuple(new_item if it is item else it for it in r.items)
        return self._next(rules=self._replace(rule, attrs.evolve(r, items=items)))

    def remove_action(
        self, rule: str, item_id: str, action_id: str, *, by: Actor
    ) -> RuleBook:
        """Remove a step (an item keeps at least one)."""
        _require(by, "remove_action")
        r = self.rule(rule)
        item = r.item(item_id)
        item.action(action_id)
        new_item = attrs.evolve(
            item, actions=tuple(a for a in item.actions if a.id != action_id)
        )
        items = tuple(new_item if it is item else it for it in r.items)
        return self._next(rules=self._replace(rule, attrs.evolve(r, items=items)))

    def set_expiry(self, policy: ExpiryPolicy | None, *, by: Actor) -> RuleBook:
        """Set (or remove, with None) the Pending → Expired policy."""
        _require(by, "set_expiry")
        return self._next(expiry=policy)

    def _replace(self, name: str, rule: Rule) -> tuple[Rule, ...]:
        return tuple(rule if r.name == name else r for r in self.rules)

    def _next(self, **changes: Any) -> RuleBook:
        return attrs.evolve(self, version=self.version + 1, **changes)


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
class ConditionResult:
    """A condition, the case's value for its field, and the result."""

    number: int
    condition: Condition
    actual: Any
    result: bool


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
    steps = []
    for i, a in enumerate(item.actions):
        after = us_of(a.after)
        for f in a.warnings:
            need = fraction_of(f, after)
            due_at = _reach(hours, basis, need)
            steps.append(
                StepStatus(
                    kind=ActionKind.WARNING,
                    action=a,
                    index=i,
                    due_at=None if due_at is None else from_us(due_at, hours.tz),
                    due=x_now >= basis and elapsed >= need,
                    key=action_key(
                        "warning", case.id, item.id, a.id, basis_part(basis), f
                    ),
                    threshold=f,
                )
            )
        due_at = _reach(hours, basis, after)
        steps.append(
            StepStatus(
                kind=ActionKind.ESCALATION,
                action=a,
                index=i,
                due_at=None if due_at is None else from_us(due_at, hours.tz),
                due=x_now >= basis and elapsed >= after,
                key=action_key("escalation", case.id, item.id, a.id, basis_part(basis)),
            )
        )
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
    calendars = calendars or {}
    x_now = to_us(now, "now")
    plan = _plan(book, calendars, x_now)
    rule = book.active or ""
    found: list[tuple[tuple[Any, ...], DueAction]] = []

    def emit(
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
        due = x_now if due is None else due
        # Sorted by due instant, case, item, step; a warning before its step.
        order = (0, threshold) if kind is ActionKind.WARNING else (1,)
        found.append(
            (
                (due, case.id, entry.index, i, *order),
                DueAction(
                    key=key,
                    kind=kind,
                    case_id=case.id,
                    due_at=utc_from_us(due),
                    basis_at=utc_from_us(basis),
                    rule=rule,
                    item_id=entry.item.id,
                    action=entry.item.actions[i],
                    threshold=threshold,
                ),
            )
        )

    expiry_policy = book.expiry
    created, modified = TimeBasis.CREATED, TimeBasis.MODIFIED
    for case in cases:
        if not isinstance(case, Case):
            raise WrongTypeError(
                f"cases: expected Case values, got {type(case).__name__} {case!r}"
            )
        if case.status.closed:
            continue
        if expiry_policy is not None:
            expiry = _expiry(book, case, x_now, calendars)
            if expiry is not None and expiry[1] and expiry[0].key not in already_done:
                e = expiry[0]
                found.append(((to_us(e.due_at, "due_at"), case.id, -1, -1, 0), e))
        if plan is None:
            continue
        entry = plan.governing(case)
        if entry is None:
            continue
        item, afters = entry.item, entry.afters
        if item.basis is created:
            basis = case.created_us
        elif item.basis is modified or case.modified_us is None:
            basis = case.created_us if case.modified_us is None else case.modified_us
        else:
            continue  # created until modified, and modified: disarmed
        if x_now < basis:
            continue
        elapsed = entry.since(basis)
        if elapsed < entry.first_need:
            continue  # nothing due yet: no keys to build
        due_steps = [i for i, after in enumerate(afters) if elapsed >= after]
        if item.latest_only and due_steps:
            due_steps = [max(due_steps, key=lambda i: (afters[i], i))]
        head = f"{key_part(case.id)}/{entry.item_part}/"
        tail = "/" + basis_part(basis)
        for i in due_steps:
            key = "escalation/" + head + entry.action_parts[i] + tail
            if key not in already_done:
                emit(case, entry, basis, i, afters[i], key, ActionKind.ESCALATION, None)
        for i in range(len(afters)):
            if item.latest_only and elapsed >= afters[i]:
                continue  # its step is due: the warning is superseded
            for f, need, f_part in entry.warnings[i]:
                key = "warning/" + head + entry.action_parts[i] + tail + "/" + f_part
                if elapsed >= need and key not in already_done:
                    emit(case, entry, basis, i, need, key, ActionKind.WARNING, f)
    found.sort(key=lambda pair: pair[0])
    return [action for _, action in found]

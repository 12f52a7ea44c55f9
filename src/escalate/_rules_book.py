"""Rule books, rules, items and their action ladders (see :mod:`escalate.rules`)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from fractions import Fraction
from typing import Any, Final, TypeVar

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
from escalate._instants import (
    require_duration,
)
from escalate.errors import (
    ConfigError,
    CriteriaSyntaxError,
    InvalidOperation,
    RuleError,
)
from escalate.hours import BusinessHours
from escalate.model import CASE_ATTRIBUTES, Actor, Case, Permission, Status
from escalate.timers import parse_thresholds

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


@attrs.frozen
class ConditionResult:
    """A condition, the case's value for its field, and the result."""

    number: int
    condition: Condition
    actual: Any
    result: bool

"""The things escalation is about, as frozen values.

* :class:`Case`: a helpdesk case with a :class:`Status`, an owner (the seeds'
  handler), custom fields, and the instants the rules count from.
* :class:`Actor`: a person acting, with permissions.
* :class:`Task`: a to-do with a fixed due instant. A task only becomes *overdue*:
  at its due instant it yields an internal reminder to its owner, and it never
  escalates (seed 003: "tasks can be overdue, they cannot escalate").
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs

from escalate._frozen import FrozenMap
from escalate._instants import require_aware, to_us
from escalate._text import MAX_ID, check_text
from escalate.errors import (
    ConfigError,
    InvalidOperation,
    PermissionDenied,
    WrongTypeError,
)

__all__ = [
    "BUILTIN_STATUSES",
    "CASE_ATTRIBUTES",
    "OPERATOR",
    "Actor",
    "Case",
    "Permission",
    "Status",
    "Task",
]


def _aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        require_aware(value, f"{type(instance).__name__}.{attribute.name}")


def _non_empty_text(
    instance: object, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{type(instance).__name__}.{attribute.name}: expected a non-empty "
            f"string, got {value!r}"
        )


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """An id or a short name: non-empty text every store and mail header can
    hold (valid Unicode, no NUL, at most ``MAX_ID`` characters)."""
    _non_empty_text(instance, attribute, value)
    check_text(f"{type(instance).__name__}.{attribute.name}", value, max_length=MAX_ID)


def _optional_id(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _non_empty(instance, attribute, value)


def _free_text(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Free text (a solution, a title): at most ``MAX_TEXT`` characters."""
    where = f"{type(instance).__name__}.{attribute.name}"
    if value is not None:
        if not isinstance(value, str):
            raise WrongTypeError(f"{where}: expected text, got {value!r}")
        check_text(where, value)


MAX_NUMBER: Final = 2**63 - 1
"""The largest whole number (a priority, a field's value) every store keeps
exactly; the smallest is ``-MAX_NUMBER - 1``: PostgreSQL's ``bigint``."""

MAX_FIELD_DEPTH: Final = 16
"""How deeply a custom field's lists and mappings may nest."""

MAX_FIELD_ITEMS: Final = 10_000
"""How many values (items of lists and mappings, counted together) all of a
case's custom fields may hold."""


def _priority(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    where = f"{type(instance).__name__}.{attribute.name}"
    if value is None:
        return
    if isinstance(value, str):
        check_text(where, value, max_length=MAX_ID)
    elif isinstance(value, int) and not isinstance(value, bool):
        _number(where, value)
    else:
        raise WrongTypeError(
            f"{where}: expected text, a whole number or None, got {value!r}"
        )


def _number(where: str, value: int) -> None:
    if not -MAX_NUMBER - 1 <= value <= MAX_NUMBER:
        raise ConfigError(
            f"{where}: expected a whole number from {-MAX_NUMBER - 1} to {MAX_NUMBER} "
            f"(what every store keeps exactly), got one of {value.bit_length()} bits"
        )


@attrs.frozen(kw_only=True)
class Task:
    """A to-do with a fixed due instant; it becomes overdue, it never escalates.

    Attributes:
        id: The task's identifier.
        title: What is to be done.
        owner: The user who gets the internal reminder.
        due_at: When it is due (aware).
        done_at: When it was done, or None.
    """

    id: str = attrs.field(validator=_non_empty)
    title: str = attrs.field(validator=[_non_empty_text, _free_text])
    owner: str = attrs.field(validator=_non_empty)
    due_at: datetime = attrs.field(validator=_aware)
    done_at: datetime | None = attrs.field(default=None, validator=_aware)

    def overdue(self, at: datetime) -> bool:
        """Whether the task is overdue at ``at``: not done, and ``at >= due_at``.

        A task done after its due instant was overdue until it was done.
        """
        x = to_us(at, "at")
        if self.done_at is not None and to_us(self.done_at, "done_at") <= x:
            return False
        return x >= to_us(self.due_at, "due_at")

    def reminder_at(self) -> datetime | None:
        """When the internal reminder is due: ``due_at``, or None once done
        before it."""
        done = self.done_at
        if done is not None and to_us(done, "done_at") < to_us(self.due_at, "due_at"):
            return None
        return self.due_at

    def done(self, at: datetime) -> Task:
        """The task marked done at ``at``.

        Raises:
            InvalidOperation: It was done already.
        """
        require_aware(at, "at")
        if self.done_at is not None:
            raise InvalidOperation(
                f"done: task {self.id!r} was done already at {self.done_at.isoformat()}"
            )
        return attrs.evolve(self, done_at=at)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


class Permission(enum.StrEnum):
    """Permissions the library checks (an actor holds them as strings)."""

    CONFIGURE_CASE_ESCALATION = "configure case escalation"
    DELETE_FOLLOW_UP_LINES = "delete follow-up lines"
    ADMINISTER_LEAD_TYPES = "administer lead types"


@attrs.frozen
class Actor:
    """A person acting: a user id with permissions (and roles, for the caller).

    Attributes:
        id: The user id.
        permissions: Permission names, e.g. ``{"configure case escalation"}``.
        roles: Free-form role names (not checked by escalate itself).
    """

    id: str = attrs.field(validator=_non_empty)
    permissions: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def can(self, permission: str) -> bool:
        """Whether the actor holds ``permission``."""
        return permission in self.permissions

    def require(self, permission: str, action: str) -> None:
        """Raise PermissionDenied unless the actor holds ``permission``."""
        if permission not in self.permissions:
            raise PermissionDenied(
                f"{action}: actor {self.id!r} lacks the permission {str(permission)!r}"
            )


_EVERY_PERMISSION: Final[frozenset[str]] = frozenset(str(p) for p in Permission)
OPERATOR: Final = Actor("operator", _EVERY_PERMISSION, ("operator",))
"""The operator's own code (the ``escalate`` command, a worker's set-up): every
permission escalate checks. Never hand it to a request made for a tenant's user:
that request names its own :class:`Actor` (``docs/model.md``, "Who may change
what")."""


@attrs.frozen
class Status:
    """A case status: a name, and whether it is a closed status.

    Statuses are configurable values; the seeds' statuses are built in as
    ``Status.NEW``, ``ACTIVE_NEW``, ``ACTIVE_ASSIGNED``, ``PENDING``, ``EXPIRED``
    (closed) and ``CLOSED`` (closed). Closed cases never escalate.
    """

    name: str = attrs.field(validator=_non_empty)
    closed: bool = attrs.field(default=False, kw_only=True)

    NEW: ClassVar[Status]
    ACTIVE_NEW: ClassVar[Status]
    ACTIVE_ASSIGNED: ClassVar[Status]
    PENDING: ClassVar[Status]
    EXPIRED: ClassVar[Status]
    CLOSED: ClassVar[Status]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def of_name(cls, name: str, where: str = "status") -> Status:
        """The built-in status a person typed: by its name, in any case, with
        ``-`` for the dash (``"closed"``, ``"Active - New"``).

        Raises:
            ConfigError: No built-in status has that name (a custom status is
                given as a :class:`Status`).
        """
        wanted = _status_key(name)
        for status in BUILTIN_STATUSES:
            if _status_key(status.name) == wanted:
                return status
        raise ConfigError(
            f"{where}: expected one of {[s.name for s in BUILTIN_STATUSES]} (or a "
            f"Status for a custom one), got {name!r}"
        )

    @classmethod
    def named(cls, name: str, *, closed: bool = False) -> Status:
        """The built-in status called ``name``, or a new one (closed or not)."""
        for status in BUILTIN_STATUSES:
            if status.name == name:
                return status
        return cls(name, closed=closed)


def _status_key(name: str) -> str:
    return " ".join(name.replace("–", "-").replace("—", "-").casefold().split())


Status.NEW = Status("New")
Status.ACTIVE_NEW = Status("Active – New")
Status.ACTIVE_ASSIGNED = Status("Active – Assigned")
Status.PENDING = Status("Pending")
Status.EXPIRED = Status("Expired", closed=True)
Status.CLOSED = Status("Closed", closed=True)
BUILTIN_STATUSES: Final = (
    Status.NEW,
    Status.ACTIVE_NEW,
    Status.ACTIVE_ASSIGNED,
    Status.PENDING,
    Status.EXPIRED,
    Status.CLOSED,
)

# Case attributes that criteria can name directly; any other name is a custom
# field in Case.fields.
CASE_ATTRIBUTES: Final = frozenset(
    {
        "id",
        "number",
        "status",
        "priority",
        "owner",
        "created_at",
        "modified_at",
        "status_since",
        "solution",
        "requirements",
    }
)


_FIELD_SCALARS: Final = (str, int, float, Decimal, date, timedelta, type(None))
_FIELD_VALUES: Final = (
    "text, a number (int, float or Decimal), true or false, a date, an aware "
    "datetime, a duration (timedelta), None, or a list or mapping of these"
)


def _field_value(where: str, value: object, counted: int) -> int:
    """Refuse a custom field value a store could not keep exactly; ``counted``
    values of the case's fields seen before it, and so many after."""
    stack = [(where, value, 0)]
    count = counted
    while stack:
        at, v, depth = stack.pop()
        count += 1
        if count > MAX_FIELD_ITEMS:
            raise ConfigError(
                f"{where}: expected at most {MAX_FIELD_ITEMS:,} values in all the "
                "custom fields of a case"
            )
        if depth > MAX_FIELD_DEPTH:
            raise ConfigError(
                f"{at}: expected lists and mappings nested at most "
                f"{MAX_FIELD_DEPTH} deep"
            )
        if isinstance(v, str):
            check_text(at, v)
        elif isinstance(v, bool):
            pass
        elif isinstance(v, int):
            _number(at, v)
        elif isinstance(v, Decimal) and not v.is_finite():
            raise ConfigError(f"{at}: expected a finite number, got {v!r}")
        elif isinstance(v, datetime):
            require_aware(v, at)
        elif isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{at}: expected a finite number, got {v!r}")
        elif isinstance(v, Mapping):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise ConfigError(f"{at}: expected text keys, got {k!r}")
                _field_key(f"{at} key", k)
                stack.append((f"{at}[{k!r}]", item, depth + 1))
        elif isinstance(v, list | tuple):
            stack.extend((f"{at}[{i}]", item, depth + 1) for i, item in enumerate(v))
        elif not isinstance(v, _FIELD_SCALARS):
            raise ConfigError(
                f"{at}: expected {_FIELD_VALUES}; got {v!r} "
                f"(of type {type(v).__name__})"
            )
    return count


def _field_key(where: str, key: str) -> None:
    """A name in custom fields: an id-like text not starting with ``$`` (the
    stores' encoding tags its values with such keys: ``{"$us": ...}``)."""
    check_text(where, key, max_length=MAX_ID)
    if key.startswith("$"):
        raise ConfigError(
            f"{where}: expected a name not starting with '$' (reserved for the "
            f"stores' encoding of instants, dates and durations), got {key!r}"
        )


def _fields(value: object) -> FrozenMap[str, Any]:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise ConfigError(f"Case.fields: expected a mapping, got {value!r}")
    count = 0
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"Case.fields: expected string keys, got {key!r}")
        _field_key("Case.fields key", key)
        if key in CASE_ATTRIBUTES:
            raise ConfigError(
                f"Case.fields: {key!r} is a case attribute, not a custom field; "
                f"custom fields may not be named {sorted(CASE_ATTRIBUTES)}"
            )
        count = _field_value(f"Case.fields[{key!r}]", item, count)
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _requirements(value: object) -> FrozenMap[str, int]:
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"Case.requirements: expected a mapping of qualification to level, "
            f"got {value!r}"
        )
    for name, level in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Case.requirements: expected names, got {name!r}")
        check_text("Case.requirements key", name, max_length=MAX_ID)
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(
                f"Case.requirements[{name!r}]: expected a whole level, got {level!r}"
            )
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _status(value: object) -> Status:
    if isinstance(value, str):
        return Status.of_name(value, "Case.status")
    if not isinstance(value, Status):
        raise WrongTypeError(f"Case.status: expected a Status, got {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Case:
    """A helpdesk case.

    Attributes:
        id: The case's identifier (unique, stable).
        number: The number people see (e.g. ``"C-1042"``).
        status: Its :class:`Status`; a closed status never escalates.
        priority: Its priority (free-form, e.g. ``"high"`` or 1).
        owner: The handler (seeds 001, 002, 004), or None.
        fields: Custom fields, a read-only mapping.
        created_at: When it was created.
        modified_at: The last change made by a person; None until then. Changes
            the library makes itself (an escalation's new owner, Pending →
            Expired) do not set it.
        status_since: When it entered its current status (default: creation).
        solution: The solution text, if entered.
        requirements: Required qualifications: name to minimum level.
        version: The stored version, for optimistic concurrency.
        settings_version: The digest of the settings version in force when the
            engine first stored the case (it sets it); with changes applying to
            new cases only, the version that governs it.
    """

    id: str = attrs.field(validator=_non_empty)
    number: str = attrs.field(validator=_non_empty)
    status: Status = attrs.field(default=Status.NEW, converter=_status)
    priority: str | int | None = attrs.field(default=None, validator=_priority)
    owner: str | None = attrs.field(default=None, validator=_optional_id)
    fields: FrozenMap[str, Any] = attrs.field(factory=FrozenMap, converter=_fields)
    created_at: datetime = attrs.field(validator=_aware)
    modified_at: datetime | None = attrs.field(default=None, validator=_aware)
    status_since: datetime = attrs.field(validator=_aware)
    solution: str | None = attrs.field(default=None, validator=_free_text)
    requirements: FrozenMap[str, int] = attrs.field(
        factory=FrozenMap, converter=_requirements
    )
    version: int = 0
    settings_version: str | None = None
    # Instants as µs since the epoch, derived once for the evaluator's hot path.
    created_us: int = attrs.field(init=False, eq=False, repr=False)
    modified_us: int | None = attrs.field(init=False, eq=False, repr=False)
    status_since_us: int = attrs.field(init=False, eq=False, repr=False)

    @status_since.default
    def _status_since_default(self) -> datetime:
        return self.created_at

    @created_us.default
    def _created_us(self) -> int:
        return to_us(self.created_at, "Case.created_at")

    @modified_us.default
    def _modified_us(self) -> int | None:
        if self.modified_at is None:
            return None
        return to_us(self.modified_at, "Case.modified_at")

    @status_since_us.default
    def _status_since_us(self) -> int:
        return to_us(self.status_since, "Case.status_since")

    @classmethod
    def _restore(
        cls,
        *,
        id: str,
        number: str,
        status: Status,
        priority: str | int | None,
        owner: str | None,
        fields: FrozenMap[str, Any],
        created_at: datetime,
        modified_at: datetime | None,
        status_since: datetime,
        solution: str | None,
        requirements: FrozenMap[str, int],
        version: int,
        settings_version: str | None,
    ) -> Case:
        """A case as a store decodes it from its own encoding of a valid case:
        the converters and validators are skipped (a plan reads every open
        case), but every instant must still be aware (``to_us`` checks it)."""
        case = object.__new__(cls)
        put = object.__setattr__
        put(case, "id", id)
        put(case, "number", number)
        put(case, "status", status)
        put(case, "priority", priority)
        put(case, "owner", owner)
        put(case, "fields", fields)
        put(case, "created_at", created_at)
        put(case, "modified_at", modified_at)
        put(case, "status_since", status_since)
        put(case, "solution", solution)
        put(case, "requirements", requirements)
        put(case, "version", version)
        put(case, "settings_version", settings_version)
        put(case, "created_us", to_us(created_at, "Case.created_at"))
        put(
            case,
            "modified_us",
            None if modified_at is None else to_us(modified_at, "Case.modified_at"),
        )
        put(case, "status_since_us", to_us(status_since, "Case.status_since"))
        return case

    def _at_version(self, version: int) -> Case:
        """This case as stored at ``version`` (what a store's save returns):
        a copy of its slots, with nothing to check again."""
        case = object.__new__(Case)
        put = object.__setattr__
        for name in _CASE_SLOTS:
            put(case, name, getattr(self, name))
        put(case, "version", version)
        return case

    @property
    def closed(self) -> bool:
        """Whether its status is a closed one."""
        return self.status.closed

    def get(self, name: str) -> Any:
        """A field by name, as criteria see it: a case attribute (``status`` is
        the status name) or a custom field (None when missing)."""
        if name == "status":
            return self.status.name
        if name in CASE_ATTRIBUTES:
            return getattr(self, name)
        return self.fields.get(name)

    def changed(self, at: datetime, *, by: Actor | None, **changes: Any) -> Case:
        """The case with ``changes`` applied at ``at``.

        ``by`` is the person making the change, or None for a change the library
        makes itself: only a person's change sets ``modified_at``. A status change
        sets ``status_since``. ``fields`` given here are merged into the custom
        fields (a value of None removes one).

        Raises:
            ConfigError: An unknown attribute.
        """
        require_aware(at, "at")
        known = {"status", "priority", "owner", "fields", "solution", "requirements"}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(
                f"changed: unknown case attributes {sorted(unknown)}; expected one "
                f"of {sorted(known)}"
            )
        if "fields" in changes:
            changes["fields"] = self.fields.merged(changes["fields"])
        if "status" in changes and changes["status"] != self.status:
            changes["status_since"] = at
        if by is not None:
            changes["modified_at"] = at
        return attrs.evolve(self, **changes)


_CASE_SLOTS: Final = tuple(a.name for a in attrs.fields(Case))

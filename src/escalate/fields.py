"""Custom case fields, declared (``[fields]`` in the configuration): each with
its type, so a condition on a field nobody declared (a typo such as
``priorty``) or with a value of the wrong type is an error when the file is
loaded, not a condition that silently never matches.

Types: ``text``, ``integer``, ``decimal``, ``date`` and ``choice`` (of listed
texts).
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from escalate.errors import ConfigError
from escalate.model import CASE_ATTRIBUTES

__all__ = ["FieldSpec", "FieldType", "check_condition_value"]


class FieldType(enum.Enum):
    """What a custom field holds."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    CHOICE = "choice"


@attrs.frozen(kw_only=True)
class FieldSpec:
    """A declared custom field.

    Attributes:
        name: The field's name (``Case.fields`` key).
        type: What it holds.
        values: The allowed texts of a ``choice`` field (empty otherwise).
    """

    name: str
    type: FieldType
    values: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if self.type is FieldType.CHOICE and not self.values:
            raise ConfigError(f"fields.{self.name}: a choice needs its values")
        if self.type is not FieldType.CHOICE and self.values:
            raise ConfigError(
                f"fields.{self.name}: values are for a choice, not {self.type.value}"
            )

    def accepts(self, value: object) -> bool:
        """Whether a value can be this field's."""
        if self.type is FieldType.TEXT:
            return isinstance(value, str)
        if self.type is FieldType.CHOICE:
            return value in self.values
        if self.type is FieldType.INTEGER:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type is FieldType.DECIMAL:
            return isinstance(value, (int, float, Decimal)) and not isinstance(
                value, bool
            )
        return isinstance(value, date) and not isinstance(value, datetime)

    def expected(self) -> str:
        """What a value must be, in words."""
        if self.type is FieldType.CHOICE:
            return f"one of {list(self.values)}"
        return {
            FieldType.TEXT: "a text",
            FieldType.INTEGER: "an integer",
            FieldType.DECIMAL: "a number",
            FieldType.DATE: "a date like 2026-12-28",
        }[self.type]


def check_condition_value(
    path: str, field: str, value: Any, fields: Mapping[str, FieldSpec]
) -> None:
    """Refuse a condition on an undeclared custom field, or with a value its
    type cannot hold (each item of an ``in`` list). Case attributes
    (``priority``, ``status``...) are always known.

    Raises:
        ConfigError: Naming the condition's path, the field and what was expected.
    """
    if field in CASE_ATTRIBUTES:
        return
    spec = fields.get(field)
    if spec is None:
        known = sorted({*fields, *CASE_ATTRIBUTES})
        near = difflib.get_close_matches(field, known, n=1, cutoff=0.75)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"{path}: the field {field!r} is not declared in [fields]; {hint}"
            f"declared: {sorted(fields)}; case attributes: {sorted(CASE_ATTRIBUTES)}"
        )
    values: Iterable[Any] = (
        value if isinstance(value, (list, tuple, frozenset)) else [value]
    )
    for v in values:
        if v is not None and not spec.accepts(v):
            raise ConfigError(
                f"{path}: the field {field!r} is {spec.type.value}: expected "
                f"{spec.expected()}, got {v!r}"
            )

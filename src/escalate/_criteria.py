"""Criteria: conditions on case fields, and the logic string that combines them.

The logic string (``"1 AND (2 OR NOT 3)"``) is parsed by a small hand-written
recursive-descent parser, never ``eval``: precedence NOT > AND > OR, left to right,
brackets, case-insensitive keywords. It compiles once into closures, so evaluating
a case calls a few small functions and re-parses nothing.

Comparison semantics: a missing field, None and ``""`` are *empty*; on an empty
field every operator is false except ``not equals`` and ``is empty``. Comparisons
are case-sensitive; numbers compare as numbers (``bool`` is not a number), dates as
dates, aware datetimes as instants; ``<``, ``<=``, ``>``, ``>=`` are false between
values of different kinds.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from typing import Any, Final

from escalate._instants import to_us
from escalate.errors import CriteriaSyntaxError, RuleError
from escalate.model import CASE_ATTRIBUTES

Predicate = Callable[[Any], bool]  # takes a Case


class Operator(enum.Enum):
    """A condition's operator; the value is how it is written."""

    EQUALS = "equals"
    NOT_EQUALS = "not equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts with"
    IN = "in"
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IS_EMPTY = "is empty"
    IS_NOT_EMPTY = "is not empty"


_ALIASES: Final = {
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "!=": Operator.NOT_EQUALS,
    "<>": Operator.NOT_EQUALS,
    "not_equals": Operator.NOT_EQUALS,
    "starts_with": Operator.STARTS_WITH,
    "is_empty": Operator.IS_EMPTY,
    "is_not_empty": Operator.IS_NOT_EMPTY,
}
_COMPARE: Final = {
    Operator.LT: operator.lt,
    Operator.LE: operator.le,
    Operator.GT: operator.gt,
    Operator.GE: operator.ge,
}
_NUMBER: Final = (int, float, Decimal, Fraction)


def parse_operator(value: object) -> Operator:
    """An :class:`Operator` from itself or its written form."""
    if isinstance(value, Operator):
        return value
    if isinstance(value, str):
        text = " ".join(value.strip().lower().split())
        try:
            return Operator(text)
        except ValueError:
            if text in _ALIASES:
                return _ALIASES[text]
    choices = ", ".join(repr(o.value) for o in Operator)
    raise RuleError(f"operator: expected one of {choices}, got {value!r}")


def kind(value: object) -> str | None:
    """The comparison kind of a value: number, text, date, datetime, duration,
    bool, or None for anything else."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, timedelta):
        return "duration"
    return None


def is_empty(value: object) -> bool:
    """None and the empty string are empty (a missing field reads as None)."""
    return value is None or value == ""


def field_getter(name: str) -> Callable[[Any], Any]:
    """How criteria read a field of a case: a case attribute (``status`` by its
    name) or a custom field (None when missing)."""
    if name == "status":
        return lambda c: c.status.name
    if name in CASE_ATTRIBUTES:
        return attrgetter(name)
    return lambda c: c.fields.get(name)


def _norm(value: Any) -> Any:
    """A value in the form it is compared in (aware datetimes as UTC µs)."""
    return to_us(value, "value") if isinstance(value, datetime) else value


def validate_value(op: Operator, value: object) -> object:
    """The condition value, checked against its operator (tuples for ``in``).

    Raises:
        RuleError: A value of the wrong type for the operator.
    """
    if op in (Operator.IS_EMPTY, Operator.IS_NOT_EMPTY):
        if value is not None:
            raise RuleError(f"value: {op.value!r} takes no value, got {value!r}")
        return None
    if op is Operator.IN:
        if isinstance(value, str) or not isinstance(
            value, list | tuple | set | frozenset
        ):
            raise RuleError(
                f"value: {op.value!r} expects a list of values, got {value!r}"
            )
        items = (
            tuple(sorted(value, key=repr))
            if isinstance(value, set | frozenset)
            else tuple(value)
        )
        if not items:
            raise RuleError(f"value: {op.value!r} expects at least one value")
        for item in items:
            _scalar(op, item)
        return items
    if op in (Operator.CONTAINS, Operator.STARTS_WITH):
        if not isinstance(value, str) or not value:
            raise RuleError(
                f"value: {op.value!r} expects a non-empty text, got {value!r}"
            )
        return value
    _scalar(op, value)
    if op in _COMPARE and kind(value) == "bool":
        raise RuleError(f"value: {op.value!r} does not compare booleans, got {value!r}")
    return value


def _scalar(op: Operator, value: object) -> None:
    if is_empty(value):
        raise RuleError(
            f"value: {op.value!r} expects a value (use 'is empty' to test for "
            f"emptiness), got {value!r}"
        )
    if kind(value) is None:
        raise RuleError(
            f"value: {op.value!r} expects a text, number, date, datetime, duration "
            f"or boolean, got {type(value).__name__} {value!r}"
        )
    if isinstance(value, datetime):
        to_us(value, "value")  # aware only


def _equals_to(expected: object) -> Predicate:
    """A predicate on a non-empty field value: equal, by the kind rules."""
    k = kind(expected)
    if k == "text":
        return lambda v: v == expected
    if k == "number":
        return lambda v: (
            v == expected and not isinstance(v, bool) and isinstance(v, _NUMBER)
        )
    if k == "bool":
        return lambda v: v is expected
    if k == "datetime":
        e = _norm(expected)
        return lambda v: (
            isinstance(v, datetime) and v.tzinfo is not None and _norm(v) == e
        )
    if k == "date":
        return lambda v: type(v) is date and v == expected  # a datetime is no date here
    return lambda v: isinstance(v, timedelta) and v == expected


def compile_condition(
    get: Callable[[Any], Any], op: Operator, value: Any, *, custom: str | None = None
) -> Predicate:
    """A predicate on a case for one condition (value already validated).

    ``get`` reads the field from a case; when the field is the custom field
    ``custom``, the common operators read ``case.fields`` inline instead (one
    call less per condition, on the evaluator's hot path).
    """
    if custom is not None:
        fast = _custom_condition(custom, op, value)
        if fast is not None:
            return fast
    if op is Operator.IS_EMPTY:
        return lambda c: is_empty(get(c))
    if op is Operator.IS_NOT_EMPTY:
        return lambda c: not is_empty(get(c))
    if op is Operator.EQUALS:
        eq = _equals_to(value)
        return lambda c: (v := get(c)) is not None and v != "" and eq(v)
    if op is Operator.NOT_EQUALS:
        eq = _equals_to(value)
        return lambda c: (v := get(c)) is None or v == "" or not eq(v)
    if op is Operator.IN:
        if all(isinstance(i, str) for i in value):
            options = frozenset(value)
            return lambda c: isinstance(v := get(c), str) and v in options
        tests = [_equals_to(i) for i in value]
        return lambda c: not is_empty(v := get(c)) and any(t(v) for t in tests)
    if op is Operator.CONTAINS:
        part_eq = _equals_to(value)

        def contains(c: Any) -> bool:
            v = get(c)
            if isinstance(v, str):
                return value in v
            if isinstance(v, list | tuple | set | frozenset):
                return any(not is_empty(x) and part_eq(x) for x in v)
            return False

        return contains
    if op is Operator.STARTS_WITH:
        return lambda c: isinstance(v := get(c), str) and v.startswith(value)
    compare = _COMPARE[op]
    k = kind(value)
    e = _norm(value)
    if k == "number":
        return lambda c: (
            isinstance(v := get(c), _NUMBER)
            and not isinstance(v, bool)
            and compare(v, e)
        )
    if k == "datetime":
        return lambda c: (
            isinstance(v := get(c), datetime)
            and v.tzinfo is not None
            and compare(_norm(v), e)
        )
    if k == "date":
        return lambda c: type(v := get(c)) is date and compare(v, e)
    if k == "text":
        return lambda c: isinstance(v := get(c), str) and v != "" and compare(v, e)
    return lambda c: isinstance(v := get(c), timedelta) and compare(v, e)


def _custom_condition(name: str, op: Operator, value: Any) -> Predicate | None:
    """Inline versions of the commonest conditions on a custom field (the same
    semantics as the general ones in :func:`compile_condition`)."""
    if op is Operator.EQUALS and isinstance(value, str):
        return lambda c: c.fields.get(name) == value  # only a str equals a str
    if op is Operator.IN and all(isinstance(i, str) for i in value):
        options = frozenset(value)
        return lambda c: isinstance(v := c.fields.get(name), str) and v in options
    if op is Operator.IS_EMPTY:
        return lambda c: (v := c.fields.get(name)) is None or v == ""
    if op is Operator.IS_NOT_EMPTY:
        return lambda c: (v := c.fields.get(name)) is not None and v != ""
    if op in _COMPARE and kind(value) == "number":
        compare = _COMPARE[op]
        return lambda c: (
            isinstance(v := c.fields.get(name), _NUMBER)
            and not isinstance(v, bool)
            and compare(v, value)
        )
    return None


# -- the logic string ---------------------------------------------------------------

# A parsed logic expression: ("num", n) | ("not", x) | ("and", a, b) | ("or", a, b)
Node = tuple[Any, ...]


def _tokens(expression: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) tokens: num, and, or, not, (, )."""
    out = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append((ch, ch, i))
            i += 1
        elif ch.isdigit():
            j = i
            while j < n and expression[j].isdigit():
                j += 1
            out.append(("num", expression[i:j], i))
            i = j
        elif ch.isalpha():
            j = i
            while j < n and expression[j].isalpha():
                j += 1
            word = expression[i:j].lower()
            if word not in ("and", "or", "not"):
                raise CriteriaSyntaxError(
                    f"unknown word {expression[i:j]!r}; expected AND, OR, NOT, a "
                    "condition number or brackets",
                    expression=expression,
                    position=i,
                )
            out.append((word, expression[i:j], i))
            i = j
        else:
            raise CriteriaSyntaxError(
                f"unexpected character {ch!r}", expression=expression, position=i
            )
    return out


MAX_LOGIC: Final = 1_000
"""The longest logic string, in characters."""

MAX_LOGIC_DEPTH: Final = 32
"""How deeply brackets and NOTs may nest in a logic string."""


class _Parser:
    def __init__(self, expression: str, count: int) -> None:
        self.expression = expression
        self.count = count
        self.tokens = _tokens(expression)
        self.i = 0
        self.depth = 0

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_LOGIC_DEPTH:
            raise self.error(
                f"brackets and NOTs nest more than {MAX_LOGIC_DEPTH} deep; expected "
                "a shallower expression"
            )

    def error(self, message: str, position: int | None = None) -> CriteriaSyntaxError:
        if position is None:
            position = (
                self.tokens[self.i][2]
                if self.i < len(self.tokens)
                else len(self.expression)
            )
        return CriteriaSyntaxError(
            message, expression=self.expression, position=position
        )

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error("empty logic; expected e.g. '1 AND (2 OR 3)'", 0)
        node = self.or_()
        if self.i < len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.i][1]!r}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == "or":
            self.i += 1
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek() == "and":
            self.i += 1
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek() == "not":
            self.i += 1
            self.deeper()
            node: Node = ("not", self.not_())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        kind_ = self.peek()
        if kind_ == "num":
            _, text, pos = self.tokens[self.i]
            number = int(text)
            if not 1 <= number <= self.count:
                raise self.error(
                    f"condition {number} does not exist; there are {self.count} "
                    f"condition(s), numbered from 1",
                    pos,
                )
            self.i += 1
            return ("num", number)
        if kind_ == "(":
            self.i += 1
            self.deeper()
            node = self.or_()
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.i += 1
            self.depth -= 1
            return node
        if kind_ is None:
            raise self.error("unexpected end; expected a condition number or '('")
        raise self.error(
            f"unexpected {self.tokens[self.i][1]!r}; expected a condition number or '('"
        )


def parse_logic(expression: str, count: int) -> Node:
    """Parse a logic string over conditions numbered 1..count.

    Raises:
        CriteriaSyntaxError: A malformed string or a number with no condition,
            with the position of the offending character; a string longer than
            ``MAX_LOGIC`` characters or nested deeper than ``MAX_LOGIC_DEPTH``.
    """
    if len(expression) > MAX_LOGIC:
        raise CriteriaSyntaxError(
            f"expected a logic string of at most {MAX_LOGIC:,} characters, got "
            f"{len(expression):,}",
            expression=expression[:40],
            position=0,
        )
    return _Parser(expression, count).parse()


def compile_criteria(
    conditions: Sequence[Predicate], logic: str | None
) -> tuple[Node | None, Predicate]:
    """Numbered conditions and the logic that combines them (all ANDed if
    None) as one predicate, with the parsed logic (None without conditions:
    every case matches).

    Raises:
        CriteriaSyntaxError: The logic does not parse, leaves a condition
            unused, or is given without conditions.
    """
    if conditions:
        expression = logic if logic is not None else default_logic(len(conditions))
        tree = parse_logic(expression, len(conditions))
        unused = set(range(1, len(conditions) + 1)) - numbers_in(tree)
        if unused:
            raise CriteriaSyntaxError(
                f"condition(s) {sorted(unused)} are not used in the logic",
                expression=expression,
                position=len(expression),
            )
        return tree, compile_logic(tree, conditions)
    if logic not in (None, ""):
        raise CriteriaSyntaxError(
            "logic given but there are no conditions", expression=logic, position=0
        )
    return None, _every_case


def _every_case(case: Any) -> bool:
    """The predicate of no conditions: every case."""
    return True


def numbers_in(node: Node) -> set[int]:
    """The condition numbers a parsed expression refers to."""
    if node[0] == "num":
        return {node[1]}
    return set().union(*(numbers_in(child) for child in node[1:]))


def default_logic(count: int) -> str:
    """All conditions ANDed: ``"1 AND 2 AND 3"``."""
    return " AND ".join(str(i) for i in range(1, count + 1))


def compile_logic(node: Node, conditions: Sequence[Predicate]) -> Predicate:
    """A predicate on a case for a parsed expression (short-circuiting).

    Chains of one operator (``1 AND 2 AND 3``) become one loop, not nested calls.
    """
    op = node[0]
    if op == "num":
        number: int = node[1]
        return conditions[number - 1]
    if op == "not":
        inner = compile_logic(node[1], conditions)
        return lambda c: not inner(c)
    parts = tuple(compile_logic(n, conditions) for n in _chain(node, op))
    if len(parts) == 2:
        left, right = parts
        if op == "and":
            return lambda c: left(c) and right(c)
        return lambda c: left(c) or right(c)
    if op == "and":
        return all_of(parts)

    def any_of(c: Any) -> bool:
        for part in parts:  # noqa: SIM110 - a loop is cheaper than any(genexpr)
            if part(c):
                return True
        return False

    return any_of


def all_of(parts: Sequence[Predicate]) -> Predicate:
    """A predicate that holds when every part does (short-circuiting)."""
    if not parts:
        return lambda c: True
    if len(parts) == 1:
        return parts[0]
    parts = tuple(parts)

    def all_parts(c: Any) -> bool:
        for part in parts:  # noqa: SIM110 - a loop is cheaper than all(genexpr)
            if not part(c):
                return False
        return True

    return all_parts


def _chain(node: Node, op: str) -> list[Node]:
    """The operands of a left-to-right chain of ``op``."""
    if node[0] != op:
        return [node]
    return _chain(node[1], op) + _chain(node[2], op)


def evaluate_logic(node: Node, results: Sequence[bool]) -> bool:
    """Evaluate a parsed expression over known condition results (reference)."""
    op = node[0]
    if op == "num":
        number: int = node[1]
        return results[number - 1]
    if op == "not":
        return not evaluate_logic(node[1], results)
    if op == "and":
        return evaluate_logic(node[1], results) and evaluate_logic(node[2], results)
    return evaluate_logic(node[1], results) or evaluate_logic(node[2], results)

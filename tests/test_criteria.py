"""Criteria: operators, comparison semantics and the logic-string parser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from escalate.errors import CriteriaSyntaxError, RuleError
from escalate.model import Case
from escalate.rules import Condition, EscalationAction, Operator, RuleItem

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
STEP = [EscalationAction(id="step-1", after=timedelta(hours=1), escalate_to="lead")]


def case(**fields: object) -> Case:
    return Case(
        id="c1",
        number="C-1",
        created_at=T0,
        priority=fields.pop("priority", None),
        fields=fields,
    )


def holds(field: str, op: str, value: object, **fields: object) -> bool:
    return Condition(field, op, value).compile()(case(**fields))


class TestOperators:
    @pytest.mark.parametrize(
        ("op", "value", "field_value", "expected"),
        [
            ("equals", "NL", "NL", True),
            ("equals", "NL", "nl", False),  # case-sensitive
            ("equals", 3, 3.0, True),  # numbers as numbers
            ("equals", 3, "3", False),  # different kinds
            ("equals", 1, True, False),  # a bool is not a number
            ("not equals", "NL", "BE", True),
            ("not equals", "NL", "NL", False),
            ("contains", "server", "the server crashed", True),
            ("contains", "Server", "the server crashed", False),
            ("contains", "vip", ("vip", "gold"), True),
            ("starts with", "SRV-", "SRV-12", True),
            ("starts with", "SRV-", "srv-12", False),
            ("in", ["NL", "BE"], "BE", True),
            ("in", ["NL", "BE"], "DE", False),
            ("in", [1, 2], 2.0, True),
            ("<", 10, 9.5, True),
            ("<", 10, Decimal(10), False),
            ("<=", 10, 10, True),
            (">", date(2026, 1, 1), date(2026, 2, 1), True),
            (">", date(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC), False),  # kinds
            (">=", "b", "c", True),
            ("<", 10, "9", False),  # different kinds: false
            (">", timedelta(hours=1), timedelta(hours=2), True),
        ],
    )
    def test_semantics(
        self, op: str, value: object, field_value: object, expected: bool
    ) -> None:
        """Each operator compares as documented."""
        assert holds("x", op, value, x=field_value) is expected

    def test_datetimes_compare_as_instants(self) -> None:
        """Aware datetimes compare as instants, across zones and DST."""
        ams = ZoneInfo("Europe/Amsterdam")
        first = datetime(2026, 10, 25, 2, 30, tzinfo=ams)  # 00:30 UTC
        second = datetime(2026, 10, 25, 2, 10, tzinfo=ams, fold=1)  # 01:10 UTC
        assert holds("x", ">", first, x=second)
        assert holds("x", "equals", first, x=first.astimezone(UTC))

    @pytest.mark.parametrize(
        "op",
        [
            "equals",
            "contains",
            "starts with",
            "in",
            "<",
            "<=",
            ">",
            ">=",
            "is not empty",
        ],
    )
    @pytest.mark.parametrize("empty", [None, "", "missing"])
    def test_empty_field_is_false(self, op: str, empty: object) -> None:
        """On a missing, None or '' field every operator is false but two."""
        value = {
            "in": ["a"],
            "is not empty": None,
            "<": "a",
            "<=": "a",
            ">": "a",
            ">=": "a",
        }.get(op, "a")
        fields = {} if empty == "missing" else {"x": empty}
        assert holds("x", op, value, **fields) is False

    @pytest.mark.parametrize("empty", [None, "", "missing"])
    def test_empty_field_not_equals_and_is_empty_are_true(self, empty: object) -> None:
        """not equals and is empty are true on an empty field."""
        fields = {} if empty == "missing" else {"x": empty}
        assert holds("x", "not equals", "a", **fields)
        assert holds("x", "is empty", None, **fields)

    def test_case_attributes(self) -> None:
        """status reads the status name; priority and owner are attributes."""
        c = case(priority="high")
        assert Condition("status", "equals", "New").compile()(c)
        assert Condition("priority", "in", ["high", "urgent"]).compile()(c)
        assert Condition("owner", "is empty").compile()(c)

    @pytest.mark.parametrize(
        ("op", "value", "words"),
        [
            ("bigger", 1, "operator: expected one of"),
            ("contains", 3, "non-empty text"),
            ("in", "NL", "list of values"),
            ("in", [], "at least one"),
            ("is empty", "x", "takes no value"),
            ("equals", None, "use 'is empty'"),
            ("<", True, "does not compare booleans"),
            ("equals", object(), "expects a text, number"),
            ("equals", datetime(2026, 1, 1), "aware"),
        ],
    )
    def test_bad_conditions(self, op: str, value: object, words: str) -> None:
        """A wrong value for the operator is a clear error."""
        with pytest.raises((RuleError, TypeError), match=words):
            Condition("x", op, value)

    def test_aliases(self) -> None:
        """Operators may be written as symbols or enum members."""
        assert Condition("x", "==", 1).operator is Operator.EQUALS
        assert Condition("x", "!=", 1).operator is Operator.NOT_EQUALS
        assert Condition("x", Operator.GE, 1).operator is Operator.GE
        assert Condition("x", " Starts   With ", "a").operator is Operator.STARTS_WITH


def item(logic: str | None, n: int = 3) -> RuleItem:
    return RuleItem(
        id="item-1",
        conditions=[(f"c{i}", "equals", True) for i in range(1, n + 1)],
        logic=logic,
        actions=STEP,
    )


def matches(logic: str | None, *values: bool) -> bool:
    it = item(logic, len(values))
    return it.matches(case(**{f"c{i}": v for i, v in enumerate(values, 1)}))


class TestLogic:
    def test_default_is_all_anded(self) -> None:
        """Without a logic string, every condition must hold."""
        assert matches(None, True, True, True)
        assert not matches(None, True, False, True)

    def test_precedence_not_and_or(self) -> None:
        """NOT binds tighter than AND, AND tighter than OR."""
        assert matches("1 OR 2 AND 3", True, False, False)  # 1 OR (2 AND 3)
        assert not matches(
            "NOT 1 AND 2 OR 3", True, True, False
        )  # ((NOT 1) AND 2) OR 3
        assert matches("NOT (1 AND 2) OR 3", True, False, False)

    def test_brackets_and_case(self) -> None:
        """Brackets group; keywords are case-insensitive."""
        assert not matches("1 and (2 or 3)", False, True, True)
        assert matches("1 And (2 oR 3)", True, False, True)

    @pytest.mark.parametrize(
        ("logic", "position", "words"),
        [
            ("1 AND (2 OR", 11, "unexpected end"),
            ("1 AND 4", 6, "condition 4 does not exist"),
            ("1 AND 0", 6, "condition 0 does not exist"),
            ("1 XOR 2", 2, "unknown word 'XOR'"),
            ("1 AND 2)", 7, "unexpected ')'"),
            ("(1 AND 2", 8, "missing ')'"),
            ("1 2", 2, "unexpected '2'"),
            ("1 & 2", 2, "unexpected character '&'"),
            ("", 0, "empty logic"),
            ("1 AND", 5, "unexpected end"),
        ],
    )
    def test_syntax_errors_point_at_the_position(
        self, logic: str, position: int, words: str
    ) -> None:
        """A bad logic string raises CriteriaSyntaxError with the position."""
        with pytest.raises(CriteriaSyntaxError, match=re.escape(words)) as e:
            item(logic, 3 if "4" not in logic else 1)
        assert e.value.position == position
        assert e.value.expression == logic
        assert isinstance(e.value, RuleError)

    def test_unused_condition_is_an_error(self) -> None:
        """Every numbered condition must appear in the logic."""
        with pytest.raises(CriteriaSyntaxError, match=r"\[3\] are not used"):
            item("1 AND 2", 3)

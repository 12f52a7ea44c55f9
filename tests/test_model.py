"""Named behaviours of escalate.model values."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate._frozen import FrozenMap
from escalate.errors import (
    ConfigError,
    InvalidOperation,
    NaiveDatetimeError,
    PermissionDenied,
)
from escalate.model import BUILTIN_STATUSES, Actor, Case, Permission, Status, Task
from tests.strategies import cases

DUE = datetime(2026, 11, 23, 12, tzinfo=UTC)


class TestTask:
    def test_becomes_overdue_at_its_due_instant(self) -> None:
        """A task is overdue from due_at on, until it is done."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE)
        assert not task.overdue(DUE - timedelta(microseconds=1))
        assert task.overdue(DUE)
        done = task.done(DUE + timedelta(hours=1))
        assert done.overdue(DUE)
        assert not done.overdue(DUE + timedelta(hours=1))

    def test_reminder_at_due_unless_done_before(self) -> None:
        """The internal reminder is due at due_at, unless done before it."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE)
        assert task.reminder_at() == DUE
        assert task.done(DUE - timedelta(hours=1)).reminder_at() is None

    def test_has_no_escalation(self) -> None:
        """Tasks only become overdue: they have nothing that escalates."""
        assert not [n for n in dir(Task) if "escalat" in n]

    def test_done_twice_is_refused(self) -> None:
        """Marking a task done twice raises InvalidOperation."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE).done(DUE)
        with pytest.raises(InvalidOperation, match="done already"):
            task.done(DUE)

    def test_validation(self) -> None:
        """Empty ids and naive due instants are refused, naming the field."""
        with pytest.raises(ConfigError, match=r"Task\.id"):
            Task(id="", title="x", owner="ann", due_at=DUE)
        with pytest.raises(NaiveDatetimeError, match=r"Task\.due_at"):
            Task(id="t", title="x", owner="ann", due_at=datetime(2026, 1, 1))


class TestCase:
    def test_person_changes_set_modified_at(self) -> None:
        """A change by a person sets modified_at; an automatic one does not."""

        c = Case(id="c", number="C-1", created_at=DUE)
        auto = c.changed(DUE + timedelta(hours=1), by=None, owner="bob")
        assert (auto.owner, auto.modified_at) == ("bob", None)
        manual = c.changed(DUE + timedelta(hours=2), by=Actor("ann"), priority="high")
        assert manual.modified_at == DUE + timedelta(hours=2)

    def test_status_change_sets_status_since(self) -> None:
        """Entering a status records when; an unchanged status keeps it."""

        c = Case(id="c", number="C-1", created_at=DUE)
        assert c.status_since == DUE
        p = c.changed(DUE + timedelta(hours=1), by=None, status=Status.PENDING)
        assert p.status_since == DUE + timedelta(hours=1)
        same = p.changed(DUE + timedelta(hours=2), by=None, status=Status.PENDING)
        assert same.status_since == DUE + timedelta(hours=1)

    def test_fields_merge_and_remove(self) -> None:
        """Field changes merge; None removes a field; the mapping is read-only."""

        c = Case(id="c", number="C-1", created_at=DUE, fields={"a": 1, "b": 2})
        d = c.changed(DUE, by=None, fields={"a": 3, "b": None})
        assert dict(d.fields) == {"a": 3}
        assert dict(c.fields) == {"a": 1, "b": 2}
        with pytest.raises(TypeError):
            c.fields["a"] = 5  # type: ignore[index]
        assert hash(c) == hash(
            Case(id="c", number="C-1", created_at=DUE, fields={"b": 2, "a": 1})
        )

    def test_fields_may_not_shadow_attributes(self) -> None:
        """A custom field named like a case attribute is refused."""

        with pytest.raises(ConfigError, match="'status' is a case attribute"):
            Case(id="c", number="C-1", created_at=DUE, fields={"status": "x"})

    @pytest.mark.parametrize(
        ("fields", "where"),
        [
            ({"score": Fraction(1, 3)}, r"Case.fields\['score'\]: .*Fraction\(1, 3\)"),
            ({"tags": ["a", {1, 2}]}, r"Case.fields\['tags'\]\[1\]: .*of type set"),
            ({"m": {"k": object()}}, r"Case.fields\['m'\]\['k'\]: .*of type object"),
            ({"m": {1: "x"}}, r"Case.fields\['m'\]: expected text keys, got 1"),
            ({"ratio": float("nan")}, r"Case.fields\['ratio'\]: expected a finite"),
            ({"x": b"bytes"}, r"Case.fields\['x'\]: .*of type bytes"),
        ],
    )
    def test_fields_a_store_cannot_keep_are_refused(
        self, fields: dict[str, object], where: str
    ) -> None:
        """A custom field value a store could not keep exactly is refused when the
        case is built or changed, naming the field (not a TypeError later, when a
        store encodes it)."""
        with pytest.raises(ConfigError, match=where):
            Case(id="c", number="C-1", created_at=DUE, fields=fields)
        case = Case(id="c", number="C-1", created_at=DUE)
        with pytest.raises(ConfigError, match=where):
            case.changed(DUE, by=None, fields=fields)

    def test_fields_of_every_kind_a_store_keeps(self) -> None:
        """Text, numbers, booleans, dates, instants, durations, None, nested."""
        fields = {
            "a": "x",
            "b": 1,
            "c": 2.5,
            "d": Decimal("1.10"),
            "e": True,
            "f": DUE.date(),
            "g": DUE,
            "h": timedelta(hours=1),
            "i": None,
            "j": [1, {"k": ["v"]}],
        }
        assert dict(Case(id="c", number="C-1", created_at=DUE, fields=fields).fields)
        with pytest.raises(NaiveDatetimeError, match=r"Case.fields\['n'\]\[0\]"):
            Case(
                id="c",
                number="C-1",
                created_at=DUE,
                fields={"n": [DUE.replace(tzinfo=None)]},
            )

    def test_unknown_change_is_refused(self) -> None:
        """changed() names the attributes it knows."""

        with pytest.raises(ConfigError, match="unknown case attributes"):
            Case(id="c", number="C-1", created_at=DUE).changed(
                DUE, by=None, colour="red"
            )

    def test_builtin_statuses(self) -> None:
        """The seeds' statuses are built in; Expired and Closed are closed."""

        assert [s.name for s in BUILTIN_STATUSES if s.closed] == ["Expired", "Closed"]
        assert Status.ACTIVE_NEW.name == "Active – New"

    def test_actor_permissions(self) -> None:
        """require() raises PermissionDenied naming actor, action, permission."""
        from escalate.model import Actor

        ann = Actor("ann", permissions={Permission.DELETE_FOLLOW_UP_LINES})
        ann.require("delete follow-up lines", "delete_line")
        with pytest.raises(PermissionDenied, match="'ann' lacks the permission"):
            ann.require(Permission.CONFIGURE_CASE_ESCALATION, "create_rule")
        assert isinstance(PermissionDenied("x"), PermissionError)


class TestRestore:
    @given(cases(), st.sampled_from([Status.PENDING, Status("On hold")]), st.data())
    def test_restore_is_the_constructor_without_its_checks(
        self, cs: list[Case], status: Status, data: st.DataObject
    ) -> None:
        """Case._restore (what a store decodes with) gives the case the
        constructor gives, every slot of it, derived ones too."""
        for c in cs:
            c = attrs.evolve(
                c,
                status=data.draw(st.sampled_from([c.status, status])),
                owner=data.draw(st.sampled_from([None, "ann"])),
                requirements={"dutch": 3},
                solution=data.draw(st.sampled_from([None, "fixed"])),
                version=data.draw(st.integers(0, 9)),
            )
            init = {f.name: getattr(c, f.name) for f in attrs.fields(Case) if f.init}
            restored = Case._restore(**init)
            assert restored == c
            for f in attrs.fields(Case):
                assert getattr(restored, f.name) == getattr(c, f.name), f.name

    def test_restore_sets_every_field(self) -> None:
        """A field added to Case must be added to _restore too: it takes every
        field the constructor takes, and no other."""
        params = set(inspect.signature(Case._restore).parameters)
        assert params == {f.name for f in attrs.fields(Case) if f.init}

    def test_restore_still_refuses_a_naive_instant(self) -> None:
        """A stored row whose instant lost its offset is refused, not restored."""
        with pytest.raises(NaiveDatetimeError):
            Case._restore(
                id="c1",
                number="1",
                status=Status.NEW,
                priority=None,
                owner=None,
                fields=FrozenMap(),
                created_at=datetime(2026, 1, 1),
                modified_at=None,
                status_since=datetime(2026, 1, 1, tzinfo=UTC),
                solution=None,
                requirements=FrozenMap(),
                version=1,
                settings_version=None,
            )


class TestValuesAStoreCanKeep:
    """Every text, id and number of a case is checked in the core, so SQLite and
    PostgreSQL accept the same cases and a bad value names its field."""

    T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)

    def make(self, **changes: object) -> Case:
        values: dict[str, object] = {"id": "c1", "number": "C-1", "created_at": self.T0}
        return Case(**(values | changes))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"number": "C-\udc80"}, "Case.number"),
            ({"id": "c\ud800"}, "Case.id"),
            ({"owner": "ann\udfff"}, "Case.owner"),
            ({"priority": "high\udc80"}, "Case.priority"),
            ({"solution": "fixed \udc80"}, "Case.solution"),
            ({"fields": {"note": "hi \udc80"}}, "Case.fields['note']"),
            ({"fields": {"tags": ["ok", "\udc80"]}}, "Case.fields['tags'][1]"),
            ({"fields": {"k\udc80": 1}}, "Case.fields key"),
        ],
    )
    def test_a_lone_surrogate_is_refused_naming_the_field(
        self, changes: dict[str, object], field: str
    ) -> None:
        """A lone surrogate (what a JSON API lets through as "\\udc80") is a
        ConfigError naming the field and the position, never an encoding error
        from a store later."""
        with pytest.raises(ConfigError, match=r"lone surrogate \(U\+D[89A-F]") as e:
            self.make(**changes)
        assert str(e.value).startswith(field)

    def test_a_status_name_is_checked(self) -> None:
        """A custom status's name too."""
        with pytest.raises(ConfigError, match=r"^Status\.name: .*lone surrogate"):
            Status("On \udc80 hold")

    @pytest.mark.parametrize(
        "changes",
        [
            {"id": "c\x001"},
            {"number": "C\x00"},
            {"owner": "\x00"},
            {"fields": {"note": "a\x00b"}},
        ],
    )
    def test_nul_is_refused(self, changes: dict[str, object]) -> None:
        """NUL, which SQLite keeps and PostgreSQL refuses, is refused by both."""
        with pytest.raises(ConfigError, match="NUL character"):
            self.make(**changes)

    def test_an_id_or_number_longer_than_max_id_is_refused(self) -> None:
        """A 10 MB case number is refused at once (before: kept by SQLite,
        refused by PostgreSQL)."""
        from escalate._text import MAX_ID

        self.make(number="N" * MAX_ID)
        with pytest.raises(ConfigError, match=r"Case\.number: expected at most 200"):
            self.make(number="N" * 10_000_000)

    def test_free_text_longer_than_max_text_is_refused(self) -> None:
        """A custom field's text and a solution hold at most MAX_TEXT."""
        from escalate._text import MAX_TEXT

        self.make(fields={"note": "x" * MAX_TEXT})
        with pytest.raises(ConfigError, match="note"):
            self.make(fields={"note": "x" * (MAX_TEXT + 1)})

    def test_numbers_beyond_64_bits_are_refused(self) -> None:
        """A whole number every store keeps exactly: within PostgreSQL's bigint."""
        from escalate.model import MAX_NUMBER

        self.make(priority=MAX_NUMBER, fields={"n": -MAX_NUMBER})
        with pytest.raises(ConfigError, match=r"Case\.priority: expected a whole"):
            self.make(priority=MAX_NUMBER + 1)
        with pytest.raises(ConfigError, match=r"Case\.fields\['n'\]"):
            self.make(fields={"n": 2**70})

    def test_nesting_and_count_of_field_values_are_bounded(self) -> None:
        """Fields nested deeper than MAX_FIELD_DEPTH, or holding more than
        MAX_FIELD_ITEMS values, are refused (a store's JSON encoder recurses)."""
        from escalate.model import MAX_FIELD_DEPTH, MAX_FIELD_ITEMS

        deep: object = 1
        for _ in range(MAX_FIELD_DEPTH + 1):
            deep = [deep]
        with pytest.raises(ConfigError, match="nested at most 16 deep"):
            self.make(fields={"deep": deep})
        with pytest.raises(ConfigError, match="at most 10,000 values"):
            self.make(fields={"many": list(range(MAX_FIELD_ITEMS + 1))})

    @pytest.mark.parametrize(
        "fields",
        [{"$us": 5}, {"note": {"$datetime": "2026-01-01"}}, {"x": [{"$date": 1}]}],
    )
    def test_names_starting_with_a_dollar_are_refused(
        self, fields: dict[str, object]
    ) -> None:
        """A mapping key like "$us" would be read back by a store as a tagged
        duration (a TypeError when the case is read): refused when built."""
        with pytest.raises(ConfigError, match="not starting with '\\$'"):
            self.make(fields=fields)

    def test_a_change_is_checked_too(self) -> None:
        """Case.changed checks what it sets, as the constructor does."""
        with pytest.raises(ConfigError, match="lone surrogate"):
            self.make().changed(self.T0, by=None, fields={"x": "\udc80"})


class TestLeadValues:
    """A lead's ids and names are checked as a case's are."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [("id", "L\udc80"), ("lead_type", "web\x00"), ("team", "x" * 201)],
    )
    def test_refused_naming_the_field(self, field: str, value: str) -> None:
        from escalate.leads import Lead

        values: dict[str, object] = {
            "id": "L1",
            "lead_type": "web",
            "received_at": datetime(2026, 11, 23, 9, tzinfo=UTC),
        }
        with pytest.raises(ConfigError, match=f"^{field}: expected"):
            Lead(**(values | {field: value}))  # type: ignore[arg-type]

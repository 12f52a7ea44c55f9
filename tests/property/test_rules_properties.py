"""Property tests for the criteria parser and the rule evaluator."""

from __future__ import annotations

import itertools
from datetime import UTC, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate._criteria import compile_logic, parse_logic
from escalate.hours import BusinessHours
from escalate.model import Case, Status
from escalate.rules import (
    ActionKind,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    RulePass,
    TimeBasis,
    due_actions,
)
from tests.strategies import (
    ADMIN,
    CALENDARS,
    books,
    cases,
    instant,
    offsets,
)

# -- the parser -------------------------------------------------------------------


def trees(n: int) -> st.SearchStrategy[Any]:
    leaf = st.integers(1, n).map(lambda i: ("num", i))

    def extend(sub: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        binary = st.tuples(st.sampled_from(["and", "or"]), sub, sub)
        return st.one_of(binary, binary, binary, sub.map(lambda x: ("not", x)))

    return st.recursive(leaf, extend, max_leaves=10)


def reference(tree: Any, values: tuple[bool, ...]) -> bool:
    op = tree[0]
    if op == "num":
        return values[tree[1] - 1]
    if op == "not":
        return not reference(tree[1], values)
    if op == "and":
        return reference(tree[1], values) and reference(tree[2], values)
    return reference(tree[1], values) or reference(tree[2], values)


_RANK = {"or": 1, "and": 2, "not": 3, "num": 4}


def render(tree: Any, draw: st.DrawFn, *, minimal: bool) -> str:
    """Text for a tree: fully bracketed, or with only the brackets precedence
    and left-to-right reading need."""
    op = tree[0]
    word = lambda w: draw(st.sampled_from([w.upper(), w.lower(), w.title()]))  # noqa: E731
    space = lambda: draw(st.sampled_from([" ", "  ", " \t "]))  # noqa: E731
    if op == "num":
        return str(tree[1])
    if op == "not":
        inner = render(tree[1], draw, minimal=minimal)
        if not minimal or _RANK[tree[1][0]] < _RANK["not"]:
            inner = f"({inner})"
        return f"{word('not')}{space()}{inner}"
    left = render(tree[1], draw, minimal=minimal)
    right = render(tree[2], draw, minimal=minimal)
    if not minimal or _RANK[tree[1][0]] < _RANK[op]:
        left = f"({left})"
    if not minimal or _RANK[tree[2][0]] <= _RANK[op]:
        right = f"({right})"
    return f"{left}{space()}{word(op)}{space()}{right}"


@st.composite
def expressions(draw: st.DrawFn) -> tuple[Any, str, int]:
    n = draw(st.integers(1, 5))
    tree = draw(trees(n))
    return tree, render(tree, draw, minimal=draw(st.booleans())), n


class TestParser:
    @settings(max_examples=300, deadline=None)
    @given(expressions())
    def test_parse_agrees_with_reference(self, expr: tuple[Any, str, int]) -> None:
        """Printed to text and parsed back, an expression means the same."""
        tree, text, n = expr
        compiled = compile_logic(
            parse_logic(text, n), [lambda v, i=i: v[i] for i in range(n)]
        )
        for values in itertools.product([False, True], repeat=n):
            assert compiled(values) is reference(tree, values), text


# -- the evaluator ----------------------------------------------------------------


def governing(book: RuleBook, case: Case) -> RuleItem | None:
    rule = book.active_rule
    assert rule is not None
    for item in rule.items:
        prio = item.conditions[0].value if item.conditions else None
        if prio is None or prio == case.priority:
            return item
    return None


def hours_of(item: RuleItem) -> BusinessHours:
    return BusinessHours.always() if item.hours is None else CALENDARS[item.hours]


class TestEvaluator:
    @settings(max_examples=150, deadline=None)
    @given(books(), cases(), offsets)
    def test_due_iff_elapsed_reaches_after(
        self, book: RuleBook, cs: list[Case], m: int
    ) -> None:
        """An escalation is due iff now >= basis and elapsed(basis, now) >= after,
        for the first matching item's steps, and those only."""
        now = instant(m)
        due = due_actions(book, cs, now, CALENDARS)
        got = {
            (d.case_id, d.item_id, d.action.id)
            for d in due
            if d.kind is ActionKind.ESCALATION and d.action
        }
        expected = set()
        for c in cs:
            item = governing(book, c)
            if item is None:
                continue
            if (
                item.basis is TimeBasis.CREATED_UNTIL_MODIFIED
                and c.modified_at is not None
            ):
                continue
            basis = (
                c.created_at
                if item.basis is TimeBasis.CREATED or c.modified_at is None
                else c.modified_at
            )
            if now.astimezone(UTC) < basis.astimezone(UTC):
                continue
            elapsed = hours_of(item).elapsed(basis, now)
            expected |= {
                (c.id, item.id, a.id) for a in item.actions if elapsed >= a.after
            }
        assert got == expected

    @settings(max_examples=150, deadline=None)
    @given(books(), cases(), offsets, offsets)
    def test_two_calls_equal_one(
        self, book: RuleBook, cs: list[Case], m1: int, m2: int
    ) -> None:
        """A call at t1, then at t2 with what t1 did, equals one call at t2."""
        t1, t2 = instant(min(m1, m2)), instant(max(m1, m2))
        first = due_actions(book, cs, t1, CALENDARS)
        done = {d.key for d in first}
        second = due_actions(book, cs, t2, CALENDARS, done)
        once = due_actions(book, cs, t2, CALENDARS)
        assert sorted(d.key for d in first + second) == sorted(d.key for d in once)
        assert not done & {d.key for d in second}

    @settings(max_examples=150, deadline=None)
    @given(books(latest_only=True), cases(), st.lists(offsets, min_size=1, max_size=5))
    def test_latest_only_never_fires_an_older_step(
        self, book: RuleBook, cs: list[Case], ms: list[int]
    ) -> None:
        """With latest_only, no step older than one that fired ever fires after it."""
        done: set[str] = set()
        fired: dict[str, list[int]] = {}
        for m in sorted(ms):
            for d in due_actions(book, cs, instant(m), CALENDARS, done):
                done.add(d.key)
                if d.kind is not ActionKind.ESCALATION or d.action is None:
                    continue
                item = book.rule("r").item(d.item_id or "")
                index = item.actions.index(d.action)
                prior = fired.setdefault(f"{d.case_id}/{d.basis_at}", [])
                older = [item.actions[i].after for i in prior]
                assert all(d.action.after >= a for a in older)
                prior.append(index)

    @settings(max_examples=100, deadline=None)
    @given(books(), cases(), offsets, st.randoms(use_true_random=False))
    def test_keys_stable_across_reorder(
        self, book: RuleBook, cs: list[Case], m: int, rnd: Any
    ) -> None:
        """Reordering items whose criteria exclude each other changes no key."""
        rule = book.rule("r")
        prios = [it.conditions[0].value if it.conditions else None for it in rule.items]
        exclusive = [
            it for it, p in zip(rule.items, prios, strict=True) if p is not None
        ]
        unique = [it for it in exclusive if prios.count(it.conditions[0].value) == 1]
        book = (
            RuleBook.build([Rule(name="r", items=unique)], active="r")
            if unique
            else book
        )
        ids = [it.id for it in book.rule("r").items]
        shuffled = ids[:]
        rnd.shuffle(shuffled)
        moved = book.reorder_items("r", shuffled, by=ADMIN)
        now = instant(m)
        if unique:
            assert [d.key for d in due_actions(moved, cs, now, CALENDARS)] == [
                d.key for d in due_actions(book, cs, now, CALENDARS)
            ]

    @settings(max_examples=100, deadline=None)
    @given(books(latest_only=None), cases(), offsets)
    def test_order_is_deterministic(
        self, book: RuleBook, cs: list[Case], m: int
    ) -> None:
        """Output is ordered by due instant then case id, whatever the input order."""
        now = instant(m)
        due = due_actions(book, cs, now, CALENDARS)
        assert [(d.due_at, d.case_id) for d in due] == sorted(
            (d.due_at, d.case_id) for d in due
        )
        assert [
            d.key for d in due_actions(book, list(reversed(cs)), now, CALENDARS)
        ] == [d.key for d in due]


class TestEvaluateAgrees:
    @settings(max_examples=100, deadline=None)
    @given(books(latest_only=None), cases(), offsets)
    def test_due_actions_are_the_evaluations_due_steps(
        self, book: RuleBook, cs: list[Case], m: int
    ) -> None:
        """due_actions yields exactly the steps evaluate() calls due, same keys."""
        now = instant(m)
        from escalate.rules import evaluate

        expected = {
            (s.key, s.kind) for c in cs for s in evaluate(book, c, now, CALENDARS).due
        }
        got = {(d.key, d.kind) for d in due_actions(book, cs, now, CALENDARS)}
        assert got == expected
        for c in cs:
            assert evaluate(book, c, now, CALENDARS).actions() == due_actions(
                book, [c], now, CALENDARS
            )


# -- the incremental pass -------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.sampled_from(["tick", "tick", "edit", "reread", "pend", "back", "book"]),
        st.integers(0, 6 * 60),  # minutes on
        st.integers(0, 3),  # which case
        st.booleans(),  # a tick: whether the caller fails to do what is due
    ),
    min_size=1,
    max_size=14,
)


@st.composite
def books_with_expiry(draw: st.DrawFn) -> RuleBook:
    book = draw(books(latest_only=None))
    if draw(st.booleans()):
        after = timedelta(minutes=draw(st.integers(0, 48 * 60)))
        hours = draw(st.sampled_from([None, "office"]))
        book = attrs.evolve(book, expiry=ExpiryPolicy(after=after, hours=hours))
    return book


class TestRulePass:
    @settings(max_examples=200, deadline=None)
    @given(books_with_expiry(), books_with_expiry(), cases(), offsets, steps)
    def test_the_pass_gives_what_due_actions_gives(
        self,
        book: RuleBook,
        other: RuleBook,
        cs: list[Case],
        start: int,
        plan: list[tuple[str, int, int, bool]],
    ) -> None:
        """Over a run of ticks (some not doing what was due), edits of cases,
        cases read again (same version, another value), pending statuses, an
        instant going back and a change of book: each tick's answer is
        due_actions' on the same cases and done keys, in the same order."""
        cs = [attrs.evolve(c, version=1) for c in cs]  # as a store gives them
        rp = RulePass(book, CALENDARS)
        done: set[str] = set()
        m = start
        for what, minutes, which, fail in plan:
            m += minutes
            now = instant(m)
            i = which % len(cs)
            if what == "edit":  # a change the store saves: a new version
                c = cs[i]
                edited = c.changed(now, by=ADMIN, priority="abc"[(which + m) % 3])
                cs[i] = attrs.evolve(edited, version=c.version + 1)
            elif what == "reread":  # the same cases, read again
                cs = [attrs.evolve(c) for c in cs]
            elif what == "pend":
                c = cs[i]
                status = (
                    Status.PENDING
                    if c.status is not Status.PENDING
                    else Status.ACTIVE_NEW
                )
                changed = c.changed(now, by=ADMIN, status=status)
                cs[i] = attrs.evolve(changed, version=c.version + 1)
            elif what == "back":
                m -= 2 * minutes  # the clock set back
                now = instant(max(m, 0))
            elif what == "book":
                book, other = other, book
                rp = RulePass(book, CALENDARS)
            expected = due_actions(book, cs, now, CALENDARS, done)
            assert rp.due(cs, now, done) == expected
            if not fail:
                done |= {d.key for d in expected}

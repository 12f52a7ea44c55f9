"""The active rule compiled for evaluating many cases at once.

The evaluator's hot path (:func:`escalate.rules.due_actions`). Each item's
criteria are split into *clauses*, top-level conjuncts that are a text
``equals``/``in`` condition or an OR of them, checked with set lookups, and a
residual predicate for the rest. Items are indexed by the field their clauses name
most often, so one lookup of that field gives the items that can match a case at
all, in order. Clauses are necessary conditions of an item's criteria, so skipping
an item whose clause fails never changes which item governs a case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from escalate._criteria import (
    Node,
    Operator,
    Predicate,
    all_of,
    compile_logic,
    field_getter,
)
from escalate._instants import fraction_of, us_of
from escalate._keys import key_part
from escalate.hours import BusinessHours

if TYPE_CHECKING:
    from escalate.model import Case
    from escalate.rules import RuleItem

Clause = tuple[tuple[str, frozenset[str]], ...]


class Entry:
    """One item of the active rule, compiled for many cases."""

    __slots__ = (
        "action_parts",
        "afters",
        "clauses",
        "first_need",
        "hours",
        "index",
        "item",
        "item_part",
        "predicate",
        "since",
        "warnings",
    )

    def __init__(
        self, index: int, item: RuleItem, hours: BusinessHours, now: int
    ) -> None:
        self.index = index
        self.since = hours.elapsed_to(now)
        self.item = item
        self.hours = hours
        self.afters = tuple(us_of(a.after) for a in item.actions)
        self.item_part = key_part(item.id)
        self.action_parts = tuple(key_part(a.id) for a in item.actions)
        self.warnings = tuple(
            tuple((f, fraction_of(f, after), key_part(f)) for f in a.warnings)
            for a, after in zip(item.actions, self.afters, strict=True)
        )
        # Below this much elapsed time nothing of the item is due.
        self.first_need = min(
            [*self.afters, *(need for w in self.warnings for _, need, _ in w)]
        )
        # Guards: the top-level conjuncts that are "field equals text", "field in
        # texts", or an OR of such: clauses of set lookups, checked before the
        # whole predicate runs (a necessary condition, so skipping is sound).
        clauses = []
        residual = []
        for conjunct in _conjuncts(item._tree):
            clause = _clause(item, conjunct)
            if clause is None:
                residual.append(conjunct)
            else:
                clauses.append(clause)
        self.clauses: tuple[tuple[tuple[str, frozenset[str]], ...], ...] = tuple(
            clauses
        )
        # What remains to check once the clauses hold (they are not re-checked).
        compiled = item._compiled
        self.predicate = all_of([compile_logic(n, compiled) for n in residual])

    def accepts(self, field: str, value: str | None) -> bool:
        """Whether the single-field clauses on ``field`` let ``value`` through."""
        return all(
            value in clause[0][1]
            for clause in self.clauses
            if len(clause) == 1 and clause[0][0] == field
        )


def _conjuncts(tree: Node | None) -> list[Node]:
    """The parts of ``tree`` that must all hold for it to hold."""
    if tree is None:
        return []
    if tree[0] == "and":
        return _conjuncts(tree[1]) + _conjuncts(tree[2])
    return [tree]


def _clause(
    item: RuleItem, node: Node
) -> tuple[tuple[str, frozenset[str]], ...] | None:
    """``node`` as alternatives (field, allowed texts), if it is a guardable
    condition or an OR of them; else None."""
    if node[0] == "or":
        left, right = _clause(item, node[1]), _clause(item, node[2])
        return None if left is None or right is None else left + right
    if node[0] != "num":
        return None
    c = item.conditions[node[1] - 1]
    values = (c.value,) if c.operator is Operator.EQUALS else c.value
    if c.operator in (Operator.EQUALS, Operator.IN) and all(
        isinstance(v, str) for v in values
    ):
        return ((c.field, frozenset(values)),)
    return None


class RulePlan:
    """The active rule compiled for many cases.

    Items are indexed by the field their guards name most often: one lookup of
    that field's value gives the ordered items that can match at all; their
    other guards are set lookups; only then does a whole predicate run.
    """

    def __init__(self, rule: str, entries: list[Entry]) -> None:
        self.rule = rule
        self.entries = tuple(entries)
        single = [
            clause[0][0] for e in entries for clause in e.clauses if len(clause) == 1
        ]
        field = max(sorted(set(single)), key=single.count, default=None)
        self.index_field = field
        self.index_get = None if field is None else field_getter(field)
        values = {
            v
            for e in entries
            for clause in e.clauses
            if len(clause) == 1 and clause[0][0] == field
            for v in clause[0][1]
        }
        # For each value of the index field: the entries that can match, in
        # order, each with the clauses left to check and its residual predicate.
        self.by_value = {
            v: self._candidates(
                [e for e in entries if e.accepts(field or "", v)], field
            )
            for v in values
        }
        self.others = self._candidates(
            [e for e in entries if field is None or e.accepts(field, None)], field
        )
        self.getters = {
            f: field_getter(f)
            for e in entries
            for clause in e.clauses
            for f, _ in clause
        }

    @staticmethod
    def _candidates(
        entries: list[Entry], field: str | None
    ) -> tuple[
        tuple[tuple[tuple[tuple[str, frozenset[str]], ...], ...], Predicate, Entry],
        ...,
    ]:
        return tuple(
            (
                tuple(c for c in e.clauses if not (len(c) == 1 and c[0][0] == field)),
                e.predicate,
                e,
            )
            for e in entries
        )

    def governing(self, case: Case) -> Entry | None:
        """The first entry whose criteria match the case."""
        seen: dict[str, str | None] = {}
        getters = self.getters
        candidates = self.others
        if self.index_get is not None:
            v = self.index_get(case)
            if isinstance(v, str):
                candidates = self.by_value.get(v, candidates)
        for clauses, predicate, entry in candidates:
            for clause in clauses:
                for field, allowed in clause:
                    if field in seen:
                        v = seen[field]
                    else:
                        v = getters[field](case)
                        seen[field] = v = v if isinstance(v, str) else None
                    if v in allowed:
                        break
                else:
                    break  # a clause fails: the item cannot match
            else:
                if predicate(case):
                    return entry
        return None

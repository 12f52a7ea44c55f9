"""Property tests for planning a change of the settings: the plan says what the
next tick does."""

from __future__ import annotations

from datetime import timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate._engine_settings import _FiredKeys
from escalate.adapters.memory import MemoryStore
from escalate.changes import SubjectPlan, _Planner, _row
from escalate.engine import Escalator
from escalate.model import OPERATOR, Case
from escalate.rules import EscalationAction, Rule, RuleBook, TimeBasis
from escalate.settings import ChangePolicy, Settings
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.strategies import (
    ADDRESSES,
    CALENDARS,
    TEMPLATES,
    books,
    cases,
    instant,
    offsets,
)


@st.composite
def edited_pairs(draw: st.DrawFn) -> tuple[RuleBook, RuleBook]:
    """A book and an edit of it, as people edit one: steps re-timed, added and
    removed, warnings changed, now and then a calendar, a basis, latest_only or
    the criteria of an item, items reordered or removed."""
    old = draw(books(latest_only=None))
    items = []
    for item in old.rule("r").items:
        actions = [
            attrs.evolve(a, after=timedelta(minutes=draw(st.integers(0, 40 * 60))))
            if draw(st.booleans())
            else a
            for a in item.actions
        ]
        if len(actions) > 1 and draw(st.booleans()):
            del actions[draw(st.integers(0, len(actions) - 1))]
        if draw(st.booleans()):
            actions.insert(
                draw(st.integers(0, len(actions))),
                EscalationAction(
                    id="new",
                    after=timedelta(minutes=draw(st.integers(0, 40 * 60))),
                    escalate_to="y",
                    warnings=draw(st.lists(st.sampled_from([30, 60]), max_size=1)),
                ),
            )
        if draw(st.integers(0, 3)) == 0:
            i = draw(st.integers(0, len(actions) - 1))
            actions[i] = attrs.evolve(
                actions[i],
                warnings=draw(st.lists(st.sampled_from([25, 50]), max_size=2)),
            )
        rare = draw(st.integers(0, 9))
        changes: dict[str, object] = {"actions": actions}
        if rare == 0:
            changes["hours"] = draw(st.sampled_from([None, "office", "night"]))
        elif rare == 1:
            changes["basis"] = draw(st.sampled_from(list(TimeBasis)))
        elif rare == 2:
            changes["latest_only"] = not item.latest_only
        elif rare == 3:
            changes["conditions"] = [
                ("priority", "equals", draw(st.sampled_from("abc")))
            ]
        items.append(attrs.evolve(item, **changes))
    if len(items) > 1 and draw(st.integers(0, 4)) == 0:
        items = draw(st.permutations(items))
    if len(items) > 1 and draw(st.integers(0, 4)) == 0:
        del items[draw(st.integers(0, len(items) - 1))]
    return old, RuleBook.build([Rule(name="r", items=items)], active="r")


# Edits of one book, and two books drawn independently (they share item ids,
# item0..3, and action ids, step-0..3: a rewrite that keeps some keys).
book_pairs = st.one_of(
    edited_pairs(), st.tuples(books(latest_only=None), books(latest_only=None))
)
# A change: the two books, the cases, when they were added (minutes after
# START), and how long after that the old book was ticked and the change planned.
Change = tuple[tuple[RuleBook, RuleBook], list[Case], int, int]
changes = st.tuples(book_pairs, cases(), offsets, st.integers(0, 3 * 24 * 60))


def ticked_under(
    old: RuleBook, cs: list[Case], start: int, now: int
) -> tuple[Escalator, ManualClock]:
    """An escalator with the cases added at ``start`` and ticked at ``now``
    under ``old``: everything due by ``now`` has fired."""
    clock = ManualClock(instant(start))
    esc = Escalator(
        MemoryStore(),
        RecordingMailer(),
        clock,
        book=old,
        calendars=CALENDARS,
        addresses=ADDRESSES,
        templates=TEMPLATES,
    )
    for c in cs:
        esc.add_case(c, by=None)
    clock.set(instant(now))
    esc.tick()
    return esc, clock


class TestPlanAndTick:
    @settings(max_examples=200, deadline=None)
    @given(changes)
    def test_the_next_tick_fires_exactly_the_steps_due_at_once(
        self, change: Change
    ) -> None:
        """After a tick at ``now`` under the old book, plan the new one, apply
        it and tick at the same instant: the tick fires exactly the plan's
        steps due at once, and nothing was overdue."""
        (old, new), cs, start, later = change
        esc, _ = ticked_under(old, cs, start, start + later)
        plan = esc.plan(Settings(new, CALENDARS))
        assert all(not row.overdue for row in plan.rows)
        esc.use_settings(Settings(new, CALENDARS), by=OPERATOR)
        report = esc.tick()
        assert report.errors == ()
        fired = {f.key for f in report.fired}
        assert fired == {s.key for row in plan.rows for s in row.due_now}

    @settings(max_examples=100, deadline=None)
    @given(changes)
    def test_skip_records_exactly_the_steps_due_at_once(self, change: Change) -> None:
        """With on_change = "skip", applying records exactly the plan's steps
        due at once as skipped, and the tick fires none of them."""
        (old, new), cs, start, later = change
        esc, _ = ticked_under(old, cs, start, start + later)
        skipping = Settings(new, CALENDARS, changes=ChangePolicy(on_change="skip"))
        plan = esc.plan(skipping)
        esc.use_settings(skipping, by=OPERATOR)
        report = esc.tick()
        due_now = {s.key for row in plan.rows for s in row.due_now}
        assert report.fired == ()
        assert report.change is not None
        assert report.change.skipped == len(due_now)
        for key in due_now:
            record = esc.store.fired_key(key)
            assert record is not None
            assert record.skipped

    @settings(max_examples=100, deadline=None)
    @given(changes)
    def test_next_deadlines_are_what_the_store_gets(self, change: Change) -> None:
        """The plan's next deadline after the change is the one the store
        indexes once the change is applied; before, the one it had."""
        (old, new), cs, start, later = change
        esc, _ = ticked_under(old, cs, start, start + later)
        before = {c.id: esc.next_due(esc.store.get_case(c.id)) for c in cs}
        plan = esc.plan(Settings(new, CALENDARS))
        esc.use_settings(Settings(new, CALENDARS), by=OPERATOR)
        after = {c.id: esc.next_due(esc.store.get_case(c.id)) for c in cs}
        rows = {row.id: row for row in plan.rows}
        for c in cs:
            if c.id not in rows:
                continue  # closed: not planned
            assert rows[c.id].next_due_before == before[c.id]
            assert rows[c.id].next_due_after == after[c.id]

    @settings(max_examples=50, deadline=None)
    @given(books(latest_only=None), cases(), offsets)
    def test_the_same_settings_change_nothing(
        self, book: RuleBook, cs: list[Case], start: int
    ) -> None:
        """Planning the settings in force: no row changes."""
        esc, _ = ticked_under(book, cs, start, start + 600)
        plan = esc.plan()
        assert plan.unchanged
        assert not any(row.changed for row in plan.rows)


def _rows(
    esc: Escalator, new: RuleBook, *, via: str
) -> list[SubjectPlan | tuple[object, ...]]:
    """The plan's rows of every open case, prepared one way: from the stored
    states, from the cases, or in full (every case evaluated on both sides)."""
    record = esc.store.settings_record()
    assert record is not None
    before = Settings.from_document(record.document)
    planner = _Planner(before, Settings(new, CALENDARS), esc.clock.now())
    if via == "evaluate":  # as when the rules do not compile: no index at all
        assert planner.before is not None
        for side in (planner.before, planner.after):
            side.exact, side.plan = True, None
        planner.same_entries = {}
    fired = _FiredKeys(esc.store)
    rows = []
    for state in esc.store.open_case_states(None, limit=100):
        prepared = planner.prepare_state(state) if via == "states" else None
        if prepared is None:
            prepared = planner.prepare(esc.store.get_case(state.id))
        rows.append(_row(planner.case(state.id, prepared, fired)))
    return rows


class TestPlanPaths:
    @settings(max_examples=150, deadline=None)
    @given(changes)
    def test_every_way_of_preparing_a_case_gives_one_row(self, change: Change) -> None:
        """From the stored states, from the cases on the compiled index, and from
        a full evaluation of each case on both sides: the same rows, steps due
        at once, never firing and moving included."""
        (old, new), cs, start, later = change
        esc, _ = ticked_under(old, cs, start, start + later)
        full = _rows(esc, new, via="evaluate")
        assert _rows(esc, new, via="cases") == full
        assert _rows(esc, new, via="states") == full

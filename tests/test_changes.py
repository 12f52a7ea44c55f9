"""Planning a change of the settings (escalate.changes, Escalator.plan and
`escalate plan`): each kind of row, leads, errors, and that nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.changes import PlanSubject
from escalate.config import load_config
from escalate.engine import Escalator
from escalate.hours import BusinessHours
from escalate.leads import Lead, LeadSettings, LeadType, TeamOverride
from escalate.model import Actor, Case
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem, TimeBasis
from escalate.settings import Settings
from escalate.templates import Templates
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.test_cli import run
from tests.test_edits import TOML

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday
NOON = "2026-11-23T12:00:00+00:00"
H = timedelta(hours=1)
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
ADMIN = Actor("ann", permissions={"configure case escalation", "administer lead types"})


def step(id: str, hours: float, **kw: object) -> EscalationAction:
    return EscalationAction(id=id, after=hours * H, escalate_to=id, **kw)


URGENT = RuleItem(
    id="urgent",
    conditions=[("priority", "equals", "urgent")],
    hours="office",
    actions=[step("lead", 1, warnings=(50,)), step("manager", 2), step("head", 4)],
)
REST = RuleItem(
    id="rest", hours="office", basis=TimeBasis.MODIFIED, actions=[step("desk", 8)]
)
BOOK = RuleBook.build([Rule(name="support", items=[URGENT, REST])], active="support")
LEADS = LeadSettings(
    types={
        "web": LeadType(
            name="web",
            accept_within=2 * H,
            first_activity_within=4 * H,
            hours=OFFICE,
        )
    },
    teams={("web", "north"): TeamOverride(responsible=("noor",))},
)


def settings(book: RuleBook = BOOK, leads: LeadSettings = LEADS) -> Settings:
    return Settings(book, {"office": OFFICE}, leads)


def escalator(store: MemoryStore, clock: ManualClock) -> Escalator:
    return Escalator(
        store,
        RecordingMailer(),
        clock,
        book=BOOK,
        calendars={"office": OFFICE},
        leads=LEADS,
        templates=Templates(
            {
                f"{name}.{part}": "escalated"
                for name in ("escalation", "warning", "lead reminder")
                for part in ("subject", "txt")
            }
        ),
        addresses={u: f"{u}@example.com" for u in ("lead", "manager", "noor")},
    )


def urgent_case(case_id: str = "c1") -> Case:
    return Case(id=case_id, number=f"C-{case_id}", priority="urgent", created_at=T0)


def ladder(**changes: object) -> RuleBook:
    """The book with the urgent item changed."""
    return BOOK.replace_item("support", attrs.evolve(URGENT, **changes), by=ADMIN)


def after(action_id: str, hours: float) -> RuleBook:
    return ladder(
        actions=[
            attrs.evolve(a, after=hours * H) if a.id == action_id else a
            for a in URGENT.actions
        ]
    )


@pytest.fixture
def noon() -> tuple[Escalator, MemoryStore, ManualClock]:
    """One urgent case, ticked at noon: its warning, lead and manager fired."""
    clock = ManualClock(T0)
    store = MemoryStore()
    esc = escalator(store, clock)
    esc.add_case(urgent_case(), by=None)
    clock.set(T0 + 3 * H)
    report = esc.tick()
    assert (len(report.fired), report.errors) == (3, ())
    return esc, store, clock


class TestRows:
    def test_a_shortened_step_is_due_at_once(self, noon) -> None:  # type: ignore[no-untyped-def]
        """Head from 4h to 2h30m: due at once; the next deadline moves to 11:30."""
        esc, _, _ = noon
        (row,) = [
            r for r in esc.plan(settings(after("head", 2.5))).rows if r.id == "c1"
        ]
        assert [s.label for s in row.due_now] == ["step 'head'"]
        assert (row.next_due_before, row.next_due_after) == (T0 + 4 * H, T0 + 2.5 * H)
        assert row.governed_before == row.governed_after == "item 'urgent'"
        assert (row.overdue, row.never, row.moved) == ((), (), ())

    def test_a_lengthened_step_moves(self, noon) -> None:  # type: ignore[no-untyped-def]
        """Head from 4h to 6h: it moves, and nothing is due."""
        esc, _, _ = noon
        (row,) = [r for r in esc.plan(settings(after("head", 6))).rows if r.id == "c1"]
        assert [(m.label, m.before, m.after) for m in row.moved] == [
            ("step 'head'", T0 + 4 * H, T0 + 6 * H)
        ]
        assert row.due_now == ()

    def test_warnings_that_move(self) -> None:
        """A waiting warning moves with its step."""
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock)
        esc.add_case(urgent_case(), by=None)
        esc.sync_settings()
        plan = esc.plan(settings(after("lead", 2)))
        (row,) = plan.rows
        assert [(m.label, m.after) for m in row.moved] == [
            ("warning 50% of step 'lead'", T0 + H),
            ("step 'lead'", T0 + 2 * H),
        ]
        assert plan.summary.moved == 2

    def test_steps_that_will_never_fire(self, noon) -> None:  # type: ignore[no-untyped-def]
        """Urgent cases no longer match the urgent item: its head step will never
        fire; the other item governs, its step waits."""
        esc, _, _ = noon
        changed = ladder(conditions=[("priority", "equals", "critical")])
        (row,) = esc.plan(settings(changed)).rows
        assert (row.governed_before, row.governed_after) == (
            "item 'urgent'",
            "item 'rest'",
        )
        assert [s.label for s in row.never] == ["step 'head'"]
        assert row.next_due_after == T0 + 8 * H

    def test_overdue_before_the_change(self) -> None:
        """Not ticked since its steps came due: they are overdue, apart from
        what the change does; the tick fires both."""
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock)
        esc.add_case(urgent_case(), by=None)
        esc.sync_settings()
        clock.set(T0 + 3 * H)  # no tick since
        (row,) = esc.plan(settings(after("head", 2.5))).rows
        assert [s.label for s in row.overdue] == [
            "warning 50% of step 'lead'",
            "step 'lead'",
            "step 'manager'",
        ]
        assert [s.label for s in row.due_now] == ["step 'head'"]
        esc.use_settings(settings(after("head", 2.5)))
        assert len(esc.tick().fired) == 4

    def test_a_case_the_new_settings_cannot_evaluate(self, noon) -> None:  # type: ignore[no-untyped-def]
        """An item naming a calendar the new settings lack: the row is an error."""
        esc, _, _ = noon
        plan = esc.plan(settings(ladder(hours="night")))
        (row,) = plan.rows
        assert row.error is not None
        assert "unknown calendar 'night'" in row.error
        assert plan.summary.errors == 1


class TestLeads:
    def test_a_shorter_accept_time(self) -> None:
        """A lead not accepted for 1h30m: accept within 1h makes its reminder due
        at once; within 3h moves it."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.save_lead(
            Lead(
                id="L1",
                lead_type="web",
                received_at=T0,
                team="north",
                reached_team_at=T0,
            )
        )
        esc.sync_settings()
        clock.set(T0 + 1.5 * H)
        longer = LEADS.update_type("web", accept_within=3 * H, by=ADMIN)
        (row,) = esc.plan(settings(leads=longer)).rows
        assert [(m.before, m.after) for m in row.moved] == [(T0 + 2 * H, T0 + 3 * H)]
        shorter = LEADS.update_type("web", accept_within=H, by=ADMIN)
        (row,) = esc.plan(settings(leads=shorter)).rows
        assert row.subject is PlanSubject.LEAD
        assert row.governed_after == "accept phase"
        assert [s.label for s in row.due_now] == ["accept: internal reminder"]
        esc.use_settings(settings(leads=shorter))
        assert [a.key for a in esc.tick().leads] == [s.key for s in row.due_now]


class TestNothingIsWritten:
    def test_the_store_is_as_it_was(self, noon) -> None:  # type: ignore[no-untyped-def]
        """Planning writes nothing: the settings record, the due index and the
        fired keys stay."""
        esc, store, _ = noon
        record = store.settings_record()
        due = [c.id for c in store.due_cases(T0 + 10 * H, limit=10)]
        esc.plan(settings(after("head", 2.5)))
        assert store.settings_record() == record
        assert [c.id for c in store.due_cases(T0 + 10 * H, limit=10)] == due
        assert store.settings_versions() == [
            v for v in store.settings_versions() if v.digest == record.digest
        ]

    def test_the_text_and_the_data(self, noon) -> None:  # type: ignore[no-untyped-def]
        """A summary of counts first, then the rows that change; the data has
        every row."""
        esc, _, _ = noon
        plan = esc.plan(settings(after("head", 2.5)))
        text = str(plan)
        assert text.splitlines()[1:3] == [
            "1 open cases and 0 leads: 1 change, 1 next deadlines move",
            "1 steps become due at once, 0 will never fire, 0 waiting steps and "
            "warnings move",
        ]
        assert "case c1: item 'urgent'; next deadline" in text
        assert "  due at once: step 'head' (due 2026-11-23T11:30:00+00:00)" in text
        data = json.loads(json.dumps(plan.data()))
        assert data["summary"]["due_now"] == 1
        assert data["rows"][0]["due_now"][0]["label"] == "step 'head'"


class TestPlanCommand:
    @pytest.fixture
    def ticked(self, tmp_path: Path) -> tuple[Path, Path]:
        """A database with one urgent case, ticked at noon from the CLI."""
        config = tmp_path / "helpdesk.toml"
        config.write_text(TOML)
        db = tmp_path / "escalate.db"
        store = SqliteStore(db)
        Escalator.from_config(
            load_config(config), store, RecordingMailer(), ManualClock(T0)
        ).add_case(urgent_case(), by=None)
        store.close()
        outbox = tmp_path / "out"
        tick = run(
            "tick", "--config", config, "--db", db, "--now", NOON, "--outbox", outbox
        )
        assert tick.returncode == 0, tick.stdout + tick.stderr
        return config, db

    def test_text_json_and_nothing_written(self, ticked: tuple[Path, Path]) -> None:
        """The summary first, then the rows that change (every row with --all);
        --json has the same; the database is not touched."""
        config, db = ticked
        new = config.with_name("new.toml")
        new.write_text(TOML.replace('after = "4h"', 'after = "2h30m"'))
        before = SqliteStore(db).settings_record()
        text = run("plan", "--config", new, "--db", db, "--now", NOON)
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0].startswith(f"plan at {NOON}: settings ")
        assert lines[1:3] == [
            "1 open cases and 0 leads: 1 change, 1 next deadlines move",
            "1 steps become due at once, 0 will never fire, 0 waiting steps and "
            "warnings move",
        ]
        assert lines[4:] == [
            "case c1: item 'urgent'; next deadline 2026-11-23T13:00:00+00:00 -> "
            "2026-11-23T11:30:00+00:00",
            "  due at once: step 'head' (due 2026-11-23T11:30:00+00:00)",
        ]
        data = json.loads(run("plan", "--config", new, "--db", db, "--json").stdout)
        assert data["summary"]["cases"] == 1
        assert [r["id"] for r in data["rows"]] == ["c1"]
        same = run("plan", "--config", config, "--db", db, "--all")
        assert same.stdout.splitlines()[0].endswith("): no change")
        assert "case c1: item 'urgent'; next deadline" in same.stdout
        assert SqliteStore(db).settings_record() == before

    def test_no_database(self, tmp_path: Path) -> None:
        """A database that is not there: exit 1, and none is made."""
        config = tmp_path / "helpdesk.toml"
        config.write_text(TOML)
        result = run("plan", "--config", config, "--db", tmp_path / "none.db")
        assert result.returncode == 1
        assert "no database at" in result.stderr
        assert not (tmp_path / "none.db").exists()

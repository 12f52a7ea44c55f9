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
from escalate.errors import ConfigError
from escalate.history import FollowUpKind
from escalate.hours import BusinessHours
from escalate.leads import Lead, LeadSettings, LeadType, TeamOverride
from escalate.model import OPERATOR, Actor, Case, Status
from escalate.rules import (
    ActionKind,
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    TimeBasis,
    evaluate,
)
from escalate.settings import ChangePolicy, ChangesApplyTo, OnChange, Settings
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
        addresses={
            u: f"{u}@example.com" for u in ("desk", "head", "lead", "manager", "noor")
        },
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
        esc.use_settings(settings(after("head", 2.5)), by=OPERATOR)
        assert len(esc.tick().fired) == 4

    def test_a_case_the_new_settings_cannot_evaluate(self, noon) -> None:  # type: ignore[no-untyped-def]
        """An item naming a calendar the new settings lack: the row is an error."""
        esc, _, _ = noon
        plan = esc.plan(settings(ladder(hours="night")))
        (row,) = plan.rows
        assert row.error is not None
        assert "unknown calendar 'night'" in row.error
        assert plan.summary.errors == 1


def lead_not_accepted_for_90_minutes(store: MemoryStore) -> Escalator:
    """An escalator whose clock is 1h30m after lead L1 reached team north."""
    clock = ManualClock(T0)
    esc = escalator(store, clock)
    esc.save_lead(
        Lead(id="L1", lead_type="web", received_at=T0, team="north", reached_team_at=T0)
    )
    esc.sync_settings()
    clock.set(T0 + 1.5 * H)
    return esc


class TestLeads:
    def test_a_shorter_accept_time(self) -> None:
        """A lead not accepted for 1h30m: accept within 1h makes its reminder due
        at once; within 3h moves it."""
        store = MemoryStore()
        esc = lead_not_accepted_for_90_minutes(store)
        longer = LEADS.update_type("web", accept_within=3 * H, by=ADMIN)
        (row,) = esc.plan(settings(leads=longer)).rows
        assert [(m.before, m.after) for m in row.moved] == [(T0 + 2 * H, T0 + 3 * H)]
        shorter = LEADS.update_type("web", accept_within=H, by=ADMIN)
        (row,) = esc.plan(settings(leads=shorter)).rows
        assert row.subject is PlanSubject.LEAD
        assert row.governed_after == "accept phase"
        assert [s.label for s in row.due_now] == ["accept: internal reminder"]
        esc.use_settings(settings(leads=shorter), by=OPERATOR)
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
        assert lines[1:4] == [
            "1 open cases and 0 leads: 1 change, 1 next deadlines move",
            "1 steps become due at once, 0 will never fire, 0 waiting steps and "
            "warnings move",
            'on_change = "fire": the next tick after applying fires the steps due '
            "at once",
        ]
        assert lines[5:] == [
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


SKIP = ChangePolicy(on_change=OnChange.SKIP)


class TestApply:
    def test_fire_sends_what_the_plan_called_due(self, noon) -> None:  # type: ignore[no-untyped-def]
        """on_change = "fire": the tick that applies the change fires the step
        it made due at once, and reports the plan it followed."""
        esc, _, _ = noon
        esc.use_settings(settings(after("head", 2.5)), by=OPERATOR)
        report = esc.tick()
        assert report.change is not None
        assert (report.change.plan.summary.due_now, report.change.skipped) == (1, 0)
        assert [f.key.split("/")[3] for f in report.fired] == ["head"]

    def test_skip_records_the_step_and_says_so(self, noon) -> None:  # type: ignore[no-untyped-def]
        """on_change = "skip": the step is recorded as skipped, with a follow-up
        line on its case; it never fires, and the case waits for nothing more."""
        esc, store, clock = noon
        esc.use_settings(
            attrs.evolve(settings(after("head", 2.5)), changes=SKIP), by=OPERATOR
        )
        report = esc.tick()
        assert report.fired == ()
        assert report.change is not None
        assert report.change.skipped == 1
        (key,) = [s.key for s in report.change.plan.changes[0].due_now]
        record = store.fired_key(key)
        assert record is not None
        assert (record.skipped, record.at) == (True, clock.now())
        line = store.lines("c1")[-1]
        assert (line.kind, line.author, line.text) == (
            FollowUpKind.STEP_SKIPPED,
            None,
            "skipped: made due by a configuration change (step 'head')",
        )
        clock.advance(timedelta(days=3))
        assert esc.tick().fired == ()
        assert store.due_cases(clock.now(), limit=10) == []

    def test_an_expiry_still_happens_under_skip(self) -> None:
        """A shorter Pending -> Expired is a status change, not a mail: it
        happens at once even under on_change = "skip"."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.use_settings(
            settings(attrs.evolve(BOOK, expiry=ExpiryPolicy(after=8 * H))), by=OPERATOR
        )
        esc.add_case(
            Case(id="p1", number="P-1", created_at=T0, status=Status.PENDING), by=None
        )
        esc.tick()
        clock.set(T0 + 2 * H)
        shorter = attrs.evolve(BOOK, expiry=ExpiryPolicy(after=H))
        esc.use_settings(attrs.evolve(settings(shorter), changes=SKIP), by=OPERATOR)
        report = esc.tick()
        assert report.change is not None
        assert report.change.skipped == 0
        assert [f.kind for f in report.fired] == [ActionKind.EXPIRY]
        assert store.get_case("p1").status == Status.EXPIRED

    def test_a_lead_step_is_skipped_too(self) -> None:
        """A lead's reminder made due at once is recorded as skipped."""
        store = MemoryStore()
        esc = lead_not_accepted_for_90_minutes(store)
        shorter = LEADS.update_type("web", accept_within=H, by=ADMIN)
        esc.use_settings(
            attrs.evolve(settings(leads=shorter), changes=SKIP), by=OPERATOR
        )
        report = esc.tick()
        assert report.leads == ()
        assert report.change is not None
        assert report.change.skipped == 1
        (key,) = [s.key for s in report.change.plan.changes[0].due_now]
        record = store.fired_key(key)
        assert record is not None
        assert record.skipped

    def test_a_resumed_apply_skips_each_step_once(self) -> None:
        """A worker that dies between two batches of an apply leaves the rest to
        the next; each step is skipped once, with one line."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        for n in (1, 2):
            esc.add_case(urgent_case(f"c{n}"), by=None)
        clock.set(T0 + 3 * H)
        esc.tick()
        new = attrs.evolve(settings(after("head", 2.5)), changes=SKIP)

        class Killed(Exception):
            pass

        def die(step: str) -> None:
            if step == "recomputed":
                raise Killed

        dying = escalator(store, clock)
        dying.batch, dying.progress = 1, die
        dying.use_settings(new, by=OPERATOR)
        with pytest.raises(Killed):
            dying.apply()
        record = store.settings_record()
        assert record is not None
        assert (record.recomputed, record.through) == (False, "case/c1")
        again = escalator(store, clock)
        again.use_settings(new, by=OPERATOR)
        applied = again.apply()
        assert applied is not None
        assert applied.recomputed == 1  # resumed after c1, the batch committed
        assert applied.skipped == 1  # c2's; c1's was skipped before the crash
        record = store.settings_record()
        assert record is not None
        assert (record.recomputed, record.through) == (True, None)
        for case_id in ("c1", "c2"):
            kinds = [line.kind for line in store.lines(case_id)]
            assert kinds.count(FollowUpKind.STEP_SKIPPED) == 1
        assert again.apply() is None  # nothing left to apply


class TestApplyCommand:
    def test_apply_with_skip_then_explain(self, tmp_path: Path) -> None:
        """`escalate apply` under on_change = "skip": the summary, the step
        recorded as skipped, and `explain` says so; applying again: nothing."""
        config = tmp_path / "helpdesk.toml"
        config.write_text(TOML)
        db = tmp_path / "escalate.db"
        store = SqliteStore(db)
        Escalator.from_config(
            load_config(config), store, RecordingMailer(), ManualClock(T0)
        ).add_case(urgent_case(), by=None)
        store.close()
        tick = run(
            "tick",
            "--config",
            config,
            "--db",
            db,
            "--now",
            NOON,
            "--outbox",
            tmp_path / "out",
        )
        assert tick.returncode == 0, tick.stdout + tick.stderr
        config.write_text(
            TOML.replace('after = "4h"', 'after = "2h30m"').replace(
                "[rules.support]", '[escalation]\non_change = "skip"\n\n[rules.support]'
            )
        )
        applied = run("apply", "--config", config, "--db", db, "--now", NOON)
        assert applied.returncode == 0, applied.stderr
        lines = applied.stdout.splitlines()
        assert lines[0].startswith(f"applied at {NOON}: settings ")
        assert lines[-2:] == [
            'on_change = "skip": applying records the steps due at once as skipped '
            "(expiries still happen)",
            "1 open cases and leads recomputed, 1 steps recorded as skipped",
        ]
        explain = run("explain", "--config", config, "--db", db, "c1", "--now", NOON)
        assert (
            "escalation 'head' skipped: made due by a configuration change"
            in explain.stdout
        )
        again = run("apply", "--config", config, "--db", db)
        assert again.stdout.endswith("nothing to apply\n")
        later = run(
            "tick",
            "--config",
            config,
            "--db",
            db,
            "--now",
            "2026-11-30T12:00:00+00:00",
            "--outbox",
            tmp_path / "out",
        )

        assert "0 actions fired" in later.stdout

    def test_a_bad_on_change(self, tmp_path: Path) -> None:
        """on_change is "fire" or "skip"; anything else is refused at its path."""
        config = tmp_path / "helpdesk.toml"
        config.write_text(
            TOML.replace(
                "[rules.support]", '[escalation]\non_change = "drop"\n\n[rules.support]'
            )
        )
        result = run("check", "--config", config)
        assert result.returncode == 1
        assert (
            'escalation.on_change: expected "fire" or "skip", got "drop"'
            in result.stderr
        )


def test_from_config_keeps_every_part_of_the_settings(tmp_path: Path) -> None:
    """An escalator made from a configuration works under exactly its settings
    (the change policy included): the same digest."""
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        TOML.replace(
            "[rules.support]", '[escalation]\non_change = "skip"\n\n[rules.support]'
        )
    )
    loaded = load_config(config)
    esc = Escalator.from_config(
        loaded, MemoryStore(), RecordingMailer(), ManualClock(T0)
    )
    assert esc.settings == loaded.settings
    assert esc.settings.digest == loaded.digest


NEW_CASES = ChangePolicy(apply_to=ChangesApplyTo.NEW_CASES)


def head_due(esc: Escalator, case_id: str) -> datetime | None:
    """When the case's head step is due, under the settings that govern it."""
    case = esc.store.get_case(case_id)
    settings = esc.settings_for(case)
    ev = evaluate(settings.book, case, esc.clock.now(), settings.calendars)
    return next(s.due_at for s in ev.steps if s.action.id == "head")


class TestPinnedVersions:
    def test_open_cases_follow_a_change(self, noon) -> None:  # type: ignore[no-untyped-def]
        """By default a change applies to open cases: the case follows it."""
        esc, _, _ = noon
        assert head_due(esc, "c1") == T0 + 4 * H
        esc.use_settings(settings(after("head", 6)), by=OPERATOR)
        esc.tick()
        assert esc.settings_for(esc.store.get_case("c1")) == esc.settings
        assert head_due(esc, "c1") == T0 + 6 * H

    def test_new_cases_keep_their_version(self) -> None:
        """changes_apply_to = "new cases": a case keeps the version it was
        created under across an edit, also once closed and reopened; a case
        created after the edit follows the new version."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        v1 = attrs.evolve(settings(), changes=NEW_CASES)
        esc.use_settings(v1, by=OPERATOR)
        esc.add_case(urgent_case("old"), by=None)
        assert store.get_case("old").settings_version == v1.digest
        esc.tick()
        clock.set(T0 + H)
        v2 = attrs.evolve(settings(after("head", 2.5)), changes=NEW_CASES)
        esc.use_settings(v2, by=OPERATOR)
        plan = esc.plan()
        assert plan.changes == ()  # the old case keeps v1: nothing moves
        esc.tick()
        esc.add_case(attrs.evolve(urgent_case("new"), created_at=clock.now()), by=None)
        assert head_due(esc, "old") == T0 + 4 * H
        assert head_due(esc, "new") == T0 + H + 2.5 * H
        clock.set(T0 + 3.5 * H)
        fired = {(f.case_id, f.key.split("/")[3]) for f in esc.tick().fired}
        assert ("new", "head") in fired
        assert ("old", "head") not in fired
        for status in (Status.CLOSED, Status.ACTIVE_NEW):
            esc.update_case("old", {"status": status}, by=Actor("ann"))
        assert esc.settings_for(store.get_case("old")).digest == v1.digest

    def test_from_open_cases_to_new_cases(self, noon) -> None:  # type: ignore[no-untyped-def]
        """Switching to "new cases" with an edit: open cases keep the version
        they followed (the plan shows nothing moving, and apply records it);
        cases created afterwards take the new version."""
        esc, store, _ = noon
        before = esc.settings.digest
        new = attrs.evolve(settings(after("head", 2.5)), changes=NEW_CASES)
        plan = esc.plan(new)
        assert plan.changes == ()
        esc.use_settings(new, by=OPERATOR)
        report = esc.tick()
        assert report.change is not None
        assert report.fired == ()
        assert store.get_case("c1").settings_version == before
        assert head_due(esc, "c1") == T0 + 4 * H

    def test_from_new_cases_back_to_open_cases(self) -> None:
        """Back to "open cases": every open case follows the settings in force,
        whatever version it kept; the plan shows it first."""
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock)
        esc.use_settings(attrs.evolve(settings(), changes=NEW_CASES), by=OPERATOR)
        esc.add_case(urgent_case(), by=None)
        esc.tick()
        clock.set(T0 + 3 * H)
        esc.tick()
        back = settings(after("head", 2.5))  # open cases (the default)
        (row,) = esc.plan(back).changes
        assert [s.label for s in row.due_now] == ["step 'head'"]
        esc.use_settings(back, by=OPERATOR)
        assert [f.key.split("/")[3] for f in esc.tick().fired] == ["head"]

    def test_a_version_the_store_lacks(self) -> None:
        """A case that keeps a version the store does not have is refused by
        add_case; one stored some other way is a clear error of that case, in
        the plan and in the tick."""
        clock = ManualClock(T0)
        store = MemoryStore()
        esc = escalator(store, clock)
        esc.use_settings(attrs.evolve(settings(), changes=NEW_CASES), by=OPERATOR)
        unknown = attrs.evolve(urgent_case(), settings_version="f" * 64)
        with pytest.raises(ConfigError, match="settings version ffffffffffff"):
            esc.add_case(unknown, by=None)
        assert store.open_case_states(None, limit=5) == []
        esc.tick()
        store.save_case(unknown, next_due=T0)
        (row,) = esc.plan().rows
        assert row.error is not None
        assert "settings version ffffffffffff" in row.error
        clock.set(T0 + 5 * H)
        ((case_id, message),) = esc.tick().errors
        assert case_id == "c1"
        assert "is not in the store" in message


def test_explain_and_timeline_say_which_version_governs(tmp_path: Path) -> None:
    """Under changes_apply_to = "new cases", after a change, `explain` and
    `timeline` say the case keeps the version it was created under."""
    new_cases = '[escalation]\nchanges_apply_to = "new cases"\n\n[rules.support]'
    config = tmp_path / "helpdesk.toml"
    config.write_text(TOML.replace("[rules.support]", new_cases))
    db = tmp_path / "escalate.db"
    store = SqliteStore(db)
    first = load_config(config)
    Escalator.from_config(first, store, RecordingMailer(), ManualClock(T0)).add_case(
        urgent_case(), by=None
    )
    store.close()
    config.write_text(
        TOML.replace('after = "4h"', 'after = "2h30m"').replace(
            "[rules.support]", new_cases
        )
    )
    applied = run("apply", "--config", config, "--db", db, "--now", NOON)
    assert applied.returncode == 0, applied.stderr
    explain = run("explain", "--config", config, "--db", db, "c1", "--now", NOON)
    assert explain.returncode == 0, explain.stderr
    kept = (
        f"settings version {first.digest[:12]}, which the case keeps (changes "
        f"apply to new cases); in force: {load_config(config).digest[:12]}"
    )
    assert kept in explain.stdout
    assert "step 'head' (after 4h, to head): not due until" in explain.stdout
    timeline = run("timeline", "--db", db, "c1", "--svg", tmp_path / "c1.svg")
    assert kept in timeline.stdout

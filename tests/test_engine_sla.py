"""Service levels through the engine: the events recorded as cases are added
and changed, the events the CRM reports, and the timeline computed from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.errors import ConfigError, InvalidOperation, NotFound, WrongTypeError
from escalate.hours import BusinessHours
from escalate.model import OPERATOR, Actor, Case, Status
from escalate.rules import RuleBook
from escalate.settings import Settings
from escalate.sla import EventKind, SlaEvent, SlaPolicy, SlaSettings, Target
from escalate.templates import Templates
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock

H = timedelta(hours=1)
MON = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday, at opening
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")


def target(metric: str, priority: str, hours: int) -> Target:
    return Target(metric=metric, priority=priority, within=hours * H, hours="office")


SLA = SlaSettings(
    policies=[
        SlaPolicy(
            id="vip",
            conditions=[("customer_tier", "equals", "gold")],
            targets=[
                target("resolution", "urgent", 1),
                target("resolution", "normal", 2),
            ],
        ),
        SlaPolicy(
            id="standard",
            start_field="reported_at",
            targets=[
                target("first reply", "urgent", 1),
                target("first reply", "normal", 8),
                target("resolution", "urgent", 4),
                target("resolution", "normal", 16),
            ],
        ),
    ],
    pauses={"Pending": {"resolution"}},
    calendars={"office": OFFICE},
)
ANN = Actor("ann")


def escalator(store: object = None, **kw: object) -> Escalator:
    return Escalator(
        store or MemoryStore(),  # type: ignore[arg-type]
        RecordingMailer(),
        ManualClock(MON),
        book=RuleBook.build([]),
        sla=kw.pop("sla", SLA),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def case(**kw: object) -> Case:
    kw.setdefault("priority", "normal")
    return Case(id="c1", number="C-1", created_at=MON, **kw)  # type: ignore[arg-type]


def kinds(esc: Escalator) -> list[tuple[str, str | None]]:
    return [(e.kind.value, e.value) for e in esc.store.sla_events("c1")]


class TestRecorded:
    def test_a_new_case_records_its_first_events(self) -> None:
        esc = escalator()
        esc.add_case(case(), by=ANN)
        assert kinds(esc) == [
            ("created", None),
            ("status", "New"),
            ("priority", "normal"),
            ("policy", "standard"),
        ]
        assert esc.sla_timeline("c1").policy == "standard"

    def test_changes_record_status_priority_owner_policy_and_closing(self) -> None:
        esc = escalator()
        esc.add_case(case(), by=ANN)
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        clock.advance(H)
        esc.update_case("c1", {"status": "Pending"}, by=ANN)
        clock.advance(H)
        esc.update_case(
            "c1",
            {"status": "Active – New", "priority": "urgent", "owner": "kim"},
            by=ANN,
        )
        esc.update_case("c1", {"fields": {"customer_tier": "gold"}}, by=ANN)
        clock.advance(H / 2)
        esc.update_case("c1", {"status": "Closed"}, by=ANN)
        assert kinds(esc)[4:] == [
            ("status", "Pending"),
            ("status", "Active – New"),
            ("priority", "urgent"),
            ("reassigned", "kim"),
            ("policy", "vip"),
            ("status", "Closed"),
            ("closed", None),
        ]
        (resolution,) = esc.sla_timeline("c1").of("resolution")
        # 1 h counted, 1 h paused (Pending), then 30 min under the VIP target
        assert (resolution.counted, resolution.paused) == (H + H / 2, H)
        assert (resolution.policy, resolution.target) == ("vip", H)
        assert resolution.fulfilled_at == MON + 2 * H + H / 2
        assert resolution.breached_at == MON + 2 * H  # at the policy change

    def test_the_crm_reports_replies_messages_solved_and_reopened(self) -> None:
        esc = escalator()
        esc.add_case(case(priority="urgent"), by=ANN)
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        clock.advance(H / 2)
        now = esc.record("c1", SlaEvent(clock.now(), "agent reply"))
        (first,) = now.of("first reply")
        assert (first.fulfilled_at, first.breached_at) == (MON + H / 2, None)
        clock.advance(H)
        now = esc.record("c1", SlaEvent(clock.now(), "solved"))
        assert now.of("resolution")[0].running is False  # solved pauses it
        clock.advance(H)
        esc.record("c1", SlaEvent(clock.now(), "customer message"))
        now = esc.record("c1", SlaEvent(clock.now(), "reopened"))
        (resolution,) = now.of("resolution")
        assert (resolution.running, resolution.counted) == (True, H + H / 2)
        assert kinds(esc)[-4:] == [
            ("agent reply", None),
            ("solved", None),
            ("customer message", None),
            ("reopened", None),
        ]

    def test_a_retroactive_start_from_a_case_field(self) -> None:
        esc = escalator()
        esc.add_case(case(fields={"reported_at": MON - 3 * 24 * H}), by=ANN)
        (r,) = esc.sla_timeline("c1", at=MON + H).of("resolution")
        assert r.started_at == MON - 3 * 24 * H  # Friday 09:00
        assert r.counted == 8 * H + H  # Friday's office day, and Monday's hour

    def test_on_a_sqlite_file(self, tmp_path: Path) -> None:
        path = tmp_path / "escalate.db"
        esc = escalator(SqliteStore(path))
        esc.add_case(case(), by=ANN)
        esc.record("c1", SlaEvent(MON + H, "agent reply"))
        again = escalator(SqliteStore(path))
        (first,) = again.sla_timeline("c1", at=MON + 2 * H).of("first reply")
        assert first.fulfilled_at == MON + H


class TestRefused:
    def test_without_sla_settings(self) -> None:
        esc = escalator(sla=None)
        esc.add_case(case(), by=ANN)
        assert esc.store.sla_events("c1") == []
        with pytest.raises(InvalidOperation, match="no SLA settings"):
            esc.sla_timeline("c1")
        with pytest.raises(InvalidOperation, match="no SLA settings"):
            esc.record("c1", SlaEvent(MON, "agent reply"))

    def test_events_the_engine_records_itself(self) -> None:
        esc = escalator()
        esc.add_case(case(), by=ANN)
        with pytest.raises(InvalidOperation, match="recorded by add_case"):
            esc.record("c1", SlaEvent(MON, "priority", "urgent"))
        with pytest.raises(WrongTypeError, match="SlaEvent"):
            esc.record("c1", "agent reply")  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            esc.record("nope", SlaEvent(MON, "agent reply"))
        assert EventKind.CREATED.value == kinds(esc)[0][0]

    def test_a_failed_change_records_nothing(self) -> None:
        esc = escalator()
        esc.add_case(case(), by=ANN)
        before = kinds(esc)
        with pytest.raises(Exception, match="status"):
            esc.update_case("c1", {"status": "No such status"}, by=ANN)
        assert kinds(esc) == before

    def test_bad_sla_settings(self) -> None:
        with pytest.raises(WrongTypeError, match="sla: expected SlaSettings"):
            escalator(sla={"policies": []})
        assert Status.CLOSED.closed


TEMPLATES = Templates(
    {
        "sla warning.subject": "{{ case.number }}: {{ metric }} at {{ percent }}%",
        "sla warning.txt": "{{ metric }} reaches {{ percent }}% at {{ due_at }}.\n",
        "sla breach.subject": "{{ case.number }}: {{ metric }} breached",
        "sla breach.txt": "Target {{ target }} ({{ policy }}), reached {{ due_at }}.\n",
    }
)
WARNED = SlaSettings(
    policies=[
        SlaPolicy(
            id="standard",
            targets=[
                Target(
                    metric="resolution",
                    priority="normal",
                    within=4 * H,
                    hours="office",
                    warnings=(50,),
                )
            ],
        )
    ],
    pauses={"Pending": {"resolution"}},
    calendars={"office": OFFICE},
)


def ticking(store: object = None) -> Escalator:
    return escalator(
        store,
        sla=WARNED,
        templates=TEMPLATES,
        addresses={"kim": "kim@example.com"},
    )


class TestWarningsAndBreaches:
    def test_each_warning_and_breach_fires_once_at_its_instant(self) -> None:
        esc = ticking()
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        esc.add_case(case(owner="kim"), by=ANN)
        assert esc.store.due_backlog(MON + 10 * H).oldest == MON + 2 * H
        clock.set(MON + 2 * H - timedelta(microseconds=1))
        assert esc.tick().sla == ()
        clock.set(MON + 2 * H)
        (warning,) = esc.tick().sla
        assert (warning.percent, warning.due_at, warning.mails) == (50, MON + 2 * H, 1)
        assert warning.key == "sla/c1/resolution/0/50"
        assert esc.tick().sla == ()  # once
        clock.set(MON + 5 * H)
        (breach,) = esc.tick().sla
        assert (breach.breach, breach.due_at, breach.target) == (
            True,
            MON + 4 * H,
            4 * H,
        )
        assert esc.tick().sla == ()
        esc.dispatch()
        mailer = esc.mailer
        assert isinstance(mailer, RecordingMailer)
        assert [m.subject for m in mailer.sent] == [
            "C-1: resolution at 50%",
            "C-1: resolution breached",
        ]
        assert "Target 4:00:00 (standard)" in mailer.sent[1].text

    def test_clocks_that_start_later_fire_nothing_before_they_start(self) -> None:
        """A policy whose clocks start at a case field's instant, here the next
        day: the warning and breach fall from that instant on, and a tick
        before it sends nothing."""
        later = attrs.evolve(
            WARNED, policies=[attrs.evolve(WARNED.policies[0], start_field="from")]
        )
        esc = escalator(
            sla=later,
            templates=TEMPLATES,
            addresses={"kim": "kim@example.com"},
        )
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        tuesday = MON + 24 * H
        esc.add_case(case(owner="kim", fields={"from": tuesday}), by=ANN)
        assert esc.store.due_backlog(MON + 99 * H).oldest == tuesday + 2 * H
        clock.set(tuesday + 2 * H - timedelta(microseconds=1))
        assert esc.tick().sla == ()
        clock.set(tuesday + 2 * H)
        (warning,) = esc.tick().sla
        assert (warning.percent, warning.due_at) == (50, tuesday + 2 * H)

    def test_a_handled_case_computes_its_timeline_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The marks that found its warning give its next due instant too."""
        esc = ticking()
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        esc.add_case(case(owner="kim"), by=ANN)
        assert esc.tick().sla == ()  # (the first tick stores the settings)
        computed = []
        timeline = type(esc)._timeline

        def counted(self, *args):  # type: ignore[no-untyped-def]
            computed.append(args[1].id)
            return timeline(self, *args)

        monkeypatch.setattr(type(esc), "_timeline", counted)
        clock.set(MON + 2 * H)
        (warning,) = esc.tick().sla
        assert warning.percent == 50
        assert computed == ["c1"]
        assert esc.store.due_backlog(MON + 10 * H).oldest == MON + 4 * H  # breach

    def test_a_paused_or_fulfilled_run_fires_nothing_more(self) -> None:
        esc = ticking()
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        esc.add_case(case(owner="kim"), by=ANN)
        clock.set(MON + H)
        esc.update_case("c1", {"status": "Pending"}, by=ANN)
        assert esc.store.due_backlog(MON + 100 * H).count == 0  # nothing ahead
        clock.set(MON + 30 * H)
        assert esc.tick().sla == ()
        esc.update_case("c1", {"status": "Active – New"}, by=ANN)
        # Tuesday 15:00, 1 hour counted: 50% at 16:00
        assert esc.store.due_backlog(MON + 100 * H).oldest == MON + 31 * H
        esc.update_case("c1", {"status": "Closed"}, by=ANN)
        clock.set(MON + 100 * H)
        assert esc.tick().sla == ()

    def test_a_case_without_an_owner_is_recorded_without_mail(self) -> None:
        esc = ticking()
        esc.add_case(case(), by=ANN)
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        clock.set(MON + 3 * H)
        (warning,) = esc.tick().sla
        assert warning.mails == 0
        assert esc.tick().sla == ()

    def test_an_owner_without_an_address_is_an_error_not_a_silent_skip(self) -> None:
        esc = ticking()
        esc.add_case(case(owner="nobody"), by=ANN)
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        clock.set(MON + 3 * H)
        report = esc.tick()
        assert report.sla == ()
        ((who, message),) = report.errors
        assert who == "c1"
        assert "'nobody' has no address" in message
        esc.addresses["nobody"] = "nobody@example.com"
        clock.advance(timedelta(minutes=1))  # the case was put aside for a minute
        assert len(esc.tick().sla) == 1  # fires once the address is there

    def test_workers_on_a_sqlite_file_fire_each_mark_once(self, tmp_path: Path) -> None:
        path = tmp_path / "escalate.db"
        first = ticking(SqliteStore(path))
        first.add_case(case(owner="kim"), by=ANN)
        second = ticking(SqliteStore(path))
        for esc in (first, second):
            clock = esc.clock
            assert isinstance(clock, ManualClock)
            clock.set(MON + 5 * H)
        fired = [a.key for esc in (first, second) for a in esc.tick().sla]
        assert sorted(fired) == ["sla/c1/resolution/0/100", "sla/c1/resolution/0/50"]


class TestExplain:
    def test_the_timeline_explains_policy_runs_and_breaches(self) -> None:
        esc = ticking()
        esc.add_case(case(owner="kim"), by=ANN)
        text = esc.sla_timeline("c1", at=MON + 3 * H).explain(WARNED)
        assert text.splitlines() == [
            "SLA: policy 'standard' since 2026-11-23T09:00:00+00:00 (it has no "
            "conditions)",
            "  resolution #0: running",
            "    started 2026-11-23T09:00:00+00:00; counted 3:00:00 (target "
            "4:00:00), paused 0:00:00",
            "    warning at 50%: 2026-11-23T11:00:00+00:00 (reached)",
            "    breach: 2026-11-23T13:00:00+00:00 (ahead, if it keeps running)",
        ]

    def test_explain_on_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`escalate explain` adds the case's service level when the
        configuration has SLA policies (the example's do)."""
        from escalate.cli import main
        from escalate.config import example_config, load_config

        config = example_config()
        db = tmp_path / "escalate.db"
        store = SqliteStore(db)
        esc = Escalator.from_config(
            load_config(config), store, RecordingMailer(), ManualClock(MON)
        )
        esc.add_case(case(fields={"customer": "gold"}), by=ANN)
        store.close()
        args = ["explain", "c1", "--db", db, "--config", config]
        assert main([*map(str, args), "--now", "2026-11-23T12:00:00+01:00"]) == 0
        out = capsys.readouterr().out
        assert "SLA: policy 'gold' since 2026-11-23T09:00:00+00:00" in out
        assert "its conditions are met: customer equals 'gold'" in out
        assert "  first reply #0: breached" in out  # 1h, at 11:00 Amsterdam
        assert "  resolution #0: running" in out


class TestSettingsEdits:
    def test_sla_policies_are_part_of_the_settings_document(self) -> None:
        """They round-trip through the settings document; settings without
        them keep the document (and digest) they had."""
        settings = Settings(calendars={"office": OFFICE}, sla=SLA)
        again = Settings.from_document(settings.document())
        assert again == settings
        assert again.sla == SLA
        plain = Settings(calendars={"office": OFFICE})
        assert '"sla"' not in plain.document()
        assert plain.digest != settings.digest

    def test_an_sla_edit_moves_the_open_cases_deadlines(self) -> None:
        """'Open deadlines do not follow a policy change': an edit of the
        targets alone is a change of the settings; the next tick recomputes
        the open cases, and the warning and breach follow the new target."""
        esc = ticking()
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        esc.add_case(case(owner="kim"), by=ANN)
        assert esc.store.due_backlog(MON + 10 * H).oldest == MON + 2 * H
        (standard,) = WARNED.policies
        (resolution,) = standard.targets
        stricter = attrs.evolve(
            WARNED,
            policies=[
                attrs.evolve(standard, targets=[attrs.evolve(resolution, within=2 * H)])
            ],
        )
        esc.use_settings(attrs.evolve(esc.settings, sla=stricter), by=OPERATOR)
        clock.set(MON + H)
        report = esc.tick()
        assert report.recomputed == 1
        (warning,) = report.sla  # 50% of the new 2 hours: now
        assert (warning.percent, warning.due_at, warning.target) == (50, MON + H, 2 * H)
        assert esc.store.due_backlog(MON + 10 * H).oldest == MON + 2 * H  # breach

    def test_a_removed_policy_gives_way_to_the_one_that_matches_now(self) -> None:
        """An edit that removes (or renames) the case's policy: the recompute
        records the policy that matches now, and nothing fails meanwhile."""
        esc = ticking()
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        esc.add_case(case(owner="kim"), by=ANN)
        renamed = attrs.evolve(
            WARNED, policies=[attrs.evolve(WARNED.policies[0], id="basic")]
        )
        esc.use_settings(attrs.evolve(esc.settings, sla=renamed), by=OPERATOR)
        assert esc.sla_timeline("c1").policy is None  # until it is recorded
        clock.set(MON + 3 * H)
        report = esc.tick()  # applies the edit: recomputes, records the policy
        assert (report.recomputed, report.errors) == (1, ())
        assert [a.policy for a in report.sla] == ["basic"]
        assert kinds(esc)[-1] == ("policy", "basic")
        esc.update_case("c1", {"priority": "low"}, by=ANN)  # and nothing fails


class TestUntrackedAndDamaged:
    def test_a_case_added_before_the_policies_stays_untracked(self) -> None:
        """Policies added to a live database: a case added before them has no
        SLA events; changing it records none (no history without its
        creation) and fails nothing; record says why it refuses."""
        esc = escalator(sla=None)
        esc.add_case(case(owner="kim"), by=ANN)
        esc.use_settings(
            attrs.evolve(esc.settings, calendars={"office": OFFICE}, sla=SLA),
            by=OPERATOR,
        )
        esc.update_case("c1", {"status": "Pending", "priority": "urgent"}, by=ANN)
        assert esc.store.sla_events("c1") == []
        clock = esc.clock
        assert isinstance(clock, ManualClock)
        clock.advance(30 * H)
        assert esc.tick().errors == ()
        with pytest.raises(InvalidOperation, match="added before the SLA policies"):
            esc.record("c1", SlaEvent(clock.now(), "agent reply"))
        assert esc.store.sla_events("c1") == []

    def test_events_cut_at_their_head_block_no_change_and_are_reported(self) -> None:
        """A log whose 'created' is gone (a superuser's cut): the case can still
        be changed; the tick reports the case's error instead of hiding it."""
        store = MemoryStore()
        esc = escalator(store)
        esc.add_case(case(), by=ANN)
        store._sla_events["c1"] = store._sla_events["c1"][1:]  # the head cut
        esc.update_case("c1", {"priority": "urgent"}, by=ANN)
        report = esc.tick()
        ((who, message),) = report.errors
        assert who == "c1"
        assert "must be 'created'" in message

    def test_an_event_before_the_creation_is_refused_and_nothing_kept(self) -> None:
        esc = escalator()
        esc.add_case(case(), by=ANN)
        before = kinds(esc)
        with pytest.raises(ConfigError, match="must be 'created'"):
            esc.record("c1", SlaEvent(MON - H, "agent reply"))
        assert kinds(esc) == before
        assert esc.store.get_case("c1").version == 1

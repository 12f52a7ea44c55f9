"""SLA policies: the complaints users file against helpdesks' SLAs, each as its
scenario, and the rules of docs/sla.md."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from escalate.config import load_config
from escalate.errors import (
    ConfigError,
    NaiveDatetimeError,
    NotFound,
    ScheduleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import Case
from escalate.sla import (
    Metric,
    SlaEvent,
    SlaPolicy,
    SlaSettings,
    Target,
    timeline,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)
MON = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday, at opening
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")

STANDARD = SlaPolicy(
    id="standard",
    targets=[
        Target(metric="first reply", priority="urgent", within=H, hours="office"),
        Target(metric="first reply", priority="normal", within=8 * H, hours="office"),
        Target(metric="next reply", priority="urgent", within=2 * H, hours="office"),
        Target(metric="resolution", priority="urgent", within=4 * H, hours="office"),
        Target(metric="resolution", priority="normal", within=16 * H, hours="office"),
        Target(
            metric="periodic update", priority="urgent", within=24 * H, warnings=(50,)
        ),
    ],
)
VIP = SlaPolicy(
    id="vip",
    conditions=[("customer_tier", "equals", "gold")],
    targets=[
        Target(metric="resolution", priority="normal", within=2 * H, hours="office"),
        Target(metric="resolution", priority="urgent", within=H, hours="office"),
    ],
)
SETTINGS = SlaSettings(
    policies=[VIP, STANDARD],
    pauses={"Pending": {"resolution", "next reply"}, "On-hold": {"resolution"}},
    calendars={"office": OFFICE},
)


def created(at: datetime, priority: str = "normal", policy: str = "standard") -> list:
    return [
        SlaEvent(at, "created"),
        SlaEvent(at, "status", "Open"),
        SlaEvent(at, "priority", priority),
        SlaEvent(at, "policy", policy),
    ]


def run(events: list[SlaEvent], at: datetime, metric: str, index: int = 0):  # type: ignore[no-untyped-def]
    return timeline(SETTINGS, events, at=at).of(metric)[index]


class TestComplaints:
    def test_the_clock_pauses_while_waiting_on_the_customer(self) -> None:
        """'The SLA kept running while the ticket was pending on the customer.'
        Pending pauses resolution: two days waiting count nothing."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + H, "status", "Pending"),
            SlaEvent(MON + 49 * H, "status", "Open"),  # Wednesday 10:00
        ]
        r = run(events, MON + 49 * H, "resolution")
        assert (r.counted, r.paused, r.running) == (H, 16 * H, True)
        assert r.breached_at == MON + 52 * H  # Wednesday 13:00: 3 hours left

    def test_a_pending_case_does_not_breach_the_moment_it_reopens(self) -> None:
        """'Tickets escalate the second the customer answers after a long
        pending.' Reopened, the clock resumes with what was left."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + 3 * H, "status", "Pending"),
            SlaEvent(MON + 72 * H, "customer message"),
            SlaEvent(MON + 72 * H, "status", "Open"),  # Thursday 09:00
        ]
        r = run(events, MON + 72 * H, "resolution")
        assert r.counted == 3 * H
        assert r.breached_at == MON + 73 * H  # the hour it had left

    def test_a_priority_change_keeps_what_was_counted_and_paused(self) -> None:
        """'Changing the priority restarted the SLA from creation.' The new
        target applies; the time counted and paused stays."""
        events = [
            *created(MON, "normal"),
            SlaEvent(MON + H, "status", "On-hold"),
            SlaEvent(MON + 2 * H, "status", "Open"),
            SlaEvent(MON + 3 * H, "priority", "urgent"),
        ]
        r = run(events, MON + 3 * H, "resolution")
        assert (r.counted, r.paused, r.target) == (2 * H, H, 4 * H)
        assert r.breached_at == MON + 5 * H

    def test_a_reassignment_to_another_team_keeps_the_clock(self) -> None:
        """'Moving the ticket to another team reset its SLA.' A reassignment
        is an event like any other: nothing counted or paused is lost, and
        nothing is counted twice."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + H, "status", "Pending"),
            SlaEvent(MON + 2 * H, "status", "Open"),
            SlaEvent(MON + 2 * H, "reassigned", "second-line"),
            SlaEvent(MON + 3 * H, "reassigned", "first-line"),
        ]
        moved = run(events, MON + 4 * H, "resolution")
        stayed = run(events[:6], MON + 4 * H, "resolution")  # not reassigned
        assert (moved.counted, moved.paused) == (3 * H, H)
        assert moved == stayed

    def test_a_stricter_target_already_passed_breaches_at_the_change(self) -> None:
        """Raised to urgent after 5 counted hours: breached at the change (it
        could not breach a target it did not have), even while paused."""
        events = [
            *created(MON, "normal"),
            SlaEvent(MON + 5 * H, "status", "Pending"),
            SlaEvent(MON + 6 * H, "priority", "urgent"),
        ]
        r = run(events, MON + 7 * H, "resolution")
        assert r.breached_at == MON + 6 * H
        assert not r.running

    def test_a_stricter_target_passed_at_a_pause_breaches_at_that_instant(
        self,
    ) -> None:
        """Set Pending and raised to urgent at one instant, asked at that very
        instant: nothing is counted at it, and it is breached at it."""
        events = [
            *created(MON, "normal"),
            SlaEvent(MON + 5 * H, "status", "Pending"),
            SlaEvent(MON + 5 * H, "priority", "urgent"),
        ]
        r = run(events, MON + 5 * H, "resolution")
        assert (r.counted, r.breached_at, r.running) == (5 * H, MON + 5 * H, False)

    def test_a_policy_change_keeps_what_was_counted_and_moves_the_deadline(
        self,
    ) -> None:
        """'The deadline did not follow when the customer became a VIP.' A new
        policy supplies the target from then on; the counted hour stays."""
        events = [*created(MON, "normal"), SlaEvent(MON + H, "policy", "vip")]
        before = run(events[:-1], MON + H, "resolution")
        after = run(events, MON + H, "resolution")
        assert before.breached_at == MON + 16 * H + 16 * H  # Tuesday 17:00
        assert (after.counted, after.policy, after.target) == (H, "vip", 2 * H)
        assert after.breached_at == MON + 2 * H

    def test_which_policy_and_why_a_target_breached(self) -> None:
        """'Nobody could tell which SLA applied or why it breached.' The
        timeline names the policy, the target, what was counted and paused and
        when it breached; select names the policy a case meets."""
        vip_case = Case(
            id="c1", number="1", created_at=MON, fields={"customer_tier": "gold"}
        )
        plain = Case(id="c2", number="2", created_at=MON)
        assert SETTINGS.select(vip_case) is VIP
        assert SETTINGS.select(plain) is STANDARD
        events = [*created(MON, "urgent"), SlaEvent(MON + 2 * H, "agent reply")]
        r = run(events, MON + 2 * H, "first reply")
        assert (r.policy, r.target, r.counted) == ("standard", H, 2 * H)
        assert (r.fulfilled_at, r.breached_at) == (MON + 2 * H, MON + H)


class TestRules:
    def test_a_fulfilled_metric_is_never_unfulfilled(self) -> None:
        """Replied within the normal target; raised to urgent later: the first
        reply stays achieved."""
        events = [
            *created(MON, "normal"),
            SlaEvent(MON + 2 * H, "agent reply"),
            SlaEvent(MON + 3 * H, "priority", "urgent"),
        ]
        r = run(events, MON + 9 * H, "first reply")
        assert (r.fulfilled_at, r.target, r.breached_at) == (MON + 2 * H, 8 * H, None)

    def test_on_time_is_at_the_target_itself(self) -> None:
        """A reply exactly at the target is on time."""
        events = [*created(MON, "urgent"), SlaEvent(MON + H, "agent reply")]
        assert run(events, MON + H, "first reply").breached_at is None

    def test_a_reopened_case_resumes_resolution_where_it_stopped(self) -> None:
        """Solved pauses resolution, reopened resumes it; closed fulfils it."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + H, "solved"),
            SlaEvent(MON + 24 * H, "reopened"),
        ]
        r = run(events, MON + 25 * H, "resolution")
        assert (r.counted, r.paused, r.fulfilled_at) == (2 * H, 7 * H, None)
        closed = [*events, SlaEvent(MON + 25 * H, "closed")]
        r = run(closed, MON + 30 * H, "resolution")
        assert (r.counted, r.fulfilled_at) == (2 * H, MON + 25 * H)

    def test_next_reply_runs_at_each_customer_message_after_a_reply(self) -> None:
        """The first message is the first reply's; each later one after an
        agent reply starts a next reply; a reply and a message at one instant:
        the reply fulfils, then the message starts the next run."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + H / 2, "customer message"),  # first reply's still
            SlaEvent(MON + H, "agent reply"),
            SlaEvent(MON + 2 * H, "customer message"),
            SlaEvent(MON + 3 * H, "agent reply"),
            SlaEvent(MON + 3 * H, "customer message"),
        ]
        runs = timeline(SETTINGS, events, at=MON + 4 * H).of("next reply")
        assert [(r.started_at, r.fulfilled_at) for r in runs] == [
            (MON + 2 * H, MON + 3 * H),
            (MON + 3 * H, None),
        ]
        assert runs[1].counted == H

    def test_periodic_update_recurs_and_warns(self) -> None:
        """Each agent reply starts the next periodic update; 50% warns."""
        events = [*created(MON, "urgent"), SlaEvent(MON + H, "agent reply")]
        (r,) = timeline(SETTINGS, events, at=MON + H).of(Metric.PERIODIC_UPDATE)
        assert r.warnings == ((50, MON + 13 * H),)
        assert r.breached_at == MON + 25 * H

    def test_a_retroactive_start(self) -> None:
        """Clocks that run from the start may start at a case field's instant
        (the customer's report, before the case was entered)."""
        events = created(MON + 2 * H, "urgent")
        r = timeline(SETTINGS, events, at=MON + 2 * H, start_at=MON).of("resolution")[0]
        assert (r.started_at, r.counted, r.breached_at) == (MON, 2 * H, MON + 4 * H)

    def test_a_start_ahead_of_the_instant_asked(self) -> None:
        """Asked before a start field's instant (clocks that start on Tuesday,
        asked on Monday): nothing is counted yet, and the breaches ahead are
        counted from the start, not from the instant asked (they came out on
        Monday, before the clocks had started, and a tick would have sent
        them then)."""
        events = created(MON, "urgent")
        tuesday = MON + 24 * H
        now = timeline(SETTINGS, events, at=MON + H, start_at=tuesday)
        assert [
            (r.metric.value, r.started_at, r.counted, r.breached_at) for r in now.runs
        ] == [
            ("first reply", tuesday, timedelta(0), tuesday + H),
            ("resolution", tuesday, timedelta(0), tuesday + 4 * H),
        ]
        assert [x for x, *_ in now.due()] == [tuesday + H, tuesday + 4 * H]
        # the same answers once the clocks run
        later = timeline(SETTINGS, events, at=tuesday + H / 2, start_at=tuesday)
        assert [r.breached_at for r in later.runs] == [tuesday + H, tuesday + 4 * H]

    def test_exact_to_the_microsecond(self) -> None:
        us = timedelta(microseconds=1)
        events = [
            *created(MON + us, "urgent"),
            SlaEvent(MON + H + 2 * us, "agent reply"),
        ]
        r = run(events, MON + 2 * H, "first reply")
        assert r.counted == H + us
        assert r.breached_at == MON + H + us

    def test_events_after_the_instant_asked_are_not_looked_at(self) -> None:
        events = [*created(MON, "urgent"), SlaEvent(MON + 2 * H, "agent reply")]
        r = run(events, MON + H / 2, "first reply")
        assert (r.fulfilled_at, r.counted, r.breached_at) == (None, H / 2, MON + H)

    def test_events_may_come_out_of_order(self) -> None:
        """Events are taken in the order of their instants (ties: as given)."""
        events = [*created(MON, "urgent"), SlaEvent(MON + H / 2, "agent reply")]
        shuffled = [events[-1], *events[:-1]]
        assert timeline(SETTINGS, shuffled, at=MON + H) == timeline(
            SETTINGS, events, at=MON + H
        )

    def test_kept_runs_are_left_alone_by_the_collector(self) -> None:
        """A timeline keeps its runs as tuples of integers and texts until they
        are read: once the collector has looked at them (a pass per level of
        nesting) it stops looking, so 100,000 kept timelines do not slow every
        later full collection. A running, a paused and a fulfilled run."""
        events = [
            *created(MON, "urgent"),
            SlaEvent(MON + H / 2, "agent reply"),
            SlaEvent(MON + H, "status", "Pending"),
        ]
        kept = timeline(SETTINGS, events, at=MON + 2 * H)._runs
        for _ in range(4):  # a pass per level: the runs, a run, its warnings, one
            gc.collect()
        packed = kept._packed  # type: ignore[attr-defined]
        assert len(packed) == 3
        assert [gc.is_tracked(p) for p in (packed, *packed)] == [False] * 4


class TestBadInput:
    def test_bad_events(self) -> None:
        with pytest.raises(ConfigError, match="needs the new status"):
            SlaEvent(MON, "status")
        with pytest.raises(ConfigError, match=r"^value: 'solved' events take no value"):
            SlaEvent(MON, "solved", "yes")
        with pytest.raises(ConfigError, match="expected one of"):
            SlaEvent(MON, "escalated")
        with pytest.raises(NaiveDatetimeError):
            SlaEvent(datetime(2026, 11, 23, 9), "created")

    def test_bad_histories(self) -> None:
        with pytest.raises(ConfigError, match="must be 'created', got 'solved'"):
            timeline(SETTINGS, [SlaEvent(MON, "solved")], at=MON)
        with pytest.raises(ConfigError, match="none"):
            timeline(SETTINGS, [], at=MON)
        with pytest.raises(ConfigError, match="'gold' is not in the settings"):
            timeline(SETTINGS, created(MON, policy="gold"), at=MON)
        with pytest.raises(WrongTypeError, match="events"):
            timeline(SETTINGS, "created", at=MON)  # type: ignore[arg-type]
        with pytest.raises(NaiveDatetimeError):
            timeline(SETTINGS, created(MON), at=datetime(2026, 11, 23))

    def test_bad_pauses_name_their_status(self) -> None:
        with pytest.raises(ConfigError, match=r"^pauses\['Pending'\]: expected one of"):
            SlaSettings(policies=[], pauses={"Pending": ["resolution", "nope"]})
        # a text, not a list: not read letter by letter ("got 'r'")
        with pytest.raises(
            WrongTypeError, match=r"^pauses\['Pending'\]: .* got 'resolution'$"
        ):
            SlaSettings(policies=[], pauses={"Pending": "resolution"})

    def test_instants_no_calendar_counts_in_are_named(self) -> None:
        """Not a bare number of microseconds from deep inside the calendar."""
        far = datetime(9999, 12, 31, tzinfo=UTC)
        early = datetime(1, 6, 1, tzinfo=UTC)
        years = "expected an instant in the years 2-9997, got"
        with pytest.raises(ScheduleError, match=f"^at: {years} 9999-12-31T00:00"):
            timeline(SETTINGS, created(MON), at=far)
        with pytest.raises(ScheduleError, match=f"^start_at: {years} 0001-06-01"):
            timeline(SETTINGS, created(MON), at=MON, start_at=early)
        with pytest.raises(
            ScheduleError, match=f"^events: the created event's instant: {years} 0001"
        ):
            timeline(SETTINGS, created(early), at=MON)

    def test_bad_policies(self) -> None:
        with pytest.raises(ConfigError, match="appears twice"):
            SlaPolicy(
                id="p",
                targets=[
                    Target(metric="resolution", priority="low", within=H),
                    Target(metric="resolution", priority="low", within=2 * H),
                ],
            )
        with pytest.raises(ConfigError, match="positive duration"):
            Target(metric="resolution", priority="low", within=timedelta(0))
        with pytest.raises(ConfigError, match="between 1 and 99"):
            Target(metric="resolution", priority="low", within=H, warnings=(50, 50))
        with pytest.raises(ConfigError, match="expected one of"):
            Target(metric="resolutoin", priority="low", within=H)
        with pytest.raises(ConfigError, match="no calendar named 'office'"):
            SlaSettings(policies=[STANDARD])
        with pytest.raises(ConfigError, match="ids must be unique"):
            SlaSettings(policies=[VIP, VIP], calendars={"office": OFFICE})
        with pytest.raises(NotFound):
            SETTINGS.policy("gold")


SLA_TOML = """
[calendars.office]
tz = "UTC"
weekly = { "mon-fri" = "09:00-17:00" }

[sla]
pauses = { "Pending" = ["resolution", "next reply"], "On-hold" = ["resolution"] }

[[sla.policies]]
id = "vip"
conditions = [["customer_tier", "equals", "gold"]]

  [[sla.policies.targets]]
  metric = "resolution"
  priority = "urgent"
  within = "1h"
  hours = "office"

[[sla.policies]]
id = "standard"
start_field = "reported_at"

  [[sla.policies.targets]]
  metric = "first reply"
  priority = "urgent"
  within = "1h"
  hours = "office"
  warnings = [50, 75]

  [[sla.policies.targets]]
  metric = "resolution"
  priority = "urgent"
  within = "4h"
  hours = "office"
"""


class TestConfiguration:
    def test_sla_policies_from_the_configuration_file(self, tmp_path: Path) -> None:
        path = tmp_path / "helpdesk.toml"
        path.write_text(SLA_TOML)
        sla = load_config(path).sla
        assert sla is not None
        assert [p.id for p in sla.policies] == ["vip", "standard"]
        standard = sla.policy("standard")
        assert standard.start_field == "reported_at"
        first = standard.target(Metric.FIRST_REPLY, "urgent")
        assert first is not None
        assert (first.within, first.hours, first.warnings) == (H, "office", (50, 75))
        assert sla.pauses["Pending"] == {Metric.RESOLUTION, Metric.NEXT_REPLY}
        gold = Case(
            id="c", number="1", created_at=MON, fields={"customer_tier": "gold"}
        )
        assert sla.select(gold) is sla.policy("vip")
        assert load_config(path).sla == sla  # the same file, the same settings

    def test_no_sla_section(self, tmp_path: Path) -> None:
        path = tmp_path / "helpdesk.toml"
        path.write_text(SLA_TOML.split("[sla]")[0])
        assert load_config(path).sla is None

    @pytest.mark.parametrize(
        ("edit", "message"),
        [
            (
                ('metric = "resolution"', 'metric = "resolutoin"'),
                "sla.policies[0].targets[0].metric: expected one of",
            ),
            (
                ('within = "1h"', 'within = "an hour"'),
                "sla.policies[0].targets[0].within: expected a duration",
            ),
            (
                ("warnings = [50, 75]", "warnings = [75, 50]"),
                "sla.policies[1].targets[0]: warnings: expected whole percents",
            ),
            (
                ('hours = "office"', 'hours = "night"'),
                "no calendar named 'night'",
            ),
            (
                ('id = "vip"', 'id = "standard"'),
                "sla: policies: ids must be unique",
            ),
            (
                ('["resolution", "next reply"]', '["resolution", "next replies"]'),
                "sla.pauses.Pending: expected an array of metrics",
            ),
            (
                ('start_field = "reported_at"', 'start_feild = "reported_at"'),
                "sla.policies[1].start_feild: unknown key; did you mean 'start_field'",
            ),
        ],
    )
    def test_mistakes_name_their_place(
        self, tmp_path: Path, edit: tuple[str, str], message: str
    ) -> None:
        path = tmp_path / "helpdesk.toml"
        path.write_text(SLA_TOML.replace(*edit, 1))
        with pytest.raises(ConfigError) as e:
            load_config(path)
        assert message in str(e.value)

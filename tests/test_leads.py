"""Lead escalation: lead types, team overrides, permissions, two phases, lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.adapters.memory import MemoryStore
from escalate.engine import Escalator
from escalate.errors import ConfigError, InvalidOperation, PermissionDenied
from escalate.hours import BusinessHours
from escalate.leads import (
    ADMINISTER_LEADS,
    ExternalEscalation,
    Lead,
    LeadSettings,
    LeadStep,
    LeadType,
    SettingSource,
    due_lead_actions,
    escalated_new_leads,
    lead_deadlines,
    missing_first_activity,
    team_admin,
    unassigned_leads,
)
from escalate.model import OPERATOR, Actor
from escalate.rules import RuleBook
from escalate.settings import Settings
from escalate.templates import Templates
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock, Phase

CPH = ZoneInfo("Europe/Copenhagen")
H = timedelta(hours=1)
SHOWROOM = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="Europe/Copenhagen")
SATURDAYS = SHOWROOM.with_overrides({"sat": "10:00-14:00"})
ADMIN = Actor("admin", permissions={ADMINISTER_LEADS})
NORTH_ADMIN = Actor("nina", permissions={team_admin("north")})
SOUTH_ADMIN = Actor("sam", permissions={team_admin("south")})
SALES = Actor("sally")
AGENCY = ExternalEscalation(
    agency="LeadWatch", email="desk@leadwatch.example", after=2 * H
)


def web_type(**kw: object) -> LeadType:
    return LeadType(
        name="web",
        accept_within=kw.pop("accept_within", H),  # type: ignore[arg-type]
        first_activity_within=4 * H,
        hours=SHOWROOM,
        **kw,  # type: ignore[arg-type]
    )


def dealer(**kw: object) -> LeadSettings:
    s = LeadSettings().define_type(web_type(**kw), by=ADMIN)
    for team, user in (("north", "ann"), ("south", "bob")):
        s = s.set_responsible("web", team, [user], by=ADMIN)
    return s


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CPH)


def lead(**kw: object) -> Lead:
    start = kw.pop("reached", at(23, 10))
    return Lead(
        id=str(kw.pop("id", "L1")),
        lead_type="web",
        received_at=start,  # type: ignore[arg-type]
        team=kw.pop("team", "north"),  # type: ignore[arg-type]
        reached_team_at=start,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# -- permissions ---------------------------------------------------------------------


class TestPermissions:
    def test_only_an_administrator_defines_company_wide_types(self) -> None:
        for actor in (NORTH_ADMIN, SALES):
            with pytest.raises(PermissionDenied, match="administer lead types"):
                LeadSettings().define_type(web_type(), by=actor)
        assert "web" in LeadSettings().define_type(web_type(), by=ADMIN).types

    def test_team_admins_may_always_adjust_their_own_hours(self) -> None:
        s = dealer().set_team_hours("web", "north", SATURDAYS, by=NORTH_ADMIN)
        assert s.effective_settings("web", "north").hours.value == SATURDAYS
        with pytest.raises(PermissionDenied, match="admin of team 'north'"):
            dealer().set_team_hours("web", "north", SATURDAYS, by=SOUTH_ADMIN)
        with pytest.raises(PermissionDenied):
            dealer().set_team_hours("web", "north", SATURDAYS, by=SALES)

    def test_team_times_only_where_the_type_allows(self) -> None:
        with pytest.raises(PermissionDenied, match="does not let team admins edit"):
            dealer().set_team_times("web", "north", by=NORTH_ADMIN, accept_within=H)
        open_type = dealer(team_admins_may_edit=True)
        s = open_type.set_team_times(
            "web", "north", by=NORTH_ADMIN, accept_within=2 * H
        )
        assert s.effective_settings("web", "north").accept_within.value == 2 * H
        with pytest.raises(PermissionDenied):  # not their team
            open_type.set_team_times("web", "north", by=SOUTH_ADMIN, accept_within=H)
        # the administrator may, whatever the type says
        dealer().set_team_times("web", "north", by=ADMIN, accept_within=2 * H)

    def test_team_lead_types_need_the_policy(self) -> None:
        mine = LeadType(
            name="trade-in",
            accept_within=H,
            first_activity_within=H,
            hours=SHOWROOM,
            team="north",
        )
        with pytest.raises(PermissionDenied, match="does not allow team lead types"):
            dealer().define_type(mine, by=NORTH_ADMIN)
        with pytest.raises(PermissionDenied):
            dealer().set_policy(team_types_allowed=True, by=NORTH_ADMIN)
        allowed = dealer().set_policy(team_types_allowed=True, by=ADMIN)
        s = allowed.define_type(mine, by=NORTH_ADMIN)
        s = s.update_type("trade-in", accept_within=2 * H, by=NORTH_ADMIN)  # theirs
        assert s.lead_type("trade-in").accept_within == 2 * H
        with pytest.raises(PermissionDenied):  # another team's type
            s.update_type("trade-in", accept_within=H, by=SOUTH_ADMIN)
        with pytest.raises(PermissionDenied):  # a company-wide type
            s.update_type("web", accept_within=H, by=NORTH_ADMIN)
        # their own team type's times are theirs to set
        s.set_team_times("trade-in", "north", by=NORTH_ADMIN, accept_within=H)

    def test_responsible_users_per_team(self) -> None:
        s = dealer().set_responsible("web", "north", ["ann", "cy"], by=NORTH_ADMIN)
        assert s.effective_settings("web", "north").responsible.value == ("ann", "cy")
        with pytest.raises(PermissionDenied):
            s.set_responsible("web", "north", ["x"], by=SOUTH_ADMIN)
        with pytest.raises(ConfigError, match="responsible: expected a list"):
            s.set_responsible("web", "north", "ann", by=ADMIN)

    def test_deactivating_is_the_administrators(self) -> None:
        with pytest.raises(PermissionDenied):
            dealer().update_type("web", active=False, by=NORTH_ADMIN)
        assert (
            not dealer().update_type("web", active=False, by=ADMIN).types["web"].active
        )


class TestConfiguration:
    def test_effective_settings_say_where_each_value_comes_from(self) -> None:
        s = dealer(team_admins_may_edit=True).set_team_times(
            "web", "north", by=NORTH_ADMIN, first_activity_within=2 * H
        )
        north = s.effective_settings("web", "north")
        assert (
            north.first_activity_within.value,
            north.first_activity_within.source,
        ) == (
            2 * H,
            SettingSource.TEAM,
        )
        assert (north.accept_within.value, north.accept_within.source) == (
            H,
            SettingSource.GLOBAL,
        )
        assert north.hours.source is SettingSource.GLOBAL
        # worked out once per settings value and team; an edit is a new value
        assert s.effective_settings("web", "north") is north
        edited = s.set_team_times(
            "web", "north", by=NORTH_ADMIN, first_activity_within=3 * H
        )
        later = edited.effective_settings("web", "north")
        assert later.first_activity_within.value == 3 * H

    def test_a_team_without_responsible_users_is_a_problem(self) -> None:
        problems = dealer().problems(["north", "south", "east"])
        assert [(p.lead_type, p.team) for p in problems] == [("web", "east")]
        assert "has no responsible users" in problems[0].message
        assert dealer(escalations=False).problems(["east"]) == ()

    def test_bad_values(self) -> None:
        with pytest.raises(ConfigError, match="accept_within: expected a duration > 0"):
            web_type(accept_within=timedelta(0))
        with pytest.raises(ConfigError, match="no lead type 'car'"):
            dealer().effective_settings("car", "north")
        with pytest.raises(ConfigError, match=r"external\.email"):
            ExternalEscalation(agency="x", email="nope")
        with pytest.raises(ConfigError, match="accepted_at: expected an instant at or"):
            lead(accepted_at=at(23, 9))
        with pytest.raises(
            ConfigError, match="first_activity_at: expected an accepted"
        ):
            lead(first_activity_at=at(23, 11), first_activity_kind="call")


# -- escalation ---------------------------------------------------------------------


class TestEscalation:
    def test_friday_evening_lead_escalates_on_monday(self) -> None:
        """Received Friday 16:30, accept within 1 h of opening hours: the
        reminder is due Monday 09:30 (timers pause over the weekend)."""
        friday = lead(reached=at(27, 16, 30))
        assert lead_deadlines(friday, dealer()) == (at(30, 9, 30), None)
        assert due_lead_actions(friday, dealer(), at(30, 9, 29)) == ()
        (reminder,) = due_lead_actions(friday, dealer(), at(30, 9, 30))
        assert (reminder.phase, reminder.step, reminder.responsible) == (
            Phase.FIRST,
            LeadStep.INTERNAL,
            ("ann",),
        )

    def test_a_team_with_its_own_saturday_hours(self) -> None:
        """North opens Saturdays 10-14: its Friday lead escalates Saturday 10:30;
        south keeps the global hours (Monday 09:30)."""
        s = dealer().set_team_hours(
            "web", "north", {"sat": "10:00-14:00"}, by=NORTH_ADMIN
        )
        north = lead(reached=at(27, 16, 30))
        south = lead(id="L2", team="south", reached=at(27, 16, 30))
        assert lead_deadlines(north, s)[0] == at(28, 10, 30)
        assert lead_deadlines(south, s)[0] == at(30, 9, 30)

    def test_a_team_admin_adjusts_saturday_and_keeps_following_the_weekdays(
        self,
    ) -> None:
        """Seed 003: the admin of north opens Saturdays for their team; later the
        administrator moves the company's weekday hours to 08:00-16:00. North's
        weekdays follow (inherited per day), its Saturday stays, south follows."""
        s = dealer().set_team_hours(
            "web", "north", {"sat": "10:00-14:00"}, by=NORTH_ADMIN
        )
        earlier = BusinessHours.from_spec(
            {"mon-fri": "08:00-16:00"}, tz="Europe/Copenhagen"
        )
        s = s.update_type("web", hours=earlier, by=ADMIN)
        monday = lead(reached=at(30, 7, 0))
        assert lead_deadlines(monday, s)[0] == at(30, 9, 0)  # 08:00 + 1 h
        friday = lead(reached=at(27, 15, 30))  # 30 min left on Friday, 30 on Saturday
        assert lead_deadlines(friday, s)[0] == at(28, 10, 30)
        south = lead(id="L2", team="south", reached=at(27, 15, 30))
        assert lead_deadlines(south, s)[0] == at(30, 8, 30)
        north = s.effective_settings("web", "north")
        assert north.hours.source is SettingSource.TEAM
        assert [d.source for d in north.days] == [SettingSource.GLOBAL] * 5 + [
            SettingSource.TEAM,
            SettingSource.GLOBAL,
        ]
        assert north.hours.value.weekly == (
            *earlier.weekly[:5],
            (((10 * H, 14 * H)),),
            (),
        )
        # None inherits everything again
        back = s.set_team_hours("web", "north", None, by=NORTH_ADMIN)
        assert back.effective_settings("web", "north").hours.value == earlier

    def test_a_calendar_of_its_own_inherits_nothing(self) -> None:
        """A team given a whole calendar (another zone, say) keeps it when the
        global hours change: that is what a calendar of its own means."""
        s = dealer().set_team_hours("web", "north", SATURDAYS, by=ADMIN)
        s = s.update_type(
            "web",
            hours=BusinessHours.from_spec({"mon-fri": "08:00-16:00"}, tz="UTC"),
            by=ADMIN,
        )
        assert s.effective_settings("web", "north").hours.value == SATURDAYS

    def test_bad_team_days(self) -> None:
        """A day spec that does not parse names the day and what was expected."""
        with pytest.raises(ConfigError, match=r"days\['sat'\]"):
            dealer().set_team_hours("web", "north", {"sat": "10-14"}, by=ADMIN)
        with pytest.raises(ConfigError, match="unknown day 'saturday2'"):
            dealer().set_team_hours("web", "north", {"saturday2": "closed"}, by=ADMIN)
        with pytest.raises(ConfigError, match="expected a mapping of days"):
            dealer().set_team_hours("web", "north", "sat 10-14", by=ADMIN)  # type: ignore[arg-type]

    def test_second_phase_after_acceptance(self) -> None:
        """Accepted in time: the first-activity phase runs from acceptance; a
        note does not count, a call does."""
        accepted = lead().accept(at(23, 10, 30))
        assert lead_deadlines(accepted, dealer()) == (None, at(23, 14, 30))
        (miss,) = due_lead_actions(accepted, dealer(), at(23, 14, 30))
        assert miss.phase is Phase.SECOND
        noted = accepted.register_activity("note", at(23, 11))
        assert noted == accepted  # a note does not count: nothing changes
        called = noted.register_activity("call", at(23, 12))
        assert (called.first_activity_kind, called.first_activity_at) == (
            "call",
            at(23, 12),
        )
        assert due_lead_actions(called, dealer(), at(24, 17)) == ()
        assert called.register_activity("meeting", at(23, 13)) == called
        with pytest.raises(InvalidOperation, match="not accepted yet"):
            lead().register_activity("call", at(23, 11))

    def test_external_escalation_follows_the_internal_reminder(self) -> None:
        """The agency steps in 2 business hours after the internal reminder."""
        s = dealer(external=AGENCY)
        late = lead()
        steps = due_lead_actions(late, s, at(23, 13))
        assert [(a.step, a.due_at) for a in steps] == [
            (LeadStep.INTERNAL, at(23, 11).astimezone(UTC)),
            (LeadStep.EXTERNAL, at(23, 13).astimezone(UTC)),
        ]
        assert steps[1].external == AGENCY
        assert len({a.key for a in steps}) == 2
        assert [a.step for a in due_lead_actions(late, s, at(23, 12))] == [
            LeadStep.INTERNAL
        ]

    def test_deactivated_type_or_escalations_off_stop_escalating(self) -> None:
        late = lead()
        assert due_lead_actions(late, dealer(), at(24, 12)) != ()
        off = dealer().update_type("web", active=False, by=ADMIN)
        assert due_lead_actions(late, off, at(24, 12)) == ()
        quiet = dealer().update_type("web", escalations=False, by=ADMIN)
        assert due_lead_actions(late, quiet, at(24, 12)) == ()

    def test_a_lead_with_no_team_does_not_escalate(self) -> None:
        waiting = Lead(id="L9", lead_type="web", received_at=at(23, 9))
        assert due_lead_actions(waiting, dealer(), at(30, 12)) == ()
        assert unassigned_leads([lead(), waiting]) == [waiting]
        assert waiting.assign("north", at(23, 12)).reached_team_at == at(23, 12)


class TestLists:
    def test_new_leads_and_case_list(self) -> None:
        """Escalated, not accepted: the new leads list. Accepted, escalated for a
        missing first activity: the case list, with its note."""
        s = dealer()
        fresh = lead(id="fresh", reached=at(23, 16, 30))
        late = lead(id="late")
        quiet = lead(id="quiet").accept(at(23, 10, 15))
        active = quiet.register_activity("e-mail", at(23, 11))
        leads = [fresh, late, quiet, active]
        now = at(23, 15)
        assert escalated_new_leads(leads, s, now) == [late]
        assert missing_first_activity(leads, s, now) == [
            (quiet, "missing first activity")
        ]


# -- properties ----------------------------------------------------------------------

minutes = st.integers(0, 14 * 24 * 60)
durations = st.integers(1, 3 * 24 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=60, deadline=None)
@given(
    reached=minutes,
    accept_after=minutes,
    accept_within=durations,
    activity_within=durations,
    team_hours=st.booleans(),
    team_accept=st.none() | durations,
)
def test_deadlines_are_business_time_from_each_phase_start(
    reached: int,
    accept_after: int,
    accept_within: timedelta,
    activity_within: timedelta,
    team_hours: bool,
    team_accept: timedelta | None,
) -> None:
    """Deadlines equal hours.add(reached, accept) and hours.add(accepted,
    activity) under the team's effective hours and times."""
    s = LeadSettings().define_type(
        LeadType(
            name="web",
            accept_within=accept_within,
            first_activity_within=activity_within,
            hours=SHOWROOM,
        ),
        by=ADMIN,
    )
    if team_hours:
        s = s.set_team_hours("web", "north", SATURDAYS, by=ADMIN)
    s = s.set_team_times("web", "north", by=ADMIN, accept_within=team_accept)
    hours = SATURDAYS if team_hours else SHOWROOM
    start = at(23, 0) + timedelta(minutes=reached)
    first = lead(reached=start)
    assert lead_deadlines(first, s)[0] == hours.add(start, team_accept or accept_within)
    accepted = first.accept(start + timedelta(minutes=accept_after))
    assert lead_deadlines(accepted, s) == (
        None,
        hours.add(accepted.accepted_at, activity_within),  # type: ignore[arg-type]
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["closed", "09:00-17:00", "08:00-12:00"]),
        min_size=7,
        max_size=7,
    ),
    st.dictionaries(st.integers(0, 6), st.sampled_from(["closed", "10:00-14:00"])),
    st.lists(st.sampled_from(["closed", "07:00-15:00"]), min_size=7, max_size=7),
)
def test_team_days_inherit_per_day(
    first: list[str], team_days: dict[int, str], later: list[str]
) -> None:
    """Each weekday is the team's where it set one, else the global one in force
    now (a brute-force model: one lookup per day)."""

    def week(days: list[str]) -> BusinessHours:
        return BusinessHours.from_spec(dict(enumerate(days)), tz="Europe/Copenhagen")

    s = LeadSettings().define_type(
        LeadType(
            name="web", accept_within=H, first_activity_within=H, hours=week(first)
        ),
        by=ADMIN,
    )
    s = s.set_team_hours("web", "north", team_days, by=NORTH_ADMIN)
    s = s.update_type("web", hours=week(later), by=ADMIN)
    got = s.effective_settings("web", "north").hours.value.weekly
    model = week([team_days.get(d, later[d]) for d in range(7)]).weekly
    assert got == model


@given(
    global_within=durations,
    new_global=durations,
    overrides=st.dictionaries(st.sampled_from(["north", "south", "east"]), durations),
)
def test_layering(
    global_within: timedelta, new_global: timedelta, overrides: dict[str, timedelta]
) -> None:
    """A team's value wins where set, the global one elsewhere; a later global
    change reaches exactly the teams that did not override it."""
    s = dealer(accept_within=global_within)
    for team, value in overrides.items():
        s = s.set_team_times("web", team, by=ADMIN, accept_within=value)
    s = s.update_type("web", accept_within=new_global, by=ADMIN)
    for team in ("north", "south", "east"):
        resolved = s.effective_settings("web", team).accept_within
        if team in overrides:
            assert (resolved.value, resolved.source) == (
                overrides[team],
                SettingSource.TEAM,
            )
        else:
            assert (resolved.value, resolved.source) == (
                new_global,
                SettingSource.GLOBAL,
            )


# -- the engine ----------------------------------------------------------------------

LEAD_TEMPLATES = Templates(
    {
        "lead reminder.subject": "Lead {{ lead.id }}: {{ step }} ({{ phase }})",
        "lead reminder.txt": "Please look at lead {{ lead.id }}.\n",
        "lead external.subject": "Lead {{ lead.id }} for {{ external.agency }}",
        "lead external.txt": "Call {{ responsible | join(', ') }}.\n",
    }
)


def engine(store: MemoryStore, clock: ManualClock, s: LeadSettings) -> Escalator:
    return Escalator(
        store,
        RecordingMailer(),
        clock,
        book=RuleBook(),
        leads=s,
        templates=LEAD_TEMPLATES,
        addresses={"ann": "ann@dealer.example", "bob": "bob@dealer.example"},
    )


class TestEngine:
    def test_tick_escalates_each_step_once_in_order(self) -> None:
        clock = ManualClock(at(23, 10))
        store = MemoryStore()
        esc = engine(store, clock, dealer(external=AGENCY))
        esc.save_lead(lead())
        clock.advance(H)
        assert [a.step for a in esc.tick().leads] == [LeadStep.INTERNAL]
        clock.advance(2 * H)
        assert [a.step for a in esc.tick().leads] == [LeadStep.EXTERNAL]
        assert esc.tick().leads == ()
        esc.dispatch()
        mailer = esc.mailer
        assert isinstance(mailer, RecordingMailer)
        assert [(m.recipient, m.subject) for m in mailer.sent] == [
            ("ann@dealer.example", "Lead L1: internal reminder (first)"),
            ("desk@leadwatch.example", "Lead L1 for LeadWatch"),
        ]

    def test_acceptance_starts_the_second_phase(self) -> None:
        clock = ManualClock(at(23, 10))
        store = MemoryStore()
        esc = engine(store, clock, dealer())
        stored = esc.save_lead(lead())
        clock.advance(H / 2)
        esc.save_lead(stored.accept(clock.now()))
        clock.advance(5 * H)
        (miss,) = esc.tick().leads
        assert miss.phase is Phase.SECOND

    def test_no_responsible_users_is_reported_until_fixed(self) -> None:
        clock = ManualClock(at(23, 10))
        store = MemoryStore()
        esc = engine(store, clock, dealer())
        esc.save_lead(lead(team="east"))
        clock.advance(H)
        report = esc.tick()
        assert report.errors == (
            (
                "L1",
                "lead: lead type 'web' escalates, but team 'east' has no "
                "responsible users for it",
            ),
        )
        assert store.pending() == 0
        esc.use_settings(
            Settings(
                RuleBook(),
                leads=dealer().set_responsible("web", "east", ["bob"], by=ADMIN),
            ),
            by=OPERATOR,
        )
        report = esc.tick()
        assert (report.recomputed, len(report.leads)) == (1, 1)

    def test_lead_settings_round_trip(self) -> None:
        s = dealer(external=AGENCY, team_admins_may_edit=True)
        s = s.set_team_hours("web", "north", SATURDAYS, by=ADMIN)
        s = s.set_team_times("web", "south", by=ADMIN, accept_within=3 * H)
        s = s.set_team_hours("web", "east", {"sat,sun": "10:00-12:00"}, by=ADMIN)
        back = Settings.from_document(Settings(leads=s).document()).leads
        assert back == s
        assert back.effective_settings("web", "east").hours.value == (
            SHOWROOM.with_overrides({"sat,sun": "10:00-12:00"})
        )

"""Permissions hold on every path that changes a store's settings or its
follow-up lines, not only on the editing methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from escalate.adapters.memory import MemoryStore
from escalate.engine import Escalator
from escalate.errors import InvalidOperation, PermissionDenied
from escalate.history import LineDeletion, add_line, create_case, verify
from escalate.hours import BusinessHours
from escalate.leads import LeadSettings, LeadType, TeamOverride, team_admin
from escalate.model import OPERATOR, Actor, Case
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem
from escalate.settings import Settings, check_change
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
CONFIGURER = Actor("cora", permissions={"configure case escalation"})
AGENT = Actor("ann")
EAST = Actor("eve", permissions={team_admin("east")})
ITEM = RuleItem(
    id="all",
    hours="office",
    actions=[EscalationAction(id="lead", after=4 * H, escalate_to="lead")],
)
BOOK = RuleBook.build([Rule(name="main", items=[ITEM])], active="main")
OFF = RuleBook.build(
    [Rule(name="main", items=[ITEM])], active="main", scheduler_on=False
)
WEB = LeadType(
    name="web",
    accept_within=2 * H,
    first_activity_within=4 * H,
    hours=OFFICE,
    team_admins_may_edit=True,
)
LEADS = LeadSettings(
    types={"web": WEB},
    teams={
        ("web", "east"): TeamOverride(responsible=("eve",)),
        ("web", "west"): TeamOverride(responsible=("walt",)),
    },
)


def settings(book: RuleBook = BOOK, leads: LeadSettings = LEADS) -> Settings:
    return Settings(book, {"office": OFFICE}, leads)


def escalator(store: MemoryStore, book: RuleBook, **kw: object) -> Escalator:
    return Escalator(
        store,
        RecordingMailer(),
        ManualClock(T0),
        book=book,
        calendars={"office": OFFICE},
        leads=LEADS,
        **kw,  # type: ignore[arg-type]
    )


def in_force(store: MemoryStore) -> Escalator:
    """A store whose settings are BOOK and LEADS (its first ones: no actor)."""
    esc = escalator(store, BOOK)
    esc.apply()
    return esc


class TestSettingsOfAStore:
    def test_a_store_takes_its_first_settings_without_an_actor(self) -> None:
        """A new store is set up by the operator's code."""
        store = MemoryStore()
        in_force(store)
        record = store.settings_record()
        assert record is not None
        assert record.digest == settings().digest

    def test_use_settings_takes_an_actor_with_the_permission(self) -> None:
        """RuleBook.build + use_settings switching the scheduler off: refused
        for an agent, allowed for one who may configure case escalation."""
        esc = in_force(MemoryStore())
        with pytest.raises(PermissionDenied, match="configure case escalation"):
            esc.use_settings(settings(OFF), by=AGENT)
        assert esc.settings.book.scheduler_on
        esc.use_settings(settings(OFF), by=CONFIGURER)
        assert not esc.settings.book.scheduler_on

    def test_an_escalator_built_for_a_store_that_has_others(self) -> None:
        """Settings built into a new Escalator with no actor do not reach a
        store that has others: its tick is refused and the store keeps its own."""
        store = MemoryStore()
        in_force(store)
        before = store.settings_record()
        other = escalator(store, OFF)
        for call in (other.apply, other.tick, other.sync_settings):
            with pytest.raises(
                PermissionDenied, match="the store holds other settings"
            ):
                call()
        assert store.settings_record() == before
        with pytest.raises(PermissionDenied, match="configure case escalation"):
            other.apply(by=AGENT)
        assert store.settings_record() == before
        assert other.apply(by=CONFIGURER) is not None
        record = store.settings_record()
        assert record is not None
        assert record.digest == settings(OFF).digest

    def test_built_with_an_actor_it_may(self) -> None:
        """Escalator(by=...) names who put its settings in force."""
        store = MemoryStore()
        in_force(store)
        esc = escalator(store, OFF, by=OPERATOR)
        esc.tick()
        record = store.settings_record()
        assert record is not None
        assert record.digest == settings(OFF).digest


class TestTeamOverrides:
    def test_a_team_admin_changes_their_own_team(self) -> None:
        """Built with the checked methods, the east admin's change is allowed."""
        east = LEADS.set_responsible("web", "east", ["eve", "emil"], by=EAST)
        check_change(settings(), settings(leads=east), EAST, "use_settings")
        east = LEADS.set_team_times("web", "east", accept_within=H, by=EAST)
        check_change(settings(), settings(leads=east), EAST, "use_settings")

    def test_lead_settings_built_by_hand_cannot_change_another_team(self) -> None:
        """LeadSettings(...) with the west team's override changed: the east
        admin may not put it in force, though nothing stopped building it."""
        forged = attrs.evolve(
            LEADS,
            teams={
                **LEADS.teams,
                ("web", "west"): TeamOverride(responsible=("eve",)),
            },
        )
        esc = in_force(MemoryStore())
        with pytest.raises(PermissionDenied, match="team 'west'"):
            esc.use_settings(settings(leads=forged), by=EAST)
        assert esc.settings.leads == LEADS

    def test_a_team_admin_cannot_change_the_rules(self) -> None:
        """The east admin's leads change is theirs; a rule change with it is not."""
        east = LEADS.set_responsible("web", "east", ["emil"], by=EAST)
        with pytest.raises(PermissionDenied, match="configure case escalation"):
            check_change(settings(), settings(OFF, east), EAST, "use_settings")

    def test_times_only_where_the_lead_type_lets_team_admins_edit(self) -> None:
        """As set_team_times: a type that does not let team admins edit."""
        strict = attrs.evolve(
            LEADS, types={"web": attrs.evolve(WEB, team_admins_may_edit=False)}
        )
        forged = attrs.evolve(
            strict,
            teams={**strict.teams, ("web", "east"): TeamOverride(accept_within=H)},
        )
        with pytest.raises(PermissionDenied, match="does not let team admins"):
            check_change(settings(leads=strict), settings(leads=forged), EAST, "apply")

    def test_removing_a_lead_type_is_the_administrators(self) -> None:
        """A lead type gone: only an administrator may."""
        with pytest.raises(PermissionDenied):
            check_change(settings(), settings(leads=LeadSettings()), EAST, "apply")
        check_change(settings(), settings(leads=LeadSettings()), OPERATOR, "apply")


class TestDeletions:
    def test_the_store_refuses_a_deletion_without_its_history_entry(self) -> None:
        """store.append_deletions of an automatic line and of another user's
        line, with no history entry: refused; history and lines as they were,
        and verify still holds."""
        store = MemoryStore()
        change = create_case(Case(id="c1", number="C-1", created_at=T0), by=AGENT)
        line = add_line(change.file, "called", by=AGENT, at=T0)
        store.append_history([*change.entries, *line.entries])
        store.append_lines([*change.lines, *line.lines])
        for seq in (1, 2):
            with pytest.raises(InvalidOperation):
                store.append_deletions(
                    [LineDeletion(case_id="c1", line_seq=seq, by="mallory", at=T0)]
                )
        assert store.deletions("c1") == []
        assert verify(store.history("c1"), head=store.history_head("c1"))

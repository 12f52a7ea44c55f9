"""Lead escalation per lead type, with team overrides (seed 003).

A :class:`LeadType` is set company-wide by an administrator: whether it is
active, whether it escalates, how long a lead may wait to be **accepted** once it
reached a team, how long after acceptance its **first activity** (an e-mail, call,
meeting or letter) may take, its opening hours, an optional **external
escalation** (an agency), and whether team admins may edit its escalation times.
Team admins may always adjust the opening hours for their own team, override the
two times where the type allows it, create team lead types where the
administrator's policy allows it, and must name the **responsible users** per lead
type for their team. :class:`LeadSettings` holds all of that; each change takes an
:class:`~escalate.model.Actor` and returns new settings.

Who may do what: an administrator holds :data:`ADMINISTER_LEADS`; the admin of a
team holds :func:`team_admin` of it (``"team admin: <team>"``). Anyone else gets
``PermissionDenied``.

A :class:`Lead` escalates in two phases, each its own timer paused outside the
opening hours in force for its team (a two-phase timer): not accepted in time,
then no first activity in time. A breach sends an **internal reminder** to the
responsible users, then, where configured, the **external escalation** after the
agency's delay; each once per lead and phase (idempotency keys, as for cases).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from escalate._frozen import FrozenMap
from escalate._hours_spec import DayShifts, parse_day, parse_days
from escalate._instants import require_aware, require_duration, to_us, utc_from_us
from escalate._keys import action_key, basis_part
from escalate._text import MAX_ID, check_text
from escalate.errors import ConfigError, InvalidOperation, PermissionDenied
from escalate.hours import BusinessHours
from escalate.mail import check_address
from escalate.model import Actor, Permission
from escalate.timers import Phase, TwoPhaseTimer

__all__ = [
    "ADMINISTER_LEADS",
    "COUNTING_ACTIVITIES",
    "ExternalEscalation",
    "Lead",
    "LeadAction",
    "LeadProblem",
    "LeadSettings",
    "LeadStep",
    "LeadType",
    "ResolvedLeadSettings",
    "SettingSource",
    "Sourced",
    "TeamOverride",
    "due_lead_actions",
    "escalated_new_leads",
    "lead_deadlines",
    "lead_steps",
    "missing_first_activity",
    "team_admin",
    "unassigned_leads",
]

ADMINISTER_LEADS: Final = str(Permission.ADMINISTER_LEAD_TYPES)
"""The administrator's permission: every lead setting, company-wide."""

COUNTING_ACTIVITIES: Final = frozenset({"e-mail", "call", "meeting", "letter"})
"""The activity kinds that count as a lead's first activity."""

MISSING_FIRST_ACTIVITY: Final = "missing first activity"


def team_admin(team: str) -> str:
    """The permission of the admin of ``team``: ``"team admin: <team>"``."""
    _name("team", team)
    return f"team admin: {team}"


def _name(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{field}: expected a non-empty name, got {value!r}")
    return check_text(field, value, max_length=MAX_ID)


def _within(field: str, value: object) -> timedelta:
    d = require_duration(value, field)
    if d <= timedelta(0):
        raise ConfigError(f"{field}: expected a duration > 0, got {d}")
    return d


# -- configuration ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ExternalEscalation:
    """An agency that contacts the responsible users after the internal reminder.

    Attributes:
        agency: The agency's name.
        email: Where its escalation mail goes.
        phone: Its phone number, for people.
        after: Business time after the internal reminder at which it steps in
            (0: together with it).
    """

    agency: str
    email: str
    phone: str | None = None
    after: timedelta = timedelta(0)

    def __attrs_post_init__(self) -> None:
        _name("external.agency", self.agency)
        check_address(self.email, "external.email")
        d = require_duration(self.after, "external.after")
        if d < timedelta(0):
            raise ConfigError(f"external.after: expected a duration >= 0, got {d}")


@attrs.frozen(kw_only=True)
class LeadType:
    """A lead type and its escalation settings.

    Attributes:
        name: Unique among the lead types.
        accept_within: Business time from reaching a team until acceptance.
        first_activity_within: Business time from acceptance until the first
            activity.
        hours: The global opening hours.
        active: An inactive type's leads do not escalate.
        escalations: Whether its leads escalate at all.
        external: The external escalation, or None.
        team_admins_may_edit: Whether team admins may override the two times.
        team: The team that created it (a team lead type), or None
            (company-wide).
    """

    name: str
    accept_within: timedelta
    first_activity_within: timedelta
    hours: BusinessHours
    active: bool = True
    escalations: bool = True
    external: ExternalEscalation | None = None
    team_admins_may_edit: bool = False
    team: str | None = None

    def __attrs_post_init__(self) -> None:
        _name("name", self.name)
        _within("accept_within", self.accept_within)
        _within("first_activity_within", self.first_activity_within)
        if not isinstance(self.hours, BusinessHours):
            raise ConfigError(f"hours: expected a BusinessHours, got {self.hours!r}")
        if self.external is not None and not isinstance(
            self.external, ExternalEscalation
        ):
            raise ConfigError(
                f"external: expected an ExternalEscalation, got {self.external!r}"
            )
        if self.team is not None:
            _name("team", self.team)


def _users(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ConfigError(f"responsible: expected a list of user ids, got {value!r}")
    users = tuple(value)
    for u in users:
        _name("responsible", u)
    return tuple(dict.fromkeys(users))


def _days(value: Mapping[Any, Any]) -> FrozenMap[int, DayShifts]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"days: expected a mapping of days to hours such as {{'sat': "
            f"'10:00-14:00'}}, got {value!r}"
        )
    days: dict[int, DayShifts] = {}
    for key, spec in value.items():
        shifts = parse_day(spec, where=f"days[{key!r}]")
        for day in parse_days(key):
            days[day] = shifts
    return FrozenMap(sorted(days.items()))


@attrs.frozen(kw_only=True)
class TeamOverride:
    """What one team sets for one lead type; None (or empty) means inherited.

    Attributes:
        hours: The team's own calendar, or None: the lead type's. A calendar of
            its own inherits nothing (for a team in another zone).
        days: Weekdays (Monday 0) whose hours the team sets, on top of the
            calendar in force; the other days follow the lead type's hours,
            also when those change later. Given as a spec such as
            ``{"sat": "10:00-14:00"}``.
        accept_within: The team's accept time, or None.
        first_activity_within: The team's first-activity time, or None.
        responsible: The users reminded for this type in this team.
    """

    hours: BusinessHours | None = None
    days: FrozenMap[int, DayShifts] = attrs.field(factory=FrozenMap, converter=_days)
    accept_within: timedelta | None = None
    first_activity_within: timedelta | None = None
    responsible: tuple[str, ...] = attrs.field(default=(), converter=_users)


class SettingSource(enum.Enum):
    """Where a resolved setting comes from."""

    GLOBAL = "global"
    TEAM = "team"


@attrs.frozen
class Sourced:
    """A resolved value and where it came from."""

    value: Any
    source: SettingSource


@attrs.frozen(kw_only=True)
class ResolvedLeadSettings:
    """A lead type's settings as they apply to one team (for a settings UI).

    Every attribute is a :class:`Sourced`: the value in force, and whether the
    team set it or it is inherited from the global lead type. ``hours`` is the
    calendar in force (the team's source if it set its own calendar or any day);
    ``days`` holds each weekday's shifts, Monday first, with its own source.
    """

    lead_type: str
    team: str
    active: Sourced
    escalations: Sourced
    accept_within: Sourced
    first_activity_within: Sourced
    hours: Sourced
    days: tuple[Sourced, ...]
    external: Sourced
    responsible: Sourced


@attrs.frozen(kw_only=True)
class LeadProblem:
    """A configuration problem: escalations on, but nobody to remind."""

    lead_type: str
    team: str
    message: str


def _types(value: Mapping[str, LeadType]) -> FrozenMap[str, LeadType]:
    return FrozenMap(sorted(value.items()))


def _overrides(
    value: Mapping[tuple[str, str], TeamOverride],
) -> FrozenMap[tuple[str, str], TeamOverride]:
    return FrozenMap(sorted(value.items()))


@attrs.frozen(kw_only=True)
class LeadSettings:
    """All lead types, the team overrides, and the policy on team lead types.

    Attributes:
        types: Lead type name to :class:`LeadType`.
        teams: ``(lead type, team)`` to that team's :class:`TeamOverride`.
        team_types_allowed: Whether team admins may create team lead types.
    """

    types: FrozenMap[str, LeadType] = attrs.field(factory=FrozenMap, converter=_types)
    teams: FrozenMap[tuple[str, str], TeamOverride] = attrs.field(
        factory=FrozenMap, converter=_overrides
    )
    team_types_allowed: bool = False
    _hours: dict[tuple[str, str], BusinessHours] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )
    _resolved: dict[tuple[str, str], ResolvedLeadSettings] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    # -- reading ----------------------------------------------------------------------

    def lead_type(self, name: str) -> LeadType:
        """The lead type called ``name``.

        Raises:
            ConfigError: No such lead type (the message lists them).
        """
        try:
            return self.types[name]
        except KeyError:
            raise ConfigError(
                f"lead_type: no lead type {name!r}; known: {sorted(self.types)}"
            ) from None

    def override(self, lead_type: str, team: str) -> TeamOverride:
        """What ``team`` sets for ``lead_type`` (empty if nothing)."""
        return self.teams.get((lead_type, team), _NO_OVERRIDE)

    def effective_settings(self, lead_type: str, team: str) -> ResolvedLeadSettings:
        """The settings in force for ``lead_type`` in ``team``, each with its
        source: the team's value where it set one, the global value elsewhere
        (worked out once per settings value and team: each lead step asks)."""
        known = self._resolved.get((lead_type, team))
        if known is None:
            known = self._resolved[lead_type, team] = self._resolve(lead_type, team)
        return known

    def _resolve(self, lead_type: str, team: str) -> ResolvedLeadSettings:
        t = self.lead_type(lead_type)
        o = self.override(lead_type, team)

        def pick(team_value: Any, global_value: Any) -> Sourced:
            if team_value is None:
                return Sourced(global_value, SettingSource.GLOBAL)
            return Sourced(team_value, SettingSource.TEAM)

        return ResolvedLeadSettings(
            lead_type=lead_type,
            team=team,
            active=Sourced(t.active, SettingSource.GLOBAL),
            escalations=Sourced(t.escalations, SettingSource.GLOBAL),
            accept_within=pick(o.accept_within, t.accept_within),
            first_activity_within=pick(
                o.first_activity_within, t.first_activity_within
            ),
            hours=Sourced(
                self.hours(lead_type, team),
                SettingSource.TEAM
                if o.hours is not None or o.days
                else SettingSource.GLOBAL,
            ),
            days=tuple(
                pick(o.days.get(day), (o.hours or t.hours).weekly[day])
                for day in range(7)
            ),
            external=Sourced(t.external, SettingSource.GLOBAL),
            responsible=Sourced(o.responsible, SettingSource.TEAM),
        )

    def hours(self, lead_type: str, team: str) -> BusinessHours:
        """The opening hours in force for ``lead_type`` in ``team``: the team's
        calendar or the lead type's, with the days the team set on top. Built
        once per settings value and team (a calendar caches its years)."""
        known = self._hours.get((lead_type, team))
        if known is None:
            t, o = self.lead_type(lead_type), self.override(lead_type, team)
            known = o.hours or t.hours
            if o.days:
                known = known.with_overrides(dict(o.days))
            self._hours[(lead_type, team)] = known
        return known

    def problems(self, teams: Iterable[str] | None = None) -> tuple[LeadProblem, ...]:
        """Active, escalating lead types without responsible users in a team.

        Args:
            teams: The teams to check (default: every team named in an override
                or as a team lead type's owner). A team lead type is checked for
                its own team only.
        """
        if teams is None:
            named = {team for _, team in self.teams}
            named |= {t.team for t in self.types.values() if t.team is not None}
            teams = named
        out = []
        for team in sorted(set(teams)):
            for t in self.types.values():
                if not (t.active and t.escalations) or t.team not in (None, team):
                    continue
                if not self.override(t.name, team).responsible:
                    out.append(
                        LeadProblem(
                            lead_type=t.name,
                            team=team,
                            message=(
                                f"lead type {t.name!r} escalates, but team "
                                f"{team!r} has no responsible users for it"
                            ),
                        )
                    )
        return tuple(out)

    # -- changes (each by an actor) -------------------------------------------------

    def set_policy(self, *, team_types_allowed: bool, by: Actor) -> LeadSettings:
        """Whether team admins may create team lead types (administrators)."""
        _admin(by, "set_policy")
        return attrs.evolve(self, team_types_allowed=team_types_allowed)

    def define_type(self, lead_type: LeadType, *, by: Actor) -> LeadSettings:
        """Add a lead type, or replace one with its name.

        Company-wide types (``team=None``) are the administrator's. A team admin
        may define a team lead type for their own team when the policy allows
        team lead types, and change it later.
        """
        if not isinstance(lead_type, LeadType):
            raise ConfigError(f"lead_type: expected a LeadType, got {lead_type!r}")
        action = f"define_type {lead_type.name!r}"
        old = self.types.get(lead_type.name)
        if not by.can(ADMINISTER_LEADS):
            for t in (lead_type, old):
                if t is None:
                    continue
                if t.team is None:
                    _admin(by, action)
                _team(by, t.team, action)
            if old is None and not self.team_types_allowed:
                raise PermissionDenied(
                    f"{action}: the administrator does not allow team lead types"
                )
        return attrs.evolve(self, types={**self.types, lead_type.name: lead_type})

    def update_type(self, name: str, *, by: Actor, **changes: Any) -> LeadSettings:
        """Change fields of a lead type (same rights as :meth:`define_type`);
        e.g. ``active=False`` deactivates it: its leads stop escalating."""
        try:
            changed = attrs.evolve(self.lead_type(name), **changes)
        except TypeError as e:
            raise ConfigError(f"update_type {name!r}: {e}") from e
        if changed.name != name:
            raise ConfigError(f"update_type {name!r}: the name cannot be changed")
        return self.define_type(changed, by=by)

    def set_team_hours(
        self,
        lead_type: str,
        team: str,
        hours: Mapping[Any, Any] | BusinessHours | None,
        *,
        by: Actor,
    ) -> LeadSettings:
        """The team's opening hours for a type; this replaces what the team set
        before. Team admins may always adjust their own team's hours.

        Args:
            hours: The days the team sets, as a spec (``{"sat": "10:00-14:00"}``):
                the other days follow the lead type's hours, also when those
                change later. Or a calendar of the team's own, which inherits
                nothing. Or None: inherit everything again.
        """
        self.lead_type(lead_type)
        _team(by, team, f"set_team_hours {lead_type!r}")
        if hours is None or isinstance(hours, BusinessHours):
            return self._with_override(lead_type, team, hours=hours, days={})
        if not isinstance(hours, Mapping):
            raise ConfigError(
                "hours: expected a mapping of days to hours such as {'sat': "
                f"'10:00-14:00'}}, a BusinessHours or None, got {hours!r}"
            )
        return self._with_override(lead_type, team, hours=None, days=_days(hours))

    def set_team_times(
        self,
        lead_type: str,
        team: str,
        *,
        by: Actor,
        accept_within: timedelta | None = None,
        first_activity_within: timedelta | None = None,
    ) -> LeadSettings:
        """The team's two escalation times (None: inherit the global value).

        A team admin may set them only where the lead type allows team admins to
        edit (or for their own team lead type).
        """
        t = self.lead_type(lead_type)
        action = f"set_team_times {lead_type!r}"
        _team(by, team, action)
        _may_edit_times(by, t, team, action)
        for field, value in (
            ("accept_within", accept_within),
            ("first_activity_within", first_activity_within),
        ):
            if value is not None:
                _within(field, value)
        return self._with_override(
            lead_type,
            team,
            accept_within=accept_within,
            first_activity_within=first_activity_within,
        )

    def set_responsible(
        self, lead_type: str, team: str, users: Iterable[str], *, by: Actor
    ) -> LeadSettings:
        """The users reminded for a lead type in a team (team admins: theirs)."""
        self.lead_type(lead_type)
        _team(by, team, f"set_responsible {lead_type!r}")
        return self._with_override(lead_type, team, responsible=_users(users))

    def check_change(self, after: LeadSettings, *, by: Actor, action: str) -> None:
        """Refuse ``after`` unless ``by`` could have made it from these settings
        with the permission-checked methods above: an administrator any change;
        a team admin the lead types and overrides of their own team, as
        :meth:`define_type`, :meth:`set_team_hours`, :meth:`set_team_times` and
        :meth:`set_responsible` allow. So settings built some other way (a
        ``LeadSettings(...)`` with another team's overrides) cannot be put in
        force by someone who could not have made them.

        Raises:
            PermissionDenied: Naming the first change ``by`` may not make.
        """
        if after == self or (isinstance(by, Actor) and by.can(ADMINISTER_LEADS)):
            return
        if after.team_types_allowed != self.team_types_allowed:
            _admin(by, f"{action}: the team lead type policy")
        for name in sorted(self.types.keys() | after.types.keys()):
            old, new = self.types.get(name), after.types.get(name)
            if old == new:
                continue
            if new is None:
                _admin(by, f"{action}: removing lead type {name!r}")
            else:
                self.define_type(new, by=by)  # its checks, or PermissionDenied
        for key in sorted(self.teams.keys() | after.teams.keys()):
            old_o, new_o = self.override(*key), after.override(*key)
            if old_o == new_o:
                continue
            lead_type, team = key
            what = f"{action}: the {lead_type!r} settings of team {team!r}"
            _team(by, team, what)
            times = ("accept_within", "first_activity_within")
            if any(getattr(old_o, f) != getattr(new_o, f) for f in times):
                t = after.types.get(lead_type) or self.lead_type(lead_type)
                _may_edit_times(by, t, team, what)

    def _with_override(self, lead_type: str, team: str, **changes: Any) -> LeadSettings:
        new = attrs.evolve(self.override(lead_type, team), **changes)
        return attrs.evolve(self, teams={**self.teams, (lead_type, team): new})


_NO_OVERRIDE: Final = TeamOverride()


def _admin(by: Actor, action: str) -> None:
    if not isinstance(by, Actor):
        raise ConfigError(f"{action}: by: expected an Actor, got {by!r}")
    by.require(ADMINISTER_LEADS, action)


def _may_edit_times(by: Actor, t: LeadType, team: str, action: str) -> None:
    """A team's escalation times: an administrator, or the team's admin where
    the lead type lets team admins edit (or it is their own team's type)."""
    if not by.can(ADMINISTER_LEADS) and not (t.team_admins_may_edit or t.team == team):
        raise PermissionDenied(
            f"{action}: lead type {t.name!r} does not let team admins edit its "
            "escalation times"
        )


def _team(by: Actor, team: str | None, action: str) -> None:
    if not isinstance(by, Actor):
        raise ConfigError(f"{action}: by: expected an Actor, got {by!r}")
    if by.can(ADMINISTER_LEADS):
        return
    if team is None or not by.can(team_admin(team)):
        raise PermissionDenied(
            f"{action}: actor {by.id!r} is neither an administrator nor the admin "
            f"of team {team!r}"
        )


# -- leads ---------------------------------------------------------------------------


def _aware_or_none(
    instance: object, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is not None:
        require_aware(value, attribute.name)


@attrs.frozen(kw_only=True)
class Lead:
    """A lead, as escalation sees it.

    Attributes:
        id: Its identifier.
        lead_type: The name of its lead type.
        received_at: When it came in.
        team: The team it was given to, or None (unassigned: it does not
            escalate).
        reached_team_at: When it reached that team (the accept timer's start).
        accepted_at: When the team accepted it.
        first_activity_at: When its first activity was registered.
        first_activity_kind: That activity's kind; only e-mail, call, meeting and
            letter count (:data:`COUNTING_ACTIVITIES`).
        version: The stored version (stores count it).
        settings_version: The digest of the settings version in force when the
            engine first stored the lead (it sets it); with changes applying to
            new leads only, the version that governs it.
    """

    id: str
    lead_type: str
    received_at: datetime
    team: str | None = None
    reached_team_at: datetime | None = attrs.field(
        default=None, validator=_aware_or_none
    )
    accepted_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)
    first_activity_at: datetime | None = attrs.field(
        default=None, validator=_aware_or_none
    )
    first_activity_kind: str | None = None
    version: int = 0
    settings_version: str | None = None

    def __attrs_post_init__(self) -> None:
        _name("id", self.id)
        _name("lead_type", self.lead_type)
        require_aware(self.received_at, "received_at")
        if self.team is not None:
            _name("team", self.team)
        if (self.team is None) != (self.reached_team_at is None):
            raise ConfigError(
                "reached_team_at: expected an instant exactly when the lead has a "
                f"team, got team={self.team!r}, "
                f"reached_team_at={self.reached_team_at!r}"
            )
        order: list[tuple[str, datetime | None]] = [
            ("received_at", self.received_at),
            ("reached_team_at", self.reached_team_at),
            ("accepted_at", self.accepted_at),
            ("first_activity_at", self.first_activity_at),
        ]
        last_name, last = "received_at", self.received_at
        for name, value in order[1:]:
            if value is None:
                continue
            if name == "accepted_at" and self.team is None:
                raise ConfigError("accepted_at: a lead with no team cannot be accepted")
            if name == "first_activity_at" and self.accepted_at is None:
                raise ConfigError(
                    "first_activity_at: expected an accepted lead (the first "
                    "activity counts from acceptance)"
                )
            if to_us(value, name) < to_us(last, last_name):
                raise ConfigError(
                    f"{name}: expected an instant at or after {last_name} "
                    f"({last.isoformat()}), got {value.isoformat()}"
                )
            last_name, last = name, value
        if self.first_activity_kind is not None:
            _name("first_activity_kind", self.first_activity_kind)
        if (self.first_activity_at is None) != (self.first_activity_kind is None):
            raise ConfigError(
                "first_activity_kind: expected a kind exactly when first_activity_at "
                f"is set, got {self.first_activity_kind!r}"
            )

    @property
    def has_first_activity(self) -> bool:
        """Whether its first activity is of a kind that counts."""
        return self.first_activity_kind in COUNTING_ACTIVITIES

    def assign(self, team: str, at: datetime) -> Lead:
        """The lead given to ``team`` at ``at`` (its accept timer starts again)."""
        return attrs.evolve(
            self,
            team=team,
            reached_team_at=at,
            accepted_at=None,
            first_activity_at=None,
            first_activity_kind=None,
        )

    def accept(self, at: datetime) -> Lead:
        """The lead accepted by its team at ``at``."""
        if self.accepted_at is not None:
            raise InvalidOperation(f"accept: lead {self.id!r} was accepted already")
        return attrs.evolve(self, accepted_at=at)

    def register_activity(self, kind: str, at: datetime) -> Lead:
        """The lead with an activity registered at ``at``: the first activity if
        it is the first of a counting kind; otherwise unchanged."""
        if self.accepted_at is None:
            raise InvalidOperation(
                f"register_activity: lead {self.id!r} is not accepted yet"
            )
        if self.has_first_activity or kind not in COUNTING_ACTIVITIES:
            require_aware(at, "at")
            return self
        return attrs.evolve(self, first_activity_at=at, first_activity_kind=kind)


# -- escalation ------------------------------------------------------------------


class LeadStep(enum.Enum):
    """The two steps of a phase's breach."""

    INTERNAL = "internal reminder"
    EXTERNAL = "external escalation"


@attrs.frozen(kw_only=True)
class LeadAction:
    """A lead escalation step that is due.

    Attributes:
        key: Its idempotency key: ``lead/<lead>/<phase>/<step>/<phase start µs>``.
        lead_id: The lead.
        phase: ``Phase.FIRST`` (not accepted) or ``Phase.SECOND`` (no first
            activity).
        step: Internal reminder or external escalation.
        due_at: When it became due (UTC).
        responsible: The users to remind (the team's, for the lead type).
        external: The agency, for an external escalation.
    """

    key: str
    lead_id: str
    phase: Phase
    step: LeadStep
    due_at: datetime
    responsible: tuple[str, ...]
    external: ExternalEscalation | None = None


def _timer(lead: Lead, s: ResolvedLeadSettings) -> TwoPhaseTimer:
    assert lead.reached_team_at is not None
    timer = TwoPhaseTimer.start(
        lead.reached_team_at,
        first_within=s.accept_within.value,
        second_within=s.first_activity_within.value,
        hours=s.hours.value,
    )
    if lead.accepted_at is not None:
        timer = timer.complete_first(lead.accepted_at)
        if lead.has_first_activity:
            assert lead.first_activity_at is not None
            timer = timer.complete_second(lead.first_activity_at)
    return timer


def lead_deadlines(
    lead: Lead, settings: LeadSettings
) -> tuple[datetime | None, datetime | None]:
    """The two phases' deadlines under the hours in force for the lead's team:
    ``hours.add(reached_team_at, accept_within)`` and ``hours.add(accepted_at,
    first_activity_within)`` (None for a phase not started: no team, or not
    accepted)."""
    if lead.team is None:
        return None, None
    timer = _timer(lead, settings.effective_settings(lead.lead_type, lead.team))
    first = timer.first.due_at
    second = None if timer.second is None else timer.second.due_at
    return first, second


def lead_steps(lead: Lead, settings: LeadSettings) -> tuple[LeadAction, ...]:
    """Every escalation step the lead's running phase will ask for, due or not,
    in order (by due instant, then phase, internal before external).

    Only a phase still running has steps: once a lead is accepted, the accept
    phase asks for nothing more (also if it was late), and once it has a
    counting first activity, nothing at all. A lead with no team, of an inactive
    type or of a type with escalations off has none.
    """
    if lead.team is None:
        return ()
    s = settings.effective_settings(lead.lead_type, lead.team)
    if not (s.active.value and s.escalations.value):
        return ()
    timer = _timer(lead, s)
    hours: BusinessHours = s.hours.value
    external: ExternalEscalation | None = s.external.value
    if timer.phase is Phase.FIRST:
        phase, start = Phase.FIRST, lead.reached_team_at
    elif timer.phase is Phase.SECOND:
        phase, start = Phase.SECOND, lead.accepted_at
    else:
        return ()
    assert start is not None
    deadline = timer.current.due_at
    if deadline is None:
        return ()  # beyond the calendar's horizon: hours that never open
    steps = [(LeadStep.INTERNAL, deadline)]
    if external is not None:
        steps.append((LeadStep.EXTERNAL, hours.add(deadline, external.after)))
    basis = basis_part(to_us(start, "start"))
    return tuple(
        LeadAction(
            key=action_key("lead", lead.id, phase.value, step.name.lower(), basis),
            lead_id=lead.id,
            phase=phase,
            step=step,
            due_at=utc_from_us(to_us(due, "due")),
            responsible=s.responsible.value,
            external=external if step is LeadStep.EXTERNAL else None,
        )
        for step, due in steps
    )


def due_lead_actions(
    lead: Lead, settings: LeadSettings, at: datetime
) -> tuple[LeadAction, ...]:
    """The steps of :func:`lead_steps` due at ``at``. Whether a step was carried
    out already is the caller's to know (its ``key``)."""
    x = to_us(at, "at")
    return tuple(
        a for a in lead_steps(lead, settings) if to_us(a.due_at, "due_at") <= x
    )


def _breached_phase(
    lead: Lead, settings: LeadSettings, at: datetime, phase: Phase
) -> bool:
    return any(
        a.phase is phase and a.step is LeadStep.INTERNAL
        for a in due_lead_actions(lead, settings, at)
    )


def _by_received(leads: Iterable[Lead]) -> list[Lead]:
    return sorted(leads, key=lambda d: (to_us(d.received_at, "received_at"), d.id))


def escalated_new_leads(
    leads: Iterable[Lead], settings: LeadSettings, at: datetime
) -> list[Lead]:
    """The *new leads* list's escalated leads: not accepted, and past the accept
    deadline at ``at``; by received instant, then id."""
    return _by_received(
        d
        for d in leads
        if d.accepted_at is None and _breached_phase(d, settings, at, Phase.FIRST)
    )


def missing_first_activity(
    leads: Iterable[Lead], settings: LeadSettings, at: datetime
) -> list[tuple[Lead, str]]:
    """The case list's leads escalated for a missing first activity, each with
    the note ``"missing first activity"``; by received instant, then id."""
    return [
        (d, MISSING_FIRST_ACTIVITY)
        for d in _by_received(
            d
            for d in leads
            if d.accepted_at is not None
            and not d.has_first_activity
            and _breached_phase(d, settings, at, Phase.SECOND)
        )
    ]


def unassigned_leads(leads: Iterable[Lead]) -> list[Lead]:
    """Leads with no team yet (they do not escalate); by received, then id."""
    return _by_received(d for d in leads if d.team is None)

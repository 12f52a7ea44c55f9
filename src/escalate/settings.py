"""Settings: the rule book, named calendars and lead settings, as one value with a
digest.

The engine evaluates cases under a :class:`Settings`; a store keeps the settings
it last computed deadlines under (as a canonical JSON document with its SHA-256
digest), so that a worker started with different settings knows to recompute the
open cases, and a tool can read back what is in force.

The settings also say what a change of them does to open cases
(:class:`ChangePolicy`): whether steps a change makes due at once fire or are
recorded as skipped, and whether a change applies to open cases or only to cases
created from then on (each case keeping the version it was created under).

The document is canonical: equal settings give the same text and digest, in any
process. A calendar's holidays are written as dates (a set of dates) or as the
country, subdivision, categories and observed rule of a ``holidays`` object
(dates added to such an object by hand are not kept; use ``special_days`` or a
set of dates for those).
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from typing import Any, Final, TypeVar

import attrs
import holidays as holidays_lib

from escalate._codec import dumps, loads
from escalate._enums import member
from escalate._frozen import FrozenMap
from escalate.errors import ConfigError, EscalateError, PermissionDenied
from escalate.hours import BusinessHours
from escalate.leads import ExternalEscalation, LeadSettings, LeadType, TeamOverride
from escalate.model import Actor, Permission
from escalate.recurrence import Recurrence
from escalate.rules import (
    Condition,
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    TimeBasis,
)
from escalate.sla import SlaPolicy, SlaSettings, Target

__all__ = ["ChangePolicy", "ChangesApplyTo", "OnChange", "Settings"]

_E = TypeVar("_E", bound=enum.Enum)

FORMAT: Final = 2
"""The version of the document layout (1 had the rule book's id counter and no
change policy)."""
_READABLE: Final = (1, FORMAT)


def _calendars(value: Mapping[str, BusinessHours]) -> FrozenMap[str, BusinessHours]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"calendars: expected a mapping of names to BusinessHours, got {value!r}"
        )
    for name, hours in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"calendars: expected non-empty names, got {name!r}")
        if not isinstance(hours, BusinessHours):
            raise ConfigError(
                f"calendars[{name!r}]: expected a BusinessHours, got {hours!r}"
            )
    return FrozenMap(sorted(value.items()))


def _leads(value: object) -> LeadSettings:
    if not isinstance(value, LeadSettings):
        raise ConfigError(f"leads: expected a LeadSettings, got {value!r}")
    return value


def _book(value: object) -> RuleBook:
    if not isinstance(value, RuleBook):
        raise ConfigError(f"book: expected a RuleBook, got {value!r}")
    return value


class OnChange(enum.Enum):
    """What happens to steps that a change of the settings makes due at once."""

    FIRE = "fire"
    """They fire on the next tick, as if they had just become due."""
    SKIP = "skip"
    """They are recorded as skipped (fired keys with a skipped marker, and a
    follow-up line saying so) and never fire: no mail storm."""


class ChangesApplyTo(enum.Enum):
    """Which cases (and leads) a change of the settings applies to."""

    OPEN_CASES = "open cases"
    """Every open case and lead follows the settings in force."""
    NEW_CASES = "new cases"
    """Each case and lead keeps the settings version it was created under (also
    after a reopening); those created from then on take the version in force."""


def _on_change(value: object) -> OnChange:
    return member(OnChange, "on_change", value)


def _apply_to(value: object) -> ChangesApplyTo:
    return member(ChangesApplyTo, "changes_apply_to", value)


@attrs.frozen(kw_only=True)
class ChangePolicy:
    """What a change of the settings does to open cases and leads.

    Attributes:
        on_change: Whether steps the change makes due at once fire (the default)
            or are recorded as skipped. An expiry (Pending → Expired) is a status
            change, not a mail, and always happens.
        apply_to: Whether a change applies to every open case and lead (the
            default) or only to those created from then on.
    """

    on_change: OnChange = attrs.field(default=OnChange.FIRE, converter=_on_change)
    apply_to: ChangesApplyTo = attrs.field(
        default=ChangesApplyTo.OPEN_CASES, converter=_apply_to
    )


def _policy(value: object) -> ChangePolicy:
    if not isinstance(value, ChangePolicy):
        raise ConfigError(f"changes: expected a ChangePolicy, got {value!r}")
    return value


def _sla(value: object) -> SlaSettings | None:
    if value is not None and not isinstance(value, SlaSettings):
        raise ConfigError(f"sla: expected SlaSettings or None, got {value!r}")
    return value


@attrs.frozen
class Settings:
    """A rule book with the calendars its items and expiry policy name.

    Attributes:
        book: The rule book.
        calendars: Calendar name to business hours (sorted by name).
        leads: The lead types and team overrides.
        changes: What a change of these settings does to open cases.
        sla: The SLA policies and pauses (``docs/sla.md``), or None; their
            targets count in these calendars. Part of the document and the
            digest only when given, so that settings without them keep their
            digest.
    """

    book: RuleBook = attrs.field(factory=RuleBook, converter=_book)
    calendars: FrozenMap[str, BusinessHours] = attrs.field(
        factory=FrozenMap, converter=_calendars
    )
    leads: LeadSettings = attrs.field(factory=LeadSettings, converter=_leads)
    changes: ChangePolicy = attrs.field(factory=ChangePolicy, converter=_policy)
    sla: SlaSettings | None = attrs.field(default=None, converter=_sla)

    def __attrs_post_init__(self) -> None:
        sla = self.sla
        if sla is not None and dict(sla.calendars) != dict(self.calendars):
            # the SLA targets count in these settings' calendars
            object.__setattr__(
                self,
                "sla",
                SlaSettings(
                    policies=sla.policies, pauses=sla.pauses, calendars=self.calendars
                ),
            )

    def document(self) -> str:
        """The canonical JSON document of these settings."""
        return self._document

    @functools.cached_property
    def _document(self) -> str:  # built once: digests are asked for often
        return dumps(
            {
                "format": FORMAT,
                "book": _dump_book(self.book),
                "calendars": {n: _dump_hours(n, h) for n, h in self.calendars.items()},
                "leads": _dump_leads(self.leads),
                "changes": {
                    "on_change": self.changes.on_change.value,
                    "apply_to": self.changes.apply_to.value,
                },
                **({} if self.sla is None else {"sla": _dump_sla(self.sla)}),
            }
        )

    @functools.cached_property
    def digest(self) -> str:
        """The SHA-256 of :meth:`document`, in hex."""
        return hashlib.sha256(self._document.encode()).hexdigest()

    def missing_calendars(self) -> tuple[str, ...]:
        """Calendars the book names that are not here, sorted."""
        return tuple(sorted(self.book.calendars_needed() - set(self.calendars)))

    @classmethod
    def from_document(cls, text: str) -> Settings:
        """The settings of a :meth:`document`.

        Raises:
            ConfigError: The text is not such a document, or no longer validates
                (the message says what is wrong and where).
        """
        try:
            data = loads(text)
            if not isinstance(data, dict) or data.get("format") not in _READABLE:
                got = data.get("format") if isinstance(data, dict) else data
                raise ConfigError(f"settings: format: expected {FORMAT}, got {got!r}")
            try:
                book = _load_book(data["book"])
            except EscalateError as e:
                raise ConfigError(
                    f"settings: the stored rule book is not valid: {e}"
                ) from e
            calendars = {n: _load_hours(n, h) for n, h in data["calendars"].items()}
            changes = data.get("changes", {})  # format 1 had none: the defaults
            return cls(
                book=book,
                calendars=calendars,
                leads=_load_leads(data["leads"]),
                changes=ChangePolicy(
                    on_change=changes.get("on_change", OnChange.FIRE),
                    apply_to=changes.get("apply_to", ChangesApplyTo.OPEN_CASES),
                ),
                sla=None if "sla" not in data else _load_sla(data["sla"], calendars),
            )
        except EscalateError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(
                f"settings: expected a settings document, got {text[:60]!r} ({e!r})"
            ) from e


# -- the rule book -------------------------------------------------------------------


def _dump_book(book: RuleBook) -> dict[str, Any]:
    expiry = book.expiry
    return {
        "scheduler_on": book.scheduler_on,
        "active": book.active,
        "version": book.version,
        "expiry": None
        if expiry is None
        else {
            "after": expiry.after,
            "pending": expiry.pending,
            "expired": expiry.expired,
            "hours": expiry.hours,
            "enabled": expiry.enabled,
        },
        "rules": [
            {"name": r.name, "items": [_dump_item(i) for i in r.items]}
            for r in book.rules
        ],
    }


def _dump_item(item: RuleItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "conditions": [[c.field, c.operator.value, c.value] for c in item.conditions],
        "logic": item.logic,
        "hours": item.hours,
        "basis": item.basis.value,
        "latest_only": item.latest_only,
        "actions": [
            {
                "id": a.id,
                "after": a.after,
                "escalate_to": a.escalate_to,
                "escalation_template": a.escalation_template,
                "new_owner": a.new_owner,
                "notify_template": a.notify_template,
                "extra_emails": list(a.extra_emails),
                "warnings": [str(f) for f in a.warnings],
            }
            for a in item.actions
        ],
    }


def _load_book(data: dict[str, Any]) -> RuleBook:
    expiry = data["expiry"]
    return RuleBook(
        scheduler_on=data["scheduler_on"],
        active=data["active"],
        version=data["version"],
        expiry=None if expiry is None else ExpiryPolicy(**expiry),
        rules=tuple(
            Rule(name=r["name"], items=tuple(_load_item(i) for i in r["items"]))
            for r in data["rules"]
        ),
    )


def _load_item(data: dict[str, Any]) -> RuleItem:
    return RuleItem(
        id=data["id"],
        name=data["name"],
        conditions=tuple(Condition(f, op, v) for f, op, v in data["conditions"]),
        logic=data["logic"],
        hours=data["hours"],
        basis=TimeBasis(data["basis"]),
        latest_only=data["latest_only"],
        actions=tuple(
            EscalationAction(
                **{**a, "warnings": tuple(Fraction(f) for f in a["warnings"])}
            )
            for a in data["actions"]
        ),
    )


# -- SLA policies ------------------------------------------------------------------


def _dump_sla(sla: SlaSettings) -> dict[str, Any]:
    return {
        "pauses": {
            s: sorted(m.value for m in ms) for s, ms in sorted(sla.pauses.items())
        },
        "policies": [
            {
                "id": p.id,
                "name": p.name,
                "conditions": [
                    [c.field, c.operator.value, c.value] for c in p.conditions
                ],
                "logic": p.logic,
                "start_field": p.start_field,
                "targets": [
                    {
                        "metric": t.metric.value,
                        "priority": t.priority,
                        "within": t.within,
                        "hours": t.hours,
                        "warnings": list(t.warnings),
                    }
                    for t in p.targets
                ],
            }
            for p in sla.policies
        ],
    }


def _load_sla(
    data: dict[str, Any], calendars: Mapping[str, BusinessHours]
) -> SlaSettings:
    return SlaSettings(
        policies=[
            SlaPolicy(
                id=p["id"],
                name=p["name"],
                conditions=tuple(Condition(f, op, v) for f, op, v in p["conditions"]),
                logic=p["logic"],
                start_field=p["start_field"],
                targets=[Target(**t) for t in p["targets"]],
            )
            for p in data["policies"]
        ],
        pauses=data["pauses"],
        calendars=calendars,
    )


# -- calendars --------------------------------------------------------------------


def calendar_key(hours: BusinessHours) -> str:
    """The canonical text of a calendar, as the settings document writes it: two
    calendars with one key open and close alike (a ``holidays`` object counts by
    its country, subdivision, categories and observed rule, as in the digest)."""
    return dumps(_dump_hours("calendar", hours))


def _dump_hours(name: str, hours: BusinessHours) -> dict[str, Any]:
    return {
        "tz": hours.tz.key,
        "weekly": [list(map(list, day)) for day in hours.weekly],
        "special_days": [[d, list(map(list, s))] for d, s in hours.special_days],
        "recurring": [
            [r.rule, r.start, list(map(list, r.hours)), r.name] for r in hours.recurring
        ],
        "holidays": _dump_holidays(name, hours.holidays),
    }


def _dump_holidays(name: str, source: object) -> dict[str, Any]:
    if isinstance(source, frozenset):
        return {"dates": sorted(source)}
    if isinstance(source, holidays_lib.HolidayBase):
        market = getattr(source, "market", None)
        if market:
            return {"market": market}
        return {
            "country": source.country,
            "subdiv": source.subdiv,
            "observed": source.observed,
            "categories": sorted(source.categories),
        }
    raise ConfigError(
        f"calendars[{name!r}]: holidays: a {type(source).__name__} cannot be "
        "stored; expected a set of dates or a holidays.HolidayBase"
    )


def _load_hours(name: str, data: dict[str, Any]) -> BusinessHours:
    held = data["holidays"]
    source: Any
    if "dates" in held:
        source = set(held["dates"])
    elif "market" in held:
        source = holidays_lib.financial_holidays(held["market"])
    else:
        source = holidays_lib.country_holidays(
            held["country"],
            subdiv=held["subdiv"],
            observed=held["observed"],
            categories=tuple(held["categories"]),
        )
    special: dict[date, Any] = {
        d: [tuple(s) for s in day] for d, day in data["special_days"]
    }
    try:
        return BusinessHours(
            weekly=tuple([tuple(s) for s in day] for day in data["weekly"]),
            tz=data["tz"],
            holidays=source,
            special_days=special,
            recurring=tuple(
                Recurrence(
                    rule=rule, start=start, hours=tuple(map(tuple, shifts)), name=label
                )
                for rule, start, shifts, label in data.get("recurring", ())
            ),
        )
    except EscalateError as e:
        raise ConfigError(f"calendars[{name!r}]: {e}") from e


# -- lead settings -------------------------------------------------------------------


def _dump_leads(leads: LeadSettings) -> dict[str, Any]:
    return {
        "team_types_allowed": leads.team_types_allowed,
        "types": [
            {
                **{
                    f.name: getattr(t, f.name)
                    for f in attrs.fields(LeadType)
                    if f.name not in ("hours", "external")
                },
                "hours": _dump_hours(t.name, t.hours),
                "external": None
                if t.external is None
                else attrs.asdict(t.external, recurse=False),
            }
            for t in leads.types.values()
        ],
        "teams": [
            [
                lead_type,
                team,
                {
                    "hours": None
                    if o.hours is None
                    else _dump_hours(f"{lead_type}/{team}", o.hours),
                    "days": [
                        [day, [list(shift) for shift in shifts]]
                        for day, shifts in o.days.items()
                    ],
                    "accept_within": o.accept_within,
                    "first_activity_within": o.first_activity_within,
                    "responsible": list(o.responsible),
                },
            ]
            for (lead_type, team), o in leads.teams.items()
        ],
    }


def _load_leads(data: dict[str, Any]) -> LeadSettings:
    types = {}
    for t in data["types"]:
        external = t["external"]
        types[t["name"]] = LeadType(
            **{
                **t,
                "hours": _load_hours(t["name"], t["hours"]),
                "external": None
                if external is None
                else ExternalEscalation(**external),
            }
        )
    teams = {}
    for lead_type, team, o in data["teams"]:
        hours = o["hours"]
        teams[(lead_type, team)] = TeamOverride(
            **{
                **o,
                "hours": None
                if hours is None
                else _load_hours(f"{lead_type}/{team}", hours),
                # documents written before per-day team hours have no "days"
                "days": {
                    day: tuple(map(tuple, shifts)) for day, shifts in o.get("days", ())
                },
            }
        )
    return LeadSettings(
        types=types, teams=teams, team_types_allowed=data["team_types_allowed"]
    )


def check_change(
    before: Settings | None, after: Settings, by: Actor | None, action: str
) -> None:
    """Refuse putting ``after`` in force over ``before`` unless ``by`` may: the
    one check every path that changes a store's settings goes through
    (``Escalator.use_settings``, ``apply``, and so ``tick``).

    * A store with no settings yet takes its first ones from the operator's
      code, without an actor.
    * The rule book, calendars, change policy and SLA policies: the permission
      ``configure case escalation``.
    * Lead types and team overrides: as :meth:`LeadSettings.check_change`
      (administrators, and team admins for their own team).

    Raises:
        PermissionDenied: ``by`` is None, or lacks what the change needs;
            the message names the part that changed.
    """
    if before is None or before.digest == after.digest:
        return
    case_part = _case_part(before) != _case_part(after)
    leads_part = before.leads != after.leads
    if by is None:
        parts = " and ".join(
            p for p, changed in (("rules", case_part), ("leads", leads_part)) if changed
        )
        raise PermissionDenied(
            f"{action}: the store holds other settings; changing its "
            f"{parts or 'settings'} takes an actor (Escalator(by=...), "
            "use_settings(..., by=...) or apply(by=...)) with the permission "
            f"{str(Permission.CONFIGURE_CASE_ESCALATION)!r}"
        )
    if not isinstance(by, Actor):
        raise PermissionDenied(f"{action}: by: expected an Actor, got {by!r}")
    if case_part:
        by.require(Permission.CONFIGURE_CASE_ESCALATION, action)
    if leads_part:
        before.leads.check_change(after.leads, by=by, action=action)


def _case_part(settings: Settings) -> str:
    """The digest of the settings but their lead part."""
    return attrs.evolve(settings, leads=LeadSettings()).digest

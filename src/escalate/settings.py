"""Settings: the rule book, named calendars and lead settings, as one value with a
digest.

The engine evaluates cases under a :class:`Settings`; a store keeps the settings
it last computed deadlines under (as a canonical JSON document with its SHA-256
digest), so that a worker started with different settings knows to recompute the
open cases, and a tool can read back what is in force.

The document is canonical: equal settings give the same text and digest, in any
process. A calendar's holidays are written as dates (a set of dates) or as the
country, subdivision, categories and observed rule of a ``holidays`` object
(dates added to such an object by hand are not kept; use ``special_days`` or a
set of dates for those).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from fractions import Fraction
from typing import Any, Final

import attrs
import holidays as holidays_lib

from escalate._codec import dumps, loads
from escalate._frozen import FrozenMap
from escalate.errors import ConfigError, EscalateError
from escalate.hours import BusinessHours
from escalate.leads import ExternalEscalation, LeadSettings, LeadType, TeamOverride
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

__all__ = ["Settings"]

FORMAT: Final = 2
"""The version of the document layout (1 had the rule book's id counter)."""
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


@attrs.frozen
class Settings:
    """A rule book with the calendars its items and expiry policy name.

    Attributes:
        book: The rule book.
        calendars: Calendar name to business hours (sorted by name).
        leads: The lead types and team overrides.
    """

    book: RuleBook = attrs.field(factory=RuleBook, converter=_book)
    calendars: FrozenMap[str, BusinessHours] = attrs.field(
        factory=FrozenMap, converter=_calendars
    )
    leads: LeadSettings = attrs.field(factory=LeadSettings, converter=_leads)

    def document(self) -> str:
        """The canonical JSON document of these settings."""
        return dumps(
            {
                "format": FORMAT,
                "book": _dump_book(self.book),
                "calendars": {n: _dump_hours(n, h) for n, h in self.calendars.items()},
                "leads": _dump_leads(self.leads),
            }
        )

    @property
    def digest(self) -> str:
        """The SHA-256 of :meth:`document`, in hex."""
        return hashlib.sha256(self.document().encode()).hexdigest()

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
            return cls(book=book, calendars=calendars, leads=_load_leads(data["leads"]))
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
            }
        )
    return LeadSettings(
        types=types, teams=teams, team_types_allowed=data["team_types_allowed"]
    )

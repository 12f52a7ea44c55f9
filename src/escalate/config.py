"""The configuration file: one TOML file describes a helpdesk's escalation.

:func:`load_config` reads it (with stdlib ``tomllib``) into a :class:`Config` of
core values: the :class:`~escalate.settings.Settings` (rule book, calendars, lead
types), the templates, the mail settings and the assignment settings.
``docs/config.md`` is the reference of every key. Every error is a
``ConfigError`` whose message starts with the TOML path of the bad value (array
indices from 0, as in the file), names the value and says what was expected::

    rules.gold.items[2].actions[0].after: expected a duration like "4h", ...

This module reads files (the configuration, a template folder, an iCalendar
file), so it sits beside the CLI, outside the pure core.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import holidays as holidays_lib

from escalate._config_sla import parse_sla
from escalate._frozen import FrozenMap
from escalate._instants import zone_named
from escalate._text import MAX_ID, check_text
from escalate._toml import (
    Table,
    check_depth,
    check_nesting,
    check_offsets,
    describe,
    fail,
    key_path,
    wrapped,
)
from escalate.errors import ConfigError, WrongTypeError
from escalate.fields import FieldSpec, FieldType, check_condition_value
from escalate.hours import BusinessHours
from escalate.ical import read_ical
from escalate.leads import ExternalEscalation, LeadSettings, LeadType, TeamOverride
from escalate.mail import check_address
from escalate.matching import Agent, Qualification, QualificationCatalog, Relaxation
from escalate.matching import Routing as _Routing
from escalate.model import CASE_ATTRIBUTES, Status
from escalate.operator import (
    OperatorSettings,
    SmtpSettings,
    inside,
    operator_part,
    read_text,
    read_toml,
)
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
from escalate.settings import ChangePolicy, ChangesApplyTo, OnChange, Settings
from escalate.sla import SlaSettings
from escalate.templates import Templates

if TYPE_CHECKING:
    from escalate.check import ConfigProblem

__all__ = [
    "Config",
    "MailSettings",
    "SmtpSettings",
    "example_config",
    "load_config",
    "load_tenant_config",
]

MAX_TENANT_CHARS: Final = 2_000_000
"""A tenant's settings as text are at most this long (the example is 8,000
characters; twenty templates at their own limit fit)."""

_BASES: Final = {b.value: b for b in TimeBasis}
_ON_CHANGE: Final = {o.value for o in OnChange}
_APPLY_TO: Final = {a.value for a in ChangesApplyTo}


def _texts(value: Mapping[str, str]) -> FrozenMap[str, str]:
    return FrozenMap(value)


@attrs.frozen(kw_only=True)
class MailSettings:
    """Who mails come from and go to (the tenant's part of ``[mail]``; where
    they are sent is the operator's: :class:`~escalate.operator.OperatorSettings`).

    Attributes:
        sender: The From address.
        addresses: User id to e-mail address.
        warning_template: The template of warnings before a step.
        task_template: The template of a task's overdue reminder.
        lead_templates: The templates of a lead's internal reminder and of its
            external escalation.
        zone: The time zone mails show instants in where no calendar gives one
            (``Config.zone``).
    """

    sender: str = "escalate@example.com"
    addresses: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_texts)
    warning_template: str = "warning"
    task_template: str = "task overdue"
    lead_templates: tuple[str, str] = ("lead reminder", "lead external")
    zone: str | None = None


@attrs.frozen(kw_only=True)
class Config:
    """What a configuration file describes, as core values.

    Attributes:
        settings: The rule book, calendars and lead types (their digest is what a
            store compares to know when to recompute).
        templates: Template name to source (compiled and checked when loaded).
        mail: Where mail goes.
        operator: The operator's part (SMTP, folders): from a single-company
            file, its ``[mail.smtp]``, ``[mail] folder`` and ``[templates]
            folder``; empty for tenant settings, until the operator's are added.
        routing: The assignment settings (``[assignment]``), or None.
        agents: The agents and their qualification levels, by id.
        fields: The declared custom case fields (``[fields]``), or None when
            the file declares none (then conditions are not checked against
            them, and ``problems()`` warns).
        path: The file it was read from.
    """

    settings: Settings
    templates: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_texts)
    mail: MailSettings = attrs.field(factory=MailSettings)
    operator: OperatorSettings = attrs.field(factory=OperatorSettings)
    routing: _Routing | None = None
    agents: tuple[Agent, ...] = ()
    fields: FrozenMap[str, FieldSpec] | None = None
    path: Path | None = attrs.field(default=None, eq=False)

    @property
    def zone(self) -> str:
        """The zone mails show instants in where no calendar gives one:
        ``[mail] zone``, else the first calendar's, else UTC."""
        if self.mail.zone is not None:
            return self.mail.zone
        for hours in self.settings.calendars.values():
            return str(hours.tz)
        return "UTC"

    @property
    def sla(self) -> SlaSettings | None:
        """The SLA policies (``[sla]``, see ``docs/sla.md``), or None: part of
        the settings (``settings.sla``), so a change of them is a change of the
        settings."""
        return self.settings.sla

    @property
    def digest(self) -> str:
        """The settings' SHA-256 (what ``tick`` compares with the stored one)."""
        return self.settings.digest

    def problems(self, *, at: datetime | None = None) -> list[ConfigProblem]:
        """What would fail or most likely is a mistake, errors first, each with
        its TOML path (see :mod:`escalate.check`)."""
        from escalate.check import config_problems

        return config_problems(self, at=at)

    def compiled_templates(self) -> Templates:
        """The templates, compiled."""
        return Templates(self.templates)


def example_config() -> Path:
    """The path of the bundled example configuration (a Dutch helpdesk)."""
    return Path(str(resources.files("escalate") / "examples" / "helpdesk.toml"))


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a single-company configuration file: the tenant's settings and the
    operator's (``[mail.smtp]``, ``[mail] folder``, ``[templates] folder``,
    ``holidays.ical`` files) in one, written by the operator.

    Relative paths in it are relative to the file's folder; a template folder
    and an iCalendar file must stay inside it. For settings a tenant writes, use
    :func:`load_tenant_config`.

    Raises:
        ConfigError: The file cannot be read, is not TOML, or a value is not
            valid; the message starts with the value's TOML path.
    """
    file = Path(path)
    return parse_config(read_toml(file, "configuration"), base=file.parent, path=file)


def load_tenant_config(
    source: str | Mapping[str, Any],
    *,
    templates: Mapping[str, str] | None = None,
    operator: OperatorSettings | None = None,
) -> Config:
    """A tenant's settings, from TOML text or a mapping (say, a JSON API's):
    rules, calendars, holidays (``ical_text`` inline), SLA, templates (inline),
    users and addresses, fields, leads, routing.

    They name no file, no folder, no host and no environment variable: the keys
    that do (:data:`~escalate.operator.OPERATOR_KEYS`) are refused, each with a
    clear error. The operator's part comes from ``operator`` (or stays empty);
    its templates, and ``templates``, are the base the tenant's inline
    templates build on (an inline template of the same name wins).

    Raises:
        ConfigError: The text is too large, nested too deeply or not TOML, it
            holds an operator's key, or a value is not valid (named by its path).
    """
    if isinstance(source, str):
        if len(source) > MAX_TENANT_CHARS:
            raise ConfigError(
                f"tenant settings: expected at most {MAX_TENANT_CHARS:,} characters, "
                f"got {len(source):,}"
            )
        check_nesting(source, "tenant settings")
        try:
            data: Mapping[str, Any] = tomllib.loads(source)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"tenant settings: not valid TOML: {e}") from None
    elif isinstance(source, Mapping):
        data = source
    else:
        raise WrongTypeError(
            f"source: expected TOML text or a mapping, got {type(source).__name__}"
        )
    if operator is not None and not isinstance(operator, OperatorSettings):
        raise WrongTypeError(f"operator: expected OperatorSettings, got {operator!r}")
    if templates is not None and not (
        isinstance(templates, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in templates.items())
    ):
        raise WrongTypeError(
            f"templates: expected a mapping of template names to texts, got "
            f"{type(templates).__name__}"
        )
    operator = operator or OperatorSettings()
    base = {**operator.templates, **(templates or {})}
    return parse_config(data, base=None, operator=operator, base_templates=base)


def _refuse_operator_keys(root: Table) -> None:
    """Tenant settings hold none of the operator's keys."""

    def refuse(path: str, names: str) -> ConfigError:
        return ConfigError(
            f"{path}: an operator setting (it names {names}); tenant settings may "
            "not hold it. The operator sets it in the operator's file "
            "(escalate --operator FILE, load_operator_settings)"
        )

    mail = root.data.get("mail")
    if isinstance(mail, dict):
        if "smtp" in mail:
            raise refuse("mail.smtp", "a host, a login and an environment variable")
        if "folder" in mail:
            raise refuse("mail.folder", "a folder")
        if "delivery" in mail:
            raise refuse("mail.delivery", "how the operator's workers send mail")
    templates = root.data.get("templates")
    if isinstance(templates, dict) and "folder" in templates:
        raise refuse(
            "templates.folder", "a folder; give templates inline, [templates.inline]"
        )
    calendars = root.data.get("calendars")
    for name, cal in calendars.items() if isinstance(calendars, dict) else ():
        holidays = cal.get("holidays") if isinstance(cal, dict) else None
        if isinstance(holidays, dict) and "ical" in holidays:
            where = key_path(key_path(key_path("calendars", name), "holidays"), "ical")
            raise refuse(where, "a file; give the calendar's text as ical_text")


def parse_config(
    data: Mapping[str, Any],
    *,
    base: Path | None,
    path: Path | None = None,
    operator: OperatorSettings | None = None,
    base_templates: Mapping[str, str] | None = None,
) -> Config:
    """A :class:`Config` from parsed TOML (see :func:`load_config`).

    With ``base`` (a single-company file's folder), the operator's keys are
    read from ``data`` too; without it (tenant settings), they are refused and
    ``operator`` is the operator's part.
    """
    check_depth(data, "configuration")
    check_offsets(dict(data), "")
    root = Table(dict(data), "")
    root.integer("format", 1)
    if root.data.get("format", 1) != 1:
        raise fail("format", "1 (the only format so far)", root.data["format"])
    mail_t, templates_t = root.table("mail"), root.table("templates")
    if base is None:
        _refuse_operator_keys(root)
        operator = operator or OperatorSettings()
    else:
        operator = operator_part(mail_t, templates_t, base, path)
    calendars = _calendars(root.table("calendars"), base)
    book, changes = _book(root.table("escalation"), root.table("rules"))
    leads = _leads(root.table("leads"), calendars)
    if base is not None:  # a single-company file: its folder's templates
        base_templates = operator.templates
    templates = {**(base_templates or {}), **_templates(templates_t)}
    mail = _mail(mail_t)
    routing, agents = _assignment(root.table("assignment"))
    fields = _fields(root.table("fields")) if root.has("fields") else None
    sla = (
        parse_sla(root.table("sla"), calendars, _conditions)
        if root.has("sla")
        else None
    )
    root.done()
    if fields is not None:
        _check_conditions(book, fields)
    settings = Settings(
        book=book, calendars=calendars, leads=leads, changes=changes, sla=sla
    )
    missing = settings.missing_calendars()
    if missing:
        raise ConfigError(
            f"rules: the calendars {list(missing)} are named but not defined; "
            f"expected them under [calendars] (defined: {sorted(calendars)})"
        )
    wrapped("templates", lambda: Templates(templates))
    return Config(
        settings=settings,
        templates=templates,
        mail=mail,
        operator=operator,
        routing=routing,
        agents=agents,
        fields=fields,
        path=path,
    )


# -- calendars ------------------------------------------------------------------------


MAX_CALENDARS: Final = 1_000
"""The most calendars one configuration may define (each costs a few tenths of a
millisecond to build, a country's holidays more)."""


def _calendars(table: Table, base: Path | None) -> dict[str, BusinessHours]:
    if len(table.data) > MAX_CALENDARS:
        raise ConfigError(
            f"{table.path}: expected at most {MAX_CALENDARS:,} calendars, got "
            f"{len(table.data):,}"
        )
    return {name: _calendar(t, base) for name, t in table.named()}


def _calendar(t: Table, base: Path | None) -> BusinessHours:
    tz = t.text("tz")
    weekly = t.mapping("weekly")
    special: dict[date, Any] = {}
    for key, value in t.mapping("special_days").items():
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise fail(
                key_path(t.at("special_days"), key), "a date key like 2026-12-24", key
            ) from None
        special[day] = value
    recurring = [_recurrence(r) for r in t.tables("recurring")]
    source, closures = _holidays(t.table("holidays"), base)
    t.done()
    hours = wrapped(t.path, lambda: BusinessHours.from_spec(weekly, tz=tz))
    return wrapped(
        t.path,
        lambda: BusinessHours(
            weekly=hours.weekly,
            tz=hours.tz,
            holidays=source,
            special_days=special,
            recurring=(*recurring, *closures),
        ),
    )


def _recurrence(t: Table) -> Recurrence:
    kwargs = {
        "rule": t.text("rule"),
        "hours": t.raw("hours", "closed"),
        "start": t.day("start", None),
        "name": t.text("name", ""),
    }
    t.done()
    return wrapped(t.path, Recurrence, **kwargs)


def _holidays(t: Table, base: Path | None) -> tuple[Any, list[Recurrence]]:
    country = t.text("country", None)
    subdiv = t.text("subdiv", None)
    categories = t.texts("categories")
    observed = t.flag("observed", True)
    listed = t.raw("dates", [])
    if not isinstance(listed, list):
        raise fail(t.at("dates"), "an array of dates", listed)
    dates = [_date_item(v, f"{t.at('dates')}[{i}]") for i, v in enumerate(listed)]
    ical = t.text("ical", None)
    ical_text = t.text("ical_text", None)
    t.done()
    closures: list[Recurrence] = []
    if ical is not None and base is not None:  # tenant settings refused it
        file = inside(base, ical, t.at("ical"), "an iCalendar file")
        text = read_text(file, "iCalendar")
        closures += wrapped(t.at("ical"), lambda: read_ical(text, where=str(file)))
    if ical_text is not None:
        closures += wrapped(
            t.at("ical_text"),
            lambda: read_ical(ical_text, where=t.at("ical_text")),
        )
    if country is None:
        if subdiv is not None or categories:
            raise ConfigError(f"{t.at('country')}: expected a country with subdiv")
        return frozenset(dates), closures
    try:
        source = holidays_lib.country_holidays(
            country,
            subdiv=subdiv,
            observed=observed,
            categories=categories or ("public",),
        )
    except (NotImplementedError, ValueError, KeyError) as e:
        raise ConfigError(
            f"{t.at('country')}: expected a country (and subdivision, categories) "
            f"the holidays package knows, like 'NL'; got {country!r}: {e}"
        ) from e
    closures += [
        Recurrence(rule="FREQ=DAILY;COUNT=1", start=d, name="holiday") for d in dates
    ]
    return source, closures


def _date_item(value: object, path: str) -> date:
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise fail(path, "a date like 2026-12-31", value)
    return value


# -- the rule book --------------------------------------------------------------------


def _book(escalation: Table, rules: Table) -> tuple[RuleBook, ChangePolicy]:
    scheduler_on = escalation.flag("scheduler", True)
    active = escalation.text("active", None)
    on_change = escalation.text("on_change", "fire")
    if on_change not in _ON_CHANGE:
        raise fail(escalation.at("on_change"), '"fire" or "skip"', on_change)
    apply_to = escalation.text("changes_apply_to", "open cases")
    if apply_to not in _APPLY_TO:
        raise fail(
            escalation.at("changes_apply_to"), '"open cases" or "new cases"', apply_to
        )
    expiry = None
    if escalation.has("expiry"):
        t = escalation.table("expiry")
        kwargs = {
            "after": t.duration("after"),
            "pending": Status.named(t.text("pending", "Pending")),
            "expired": Status.named(t.text("expired", "Expired"), closed=True),
            "hours": t.text("hours", None),
            "enabled": t.flag("enabled", True),
        }
        t.done()
        expiry = wrapped(t.path, ExpiryPolicy, **kwargs)
    escalation.done()
    built = [_rule(name, t) for name, t in rules.named()]
    if active is None and len(built) == 1:
        active = built[0].name
    book = wrapped(
        "escalation",
        lambda: RuleBook.build(
            built, scheduler_on=scheduler_on, active=active, expiry=expiry
        ),
    )
    return book, ChangePolicy(on_change=on_change, apply_to=apply_to)


def _rule(name: str, t: Table) -> Rule:
    items = [_item(i, f"{name}-{n}") for n, i in enumerate(t.tables("items"), 1)]
    t.done()
    return wrapped(t.path, lambda: Rule(name=name, items=items))


def _id(t: Table, what: str, suggestion: str) -> str:
    """The table's ``id``; a missing one is refused with the id that earlier
    versions gave by position (keeping it keeps what has fired)."""
    value: str | None = t.text("id", None)  # an empty text is refused there
    if value is None:
        raise ConfigError(
            f"{t.at('id')}: every {what} needs an explicit, stable id (what has "
            "fired is recorded under it, so that inserting, reordering or editing "
            f"never fires a step twice), got none; add id = {describe(suggestion)} "
            "(the id earlier versions gave it by its position: keeping it keeps the "
            "record of what has fired)"
        )
    return value


def _conditions(t: Table) -> tuple[Condition, ...]:
    """The ``conditions`` array of a rule item or an SLA policy."""
    listed = t.raw("conditions", [])
    if not isinstance(listed, list):
        raise fail(t.at("conditions"), "an array of conditions", listed)
    conditions = []
    for i, c in enumerate(listed):
        where = f"{t.at('conditions')}[{i}]"
        if not isinstance(c, list) or len(c) not in (2, 3) or not isinstance(c[0], str):
            raise fail(where, '[field, operator, value] like ["priority", "=", 1]', c)
        conditions.append(wrapped(where, Condition, *c))
    return tuple(conditions)


def _item(t: Table, suggestion: str) -> RuleItem:
    conditions = _conditions(t)
    basis = t.text("basis", "created")
    if basis not in _BASES:
        raise fail(t.at("basis"), f"one of {', '.join(map(repr, _BASES))}", basis)
    kwargs = {
        "conditions": conditions,
        "logic": t.text("logic", None),
        "hours": t.text("hours", None),
        "basis": _BASES[basis],
        "latest_only": t.flag("latest_only", False),
        "name": t.text("name", ""),
        "id": _id(t, "rule item", suggestion),
        "actions": tuple(
            _action(a, f"step-{n}") for n, a in enumerate(t.tables("actions"), 1)
        ),
    }
    t.done()
    return wrapped(t.path, RuleItem, **kwargs)


def _action(t: Table, suggestion: str) -> EscalationAction:
    warnings = t.raw("warnings", [])
    if not isinstance(warnings, list) or not all(
        isinstance(w, int) and not isinstance(w, bool) and 0 < w < 100 for w in warnings
    ):
        raise fail(t.at("warnings"), "an array of percentages like [50, 75]", warnings)
    kwargs = {
        "after": t.duration("after"),
        "escalate_to": t.text("escalate_to"),
        "escalation_template": t.text("escalation_template", None),
        "new_owner": t.text("new_owner", None),
        "notify_template": t.text("notify_template", None),
        "extra_emails": tuple(
            check_address(e, f"{t.at('extra_emails')}[{i}]")
            for i, e in enumerate(t.texts("extra_emails"))
        ),
        "warnings": tuple(warnings),
        "id": _id(t, "escalation action", suggestion),
    }
    t.done()
    return wrapped(t.path, EscalationAction, **kwargs)


# -- leads ----------------------------------------------------------------------------


def _calendar_named(t: Table, key: str, calendars: Mapping[str, BusinessHours]) -> Any:
    name = t.text(key, None)
    if name is None:
        return None
    if name not in calendars:
        raise fail(t.at(key), f"a calendar name, one of {sorted(calendars)}", name)
    return calendars[name]


def _leads(t: Table, calendars: Mapping[str, BusinessHours]) -> LeadSettings:
    allowed = t.flag("team_types_allowed", False)
    types: dict[str, LeadType] = {}
    for name, lt in t.table("types").named():
        hours = _calendar_named(lt, "hours", calendars)
        if hours is None:
            raise fail(lt.at("hours"), f"a calendar, one of {sorted(calendars)}", None)
        external = None
        if lt.has("external"):
            e = lt.table("external")
            ext_kwargs = {
                "agency": e.text("agency"),
                "email": e.text("email"),
                "phone": e.text("phone", None),
                "after": e.duration("after", None),
            }
            if ext_kwargs["after"] is None:
                del ext_kwargs["after"]
            e.done()
            external = wrapped(e.path, ExternalEscalation, **ext_kwargs)
        kwargs = {
            "name": name,
            "accept_within": lt.duration("accept_within"),
            "first_activity_within": lt.duration("first_activity_within"),
            "hours": hours,
            "active": lt.flag("active", True),
            "escalations": lt.flag("escalations", True),
            "external": external,
            "team_admins_may_edit": lt.flag("team_admins_may_edit", False),
            "team": lt.text("team", None),
        }
        lt.done()
        types[name] = wrapped(lt.path, LeadType, **kwargs)
    teams: dict[tuple[str, str], TeamOverride] = {}
    for type_name, per_team in t.table("teams").named():
        if type_name not in types:
            raise fail(per_team.path, f"a lead type, one of {sorted(types)}", type_name)
        for team, o in per_team.named():
            kwargs = {
                "hours": _calendar_named(o, "hours", calendars),
                "days": o.mapping("days"),
                "accept_within": o.duration("accept_within", None),
                "first_activity_within": o.duration("first_activity_within", None),
                "responsible": o.texts("responsible"),
            }
            o.done()
            teams[(type_name, team)] = wrapped(o.path, TeamOverride, **kwargs)
        per_team.done()
    t.done()
    return wrapped(
        "leads",
        lambda: LeadSettings(types=types, teams=teams, team_types_allowed=allowed),
    )


# -- templates and mail ---------------------------------------------------------------


def _templates(t: Table) -> dict[str, str]:
    """The inline templates (the folder is the operator's key)."""
    sources: dict[str, str] = {}
    inline = t.table("inline")
    for name in inline.data:
        check_text(inline.at(name), name, max_length=MAX_ID)
        sources[name] = inline.text(name)
    inline.done()
    t.done()
    return sources


def _mail(t: Table) -> MailSettings:
    addresses = t.table("addresses")
    for user in addresses.data:
        check_text(addresses.at(user), user, max_length=MAX_ID)
        check_address(addresses.text(user), addresses.at(user))
    addresses.done()
    settings = MailSettings(
        sender=check_address(t.text("sender", "escalate@example.com"), t.at("sender")),
        addresses=addresses.data,
        warning_template=t.text("warning_template", "warning"),
        task_template=t.text("task_template", "task overdue"),
        lead_templates=(
            t.text("lead_reminder_template", "lead reminder"),
            t.text("lead_external_template", "lead external"),
        ),
        zone=_zone_key(t, "zone"),
    )
    t.done()
    return settings


# -- custom fields --------------------------------------------------------------------


def _fields(t: Table) -> FrozenMap[str, FieldSpec]:
    specs = {}
    types = ", ".join(repr(f.value) for f in FieldType)
    for name in list(t.data):
        if name in CASE_ATTRIBUTES:
            raise fail(t.at(name), "a custom field (not a case attribute)", name)
        raw = t.raw(name)
        if not isinstance(raw, (str, dict)):
            raise fail(
                t.at(name), f'a type ({types}) or {{ type = "choice", ...}}', raw
            )
        spec = Table(raw, t.at(name)) if isinstance(raw, dict) else None
        kind = spec.text("type") if spec is not None else raw
        if kind not in {f.value for f in FieldType}:
            where = t.at(name) if spec is None else spec.at("type")
            raise fail(where, f"one of {types}", kind)
        values = spec.texts("values") if spec is not None else ()
        if spec is not None:
            spec.done()
        specs[name] = wrapped(
            t.at(name), FieldSpec, name=name, type=FieldType(kind), values=values
        )
    t.done()
    return FrozenMap(specs)


def _check_conditions(book: RuleBook, fields: Mapping[str, FieldSpec]) -> None:
    for rule in book.rules:
        for i, item in enumerate(rule.items):
            for j, c in enumerate(item.conditions):
                path = f"rules.{rule.name}.items[{i}].conditions[{j}]"
                check_condition_value(path, c.field, c.value, fields)


def _zone_key(t: Table, key: str) -> str | None:
    zone: str | None = t.text(key, None)
    if zone is not None:
        zone_named(zone, t.at(key))
    return zone


# -- assignment -----------------------------------------------------------------------


def _levels(t: Table, key: str) -> dict[str, int]:
    levels = t.table(key)
    out = {name: levels.integer(name) for name in levels.data}
    levels.done()
    return out


def _assignment(t: Table) -> tuple[_Routing | None, tuple[Agent, ...]]:
    if not t.data:
        return None, ()
    qualifications = []
    for name, q in t.table("qualifications").named():
        kwargs = {
            "low": q.integer("low", 1),
            "high": q.integer("high", 10),
            "soft": q.flag("soft", False),
        }
        q.done()
        qualifications.append(wrapped(q.path, Qualification, name, **kwargs))
    catalog = wrapped(
        t.at("qualifications"), lambda: QualificationCatalog(qualifications)
    )
    relaxation = []
    for r in t.tables("relaxation"):
        kwargs = {
            "after": r.duration("after"),
            "drop": frozenset(r.texts("drop")),
            "lower": _levels(r, "lower"),
        }
        r.done()
        relaxation.append(wrapped(r.path, Relaxation, **kwargs))
    routing_kwargs: dict[str, Any] = {
        "queue_user": t.text("queue_user"),
        "catalog": catalog,
        "relaxation": tuple(relaxation),
    }
    if t.has("priority_ranks"):
        routing_kwargs["priority_ranks"] = _levels(t, "priority_ranks")
    agents = []
    for agent_id, a in t.table("agents").named():
        levels = _levels(a, "qualifications")
        kwargs = {
            "qualifications": catalog.check(levels, a.at("qualifications")),
            "available": a.flag("available", True),
            "capacity": a.integer("capacity", 10),
        }
        a.done()
        agents.append(wrapped(a.path, Agent, id=agent_id, **kwargs))
    t.done()
    routing = wrapped("assignment", lambda: _Routing(**routing_kwargs))
    return routing, tuple(agents)

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
from escalate.errors import ConfigError
from escalate.fields import FieldSpec, FieldType, check_condition_value
from escalate.hours import BusinessHours
from escalate.ical import read_ical
from escalate.leads import ExternalEscalation, LeadSettings, LeadType, TeamOverride
from escalate.mail import check_address
from escalate.matching import Agent, Qualification, QualificationCatalog, Relaxation
from escalate.matching import Routing as _Routing
from escalate.model import CASE_ATTRIBUTES, Status
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

__all__ = ["Config", "MailSettings", "SmtpSettings", "example_config", "load_config"]

MAX_CONFIG_BYTES: Final = 10_000_000
"""A configuration file (or a template, or an iCalendar file) is at most this big."""

_BASES: Final = {b.value: b for b in TimeBasis}
_ON_CHANGE: Final = {o.value for o in OnChange}
_APPLY_TO: Final = {a.value for a in ChangesApplyTo}


def _texts(value: Mapping[str, str]) -> FrozenMap[str, str]:
    return FrozenMap(value)


@attrs.frozen(kw_only=True)
class SmtpSettings:
    """How to reach the SMTP server (``[mail.smtp]``).

    Attributes:
        host: The server.
        port: Its port, or None for the default of ``security``.
        security: ``"none"``, ``"starttls"`` or ``"ssl"``.
        username: The login, if any.
        password_env: The environment variable holding the password (a
            password never sits in the file).
    """

    host: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None


@attrs.frozen(kw_only=True)
class MailSettings:
    """Where mail goes (``[mail]``).

    Attributes:
        sender: The From address.
        folder: Write mails as ``.eml`` files into this folder (local runs), or
            None; relative to the configuration file.
        smtp: Send through this SMTP server, or None.
        addresses: User id to e-mail address.
        warning_template: The template of warnings before a step.
        task_template: The template of a task's overdue reminder.
        lead_templates: The templates of a lead's internal reminder and of its
            external escalation.
        zone: The time zone mails show instants in where no calendar gives one
            (``Config.zone``).
    """

    sender: str = "escalate@example.com"
    folder: Path | None = None
    smtp: SmtpSettings | None = None
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
    """Read a configuration file.

    Relative paths in it (a template folder, a mail folder, an iCalendar file)
    are relative to the file's folder.

    Raises:
        ConfigError: The file cannot be read, is not TOML, or a value is not
            valid; the message starts with the value's TOML path.
    """
    file = Path(path)
    text = read_text(file, "configuration")
    check_nesting(text, str(file))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from e
    return parse_config(data, base=file.parent, path=file)


def parse_config(
    data: Mapping[str, Any], *, base: Path, path: Path | None = None
) -> Config:
    """A :class:`Config` from parsed TOML (see :func:`load_config`)."""
    check_depth(data, "configuration")
    check_offsets(dict(data), "")
    root = Table(dict(data), "")
    root.integer("format", 1)
    if root.data.get("format", 1) != 1:
        raise fail("format", "1 (the only format so far)", root.data["format"])
    calendars = _calendars(root.table("calendars"), base)
    book, changes = _book(root.table("escalation"), root.table("rules"))
    leads = _leads(root.table("leads"), calendars)
    templates = _templates(root.table("templates"), base)
    mail = _mail(root.table("mail"), base)
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
        routing=routing,
        agents=agents,
        fields=fields,
        path=path,
    )


def read_text(file: Path, what: str) -> str:
    """A UTF-8 text file of at most ``MAX_CONFIG_BYTES``, or a ConfigError."""
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{file}: cannot read the {what} file: {e}") from e
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{file}: expected a {what} file of at most {MAX_CONFIG_BYTES} bytes"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{file}: expected UTF-8 text: {e}") from e


# -- calendars ------------------------------------------------------------------------


def _calendars(table: Table, base: Path) -> dict[str, BusinessHours]:
    return {name: _calendar(t, base) for name, t in table.named()}


def _calendar(t: Table, base: Path) -> BusinessHours:
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


def _holidays(t: Table, base: Path) -> tuple[Any, list[Recurrence]]:
    country = t.text("country", None)
    subdiv = t.text("subdiv", None)
    categories = t.texts("categories")
    observed = t.flag("observed", True)
    listed = t.raw("dates", [])
    if not isinstance(listed, list):
        raise fail(t.at("dates"), "an array of dates", listed)
    dates = [_date_item(v, f"{t.at('dates')}[{i}]") for i, v in enumerate(listed)]
    ical = t.text("ical", None)
    t.done()
    closures: list[Recurrence] = []
    if ical is not None:
        file = base / ical
        text = read_text(file, "iCalendar")
        closures += wrapped(t.at("ical"), lambda: read_ical(text, where=str(file)))
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


def _templates(t: Table, base: Path) -> dict[str, str]:
    sources: dict[str, str] = {}
    folder = t.text("folder", None)
    if folder is not None:
        where = base / folder
        if not where.is_dir():
            raise fail(t.at("folder"), "a folder of templates", folder)
        for file in sorted(where.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                sources[file.name] = read_text(file, "template")
    inline = t.table("inline")
    for name in inline.data:
        sources[name] = inline.text(name)
    inline.done()
    t.done()
    return sources


def _mail(t: Table, base: Path) -> MailSettings:
    folder = t.text("folder", None)
    smtp = None
    if t.has("smtp"):
        s = t.table("smtp")
        security = s.text("security", "starttls")
        if security not in ("none", "starttls", "ssl"):
            raise fail(s.at("security"), "'none', 'starttls' or 'ssl'", security)
        port = s.integer("port", None)
        if port is not None and not 0 < port < 65536:
            raise fail(s.at("port"), "a port from 1 to 65535", port)
        smtp = SmtpSettings(
            host=s.text("host"),
            port=port,
            security=security,
            username=s.text("username", None),
            password_env=s.text("password_env", None),
        )
        s.done()
    addresses = t.table("addresses")
    for user in addresses.data:
        check_text(addresses.at(user), user, max_length=MAX_ID)
        check_address(addresses.text(user), addresses.at(user))
    addresses.done()
    settings = MailSettings(
        sender=check_address(t.text("sender", "escalate@example.com"), t.at("sender")),
        folder=None if folder is None else base / folder,
        smtp=smtp,
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

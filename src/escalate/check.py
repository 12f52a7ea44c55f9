"""What ``escalate check`` reports: the mistakes in a configuration that would
fail later, at 3 a.m., or silently do nothing.

:func:`config_problems` (also ``Config.problems``) returns each problem with its
TOML path and a severity: an **error** will fail when it happens (a template that
does not render, a user nobody can mail, a calendar that never opens); a
**warning** runs but is most likely a mistake (an item no case can reach, a
ladder out of order, no active rule). ``escalate check`` exits 1 on errors, and
on warnings too with ``--strict``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol
from zoneinfo import ZoneInfo

import attrs

from escalate._durations import format_duration
from escalate._instants import require_aware
from escalate._template_context import (
    case_action_context,
    lead_step_context,
    sla_action_context,
    task_reminder_context,
)
from escalate.errors import EscalateError, TemplateError
from escalate.fields import FieldSpec, FieldType
from escalate.leads import ExternalEscalation, Lead, LeadAction, LeadStep
from escalate.model import BUILTIN_STATUSES, CASE_ATTRIBUTES, Case, Task, _status_key
from escalate.rules import ActionKind, Condition, DueAction, RuleItem
from escalate.sla import MetricRun
from escalate.templates import Templates
from escalate.timers import Phase

if TYPE_CHECKING:
    from escalate.config import Config

__all__ = ["ConfigProblem", "Severity", "config_problems"]

_YEAR = timedelta(days=366)


class Severity(enum.Enum):
    """How bad a problem is."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen
class ConfigProblem:
    """One problem: where (a TOML path), how bad, and what."""

    path: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.path}: {self.message}"


def config_problems(
    config: Config, *, at: datetime | None = None
) -> list[ConfigProblem]:
    """Every problem of ``config``, errors first, each group in file order.

    Args:
        config: A loaded configuration.
        at: From when each calendar must open within a year (default: from
            2026-01-01 in the calendar's zone).
    """
    if at is not None:
        require_aware(at, "at")
    found = [
        *_templates(config),
        *_addresses(config),
        *_rules(config),
        *_sla(config),
        *_calendars(config, at),
        *_undeclared_fields(config),
    ]
    return sorted(found, key=lambda p: p.severity is Severity.WARNING)


def _error(path: str, message: str) -> ConfigProblem:
    return ConfigProblem(path, Severity.ERROR, message)


def _warning(path: str, message: str) -> ConfigProblem:
    return ConfigProblem(path, Severity.WARNING, message)


# -- templates ------------------------------------------------------------------------

_SAMPLE: dict[FieldType, Any] = {
    FieldType.TEXT: "sample",
    FieldType.INTEGER: 1,
    FieldType.DECIMAL: Decimal("1.5"),
    FieldType.DATE: date(2026, 11, 23),
}


def _sample_case(config: Config, at: datetime) -> Case:
    fields: dict[str, Any] = {}
    declared: Mapping[str, FieldSpec] = config.fields or {}
    for name, spec in declared.items():
        fields[name] = spec.values[0] if spec.values else _SAMPLE[spec.type]
    for _, _, item in _items(config):
        for c in item.conditions:
            if c.field not in CASE_ATTRIBUTES and c.field not in fields:
                fields[c.field] = "sample"
    return Case(
        id="sample", number="C-0001", created_at=at, owner="sample", fields=fields
    )


def _render(
    templates: Templates, name: str, path: str, context: dict[str, Any]
) -> Iterator[ConfigProblem]:
    try:
        templates.render_mail(name, **context)
    except TemplateError as e:
        yield _error(path, str(e))


def _templates(config: Config) -> Iterator[ConfigProblem]:
    at = datetime(2026, 11, 23, 9, tzinfo=ZoneInfo(config.zone))
    try:
        templates = config.compiled_templates()
    except TemplateError as e:
        yield _error(f"templates.{e.template}", str(e))
        return
    case = _sample_case(config, at)
    mail = config.mail
    for path, rule, item in _items(config):
        zone = config.zone
        for j, action in enumerate(item.actions):
            where = f"{path}.actions[{j}]"
            due = DueAction(
                key="sample",
                kind=ActionKind.ESCALATION,
                case_id=case.id,
                due_at=at,
                basis_at=at,
                rule=rule,
                item_id=item.id,
                action=action,
            )
            context = case_action_context(case, due, zone)
            name = action.escalation_template or "escalation"
            yield from _render(templates, name, f"{where}.escalation_template", context)
            if action.new_owner:
                name = action.notify_template or "assignment"
                yield from _render(templates, name, f"{where}.notify_template", context)
            if action.warnings:
                warn = attrs.evolve(
                    due, kind=ActionKind.WARNING, threshold=action.warnings[0]
                )
                context = case_action_context(case, warn, zone)
                yield from _render(
                    templates, mail.warning_template, "mail.warning_template", context
                )
    yield from _sla_templates(config, templates, case, at)
    task = Task(id="sample", title="Call back", owner="sample", due_at=at)
    yield from _render(
        templates,
        mail.task_template,
        "mail.task_template",
        task_reminder_context(task, at, config.zone),
    )
    checked: set[LeadStep] = set()  # each lead template once, with the first type
    for name, lead_type in config.settings.leads.types.items():
        lead = Lead(
            id="L-0001",
            lead_type=name,
            received_at=at,
            team="sample",
            reached_team_at=at,
        )
        steps: list[tuple[LeadStep, ExternalEscalation | None]] = [
            (LeadStep.INTERNAL, None)
        ]
        if lead_type.external is not None:
            steps.append((LeadStep.EXTERNAL, lead_type.external))
        for step, external in steps:
            if step in checked:
                continue
            checked.add(step)
            internal = step is LeadStep.INTERNAL
            step_action = LeadAction(
                key="sample",
                lead_id=lead.id,
                phase=Phase.FIRST,
                step=step,
                due_at=at,
                responsible=("sample",),
                external=external,
            )
            yield from _render(
                templates,
                mail.lead_templates[0 if internal else 1],
                f"mail.lead_{'reminder' if internal else 'external'}_template",
                lead_step_context(lead, step_action, str(lead_type.hours.tz)),
            )


def _sla_templates(
    config: Config, templates: Templates, case: Case, at: datetime
) -> Iterator[ConfigProblem]:
    """The SLA warning and breach templates, with each policy's first target
    that uses them (a warning template only if some target warns)."""
    if config.sla is None:
        return
    warn_name, breach_name = _SLA_TEMPLATES
    done: set[str] = set()
    for i, policy in enumerate(config.sla.policies):
        for j, target in enumerate(policy.targets):
            run = MetricRun(
                metric=target.metric,
                index=0,
                started_at=at,
                fulfilled_at=None,
                counted=target.within,
                paused=timedelta(0),
                policy=policy.id,
                target=target.within,
                breached_at=at,
                warnings=(),
                running=True,
            )
            path = f"sla.policies[{i}].targets[{j}]"
            uses = [(breach_name, 100)]
            if target.warnings:
                uses.append((warn_name, target.warnings[0]))
            for name, percent in uses:
                if name not in done:
                    done.add(name)
                    context = sla_action_context(case, run, percent, at, config.zone)
                    yield from _render(templates, name, f"{path} ({name})", context)


_SLA_TEMPLATES: Final = ("sla warning", "sla breach")


# -- users and addresses --------------------------------------------------------------


def _addresses(config: Config) -> Iterator[ConfigProblem]:
    known = config.mail.addresses
    for path, _, item in _items(config):
        for j, action in enumerate(item.actions):
            for key in ("escalate_to", "new_owner"):
                user = getattr(action, key)
                if user and user not in known:
                    yield _error(
                        f"{path}.actions[{j}].{key}",
                        f"user {user!r} has no address in [mail.addresses]; known: "
                        f"{sorted(known)}",
                    )
    leads = config.settings.leads
    for (lead_type, team), override in leads.teams.items():
        for user in override.responsible:
            if user not in known:
                yield _error(
                    f"leads.teams.{lead_type}.{team}.responsible",
                    f"user {user!r} has no address in [mail.addresses]",
                )
    for problem in leads.problems():
        yield _error(f"leads.teams.{problem.lead_type}.{problem.team}", problem.message)
    routing = config.routing
    if routing is not None and routing.queue_user not in known:
        yield _warning(
            "assignment.queue_user",
            f"user {routing.queue_user!r} has no address in [mail.addresses]: "
            "the warnings (and SLA mails) of the cases it holds fail at the tick; "
            f"known: {sorted(known)}",
        )


# -- the rule book --------------------------------------------------------------------


def _items(config: Config) -> Iterator[tuple[str, str, RuleItem]]:
    for rule in config.settings.book.rules:
        for i, item in enumerate(rule.items):
            yield f"rules.{rule.name}.items[{i}]", rule.name, item


def _rules(config: Config) -> Iterator[ConfigProblem]:
    book = config.settings.book
    if book.active is None:
        if book.scheduler_on:
            yield _warning(
                "escalation.active",
                "the scheduler is on but no rule is active: nothing escalates",
            )
    elif not book.rule(book.active).items:
        yield _warning(
            f"rules.{book.active}",
            "the active rule has no items: nothing escalates",
        )
    for rule in book.rules:
        yield from _shadowed(rule.name, rule.items)
    for path, _, item in _items(config):
        for j in range(1, len(item.actions)):
            before, step = item.actions[j - 1], item.actions[j]
            if step.after <= before.after:
                yield _warning(
                    f"{path}.actions[{j}].after",
                    f"step {step.id!r} ({format_duration(step.after)}) is not later "
                    f"than the step before it, {before.id!r} "
                    f"({format_duration(before.after)}): the ladder's steps "
                    "go in increasing order of time (a later step supersedes an "
                    "earlier one that falls due at the same check)",
                )


class _Conditioned(Protocol):
    """A rule item or an SLA policy: numbered conditions and their logic."""

    @property
    def logic(self) -> str | None: ...
    @property
    def conditions(self) -> tuple[Condition, ...]: ...


def _all_of(item: _Conditioned) -> frozenset[Any] | None:
    """The item's conditions when they are all ANDed (its logic is None or
    only ANDs), else None: what can be compared without solving."""
    logic = (item.logic or "").upper()
    if "OR" in logic.split() or "NOT" in logic.split():
        return None
    return frozenset(item.conditions)


def _shadowing(
    items: Sequence[_Conditioned],
) -> Iterator[tuple[int, int, str]]:
    """``(later, earlier, why)`` for each item that an earlier one always
    comes before: the earlier has no conditions, or a subset of the later's,
    all ANDed (the first earlier one only)."""
    for i, later in enumerate(items):
        later_all = _all_of(later)
        for j, earlier in enumerate(items[:i]):
            earlier_all = _all_of(earlier)
            if earlier_all is None:
                continue
            if not earlier_all or (later_all is not None and earlier_all <= later_all):
                yield (
                    i,
                    j,
                    "has no conditions, so it matches every case"
                    if not earlier_all
                    else "matches every case it matches (its conditions are a "
                    "subset of this one's)",
                )
                break


def _shadowed(rule: str, items: Sequence[RuleItem]) -> Iterator[ConfigProblem]:
    for i, j, why in _shadowing(items):
        yield _warning(
            f"rules.{rule}.items[{i}]",
            f"item {items[i].id!r} can never govern: the earlier item "
            f"{items[j].id!r} (items[{j}]) {why}",
        )


# -- service levels -------------------------------------------------------------------


def _sla(config: Config) -> Iterator[ConfigProblem]:
    sla = config.sla
    if sla is None:
        return
    policies = sla.policies
    for i, j, why in _shadowing(policies):
        yield _warning(
            f"sla.policies[{i}]",
            f"policy {policies[i].id!r} never applies: the earlier policy "
            f"{policies[j].id!r} (sla.policies[{j}]) {why}, and the first "
            "policy a case meets applies",
        )
    known = {_status_key(s.name): s.name for s in BUILTIN_STATUSES}
    expiry = config.settings.book.expiry
    if expiry is not None:
        for custom in (expiry.pending, expiry.expired):
            known.setdefault(_status_key(custom.name), custom.name)
    for name in sla.pauses:
        meant = known.get(_status_key(name))
        if meant is not None and meant != name:
            yield _warning(
                f"sla.pauses.{name}",
                f"{name!r} is not the status {meant!r}: statuses are matched "
                f"exactly, so a case in {meant!r} does not pause these metrics",
            )
    first: dict[str, tuple[str, str]] = {}
    for i, policy in enumerate(policies):
        for k, target in enumerate(policy.targets):
            key = " ".join(target.priority.casefold().split())
            seen = first.setdefault(key, (target.priority, f"sla.policies[{i}]"))
            if seen[0] != target.priority:
                yield _warning(
                    f"sla.policies[{i}].targets[{k}].priority",
                    f"{target.priority!r} differs from {seen[0]!r} ({seen[1]}) only "
                    "in case or spaces: priorities are matched exactly, so one "
                    "of them is most likely never a case's",
                )


# -- calendars ------------------------------------------------------------------------


def _calendars(config: Config, at: datetime | None) -> Iterator[ConfigProblem]:
    for name, hours in config.settings.calendars.items():
        start = at or datetime(2026, 1, 1, tzinfo=hours.tz)
        try:
            opens = bool(hours.intervals(start, start + _YEAR))
        except EscalateError:
            opens = False
        if not opens:
            since = "" if at is None else f" from {at.isoformat()}"
            yield _error(
                f"calendars.{name}",
                f"the calendar never opens within a year{since}: every clock "
                "in it stands still, so nothing in it ever falls due",
            )


def _undeclared_fields(config: Config) -> Iterator[ConfigProblem]:
    if config.fields is not None:
        return  # checked when the file was loaded
    seen: dict[str, str] = {}
    for path, _, item in _items(config):
        for j, c in enumerate(item.conditions):
            if c.field not in CASE_ATTRIBUTES and c.field not in seen:
                seen[c.field] = f"{path}.conditions[{j}]"
    for field, path in seen.items():
        yield _warning(
            path,
            f"the custom field {field!r} is not declared: declare it in [fields] "
            "with its type, so that a typo or a value of the wrong type is an error",
        )

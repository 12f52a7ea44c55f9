"""Scenario files: cases, leads and tasks with what happens to them, in TOML.

``escalate simulate`` replays a scenario under a configuration, and ``escalate
demo`` replays the bundled week. A scenario file holds ``[[cases]]`` (or one
``[case]``), ``[[leads]]`` (or one ``[lead]``) and ``[[tasks]]``, each case and
lead with its ``events``; ``docs/cli.md`` shows the format. Errors are
``ConfigError`` naming the TOML path, as for the configuration file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs

from escalate._frozen import FrozenMap
from escalate._toml import Table, check_offsets, fail, wrapped
from escalate.errors import ConfigError
from escalate.leads import Lead
from escalate.model import Case, Status, Task
from escalate.operator import read_text

__all__ = ["CaseEvent", "LeadEvent", "Scenario", "example_scenario", "load_scenario"]

_LEAD_ACTIONS: Final = ("assign", "accept", "activity")
_SLA_REPORTED: Final = ("agent reply", "customer message", "solved", "reopened")


@attrs.frozen(kw_only=True)
class CaseEvent:
    """A change to a case at an instant, by a person.

    Attributes:
        case_id: The case.
        at: When.
        by: The person making it.
        changes: Attribute to new value (``status``, ``priority``, ``owner``,
            ``fields``, ``solution``).
        sla: What it reports for the case's service level, if anything: an
            SLA event kind the CRM reports (``"agent reply"``, ``"customer
            message"``, ``"solved"``, ``"reopened"``), recorded after the
            changes.
    """

    case_id: str
    at: datetime
    by: str
    changes: FrozenMap[str, Any]
    sla: str | None = None


@attrs.frozen(kw_only=True)
class LeadEvent:
    """Something done with a lead: ``assign`` (to ``team``), ``accept``, or an
    ``activity`` (of ``kind``)."""

    lead_id: str
    at: datetime
    action: str
    team: str | None = None
    kind: str | None = None


@attrs.frozen(kw_only=True)
class Scenario:
    """Cases, leads and tasks, and the events that happen to them.

    Attributes:
        cases: The cases, as they are created.
        leads: The leads, as they come in.
        tasks: The tasks (stored when the simulation starts).
        events: Case and lead events, in the order of the file.
    """

    cases: tuple[Case, ...] = ()
    leads: tuple[Lead, ...] = ()
    tasks: tuple[Task, ...] = ()
    events: tuple[CaseEvent | LeadEvent, ...] = ()

    def first_instant(self) -> datetime | None:
        """The earliest instant in the scenario, or None if it is empty."""
        instants = [
            *(c.created_at for c in self.cases),
            *(lead.received_at for lead in self.leads),
            *(e.at for e in self.events),
        ]
        return min(instants, key=lambda t: t.timestamp()) if instants else None


def example_scenario() -> Path:
    """The bundled week of the demo (for the example configuration)."""
    return Path(__file__).parent / "examples" / "week.toml"


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario file.

    Raises:
        ConfigError: Not readable, not TOML, or a bad value (naming its path).
    """
    file = Path(path)
    try:
        data = tomllib.loads(read_text(file, "scenario"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from e
    check_offsets(data, "")
    root = Table(data, "")
    cases: list[Case] = []
    leads: list[Lead] = []
    events: list[CaseEvent | LeadEvent] = []
    for t in _one_or_many(root, "case", "cases"):
        case = _case(t)
        cases.append(case)
        events += [_case_event(case.id, e) for e in t.tables("events")]
        t.done()
    for t in _one_or_many(root, "lead", "leads"):
        lead = _lead(t)
        leads.append(lead)
        events += [_lead_event(lead.id, e) for e in t.tables("events")]
        t.done()
    tasks = [_task(t) for t in root.tables("tasks")]
    root.done()
    for kind, ids in (
        ("cases", [c.id for c in cases]),
        ("leads", [x.id for x in leads]),
    ):
        if len(ids) != len(set(ids)):
            raise ConfigError(f"{kind}: expected distinct ids, got {ids}")
    if not (cases or leads or tasks):
        raise ConfigError(f"{file}: expected [[cases]], [[leads]] or [[tasks]]")
    return Scenario(
        cases=tuple(cases), leads=tuple(leads), tasks=tuple(tasks), events=tuple(events)
    )


def _one_or_many(root: Table, one: str, many: str) -> Iterator[Table]:
    if root.has(one):
        yield root.table(one)
    yield from root.tables(many)


def _case(t: Table) -> Case:
    created = t.instant("created_at")
    kwargs: dict[str, Any] = {
        "id": t.text("id"),
        "number": t.text("number", None) or t.data.get("id"),
        "created_at": created,
        "status": Status.named(t.text("status", "Active – New")),
        "priority": t.raw("priority"),
        "owner": t.text("owner", None),
        "fields": t.mapping("fields"),
        "requirements": t.mapping("requirements"),
    }
    return wrapped(t.path, Case, **kwargs)


def _case_event(case_id: str, t: Table) -> CaseEvent:
    at, by = t.instant("at"), t.text("by", "agent")
    changes: dict[str, Any] = {}
    for key in ("status", "owner", "solution"):
        if t.has(key):
            changes[key] = t.text(key)
    if "status" in changes:
        changes["status"] = Status.named(changes["status"])
    if t.has("priority"):
        changes["priority"] = t.raw("priority")
    if t.has("fields"):
        changes["fields"] = t.mapping("fields")
    sla = t.text("sla", None)
    if sla is not None and sla not in _SLA_REPORTED:
        raise fail(t.at("sla"), f"one of {', '.join(map(repr, _SLA_REPORTED))}", sla)
    t.done()
    if not changes and sla is None:
        raise ConfigError(
            f"{t.path}: expected a change (status, priority, owner, fields, "
            "solution) or an sla event"
        )
    return CaseEvent(case_id=case_id, at=at, by=by, changes=FrozenMap(changes), sla=sla)


def _lead(t: Table) -> Lead:
    received = t.instant("received_at")
    team = t.text("team", None)
    kwargs = {
        "id": t.text("id"),
        "lead_type": t.text("type"),
        "received_at": received,
        "team": team,
        "reached_team_at": None if team is None else received,
    }
    return wrapped(t.path, Lead, **kwargs)


def _lead_event(lead_id: str, t: Table) -> LeadEvent:
    event = LeadEvent(
        lead_id=lead_id,
        at=t.instant("at"),
        action=t.text("do"),
        team=t.text("team", None),
        kind=t.text("kind", None),
    )
    t.done()
    if event.action not in _LEAD_ACTIONS:
        raise fail(t.at("do"), f"one of {', '.join(_LEAD_ACTIONS)}", event.action)
    if (event.action == "assign") != (event.team is not None):
        raise ConfigError(f'{t.path}: expected team with do = "assign" (only)')
    if (event.action == "activity") != (event.kind is not None):
        raise ConfigError(f'{t.path}: expected kind with do = "activity" (only)')
    return event


def _task(t: Table) -> Task:
    kwargs = {
        "id": t.text("id"),
        "title": t.text("title"),
        "owner": t.text("owner"),
        "due_at": t.instant("due_at"),
    }
    t.done()
    return wrapped(t.path, Task, **kwargs)

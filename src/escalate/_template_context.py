"""What each mail template gets: the one place the engine builds template
variables, and ``check`` builds its samples.

Three kinds of template, by what sends them: a case action (escalation,
assignment and warning templates), a lead step (lead reminder and lead external)
and a task reminder. ``docs/templates.md`` lists the variables of each; a test
checks that list against what the engine passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs

from escalate.leads import Lead, LeadAction
from escalate.model import Case, Task
from escalate.rules import DueAction
from escalate.sla import MetricRun

CASE_ACTION: Final = "case action"
LEAD_STEP: Final = "lead step"
TASK_REMINDER: Final = "task reminder"


def case_variables(case: Case) -> dict[str, Any]:
    """``case``: the case's fields a template reads."""
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status.name,
        "priority": case.priority,
        "owner": case.owner,
        "fields": dict(case.fields),
        "created_at": case.created_at,
    }


def case_action_context(case: Case, action: DueAction, zone: str) -> dict[str, Any]:
    """The variables of an escalation, assignment or warning template."""
    return {
        "case": case_variables(case),
        "action": action.action,
        "kind": action.kind.value,
        "due_at": action.due_at,
        "basis_at": action.basis_at,
        "rule": action.rule,
        "item": action.item_id,
        "threshold": action.threshold,
        "zone": zone,
    }


def lead_step_context(lead: Lead, action: LeadAction, zone: str) -> dict[str, Any]:
    """The variables of a lead reminder or lead external template."""
    return {
        "lead": attrs.asdict(lead, recurse=False),
        "phase": action.phase.value,
        "step": action.step.value,
        "due_at": action.due_at,
        "responsible": action.responsible,
        "external": action.external,
        "zone": zone,
    }


def task_reminder_context(task: Task, due: datetime, zone: str) -> dict[str, Any]:
    """The variables of a task's overdue reminder template."""
    return {"task": attrs.asdict(task, recurse=False), "due_at": due, "zone": zone}


def sla_action_context(
    case: Case, run: MetricRun, percent: int, due_at: datetime, zone: str
) -> dict[str, Any]:
    """The variables of an SLA warning or breach template."""
    return {
        "case": case_variables(case),
        "metric": run.metric.value,
        "run": run.index,
        "percent": percent,
        "due_at": due_at,
        "policy": run.policy,
        "target": run.target,
        "counted": run.counted,
        "zone": zone,
    }

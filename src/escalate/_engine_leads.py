"""The Escalator's leads and tasks: storing them with their next due instant, and
carrying out their due steps (lead escalation) and overdue reminders (tasks)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

import attrs

from escalate._engine_base import _Engine
from escalate._instants import to_us
from escalate._keys import task_key
from escalate._template_context import lead_step_context, task_reminder_context
from escalate.errors import ConfigError, WrongTypeError
from escalate.leads import Lead, LeadAction, LeadSettings, due_lead_actions
from escalate.model import Task

_log: Final = logging.getLogger("escalate.engine")


class _LeadsAndTasks(_Engine):
    """Leads and tasks (a part of :class:`~escalate.engine.Escalator`)."""

    # -- leads -----------------------------------------------------------------------

    def next_lead_due(self, lead: Lead) -> datetime | None:
        """The earliest due instant of the lead's escalation steps not carried
        out yet, or None."""
        return self._lead_due(lead, self.settings_for(lead))

    def save_lead(self, lead: Lead) -> Lead:
        """Store a new or changed lead (optimistic, on its version) with its next
        due instant; returns it as stored. A new lead records the settings
        version in force (``Lead.settings_version``)."""
        if not isinstance(lead, Lead):
            raise WrongTypeError(f"lead: expected a Lead, got {lead!r}")
        if lead.version == 0 and lead.settings_version is None:
            lead = attrs.evolve(lead, settings_version=self._digest)
        self.settings_for(lead).leads.lead_type(lead.lead_type)  # a known type
        with self.store.transaction():
            self._keep_version()
            saved = self.store.save_lead(lead, next_due=self.next_lead_due(lead))
        self._kept_version()
        return saved

    def _escalate_lead(self, lead_id: str, now: datetime) -> list[LeadAction] | None:
        done = []
        with self.store.transaction():
            lead = self.store.take_due_lead(lead_id, now)
            if lead is None:  # handled meanwhile, or by another worker now
                return None
            leads = self.settings_for(lead).leads
            for action in due_lead_actions(lead, leads, now):
                if not self.store.record_fired(action.key, now):
                    continue  # carried out before, or by another worker
                self.progress("fired")
                context = lead_step_context(lead, action, _zone(leads, lead))
                if action.external is not None:
                    recipients = [action.external.email]
                    template = self.lead_templates[1]
                else:
                    if not action.responsible:
                        raise ConfigError(
                            f"lead type {lead.lead_type!r} escalates, but team "
                            f"{lead.team!r} has no responsible users for it"
                        )
                    recipients = [
                        self._address_of(u, f"lead {lead.id!r}: responsible user")
                        for u in action.responsible
                    ]
                    template = self.lead_templates[0]
                self._enqueue(
                    self._mails(template, action.key, recipients, context, now), now
                )
                done.append(action)
            self.store.save_lead(lead, next_due=self.next_lead_due(lead))
        self._after_commit.append(lambda: _log_lead_steps(lead_id, done))
        return done

    # -- tasks -----------------------------------------------------------------------

    def save_task(self, task: Task) -> None:
        """Store a task; its owner is reminded by the first tick at or after its
        due instant, once (unless it is done before)."""
        if not isinstance(task, Task):
            raise WrongTypeError(f"task: expected a Task, got {task!r}")
        due = task.reminder_at()
        if due is not None and self.store.is_fired(_task_key(task, due)):
            due = None
        self.store.save_task(task, next_due=due)

    def _remind(self, task_id: str, now: datetime) -> list[str] | None:
        with self.store.transaction():
            task = self.store.take_due_task(task_id, now)
            if task is None:  # handled meanwhile, or by another worker now
                return None
            due = task.reminder_at()
            if due is None or to_us(due, "due_at") > to_us(now, "now"):
                self.store.save_task(task, next_due=due)
                return []
            key = _task_key(task, due)
            fresh = self.store.record_fired(key, now)
            if fresh:
                owner = self._address_of(task.owner, f"task {task.id!r}: its owner")
                mails = self._mails(
                    self.task_template,
                    key,
                    [owner],
                    task_reminder_context(task, due, self.zone),
                    now,
                )
                self._enqueue(mails, now)
            self.store.save_task(task, next_due=None)
        if not fresh:
            return []
        owner = task.owner
        self._after_commit.append(
            lambda: _log.info(
                "task %s: overdue reminder to %s",
                task_id,
                owner,
                extra={"task_id": task_id, "key": key},
            )
        )
        return [task_id]


def _log_lead_steps(lead_id: str, done: list[LeadAction]) -> None:
    for action in done:
        _log.info(
            "lead %s: %s %s carried out (due %s)",
            lead_id,
            action.phase.value,
            action.step.value,
            action.due_at.isoformat(),
            extra={"lead_id": lead_id, "key": action.key},
        )


def _zone(leads: LeadSettings, lead: Lead) -> str:
    """The zone of the calendar a lead's time runs in (its team's, if set)."""
    if lead.team is None:
        return str(leads.lead_type(lead.lead_type).hours.tz)
    return str(leads.effective_settings(lead.lead_type, lead.team).hours.value.tz)


def _task_key(task: Task, due: datetime) -> str:
    return task_key(task.id, to_us(due, "due_at"))

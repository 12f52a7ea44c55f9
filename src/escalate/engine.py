"""The escalation engine: the one place that wires the ports to the core.

``Escalator.tick()`` finds the cases that are due (through the store's index of
next due instants, not a scan of every case) and, **for each case, in one
transaction**: re-reads the case, asks the core which actions are due, records
each action's idempotency key (``record_fired``: unique, so another worker that
got there first wins and this one skips it), applies its effects (a new owner or
the Pending → Expired change, as automatic changes that do not set
``modified_at``), appends the history entries and follow-up lines, enqueues the
mails, and stores the case with its next due instant. Either all of that commits
or none of it does. ``dispatch()`` then sends queued mails, each claimed by one
worker for a lease, and marks them sent; a failed send is retried with backoff.

What exactly-once means here: each due action is *recorded and enqueued* exactly
once, whatever the number of workers and wherever a worker dies; each enqueued
mail is *delivered at least once*, always with the same Message-ID (a worker that
dies after sending but before marking it sent leaves it to be sent again), so a
receiver can drop duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

import attrs

from escalate._instants import to_us, utc_from_us
from escalate._keys import task_key
from escalate.config import Config
from escalate.errors import (
    ConfigError,
    ConflictError,
    DeliveryError,
    EscalateError,
    WrongTypeError,
)
from escalate.history import (
    CaseDeletion,
    CaseFile,
    Change,
    DocumentKind,
    DocumentSettings,
    EscalationDocument,
    apply_change,
    create_case,
    delete_case,
    escalate_to_document,
    expire,
)
from escalate.hours import BusinessHours
from escalate.leads import (
    Lead,
    LeadAction,
    LeadSettings,
    due_lead_actions,
    lead_steps,
)
from escalate.mail import OutgoingMail
from escalate.model import Actor, Case, Task
from escalate.ports import Claim, Mailer, SettingsRecord, Store
from escalate.rules import ActionKind, DueAction, RuleBook, evaluate
from escalate.settings import Settings
from escalate.templates import Templates
from escalate.timers import Clock

__all__ = ["DispatchReport", "Escalator", "Fired", "TickReport"]

_MAX_BACKOFF: Final = timedelta(hours=1)
_T = TypeVar("_T")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


@attrs.frozen(kw_only=True)
class Fired:
    """An action the tick carried out.

    Attributes:
        key: Its idempotency key.
        case_id: The case.
        kind: Escalation, warning or expiry.
        due_at: When it became due.
        mails: How many mails it queued.
        action: The due action, with its rule, item, step and basis (the why).
        recipients: Who its mails go to, in order.
    """

    key: str
    case_id: str
    kind: ActionKind
    due_at: datetime
    mails: int
    action: DueAction | None = None
    recipients: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class TickReport:
    """What a tick did.

    Attributes:
        at: The tick's instant.
        cases: How many due cases it handled.
        fired: The case actions it carried out.
        leads: The lead escalation steps it carried out.
        reminded: The ids of the tasks whose overdue reminder it sent.
        errors: ``(case or task id, message)`` of what it could not handle (left
            as it was, for the next tick).
        recomputed: How many open cases and leads it recomputed because the
            settings changed.
        moved: How many of those got another next deadline than they had under
            the settings stored before.
    """

    at: datetime
    cases: int
    fired: tuple[Fired, ...]
    leads: tuple[LeadAction, ...] = ()
    reminded: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...]
    recomputed: int = 0
    moved: int = 0

    @property
    def ok(self) -> bool:
        """No case failed."""
        return not self.errors


@attrs.frozen(kw_only=True)
class DispatchReport:
    """What a dispatch did: mails sent, and mails that failed (kept for retry)."""

    at: datetime
    sent: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


class Escalator:
    """Runs the rule book against the cases in a store, and sends the mails.

    Args:
        store: Where cases, history, fired keys and the outbox live.
        mailer: Sends the queued mails (``dispatch``).
        clock: Tells the time (a ``ManualClock`` in tests and simulations).
        book: The rule book.
        calendars: Calendar name to business hours.
        leads: The lead types and team overrides (leads in the store escalate
            under them).
        templates: The mail templates the actions name.
        addresses: User id to e-mail address (escalate-to users, new owners).
        sender: The From address.
        warning_template: The template for warnings before a step.
        task_template: The template of a task's overdue reminder.
        lead_templates: The templates of a lead's internal reminder (to the
            responsible users) and external escalation (to the agency).
        batch: How many due cases a tick reads at a time.
        lease: How long a claimed mail is a worker's before another may take it.
        progress: Called with the name of each step as it happens ("fired",
            "queued", "saved", "committed", "sent", "marked"): for progress
            displays, and for tests that stop a worker at a chosen point.
    """

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        clock: Clock,
        *,
        book: RuleBook,
        calendars: Mapping[str, BusinessHours] | None = None,
        leads: LeadSettings | None = None,
        templates: Templates | None = None,
        addresses: Mapping[str, str] | None = None,
        sender: str = "escalate@example.com",
        warning_template: str = "warning",
        task_template: str = "task overdue",
        lead_templates: tuple[str, str] = ("lead reminder", "lead external"),
        batch: int = 500,
        lease: timedelta = timedelta(minutes=5),
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.use_settings(Settings(book, calendars or {}, leads or LeadSettings()))
        self.templates = templates or Templates({})
        self.addresses = dict(addresses or {})
        self.sender = sender
        self.warning_template = warning_template
        self.task_template = task_template
        self.lead_templates = lead_templates
        self.batch = batch
        self.lease = lease
        self.progress = progress or _quiet

    @classmethod
    def from_config(
        cls,
        config: Config,
        store: Store,
        mailer: Mailer,
        clock: Clock,
        **options: Any,
    ) -> Escalator:
        """An escalator under a loaded configuration: its settings, templates,
        addresses, sender and template names. ``options`` are passed on
        (``batch``, ``lease``, ``progress``)."""
        mail = config.mail
        return cls(
            store,
            mailer,
            clock,
            book=config.settings.book,
            calendars=config.settings.calendars,
            leads=config.settings.leads,
            templates=config.compiled_templates(),
            addresses=mail.addresses,
            sender=mail.sender,
            warning_template=mail.warning_template,
            task_template=mail.task_template,
            lead_templates=mail.lead_templates,
            **options,
        )

    # -- settings ------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The rule book and calendars this escalator works under."""
        return self._settings

    @property
    def book(self) -> RuleBook:
        """The rule book."""
        return self._settings.book

    @property
    def calendars(self) -> Mapping[str, BusinessHours]:
        """Calendar name to business hours."""
        return self._settings.calendars

    def use_settings(self, settings: Settings) -> None:
        """Work under other settings from now on (the next :meth:`tick`, or
        :meth:`sync_settings`, stores them and recomputes the open cases)."""
        if not isinstance(settings, Settings):
            raise WrongTypeError(f"settings: expected a Settings, got {settings!r}")
        self._settings = settings
        self._digest = settings.digest

    def sync_settings(self) -> int:
        """Make the store's settings this escalator's, recomputing every open
        case's next due instant when they differ (in batches); returns how many
        cases were recomputed (0 when the store had these settings already).

        The store's record says whether the recompute finished, so a worker that
        dies in the middle leaves it to the next one to finish.
        """
        return self._sync()[0]

    def _sync(self) -> tuple[int, int]:
        """:meth:`sync_settings`, also returning how many deadlines moved."""
        record = self.store.settings_record()
        if record is not None and record.digest == self._digest and record.recomputed:
            return 0, 0
        before = None
        if record is not None and record.digest != self._digest:
            try:
                before = Settings.from_document(record.document)
            except EscalateError:
                before = None  # no longer valid: nothing to compare with
        now = self.clock.now()
        stored = SettingsRecord(
            digest=self._digest,
            document=self._settings.document(),
            saved_at=now,
            recomputed=False,
        )
        self.store.save_settings(stored)
        done, moved = self._recompute(None, before)
        self.store.save_settings(attrs.evolve(stored, recomputed=True))
        return done, moved

    # -- cases ---------------------------------------------------------------------

    def next_due(self, case: Case) -> datetime | None:
        """The earliest due instant of the case's actions not fired yet (it may
        be past: then the case is overdue), or None."""
        return self._next_due(case, self._settings)

    def _next_due(self, case: Case, settings: Settings) -> datetime | None:
        now = self.clock.now()
        ev = evaluate(settings.book, case, now, settings.calendars)
        instants = [
            to_us(s.due_at, "due_at")
            for s in ev.steps
            if s.due_at is not None
            and not s.superseded
            and not self.store.is_fired(s.key)
        ]
        if ev.expiry is not None and not self.store.is_fired(ev.expiry.key):
            instants.append(to_us(ev.expiry.due_at, "due_at"))
        return utc_from_us(min(instants)) if instants else None

    def _file(self, case: Case) -> CaseFile:
        store = self.store
        return CaseFile(
            case=case,
            head=store.history_head(case.id),
            lines=tuple(store.lines(case.id)),
            deleted=frozenset(d.line_seq for d in store.deletions(case.id)),
        )

    def _write(self, change: Change) -> None:
        self.store.append_history(change.entries)
        self.store.append_lines(change.lines)
        self.store.append_deletions(change.deletions)

    def add_case(self, case: Case, *, by: Actor | None) -> Case:
        """Store a new case with its history, follow-up and next due instant."""
        change = create_case(case, by=by)
        with self.store.transaction():
            self._write(change)
            return self.store.save_case(case, next_due=self.next_due(case))

    def update_case(
        self, case_id: str, changes: Mapping[str, Any], *, by: Actor | None
    ) -> Case:
        """Change a stored case (history, follow-up) and recompute its next due."""
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            change = apply_change(file, changes, by=by, at=self.clock.now())
            self._write(change)
            case = change.file.case
            return self.store.save_case(case, next_due=self.next_due(case))

    def recompute(self, case_ids: Iterable[str] | None = None) -> int:
        """Recompute the next due instants of the given cases (all open cases and
        all leads if None), a batch per transaction; fired actions stay fired.
        Returns how many cases and leads were recomputed; :meth:`sync_settings`
        calls it when the settings change."""
        return self._recompute(case_ids, None)[0]

    def _recompute(
        self, case_ids: Iterable[str] | None, before: Settings | None
    ) -> tuple[int, int]:
        """Recompute; also count the next deadlines that differ from those under
        the settings ``before`` (when given)."""
        done = moved = 0
        now = self.clock.now()

        def due_or_now(
            due: Callable[..., datetime | None], *args: Any
        ) -> datetime | None:
            try:
                return due(*args)
            except EscalateError:
                return now  # due at once: the tick reports what is wrong

        ids = list(self.store.open_case_ids() if case_ids is None else case_ids)
        for i in range(0, len(ids), self.batch):
            with self.store.transaction():
                for case_id in ids[i : i + self.batch]:
                    case = self.store.get_case(case_id)
                    due = due_or_now(self._next_due, case, self._settings)
                    if before is not None:
                        moved += due != due_or_now(self._next_due, case, before)
                    self.store.save_case(case, next_due=due)
                    done += 1
            self.progress("recomputed")
        if case_ids is None:
            lead_ids = list(self.store.lead_ids())
            for i in range(0, len(lead_ids), self.batch):
                with self.store.transaction():
                    for lead_id in lead_ids[i : i + self.batch]:
                        lead = self.store.get_lead(lead_id)
                        due = due_or_now(self._lead_due, lead, self._settings)
                        if before is not None:
                            moved += due != due_or_now(self._lead_due, lead, before)
                        self.store.save_lead(lead, next_due=due)
                        done += 1
                self.progress("recomputed")
        return done, moved

    def delete_case(self, case_id: str, *, by: Actor) -> CaseDeletion:
        """Delete a case: it leaves the store, its history stays, and a deletion
        record (who, when, the history head) is kept."""
        with self.store.transaction():
            deletion = delete_case(
                self._file(self.store.get_case(case_id)), by=by, at=self.clock.now()
            )
            self.store.delete_case(deletion)
        return deletion

    def escalate_to_document(
        self,
        case_id: str,
        kind: DocumentKind,
        *,
        by: Actor,
        settings: DocumentSettings | None = None,
        **fields: Any,
    ) -> EscalationDocument:
        """Escalate a stored case into a complaint, service report or action:
        the document gets the store's next number and is stored with the case's
        history, in one transaction (see ``history.escalate_to_document`` for
        ``fields``)."""
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            document, change = escalate_to_document(
                file,
                kind,
                by=by,
                at=self.clock.now(),
                numbering=self.store,
                settings=settings,
                **fields,
            )
            self.store.save_document(document)
            if change.file is not file:
                self._write(change)
                case = change.file.case
                self.store.save_case(case, next_due=self.next_due(case))
        return document

    # -- leads -----------------------------------------------------------------------

    def next_lead_due(self, lead: Lead) -> datetime | None:
        """The earliest due instant of the lead's escalation steps not carried
        out yet, or None."""
        return self._lead_due(lead, self._settings)

    def _lead_due(self, lead: Lead, settings: Settings) -> datetime | None:
        instants = [
            to_us(a.due_at, "due_at")
            for a in lead_steps(lead, settings.leads)
            if not self.store.is_fired(a.key)
        ]
        return utc_from_us(min(instants)) if instants else None

    def save_lead(self, lead: Lead) -> Lead:
        """Store a new or changed lead (optimistic, on its version) with its next
        due instant; returns it as stored."""
        if not isinstance(lead, Lead):
            raise WrongTypeError(f"lead: expected a Lead, got {lead!r}")
        self._settings.leads.lead_type(lead.lead_type)  # a known type
        with self.store.transaction():
            return self.store.save_lead(lead, next_due=self.next_lead_due(lead))

    def _escalate_lead(self, lead_id: str, now: datetime) -> list[LeadAction]:
        done = []
        with self.store.transaction():
            lead = self.store.get_lead(lead_id)
            for action in due_lead_actions(lead, self._settings.leads, now):
                if not self.store.record_fired(action.key, now):
                    continue  # carried out before, or by another worker
                self.progress("fired")
                context = {
                    "lead": attrs.asdict(lead, recurse=False),
                    "phase": action.phase.value,
                    "step": action.step.value,
                    "due_at": action.due_at,
                    "responsible": action.responsible,
                    "external": action.external,
                }
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
                        a for u in action.responsible if (a := self.addresses.get(u))
                    ]
                    template = self.lead_templates[0]
                for mail in self._mails(template, action.key, recipients, context):
                    self.store.enqueue(mail, at=now)
                    self.progress("queued")
                done.append(action)
            self.store.save_lead(lead, next_due=self.next_lead_due(lead))
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

    def _remind(self, task_id: str, now: datetime) -> list[str]:
        with self.store.transaction():
            task = self.store.get_task(task_id)
            due = task.reminder_at()
            if due is None or to_us(due, "due_at") > to_us(now, "now"):
                self.store.save_task(task, next_due=due)
                return []
            key = _task_key(task, due)
            fresh = self.store.record_fired(key, now)
            if fresh:
                owner = self.addresses.get(task.owner)
                mails = (
                    self._mails(
                        self.task_template,
                        key,
                        [owner],
                        {"task": attrs.asdict(task, recurse=False), "due_at": due},
                    )
                    if owner
                    else []
                )
                for mail in mails:
                    self.store.enqueue(mail, at=now)
            self.store.save_task(task, next_due=None)
        return [task_id] if fresh else []

    # -- tick ------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Carry out every due action once; see the module docstring.

        First the store is brought to this escalator's settings
        (:meth:`sync_settings`); then due cases are handled, then due leads,
        then due task reminders.
        """
        now = self.clock.now()
        recomputed, moved = self._sync()
        errors: list[tuple[str, str]] = []
        cases, fired = self._each_due(self.store.due_cases, self._handle, now, errors)
        _, leads = self._each_due(
            self.store.due_leads, self._escalate_lead, now, errors, "lead: "
        )
        _, reminded = self._each_due(
            self.store.due_tasks, self._remind, now, errors, "task: "
        )
        return TickReport(
            at=now,
            cases=cases,
            fired=tuple(fired),
            leads=tuple(leads),
            reminded=tuple(reminded),
            errors=tuple(errors),
            recomputed=recomputed,
            moved=moved,
        )

    def _each_due(
        self,
        read: Callable[..., Sequence[_Identified]],
        handle: Callable[[str, datetime], list[_T]],
        now: datetime,
        errors: list[tuple[str, str]],
        label: str = "",
    ) -> tuple[int, list[_T]]:
        """Handle each item ``read(now, limit=batch)`` gives, once, in batches,
        until none is due; a failure goes into ``errors`` and the rest goes on.
        Returns how many were handled, and what ``handle`` returned."""
        done: list[_T] = []
        seen: set[str] = set()
        while True:
            batch = [x for x in read(now, limit=self.batch) if x.id not in seen]
            if not batch:
                return len(seen), done
            for item in batch:
                seen.add(item.id)
                try:
                    done += handle(item.id, now)
                except ConflictError as e:
                    errors.append(
                        (item.id, f"{label}changed meanwhile, retried next tick: {e}")
                    )
                except EscalateError as e:
                    errors.append((item.id, f"{label}{e}"))

    def _handle(self, case_id: str, now: datetime) -> list[Fired]:
        done: list[Fired] = []
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            ev = evaluate(self.book, file.case, now, self.calendars)
            fired_before = {s.key for s in ev.steps if self.store.is_fired(s.key)}
            if ev.expiry is not None and self.store.is_fired(ev.expiry.key):
                fired_before.add(ev.expiry.key)
            for action in ev.actions(fired_before):
                if not self.store.record_fired(action.key, now):
                    continue  # another worker carried it out first
                self.progress("fired")
                file, mails = self._carry_out(file, action, now)
                for mail in mails:
                    self.store.enqueue(mail, at=now)
                    self.progress("queued")
                done.append(
                    Fired(
                        key=action.key,
                        case_id=case_id,
                        kind=action.kind,
                        due_at=action.due_at,
                        mails=len(mails),
                        action=action,
                        recipients=tuple(m.recipient for m in mails),
                    )
                )
            self.store.save_case(file.case, next_due=self.next_due(file.case))
            self.progress("saved")
        self.progress("committed")
        return done

    def _carry_out(
        self, file: CaseFile, action: DueAction, now: datetime
    ) -> tuple[CaseFile, list[OutgoingMail]]:
        if action.kind is ActionKind.EXPIRY:
            assert action.new_status is not None
            change = expire(file, at=now, expired=action.new_status)
            self._write(change)
            return change.file, []
        step = action.action
        assert step is not None
        before = file.case
        if (
            action.kind is ActionKind.ESCALATION
            and step.new_owner
            and step.new_owner != before.owner
        ):
            change = apply_change(file, {"owner": step.new_owner}, by=None, at=now)
            self._write(change)
            file = change.file
        context = {
            "case": _case_context(file.case),
            "action": step,
            "kind": action.kind.value,
            "due_at": action.due_at,
            "basis_at": action.basis_at,
            "rule": action.rule,
            "item": action.item_id,
            "threshold": action.threshold,
        }
        mails: list[OutgoingMail] = []
        if action.kind is ActionKind.WARNING:
            owner = self.addresses.get(before.owner or "")
            if owner:
                mails += self._mails(
                    self.warning_template, action.key, [owner], context
                )
            return file, mails
        to = [a for a in (self.addresses.get(step.escalate_to),) if a]
        mails += self._mails(
            step.escalation_template or "escalation",
            action.key,
            [*to, *step.extra_emails],
            context,
        )
        if step.new_owner:
            owner = self.addresses.get(step.new_owner)
            if owner:
                mails += self._mails(
                    step.notify_template or "assignment", action.key, [owner], context
                )
        return file, mails

    def _mails(
        self,
        template: str,
        key: str,
        recipients: Iterable[str],
        context: Mapping[str, Any],
    ) -> list[OutgoingMail]:
        if not recipients:
            return []
        rendered = self.templates.render_mail(template, **context)
        return [
            OutgoingMail(
                key=key,
                recipient=r,
                sender=self.sender,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
            )
            for r in dict.fromkeys(recipients)  # distinct, in order
        ]

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, *, limit: int = 100) -> DispatchReport:
        """Send queued mails (at least once each); failures wait with backoff."""
        now = self.clock.now()
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        done: list[Claim] = []
        for claim in self.store.claim(now, lease=self.lease, limit=limit):
            try:
                self.mailer.send(claim.mail)
                self.progress("sent")
            except DeliveryError as e:
                backoff = min(
                    timedelta(minutes=1) * 2 ** (claim.attempt - 1), _MAX_BACKOFF
                )
                self.store.mark_failed(claim, error=str(e), retry_at=now + backoff)
                failed.append((claim.mail.message_id, str(e)))
                continue
            done.append(claim)
        if done:
            sent = self.store.mark_sent(done, at=now)
            self.progress("marked")
        return DispatchReport(at=now, sent=tuple(sent), failed=tuple(failed))


def _task_key(task: Task, due: datetime) -> str:
    return task_key(task.id, to_us(due, "due_at"))


def _quiet(step: str) -> None:
    """The default progress hook: nothing."""


def _case_context(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status.name,
        "priority": case.priority,
        "owner": case.owner,
        "fields": dict(case.fields),
        "created_at": case.created_at,
    }

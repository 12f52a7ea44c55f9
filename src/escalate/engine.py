"""The escalation engine: the one place that wires the ports to the core.

``Escalator.tick()`` finds the cases that are due (through the store's index of
next due instants, not a scan of every case), a batch at a time, each batch in
one transaction and **each case in a savepoint of it**: re-reads the case, asks
the core which actions are due, records each action's idempotency key
(``record_fired``: unique, so another worker that got there first wins and this
one skips it), applies its effects (a new owner or the Pending → Expired change,
as automatic changes that do not set ``modified_at``), appends the history
entries and follow-up lines, enqueues the mails, and stores the case with its
next due instant. Either all of that is kept or none of it is (a case that fails
is rolled back alone; a batch whose commit fails leaves nothing). ``dispatch()``
then sends queued mails, each claimed by one worker for a lease, and marks them
sent; a failed send is retried with backoff.

What exactly-once means here: each due action is *recorded and enqueued* exactly
once, whatever the number of workers and wherever a worker dies; each enqueued
mail is *delivered at least once*, always with the same Message-ID (a worker that
dies after sending but before marking it sent leaves it to be sent again), so a
receiver can drop duplicates.

The Escalator is built from parts, each a module: cases, ticks and dispatch here;
the due items of a tick taken in batches, a transaction per ``PER_COMMIT`` and a
savepoint per item, in ``_engine_batches.py``; follow-up lines, history and
documents in ``_engine_files.py``; leads and tasks
in ``_engine_leads.py``; the settings in force (sync, recompute)
in ``_engine_settings.py``; what they share (the ports, the settings, mail
rendering, next due instants) in ``_engine_base.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

import attrs

from escalate._engine_batches import (
    PER_COMMIT,
    TICK_ATTEMPTS,
    ActionFailed,
    _DueBatches,
)
from escalate._engine_files import _CaseFiles
from escalate._engine_leads import _LeadsAndTasks
from escalate._engine_routing import _Assigning
from escalate._engine_settings import _SettingsSync
from escalate._engine_sla import _ServiceLevels
from escalate._instants import require_duration, to_us, zone_named
from escalate._template_context import case_action_context
from escalate.changes import AppliedChange
from escalate.config import Config
from escalate.delivery import DeliveryPolicy, Dispatcher, DispatchReport
from escalate.errors import (
    ConfigError,
    ConflictError,
    EscalateError,
    InvalidOperation,
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
    LeadAction,
    LeadSettings,
)
from escalate.mail import OutgoingMail, check_address
from escalate.matching import Agent, Routing
from escalate.metrics import Metrics
from escalate.model import Actor, Case
from escalate.ports import Mailer, Store, TickRecord
from escalate.rules import ActionKind, DueAction, RuleBook, evaluate
from escalate.settings import ChangePolicy, Settings
from escalate.sla import SlaAction, SlaSettings
from escalate.templates import Templates
from escalate.timers import Clock

__all__ = [
    "PER_COMMIT",
    "TICK_ATTEMPTS",
    "DispatchReport",
    "Escalator",
    "Fired",
    "TickReport",
]

_log: Final = logging.getLogger("escalate.engine")
_outbox_log: Final = logging.getLogger("escalate.outbox")


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
        sla: The SLA warnings and breaches it carried out.
        errors: ``(case or task id, message)`` of what it could not handle (left
            as it was, for the next tick).
        recomputed: How many open cases and leads it recomputed because the
            settings changed.
        moved: How many of those got another next deadline than they had under
            the settings stored before.
        change: What bringing the store to this escalator's settings did (the
            plan, and the steps recorded as skipped), when they had changed.
    """

    at: datetime
    cases: int
    fired: tuple[Fired, ...]
    leads: tuple[LeadAction, ...] = ()
    reminded: tuple[str, ...] = ()
    sla: tuple[SlaAction, ...] = ()
    errors: tuple[tuple[str, str], ...]
    recomputed: int = 0
    moved: int = 0
    change: AppliedChange | None = None

    @property
    def ok(self) -> bool:
        """No case failed."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise if anything could not be handled.

        Raises:
            InvalidOperation: Listing each case, lead or task id with its error;
                what failed was left as it was, for the next tick.
        """
        if self.errors:
            listed = "; ".join(f"{who}: {message}" for who, message in self.errors)
            raise InvalidOperation(
                f"the tick at {self.at.isoformat()} could not handle "
                f"{len(self.errors)}: {listed}"
            )


class Escalator(
    _DueBatches,
    _CaseFiles,
    _Assigning,
    _LeadsAndTasks,
    _SettingsSync,
    _ServiceLevels,
):
    """Runs the rule book against the cases in a store, and sends the mails.

    Args:
        store: Where cases, history, fired keys and the outbox live.
        mailer: Sends the queued mails (``dispatch``).
        clock: Tells the time (a ``ManualClock`` in tests and simulations).
        book: The rule book.
        calendars: Calendar name to business hours.
        leads: The lead types and team overrides (leads in the store escalate
            under them).
        changes: What a change of these settings does to open cases
            (``on_change``); the default fires steps made due at once.
        templates: The mail templates the actions name.
        addresses: User id to e-mail address (escalate-to users, new owners).
        sender: The From address.
        warning_template: The template for warnings before a step.
        task_template: The template of a task's overdue reminder.
        lead_templates: The templates of a lead's internal reminder (to the
            responsible users) and external escalation (to the agency).
        routing: The assignment settings (default queue user, qualifications,
            relaxation), or None: no routing. With it, a new case without an
            owner goes to the queue user, and ``waiting_cases``, ``pull``,
            ``assign``, ``assign_bulk`` and ``suggest`` work.
        agents: The agents (``pull`` by id, ``assign_bulk``, ``suggest``).
        zone: The time zone templates show instants in (the ``zone`` variable,
            which the ``local`` filter uses) where no calendar gives one: a
            case action whose item runs in a calendar gets that calendar's zone.
        batch: How many due cases a tick reads at a time.
        lease: How long a claimed mail is a worker's before another may take it
            (at least twice the delivery policy's send deadline).
        delivery: Retries, dead letters and the send deadline of mails
            (:class:`~escalate.delivery.DeliveryPolicy`; its defaults if None).
        worker: Who this worker is (``host:pid``, say): what a claimed mail
            and the heartbeat of each tick name.
        sla: The SLA policies (``docs/sla.md``; part of the settings, so a
            change of them is applied like any other), or None: with them, each
            case's SLA events are recorded as it is added and changed,
            ``record`` and ``sla_timeline`` work, and the tick carries out each
            metric run's warnings and breach once.
        sla_templates: The templates of an SLA warning and of a breach (mailed
            to the case's owner).
        progress: Called with the name of each step as it happens ("fired",
            "queued", "saved", "committed", "sent", "marked"): for progress
            displays, and for tests that stop a worker at a chosen point.
        metrics: Where the engine counts what it does (``docs/metrics.md``); a
            fresh :class:`~escalate.metrics.Metrics` if None.

    It logs to the ``escalate.engine`` logger (each action carried out, each
    case it could not handle, each recompute) and ``escalate.outbox`` (each mail
    queued, sent or failed), with the case id, key, rule, item and action as
    ``extra`` fields of the record; it never prints.
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
        changes: ChangePolicy | None = None,
        templates: Templates | None = None,
        addresses: Mapping[str, str] | None = None,
        sender: str = "escalate@example.com",
        warning_template: str = "warning",
        task_template: str = "task overdue",
        lead_templates: tuple[str, str] = ("lead reminder", "lead external"),
        routing: Routing | None = None,
        agents: Iterable[Agent] = (),
        zone: str = "UTC",
        sla: SlaSettings | None = None,
        sla_templates: tuple[str, str] = ("sla warning", "sla breach"),
        batch: int = 500,
        lease: timedelta = timedelta(minutes=5),
        delivery: DeliveryPolicy | None = None,
        worker: str | None = None,
        progress: Callable[[str], None] | None = None,
        metrics: Metrics | None = None,
        by: Actor | None = None,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self._versions = {}
        self._kept = None
        if sla is not None and not isinstance(sla, SlaSettings):
            raise WrongTypeError(f"sla: expected SlaSettings, got {sla!r}")
        if by is not None and not isinstance(by, Actor):
            raise WrongTypeError(f"by: expected an Actor, got {by!r}")
        self.configured_by = by
        self._use(
            Settings(
                book,
                # the SLA settings' calendars too (the ones given win a name)
                {**({} if sla is None else sla.calendars), **(calendars or {})},
                leads or LeadSettings(),
                changes or ChangePolicy(),
                sla,
            )
        )
        self.templates = templates or Templates({})
        self.addresses = {
            user: check_address(address, f"addresses[{user!r}]")
            for user, address in (addresses or {}).items()
        }
        self.sender = check_address(sender, "sender")
        self.warning_template = warning_template
        self.task_template = task_template
        self.lead_templates = lead_templates
        if routing is not None and not isinstance(routing, Routing):
            raise WrongTypeError(f"routing: expected a Routing, got {routing!r}")
        self.routing = routing
        self.agents = _agents(agents)
        self.zone = _zone_name(zone)
        self.sla_templates = sla_templates
        self.batch = _how_many(batch, "batch")
        self.lease = require_duration(lease, "lease")
        if self.lease <= timedelta(0):
            raise ConfigError(f"lease: expected a positive duration, got {lease!r}")
        self.progress = progress or _quiet
        self.metrics = Metrics() if metrics is None else metrics
        self.worker = worker
        self.dispatcher = Dispatcher(
            store,
            mailer,
            clock,
            lease=self.lease,
            policy=delivery,
            metrics=self.metrics,
            worker=worker,
            progress=self.progress,
        )
        self._queued = []
        self._after_commit = []
        self._skipped, self._partly = {}, []

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
        (``batch``, ``lease``, ``progress``, ``metrics``)."""
        mail = config.mail
        return cls(
            store,
            mailer,
            clock,
            book=config.settings.book,
            calendars=config.settings.calendars,
            leads=config.settings.leads,
            changes=config.settings.changes,
            templates=config.compiled_templates(),
            addresses=mail.addresses,
            sender=mail.sender,
            warning_template=mail.warning_template,
            task_template=mail.task_template,
            lead_templates=mail.lead_templates,
            routing=config.routing,
            agents=config.agents,
            zone=config.zone,
            sla=config.settings.sla,
            **options,
        )

    # -- cases ---------------------------------------------------------------------

    def add_case(
        self,
        case: Case,
        *,
        by: Actor | None,
        registration_confirmation: str | None = None,
    ) -> Case:
        """Store a new case with its history, follow-up and next due instant; it
        records the settings version in force (``Case.settings_version``). With
        ``registration_confirmation`` (the text of the confirmation mail your
        CRM sent), a registration confirmation line is written too. With
        routing, a case without an owner goes to the default queue user."""
        if not isinstance(case, Case):
            raise WrongTypeError(f"case: expected a Case, got {case!r}")
        if case.settings_version is None:
            case = attrs.evolve(case, settings_version=self._digest)
        case = self._route_new(case)
        change = create_case(
            case, by=by, registration_confirmation=registration_confirmation
        )
        with self.store.transaction():
            self._keep_version()
            try:
                self._write(change)  # entry 1 follows only an empty head
            except ConflictError as e:
                raise ConflictError(
                    f"case {case.id!r} exists already (or existed: its history is "
                    "kept); use update_case to change it"
                ) from e
            self._sla_created(case)
            saved = self._save_case(case)
        self._kept_version()
        return saved

    def update_case(
        self,
        case_id: str,
        changes: Mapping[str, Any],
        *,
        by: Actor | None,
        closing_confirmation: str | None = None,
    ) -> Case:
        """Change a stored case (history, follow-up) and recompute its next due.
        A status may be given by name (``{"status": "Closed"}``). Closing it
        with ``closing_confirmation`` (the text of the mail sent) writes a
        closing confirmation line."""
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            now = self.clock.now()
            change = apply_change(
                file,
                changes,
                by=by,
                at=now,
                closing_confirmation=closing_confirmation,
            )
            self._write(change)
            case = change.file.case
            self._sla_changed(file.case, case, now)
            return self._save_case(case)

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
                self._save_case(case)
        return document

    # -- tick ------------------------------------------------------------------------

    def next_wake(self, within: timedelta) -> datetime:
        """When a worker should tick next: the earliest next due instant among
        the open cases due within ``within`` from now (through the due index,
        so its cost follows those cases), else now + ``within`` (the poll
        interval, which also covers leads, tasks and mail retries)."""
        now = self.clock.now()
        until = now + require_duration(within, "within")
        oldest = self.store.due_backlog(until).oldest
        if oldest is None:
            return until
        return max(oldest, now, key=lambda t: to_us(t, "t"))

    def tick(self) -> TickReport:
        """Carry out every due action once; see the module docstring.

        First the store is brought to this escalator's settings (:meth:`apply`,
        following their ``on_change``); then due cases are handled, then due
        leads, then due task reminders.
        """
        now = self.clock.now()
        last = self.store.last_tick()
        if last is not None and last.at > now:
            _log.warning(
                "the tick at %s is earlier than the last tick at %s: is a clock "
                "behind?",
                now.isoformat(),
                last.at.isoformat(),
                extra={"at": now.isoformat(), "last_tick": last.at.isoformat()},
            )
        change = self.apply()
        errors: list[tuple[str, str]] = []
        cases, results = self._each_due(self.store.due_cases, self._handle, now, errors)
        fired = [r for r in results if isinstance(r, Fired)]
        sla = [r for r in results if isinstance(r, SlaAction)]
        _, leads = self._each_due(
            self.store.due_leads, self._escalate_lead, now, errors, "lead"
        )
        _, reminded = self._each_due(
            self.store.due_tasks, self._remind, now, errors, "task"
        )
        done = len(fired) + len(sla) + len(leads) + len(reminded)
        self.store.record_tick(
            TickRecord(at=now, cases=cases, fired=done, errors=len(errors))
        )
        self._count_tick(now, fired, len(leads), len(reminded), len(errors))
        return TickReport(
            at=now,
            cases=cases,
            fired=tuple(fired),
            leads=tuple(leads),
            reminded=tuple(reminded),
            sla=tuple(sla),
            errors=tuple(errors),
            recomputed=0 if change is None else change.recomputed,
            moved=0 if change is None else change.plan.summary.deadlines_moved,
            change=change,
        )

    def _count_tick(
        self,
        now: datetime,
        fired: Sequence[Fired],
        leads: int,
        reminded: int,
        errors: int,
    ) -> None:
        """Count a tick into the metrics, and read the backlog and outbox left."""
        m = self.metrics
        m.inc("escalate_ticks_total")
        for f in fired:
            m.inc("escalate_actions_fired_total", kind=f.kind.value)
            m.observe("escalate_due_lag_seconds", now - f.due_at)
        m.inc("escalate_lead_steps_total", leads)
        m.inc("escalate_task_reminders_total", reminded)
        m.inc("escalate_tick_errors_total", errors)
        lag = max((now - f.due_at for f in fired), default=timedelta(0))
        m.set("escalate_tick_due_lag_seconds", lag // timedelta(seconds=1))
        backlog = self.store.due_backlog(now)
        m.set("escalate_due_backlog", backlog.count)
        outbox = self.store.outbox_state(failing=0)
        m.set("escalate_outbox_depth", outbox.depth)
        m.set("escalate_outbox_dead", outbox.dead)
        m.set("escalate_put_aside", self.store.quarantine_state(now, limit=0).count)
        oldest = outbox.oldest_queued_at
        age = timedelta(0) if oldest is None else max(now - oldest, timedelta(0))
        m.set("escalate_outbox_oldest_unsent_seconds", age // timedelta(seconds=1))
        m.set(
            "escalate_last_tick_timestamp_seconds",
            to_us(now, "now") // 1_000_000,
        )
        m.observe("escalate_tick_duration_seconds", self.clock.now() - now)

    def _handle(self, case_id: str, now: datetime) -> list[Fired | SlaAction] | None:
        done: list[Fired] = []
        with self.store.transaction():
            case = self.store.take_due_case(case_id, now)
            if case is None:  # handled meanwhile, or by another worker now
                return None
            at = _Handling(self, case)
            settings = self.settings_for(case)
            ev = evaluate(settings.book, case, now, settings.calendars)
            keys = [s.key for s in ev.steps]
            if ev.expiry is not None:
                keys.append(ev.expiry.key)
            fired_before = self.store.fired_among(keys)
            known = {k: k in fired_before for k in keys}
            for action in ev.actions(fired_before):
                if action.key in self._skipped:  # it failed: the others go on
                    known[action.key] = False
                    continue
                known[action.key] = True  # by this worker, or one before it
                if not self.store.record_fired(action.key, now):
                    continue  # another worker carried it out first
                self.progress("fired")
                try:
                    rendered = self._carry_out(at, action, now, settings)
                    mails = self._enqueue(rendered, now)
                except ConflictError:
                    raise
                except EscalateError as e:  # handled again, without this one
                    raise ActionFailed(action.key, str(e)) from e
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
            sla, sla_marks = self._sla_actions(at.case, now, known)
            # unchanged by its actions, the case's evaluation and SLA marks hold
            # for its next due instant too (same case, instant and settings)
            if at.case is case:
                self._save_case(case, known, ev, sla_marks)
            else:
                self._save_case(at.case, known)
            if self._skipped:  # what failed is tried again after a backoff
                self._partly = list(self._skipped.values())
                self._put_aside("case", case_id, now, "; ".join(self._partly))
            self.progress("saved")
        self._after_commit.append(partial(self._committed_case, case_id, done, sla))
        return [*done, *sla]

    def _committed_case(
        self, case_id: str, done: list[Fired], sla: list[SlaAction]
    ) -> None:
        """Once its batch committed: log what was carried out on the case."""
        self.progress("committed")
        if not _log.isEnabledFor(logging.INFO):
            return
        for f in done:
            assert f.action is not None
            step_id = f.action.action.id if f.action.action else None
            _log.info(
                "case %s: %s %r of item %r carried out (due %s)",
                case_id,
                f.kind.value,
                step_id or "expiry",
                f.action.item_id,
                f.due_at.isoformat(),
                extra={
                    "case_id": case_id,
                    "key": f.key,
                    "rule": f.action.rule,
                    "item": f.action.item_id,
                    "action": step_id,
                    "kind": f.kind.value,
                    "recipients": list(f.recipients),
                },
            )
        for a in sla:
            _log.info(
                "case %s: SLA %s of %s run %d carried out (reached %s)",
                case_id,
                "breach" if a.breach else f"warning at {a.percent}%",
                a.metric.value,
                a.index,
                a.due_at.isoformat(),
                extra={"case_id": case_id, "key": a.key, "policy": a.policy},
            )

    def _carry_out(
        self, at: _Handling, action: DueAction, now: datetime, settings: Settings
    ) -> list[OutgoingMail]:
        """Carry out a due action on the case being handled; the mails it
        sends, to queue."""
        if action.kind is ActionKind.EXPIRY:
            assert action.new_status is not None
            at.change(expire(at.file(), at=now, expired=action.new_status), now)
            return []
        step = action.action
        assert step is not None
        before = at.case
        if (
            action.kind is ActionKind.ESCALATION
            and step.new_owner
            and step.new_owner != before.owner
        ):
            at.change(
                apply_change(at.file(), {"owner": step.new_owner}, by=None, at=now),
                now,
            )
        context = case_action_context(at.case, action, self._zone_of(action, settings))
        mails: list[OutgoingMail] = []
        what = f"{action.kind.value} {step.id!r}"
        if action.kind is ActionKind.WARNING:
            if before.owner is None:  # nobody to warn: the warning is recorded
                return mails
            owner = self._address_of(before.owner, f"the owner warned by {what}")
            mails += self._mails(
                self.warning_template, action.key, [owner], context, now
            )
            return mails
        to = (
            [self._address_of(step.escalate_to, f"escalate_to of {what}")]
            if step.escalate_to
            else []
        )
        mails += self._mails(
            step.escalation_template or "escalation",
            action.key,
            [*to, *step.extra_emails],
            context,
            now,
        )
        if step.new_owner:
            owner = self._address_of(step.new_owner, f"new_owner of {what}")
            mails += self._mails(
                step.notify_template or "assignment",
                action.key,
                [owner],
                context,
                now,
            )
        return mails

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, *, limit: int = 100) -> DispatchReport:
        """Send up to ``limit`` queued mails, each marked sent once its server
        accepted it; a temporary failure waits with backoff, a permanent one is
        a dead letter (:mod:`escalate.delivery`)."""
        _how_many(limit, "limit")
        return self.dispatcher.dispatch(limit=limit)


class _Handling:
    """The case a tick is handling, and its file (history head, follow-up
    lines), read from the store only when a change to write needs it: most due
    actions only queue mail."""

    def __init__(self, engine: Escalator, case: Case) -> None:
        self._engine = engine
        self.case = case
        self._file: CaseFile | None = None

    def file(self) -> CaseFile:
        if self._file is None:
            self._file = self._engine._file(self.case)
        return self._file

    def change(self, change: Change, at: datetime) -> None:
        """Write ``change`` (made from :meth:`file`) at ``at``; the case moves
        on (and its SLA events say how)."""
        self._engine._write(change)
        self._engine._sla_changed(self.case, change.file.case, at)
        self._file = change.file
        self.case = change.file.case


def _how_many(value: object, name: str) -> int:
    """``value`` if it is a whole number of at least 1, else a clear error."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise WrongTypeError(f"{name}: expected a whole number, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name}: expected at least 1, got {value}")
    return value


def _zone_name(zone: object) -> str:
    zone_named(zone, "zone")
    return zone  # type: ignore[return-value]  # a str: zone_named checked it


def _agents(agents: Iterable[Agent]) -> dict[str, Agent]:
    if isinstance(agents, str | Agent):
        raise WrongTypeError(f"agents: expected a list of Agent, got {agents!r}")
    out: dict[str, Agent] = {}
    for agent in agents:
        if not isinstance(agent, Agent):
            raise WrongTypeError(f"agents: expected Agent values, got {agent!r}")
        if agent.id in out:
            raise ConfigError(f"agents: the agent id {agent.id!r} appears twice")
        out[agent.id] = agent
    return out


def _quiet(step: str) -> None:
    """The default progress hook: nothing."""

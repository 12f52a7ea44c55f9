"""What every part of the :class:`~escalate.engine.Escalator` shares: its ports,
the settings it works under, how a mail is rendered, and when a case or a lead is
next due. The parts (cases and ticks in ``engine.py``, leads and tasks in
``_engine_leads.py``, settings in ``_engine_settings.py``) build on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from escalate._instants import to_us, utc_from_us
from escalate.errors import ConfigError, NotFound, WrongTypeError
from escalate.history import CaseFile, Change
from escalate.hours import BusinessHours
from escalate.leads import Lead, lead_steps
from escalate.mail import Mailer, OutgoingMail
from escalate.metrics import Metrics
from escalate.model import Actor, Case
from escalate.ports import CaseState, Governed, SettingsVersion, Store
from escalate.rules import DueAction, Evaluation, RuleBook, evaluate
from escalate.settings import ChangesApplyTo, Settings, check_change
from escalate.templates import Templates
from escalate.timers import Clock

_outbox_log: Final = logging.getLogger("escalate.outbox")


class _Engine:
    """The state and the shared helpers of an Escalator (see ``engine.py``)."""

    store: Store
    mailer: Mailer
    clock: Clock
    templates: Templates
    addresses: dict[str, str]
    sender: str
    warning_template: str
    task_template: str
    lead_templates: tuple[str, str]
    zone: str
    batch: int
    lease: timedelta
    progress: Callable[[str], None]
    metrics: Metrics
    _queued: list[OutgoingMail]  # queued in the transaction under way
    _after_commit: list[Callable[[], None]]  # to do once it committed
    _skipped: dict[str, str]  # the due item's actions left out: key -> error
    _partly: list[str]  # errors of the actions the due item was handled without
    _settings: Settings
    configured_by: Actor | None  # who put the settings in force, if anyone
    _digest: str
    _versions: dict[str, Settings]  # settings versions read from the store
    _kept: str | None  # the digest of the version known to be kept in the store

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

    def use_settings(self, settings: Settings, *, by: Actor) -> None:
        """Work under other settings from now on (the next :meth:`tick`, or
        :meth:`apply`, stores them and recomputes the open cases), put in force
        by ``by``.

        Raises:
            PermissionDenied: ``by`` may not make this change of the settings
                in force (``settings.check_change``: the rules, calendars and
                SLA need ``configure case escalation``; leads, an administrator
                or the team's admin).
        """
        if not isinstance(settings, Settings):
            raise WrongTypeError(f"settings: expected a Settings, got {settings!r}")
        check_change(self._settings, settings, by, "use_settings")
        self.configured_by = by
        self._use(settings)

    def _use(self, settings: Settings) -> None:
        self._settings = settings
        self._digest = settings.digest
        self._versions[self._digest] = settings

    def settings_for(self, subject: Case | Lead | CaseState) -> Settings:
        """The settings that govern a case or lead: this escalator's, or, when
        they apply changes to new cases only (``changes_apply_to = "new
        cases"``), the version it was created under (or kept when that mode
        began).

        Raises:
            ConfigError: That version is not in the store.
        """
        return self._resolve(subject.settings_version, self._settings)

    def _resolve(self, pinned: str | None, settings: Settings) -> Settings:
        """``settings``, or the pinned version where they say it governs."""
        if (
            pinned is None
            or pinned == settings.digest
            or settings.changes.apply_to is ChangesApplyTo.OPEN_CASES
        ):
            return settings
        known = self._versions.get(pinned)
        if known is None:
            try:
                document = self.store.settings_version(pinned).document
            except NotFound as e:
                raise ConfigError(
                    f"settings version {pinned[:12]}: the version a case or lead "
                    "keeps is not in the store"
                ) from e
            known = self._versions[pinned] = Settings.from_document(document)
        return known

    def _keep_version(self) -> None:
        """Keep this escalator's settings version in the store (a case or lead
        created now keeps it); once per version, after its transaction commits
        (:meth:`_kept_version`)."""
        if self._kept != self._digest:
            self.store.save_settings_version(
                SettingsVersion(
                    digest=self._digest,
                    document=self._settings.document(),
                    saved_at=self.clock.now(),
                )
            )

    def _kept_version(self) -> None:
        self._kept = self._digest

    # -- when things are due ---------------------------------------------------------

    def next_due(self, case: Case) -> datetime | None:
        """The earliest due instant of the case's actions not fired yet (it may
        be past: then the case is overdue), or None."""
        return self._next_due(case, self.settings_for(case))

    def _next_due(self, case: Case, settings: Settings) -> datetime | None:
        return self._schedule(case, settings)[0]

    def _schedule(
        self,
        case: Case,
        settings: Settings,
        known: Mapping[str, bool] | None = None,
        ev: Evaluation | None = None,
        sla_marks: Sequence[tuple[str, datetime]] | None = None,
    ) -> tuple[datetime | None, Governed]:
        """The case's next due instant under ``settings``, and what governs it
        there (one evaluation gives both; ``ev``: the case's evaluation now,
        and ``sla_marks`` its SLA marks as (key, instant), if found already).
        ``known`` says of some keys whether they are fired; the store is asked
        about the others, in one query."""
        if ev is None:
            ev = evaluate(settings.book, case, self.clock.now(), settings.calendars)
        due_at = {
            s.key: s.due_at
            for s in ev.steps
            if s.due_at is not None and not s.superseded
        }
        if ev.expiry is not None:
            due_at[ev.expiry.key] = ev.expiry.due_at
        fired = self._fired(due_at, known or {})
        instants = [to_us(t, "due_at") for k, t in due_at.items() if k not in fired]
        sla = self._sla_next_due(case, known or {}, sla_marks)
        if sla is not None:
            instants.append(sla)
        due = utc_from_us(min(instants)) if instants else None
        governed = Governed(
            digest=settings.digest, item=None if ev.item is None else ev.item.id
        )
        return due, governed

    def _sla_reselect(self, case: Case, at: datetime) -> None:
        """Record the SLA policy that matches the case now, if another (after a
        change of the settings); the SLA part of the engine does."""

    def _sla_next_due(
        self,
        case: Case,
        known: Mapping[str, bool],
        marks: Sequence[tuple[str, datetime]] | None = None,
    ) -> int | None:
        """The earliest SLA warning or breach of the case not carried out yet
        (µs), or None; the SLA part of the engine says (none without it)."""
        return None

    def _fired(self, keys: Collection[str], known: Mapping[str, bool]) -> set[str]:
        """Which of ``keys`` are fired: from ``known`` where it says, else from
        the store (one query for the rest)."""
        fired = {k for k in keys if known.get(k)}
        unknown = [k for k in keys if k not in known]
        return fired | (self.store.fired_among(unknown) if unknown else set())

    def _save_case(
        self,
        case: Case,
        known: Mapping[str, bool] | None = None,
        ev: Evaluation | None = None,
        sla_marks: Sequence[tuple[str, datetime]] | None = None,
    ) -> Case:
        """Store a case with its next due instant and what governs it, under
        the settings that govern it (``known``, ``ev``, ``sla_marks``: see
        :meth:`_schedule`)."""
        due, governed = self._schedule(
            case, self.settings_for(case), known, ev, sla_marks
        )
        return self.store.save_case(case, next_due=due, governed=governed)

    def _lead_due(self, lead: Lead, settings: Settings) -> datetime | None:
        instants = [
            to_us(a.due_at, "due_at")
            for a in lead_steps(lead, settings.leads)
            if not self.store.is_fired(a.key)
        ]
        return utc_from_us(min(instants)) if instants else None

    # -- history ---------------------------------------------------------------------

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

    # -- mail ------------------------------------------------------------------------

    def _zone_of(self, action: DueAction, settings: Settings) -> str:
        """The zone a case action's templates show instants in: its item's
        calendar's, else this escalator's ``zone``."""
        if action.rule is not None and action.item_id is not None:
            item = settings.book.rule(action.rule).item(action.item_id)
            hours = settings.calendars.get(item.hours) if item.hours else None
            if hours is not None:
                return str(hours.tz)
        return self.zone

    def _address_of(self, user: str | None, role: str) -> str:
        """The address of ``user``, or a ConfigError: a mail with no recipient is
        an error of the case (its action is not recorded, so it fires once the
        configuration is fixed), never a silent skip."""
        if not user:
            raise ConfigError(f"{role}: there is nobody to mail (no user)")
        address = self.addresses.get(user)
        if not address:
            raise ConfigError(
                f"{role}: user {user!r} has no address in [users]; known: "
                f"{sorted(self.addresses)}"
            )
        return address

    def _enqueue(
        self, mails: Iterable[OutgoingMail], now: datetime
    ) -> list[OutgoingMail]:
        """Queue ``mails``; the ones queued (a Message-ID queued already is not)."""
        queued = []
        for mail in mails:
            if self.store.enqueue(mail, at=now):
                queued.append(mail)
                self.progress("queued")
        self._queued += queued
        return queued

    def _committed(self) -> None:
        """What waits for the transaction under way to commit, now that it
        did: the steps left to do after it (logs), then the mails queued in it
        counted and logged."""
        after, self._after_commit = self._after_commit, []
        for step in after:
            step()
        logged = _outbox_log.isEnabledFor(logging.INFO)
        for mail in self._queued:
            self.metrics.inc("escalate_mails_queued_total", purpose=mail.purpose)
            if not logged:
                continue
            _outbox_log.info(
                "queued %s mail to %s",
                mail.purpose,
                mail.recipient,
                extra={
                    "key": mail.key,
                    "message_id": mail.message_id,
                    "recipient": mail.recipient,
                    "purpose": mail.purpose,
                },
            )
        self._queued = []

    def _mails(
        self,
        template: str,
        key: str,
        recipients: Iterable[str],
        context: Mapping[str, Any],
        now: datetime,
    ) -> list[OutgoingMail]:
        """The mails of ``template`` to each recipient, dated ``now``."""
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
                purpose=template,
                created_at=now,
            )
            for r in dict.fromkeys(recipients)  # distinct, in order
        ]

"""The Escalator's service levels: the SLA events of each case, recorded as the
case changes and as the CRM reports them, and its timeline computed from them
(``docs/sla.md``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from escalate._engine_base import _Engine
from escalate._instants import to_us
from escalate._keys import sla_key
from escalate._template_context import sla_action_context
from escalate.errors import EscalateError, InvalidOperation, WrongTypeError
from escalate.model import Case
from escalate.sla import (
    EventKind,
    Metric,
    SlaAction,
    SlaEvent,
    SlaSettings,
    SlaTimeline,
    timeline,
)

# What the CRM reports; the engine records the rest from the case's changes.
_REPORTED = frozenset(
    {
        EventKind.CUSTOMER_MESSAGE,
        EventKind.AGENT_REPLY,
        EventKind.SOLVED,
        EventKind.REOPENED,
    }
)


class _ServiceLevels(_Engine):
    """SLA events, timelines, warnings and breaches (a part of
    :class:`~escalate.engine.Escalator`)."""

    sla_templates: tuple[str, str]

    @property
    def sla(self) -> SlaSettings | None:
        """The SLA policies of the settings in force, or None."""
        return self._settings.sla

    def record(self, case_id: str, event: SlaEvent) -> SlaTimeline:
        """Record what happened to a stored case for its service level: a
        customer message, an agent's public reply, solved or reopened (the
        status, priority, owner and policy events are recorded by
        ``add_case`` and ``update_case`` themselves), and store the case's
        next due instant after it. Returns the case's timeline.

        Raises:
            InvalidOperation: No SLA settings, or an event the engine records
                itself.
            NotFound: No such case.
        """
        settings = self._sla_settings()
        if not isinstance(event, SlaEvent):
            raise WrongTypeError(f"event: expected an SlaEvent, got {event!r}")
        if event.kind not in _REPORTED:
            raise InvalidOperation(
                f"event: {event.kind.value!r} events are recorded by add_case and "
                "update_case as the case changes; record takes "
                f"{sorted(k.value for k in _REPORTED)}"
            )
        with self.store.transaction():
            case = self.store.get_case(case_id)
            if not self.store.sla_events(case_id):
                raise InvalidOperation(
                    f"case {case_id!r} has no SLA events: it was added before the "
                    "SLA policies (see docs/sla.md for tracking it)"
                )
            self.store.append_sla_events(case_id, [event])
            # computed before the commit: an event that makes the log unreadable
            # (one before the case's creation) is refused, and nothing is kept
            now = self._timeline(
                settings, case, self.store.sla_events(case_id), self.clock.now()
            )
            self._save_case(case)  # its next due instant follows the event
        return now

    def sla_timeline(self, case_id: str, *, at: datetime | None = None) -> SlaTimeline:
        """The stored case's service level at ``at`` (default: now): each metric
        run, what it counted and paused, its target and breach.

        Raises:
            InvalidOperation: No SLA settings.
            NotFound: No such case.
        """
        settings = self._sla_settings()
        case = self.store.get_case(case_id)
        events = self.store.sla_events(case_id)
        return self._timeline(
            settings, case, events, self.clock.now() if at is None else at
        )

    # -- warnings and breaches, carried out by the tick ------------------------

    def _sla_marks(
        self, case: Case, now: datetime
    ) -> tuple[SlaTimeline | None, list[tuple[str, Metric, int, int, datetime]]]:
        """The case's timeline, and each warning and breach of its unfulfilled
        metric runs with its key, by instant (then metric, key): what the
        tick carries out once it is reached."""
        assert self.sla is not None
        events = self.store.sla_events(case.id)
        if not events:
            return None, []
        timeline = self._timeline(self.sla, case, events, now)
        marks = [
            (sla_key(case.id, m.name.lower(), i, p), m, i, p, at)
            for at, m, i, p in timeline.due()
        ]
        marks.sort(key=lambda m: (to_us(m[4], "at"), m[1].value, m[0]))
        return timeline, marks

    def _sla_next_due(
        self,
        case: Case,
        known: Mapping[str, bool],
        marks: Sequence[tuple[str, datetime]] | None = None,
    ) -> int | None:
        if self.sla is None or case.closed:
            return None
        if marks is None:
            now = self.clock.now()
            try:
                marks = [(m[0], m[4]) for m in self._sla_marks(case, now)[1]]
            except EscalateError:  # events it cannot read: the tick reports them
                return to_us(now, "now")
        fired = self._fired([key for key, _ in marks], known)
        due = [to_us(at, "at") for key, at in marks if key not in fired]
        return min(due) if due else None

    def _sla_actions(
        self, case: Case, now: datetime, known: dict[str, bool]
    ) -> tuple[list[SlaAction], list[tuple[str, datetime]]]:
        """Carry out the case's SLA warnings and breaches reached by ``now``
        and not carried out before (inside the case's transaction): each is
        recorded under its key, once, and mailed to the case's owner. Returns
        them, and every mark of the case as (key, instant): what its next due
        instant is found from while the case stays as it is."""
        if self.sla is None or case.closed:
            return [], []
        timeline, marks = self._sla_marks(case, now)
        reached = [m for m in marks if m[4] <= now]
        fired = self._fired([m[0] for m in reached], known)
        done = []
        for key, metric, index, percent, at in reached:
            known[key] = True
            if key in fired or not self.store.record_fired(key, now):
                continue
            assert timeline is not None
            run = next(r for r in timeline.of(metric) if r.index == index)
            self.progress("fired")
            template = self.sla_templates[1 if percent == 100 else 0]
            what = f"the owner told of {run.metric.value} {percent}%"
            to = [] if case.owner is None else [self._address_of(case.owner, what)]
            context = sla_action_context(case, run, percent, at, self.zone)
            mails = self._enqueue(self._mails(template, key, to, context, now), now)
            done.append(
                SlaAction(
                    key=key,
                    case_id=case.id,
                    metric=run.metric,
                    index=run.index,
                    percent=percent,
                    due_at=at,
                    policy=run.policy,
                    target=run.target,
                    mails=len(mails),
                )
            )
        return done, [(m[0], m[4]) for m in marks]

    def _sla_settings(self) -> SlaSettings:
        if self.sla is None:
            raise InvalidOperation(
                "this escalator has no SLA settings: give Escalator(sla=...), or "
                "an [sla] section in the configuration file"
            )
        return self.sla

    def _timeline(
        self,
        settings: SlaSettings,
        case: Case,
        events: Sequence[SlaEvent],
        at: datetime,
    ) -> SlaTimeline:
        known = {p.id for p in settings.policies}
        events = [  # a policy the settings no longer have: as if not recorded
            e for e in events if e.kind is not EventKind.POLICY or e.value in known
        ]
        policy = _policy_of(events)
        start = None
        if policy is not None:
            field = settings.policy(policy).start_field
            value = None if field is None else case.fields.get(field)
            start = value if isinstance(value, datetime) else None
        return timeline(settings, events, at=at, start_at=start)

    def _sla_created(self, case: Case) -> None:
        """The first events of a new case: created, its status, priority and
        policy (inside the transaction that stores it)."""
        if self.sla is None:
            return
        at = case.created_at
        events = [
            SlaEvent(at, EventKind.CREATED),
            SlaEvent(at, EventKind.STATUS, case.status.name),
        ]
        if case.priority is not None:
            events.append(SlaEvent(at, EventKind.PRIORITY, str(case.priority)))
        policy = self.sla.select(case)
        if policy is not None:
            events.append(SlaEvent(at, EventKind.POLICY, policy.id))
        self.store.append_sla_events(case.id, events)

    def _sla_reselect(self, case: Case, at: datetime) -> None:
        if self.sla is None or case.closed:
            return
        events = self.store.sla_events(case.id)
        now = self.sla.select(case)
        if events and now is not None and now.id != _policy_of(events):
            self.store.append_sla_events(
                case.id, [SlaEvent(at, EventKind.POLICY, now.id)]
            )

    def _sla_changed(self, before: Case, after: Case, at: datetime) -> None:
        """The events of a change to a case: its new status (and closed or
        reopened with it), priority, owner, and the policy that matches now if
        another (inside the transaction that stores it)."""
        if self.sla is None:
            return
        recorded = self.store.sla_events(after.id)
        if not recorded:  # added before the SLA policies: not tracked
            return
        events = []
        if after.status != before.status:
            events.append(SlaEvent(at, EventKind.STATUS, after.status.name))
            if after.closed and not before.closed:
                events.append(SlaEvent(at, EventKind.CLOSED))
            elif before.closed and not after.closed:
                events.append(SlaEvent(at, EventKind.REOPENED))
        if after.priority != before.priority and after.priority is not None:
            events.append(SlaEvent(at, EventKind.PRIORITY, str(after.priority)))
        if after.owner != before.owner:
            events.append(SlaEvent(at, EventKind.REASSIGNED, after.owner))
        now = self.sla.select(after)
        if now is not None and now.id != _policy_of(recorded):
            events.append(SlaEvent(at, EventKind.POLICY, now.id))
        self.store.append_sla_events(after.id, events)


def _policy_of(events: Sequence[SlaEvent]) -> str | None:
    """The id of the policy the events put in force last, or None."""
    return next((e.value for e in reversed(events) if e.kind is EventKind.POLICY), None)

"""Replaying a scenario through the engine on a manual clock: the timeline.

:func:`replay` stores a :class:`~escalate.scenario.Scenario`'s cases, leads and
tasks through an :class:`~escalate.engine.Escalator` at their own instants, and
ticks at every instant something is due (exactly then, not on a polling grid),
up to an end. It yields a :class:`Moment` for everything that happens: what, to
whom, and why. ``escalate demo`` runs it on SQLite with mail written to a folder;
``escalate simulate`` on a memory store with nothing sent.

At one instant, the scenario's events come first, then the tick.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo

import attrs

from escalate._durations import format_duration
from escalate._instants import to_us
from escalate._keys import task_key
from escalate.engine import Escalator, Fired
from escalate.errors import EscalateError
from escalate.leads import Lead, LeadAction, LeadStep
from escalate.model import Actor, Case
from escalate.rules import ActionKind, RuleBook
from escalate.scenario import CaseEvent, LeadEvent, Scenario
from escalate.sla import SlaAction, SlaEvent
from escalate.timers import ManualClock, Phase

__all__ = ["Moment", "replay"]


@attrs.frozen(kw_only=True)
class Moment:
    """One thing that happened in a replay.

    Attributes:
        at: When.
        subject: The case number, ``lead <id>`` or ``task <id>``.
        what: What happened ("escalated to tessa", "status -> Pending").
        why: The reason, for escalations ("2h of business time in 'office'
            since created at ...").
        mails: The recipients of the mails it queued.
        error: Whether it is an error the tick reported.
    """

    at: datetime
    subject: str
    what: str
    why: str = ""
    mails: tuple[str, ...] = ()
    error: bool = False


@attrs.frozen
class _Event:
    at: datetime
    order: int
    item: object


def replay(
    esc: Escalator,
    clock: ManualClock,
    scenario: Scenario,
    *,
    until: datetime,
    dispatch: bool = False,
    tz: tzinfo = UTC,
) -> Iterator[Moment]:
    """Replay ``scenario`` through ``esc`` up to ``until`` (included).

    The clock must not be after the scenario's first instant. With
    ``dispatch``, queued mails are sent after each tick. Moments are in zone
    ``tz``. An error the tick reports is yielded once, not at every tick.
    """
    numbers = {c.id: c.number for c in scenario.cases}
    events = sorted(
        [
            *(_Event(c.created_at, i, c) for i, c in enumerate(scenario.cases)),
            *(_Event(x.received_at, i, x) for i, x in enumerate(scenario.leads)),
            *(_Event(e.at, i, e) for i, e in enumerate(scenario.events)),
        ],
        key=lambda e: (to_us(e.at, "at"), e.order),
    )
    now = clock.now().astimezone(tz)
    for task in scenario.tasks:
        esc.save_task(task)
        yield Moment(
            at=now,
            subject=f"task {task.id}",
            what=f"saved for {task.owner}, due {_clock(task.due_at, now)}",
        )
    until_us = to_us(until, "until")
    reported: set[tuple[str, str]] = set()
    while True:
        now = clock.now()
        candidates = [to_us(events[0].at, "at")] if events else []
        candidates += _dues(esc, scenario, now)
        if not candidates or min(candidates) > until_us:
            return
        at = max(min(candidates), to_us(now, "now"))
        clock.advance(timedelta(microseconds=at - to_us(now, "now")))
        now = clock.now().astimezone(tz)
        while events and to_us(events[0].at, "at") <= at:
            yield from _apply(esc, events.pop(0).item, now, numbers)
        report = esc.tick()
        for fired in report.fired:
            yield _fired(fired, esc.book, numbers, now)
        for action in report.leads:
            yield _lead_moment(action, now, esc.addresses)
        for task_id in report.reminded:
            yield Moment(at=now, subject=f"task {task_id}", what="overdue: reminded")
        for sla in report.sla:
            yield _sla_moment(sla, numbers, now, esc)
        for subject, message in report.errors:
            if (subject, message) not in reported:
                reported.add((subject, message))
                subject = numbers.get(subject, subject)
                yield Moment(at=now, subject=subject, what=message, error=True)
        if dispatch:
            esc.dispatch(limit=1000)


def _sla_moment(
    action: SlaAction, numbers: dict[str, str], now: datetime, esc: Escalator
) -> Moment:
    what = "breached" if action.breach else f"at {action.percent}% of its target"
    owner = esc.store.get_case(action.case_id).owner
    address = esc.addresses.get(owner or "")
    return Moment(
        at=now,
        subject=numbers.get(action.case_id, action.case_id),
        what=f"SLA {action.metric.value} {what}",
        why=(
            f"policy {action.policy!r}: target {_span(action.target)}, reached "
            f"{_clock(action.due_at, now)}"
        ),
        mails=(address,) if address and action.mails else (),
    )


def _span(d: timedelta | None) -> str:
    return "none" if d is None else format_duration(d)


def _dues(esc: Escalator, scenario: Scenario, now: datetime) -> list[int]:
    """The next due instants after ``now`` of what is stored."""
    now_us = to_us(now, "now")
    store = esc.store
    dues: list[datetime | None] = []
    for case in scenario.cases:
        try:
            dues.append(esc.next_due(store.get_case(case.id)))
        except EscalateError:
            continue  # not created yet, or deleted
    for lead in scenario.leads:
        try:
            dues.append(esc.next_lead_due(store.get_lead(lead.id)))
        except EscalateError:
            continue
    for task in scenario.tasks:
        if not store.is_fired(task_key(task.id, to_us(task.due_at, "due_at"))):
            dues.append(task.due_at)
    return [us for d in dues if d is not None and (us := to_us(d, "due")) > now_us]


def _apply(
    esc: Escalator, item: object, now: datetime, numbers: dict[str, str]
) -> Iterator[Moment]:
    if isinstance(item, CaseEvent):
        subject = numbers[item.case_id]
        try:
            if item.changes:
                esc.update_case(item.case_id, item.changes, by=Actor(item.by))
            if item.sla is not None:
                esc.record(item.case_id, SlaEvent(now, item.sla))
        except EscalateError as e:
            yield Moment(at=now, subject=subject, what=str(e), error=True)
            return
        done = [f"{k} -> {v}" for k, v in item.changes.items()]
        done += [] if item.sla is None else [item.sla]
        yield Moment(at=now, subject=subject, what=f"{', '.join(done)} (by {item.by})")
    elif isinstance(item, LeadEvent):
        subject = f"lead {item.lead_id}"
        try:
            lead = esc.store.get_lead(item.lead_id)
            if item.action == "assign":
                assert item.team is not None
                lead = lead.assign(item.team, now)
            elif item.action == "accept":
                lead = lead.accept(now)
            else:
                assert item.kind is not None
                lead = lead.register_activity(item.kind, now)
            esc.save_lead(lead)
        except EscalateError as e:
            yield Moment(at=now, subject=subject, what=str(e), error=True)
            return
        detail = item.team or item.kind
        yield Moment(
            at=now,
            subject=subject,
            what=f"{item.action}" + (f" ({detail})" if detail else ""),
        )
    elif isinstance(item, Lead):
        subject = f"lead {item.id}"
        try:
            esc.save_lead(item)
        except EscalateError as e:
            yield Moment(at=now, subject=subject, what=str(e), error=True)
            return
        what = f"received ({item.lead_type}, team {item.team})"
        yield Moment(at=now, subject=subject, what=what)
    elif isinstance(item, Case):
        try:
            added = esc.add_case(item, by=None)  # routed: the queue user if no owner
        except EscalateError as e:
            yield Moment(at=now, subject=item.number, what=str(e), error=True)
            return
        what = f"created (priority {added.priority}, owner {added.owner})"
        yield Moment(at=now, subject=item.number, what=what)


def _fired(
    fired: Fired, book: RuleBook, numbers: dict[str, str], now: datetime
) -> Moment:
    subject = numbers.get(fired.case_id, fired.case_id)
    action = fired.action
    if action is None:  # pragma: no cover - the engine always sets it
        return Moment(at=now, subject=subject, what=fired.kind.value)
    if fired.kind is ActionKind.EXPIRY:
        expiry = book.expiry
        hours = f" in {expiry.hours!r}" if expiry and expiry.hours else ""
        after = (
            f"{format_duration(expiry.after)} of business time{hours}" if expiry else ""
        )
        return Moment(
            at=now,
            subject=subject,
            what=f"status -> {action.new_status}",
            why=f"pending since {_clock(action.basis_at, now)}: {after} passed",
            mails=tuple(dict.fromkeys(fired.recipients)),
        )
    step = action.action
    assert step is not None
    assert action.rule is not None
    assert action.item_id is not None
    item = book.rule(action.rule).item(action.item_id)  # the book the tick used
    label = item.name or item.id
    hours = f" in {item.hours!r}" if item.hours else " (24/7)"
    basis = item.basis.value
    if fired.kind is ActionKind.WARNING:
        assert action.threshold is not None
        part = step.after * action.threshold.numerator // action.threshold.denominator
        what = f"warning: {int(action.threshold * 100)}% of step {step.id!r}"
        why = f"{format_duration(part)} of business time{hours}"
    else:
        what = f"escalated to {step.escalate_to} (step {step.id!r})"
        if step.new_owner:
            what += f", new owner {step.new_owner}"
        why = f"{format_duration(step.after)} of business time{hours}"
    return Moment(
        at=now,
        subject=subject,
        what=what,
        why=f"{why} since {basis} at {_clock(action.basis_at, now)}; item {label!r}",
        mails=tuple(dict.fromkeys(fired.recipients)),
    )


def _lead_moment(
    action: LeadAction, now: datetime, addresses: Mapping[str, str]
) -> Moment:
    phase = "not accepted" if action.phase is Phase.FIRST else "no first activity"
    if action.step is LeadStep.EXTERNAL and action.external is not None:
        what = f"escalated to the agency {action.external.agency}"
        mails: tuple[str, ...] = (action.external.email,)
    else:
        what = f"reminder to {', '.join(action.responsible)}"
        mails = tuple(addresses[u] for u in action.responsible if u in addresses)
    return Moment(
        at=now,
        subject=f"lead {action.lead_id}",
        what=what,
        why=f"{phase} by {_clock(action.due_at, now)}",
        mails=mails,
    )


def _clock(t: datetime, now: datetime) -> str:
    return t.astimezone(now.tzinfo).strftime("%a %H:%M")

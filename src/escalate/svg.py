"""A case's timeline as an SVG picture (``escalate timeline``).

Open hours of the governing item's calendar are shaded, pending stretches are
hatched, each step's threshold is a vertical line, fired actions are dots on it,
and history entries are ticks under the axis; with an SLA timeline, each metric
run is a bar under them, its paused stretches shaded and its breach marked.
Every mark carries a ``class`` (``open``, ``pause``, ``threshold``, ``fired``,
``event``, ``sla``, ``sla-pause``, ``sla-breach``) and a ``<title>`` for people,
so tools and tests can find them. :func:`report_svg` draws an SLA report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from xml.sax.saxutils import escape, quoteattr

import attrs

from escalate._instants import to_us
from escalate.history import HistoryAction, HistoryEntry
from escalate.model import Case, Status
from escalate.rules import ActionKind, StepStatus, evaluate
from escalate.settings import Settings
from escalate.sla import MetricRun, SlaReport, SlaTimeline

__all__ = ["report_svg", "timeline_svg"]

_WIDTH = 1000
_LEFT = 40
_AXIS = 120


def _label(s: StepStatus) -> str:
    if s.kind is ActionKind.WARNING:
        return f"warning {int((s.threshold or 0) * 100)}% of {s.action.id}"
    return f"{s.action.id} -> {s.action.escalate_to}"


def _statuses(
    case: Case, history: Sequence[HistoryEntry]
) -> list[tuple[datetime, str]]:
    """(instant, status name) each time the status changed, from the history."""
    out: list[tuple[datetime, str]] = []
    for e in history:
        details = e.details
        if e.action is HistoryAction.CASE_CREATED:
            out.append((e.at, str(details.get("status", case.status.name))))
        elif e.action is HistoryAction.CASE_MODIFIED:
            change = details.get("changes", {}).get("status")
            if change is not None:
                out.append((e.at, str(change["new"])))
        elif "new" in details:  # closed, reopened
            out.append((e.at, str(details["new"])))
    return out


def timeline_svg(
    case: Case,
    history: Sequence[HistoryEntry],
    settings: Settings,
    *,
    until: datetime,
    fired: Callable[[str], bool],
    tz: tzinfo,
    sla: SlaTimeline | None = None,
) -> str:
    """The SVG text of ``case``'s timeline from its creation to ``until``.

    Args:
        case: The case as stored.
        history: Its history entries.
        settings: The settings its deadlines are computed under.
        until: The end of the picture (later than the creation).
        fired: Whether an action key was carried out.
        tz: The zone the labels are in.
        sla: The case's SLA timeline at ``until``, if any: a bar per metric
            run under the axis (class ``sla``), its paused stretches
            (``sla-pause``) and its breach (``sla-breach``).
    """
    start = case.created_at
    changes = _statuses(case, history)
    governed = case
    if case.closed:  # show the ladder the case ran under while it was open
        open_before = [(t, name) for t, name in changes if name != case.status.name]
        if open_before:
            since, name = open_before[-1]
            governed = attrs.evolve(case, status=Status.named(name), status_since=since)
    ev = evaluate(settings.book, governed, until, settings.calendars)
    marks = [  # (instant, label, kind, key): the ladder's steps and the expiry
        (s.due_at, _label(s), s.kind, s.key) for s in ev.steps if s.due_at is not None
    ]
    if ev.expiry is not None:
        expiry = ev.expiry
        label = f"expiry -> {expiry.new_status}"
        marks.append((expiry.due_at, label, ActionKind.EXPIRY, expiry.key))
    until_us = to_us(until, "until")
    if case.closed:  # what lay after the closing never happened
        marks = [m for m in marks if to_us(m[0], "due") <= until_us]
    marks.sort(key=lambda m: to_us(m[0], "due"))
    end_us = max([until_us] + [to_us(m[0], "due") for m in marks])
    end = datetime.fromtimestamp(end_us // 10**6, tz) + timedelta(hours=1)
    lo, hi = to_us(start, "start"), to_us(end, "end")

    def x(t: datetime) -> float:
        return round(_LEFT + (to_us(t, "t") - lo) / (hi - lo) * (_WIDTH - 2 * _LEFT), 1)

    runs = () if sla is None else sla.runs
    height = 220 + (_SLA_ROW * len(runs) + 10 if runs else 0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f"<title>Case {escape(case.number)}: timeline</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{_LEFT}" y="20" font-size="14">Case {escape(case.number)} '
        f"({escape(case.status.name)}), from {start.astimezone(tz):%a %d %b %H:%M} "
        f"to {end.astimezone(tz):%a %d %b %H:%M} ({escape(str(tz))})</text>",
    ]
    hours = settings.calendars.get(ev.item.hours) if ev.item and ev.item.hours else None
    if hours is not None:
        for a, b in hours.intervals(start, end):
            parts.append(
                f'<rect class="open" x="{x(a)}" y="40" width="{x(b) - x(a)}" '
                f'height="{_AXIS - 40}" fill="#d9f2d9"><title>open '
                f"{a.astimezone(tz):%a %H:%M}-{b.astimezone(tz):%H:%M}</title></rect>"
            )
    pending = settings.book.expiry.pending.name if settings.book.expiry else "Pending"
    for (t, status), nxt in zip(changes, [*changes[1:], (end, "")], strict=True):
        if status == pending:
            parts.append(
                f'<rect class="pause" x="{x(t)}" y="60" width="{x(nxt[0]) - x(t)}" '
                f'height="20" fill="#f5d0a9"><title>{escape(status)} from '
                f"{t.astimezone(tz):%a %H:%M}</title></rect>"
            )
    parts.append(
        f'<line x1="{_LEFT}" y1="{_AXIS}" x2="{_WIDTH - _LEFT}" y2="{_AXIS}" '
        'stroke="black"/>'
    )
    for n, (due_at, label, kind, key) in enumerate(marks):
        pos = x(due_at)
        colour = {ActionKind.WARNING: "#999", ActionKind.EXPIRY: "#8e44ad"}.get(
            kind, "#c0392b"
        )
        when = f"{due_at.astimezone(tz):%a %H:%M}"
        parts.append(
            f'<line class="threshold" x1="{pos}" y1="35" x2="{pos}" y2="{_AXIS}" '
            f'stroke="{colour}" stroke-dasharray="4 2"><title>{escape(label)} due '
            f"{when}</title></line>"
        )
        parts.append(
            f'<text x="{pos + 3 if pos < _WIDTH * 0.7 else pos - 3}" '
            f'y="{45 + 12 * (n % 5)}" fill="{colour}" '
            f'text-anchor="{"start" if pos < _WIDTH * 0.7 else "end"}">'
            f"{escape(label)}</text>"
        )
        if fired(key):
            parts.append(
                f'<circle class="fired" cx="{pos}" cy="{_AXIS}" r="5" fill="{colour}">'
                f"<title>fired: {escape(label)} at {when}</title></circle>"
            )
    for i, e in enumerate(history):
        pos = x(e.at)
        what = f"{e.action.value} by {e.actor or 'escalate'}"
        parts.append(
            f'<g class="event"><line x1="{pos}" y1="{_AXIS}" x2="{pos}" '
            f'y2="{_AXIS + 10}" stroke="black"/><text x="{pos}" '
            f'y="{_AXIS + 22 + 12 * (i % 4)}" '
            f'text-anchor="{"start" if pos < _WIDTH * 0.7 else "end"}">{escape(what)}'
            f"</text><title>{quoteattr(what)[1:-1]} at "
            f"{e.at.astimezone(tz):%a %d %b %H:%M}</title></g>"
        )
    for n, run in enumerate(runs):
        parts += _sla_row(run, 220 + _SLA_ROW * n, x, end, tz)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


_SLA_ROW = 22


def _sla_row(
    run: MetricRun, y: int, x: Callable[[datetime], float], end: datetime, tz: tzinfo
) -> list[str]:
    """One SLA metric run as a bar: green when on time, red once breached."""
    stop = run.fulfilled_at or end
    breached = run.breached_at is not None and to_us(run.breached_at, "b") <= to_us(
        stop, "stop"
    )
    target = "no target" if run.target is None else f"target {run.target}"
    state = "breached" if breached else ("fulfilled" if run.fulfilled_at else "open")
    what = f"{run.metric.value} #{run.index} ({run.policy}, {target}): {state}"
    out = [
        f'<text x="{_LEFT}" y="{y + 11}">{escape(run.metric.value)} #{run.index}'
        "</text>",
        f'<rect class="sla" x="{x(run.started_at)}" y="{y}" '
        f'width="{max(x(stop) - x(run.started_at), 1)}" height="14" '
        f'fill="{"#e6b0aa" if breached else "#abebc6"}"><title>{escape(what)}, '
        f"counted {run.counted}, paused {run.paused}</title></rect>",
    ]
    for a, b in run.pauses:
        out.append(
            f'<rect class="sla-pause" x="{x(a)}" y="{y}" width="{x(b) - x(a)}" '
            f'height="14" fill="#f5d0a9"><title>paused '
            f"{a.astimezone(tz):%a %H:%M}-{b.astimezone(tz):%a %H:%M}</title></rect>"
        )
    if run.breached_at is not None and to_us(run.breached_at, "b") <= to_us(end, "end"):
        pos = x(run.breached_at)
        out.append(
            f'<line class="sla-breach" x1="{pos}" y1="{y - 2}" x2="{pos}" '
            f'y2="{y + 16}" stroke="#c0392b" stroke-width="2"><title>breach '
            f"{run.breached_at.astimezone(tz):%a %d %b %H:%M}</title></line>"
        )
    return out


def report_svg(report: SlaReport) -> str:
    """A bar chart of an SLA report: the attainment of each policy's metric,
    with its counts (class ``attainment``; a row with nothing fulfilled in the
    period has no bar)."""
    row, left, width = 24, 260, _WIDTH - 300
    height = 60 + row * max(len(report.rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" font-family="sans-serif" font-size="11">',
        "<title>SLA attainment</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{_LEFT}" y="20" font-size="14">SLA attainment, '
        f"{report.start.isoformat()} to {report.end.isoformat()}</text>",
    ]
    for n, r in enumerate(report.rows):
        y = 40 + row * n
        name = f"{r.policy or '(none)'}: {r.metric.value}"
        counts = f"{r.achieved} achieved, {r.breached} breached, {r.active} active"
        parts.append(f'<text x="{_LEFT}" y="{y + 12}">{escape(name)}</text>')
        if r.attainment is not None:
            share = int(r.attainment.replace(".", ""))  # hundredths of a percent
            parts.append(
                f'<rect class="attainment" x="{left}" y="{y}" '
                f'width="{round(width * share / 10_000, 1)}" height="16" '
                f'fill="#5dade2"><title>{escape(name)}: {r.attainment}% '
                f"({counts})</title></rect>"
            )
        label = "-" if r.attainment is None else f"{r.attainment}%"
        parts.append(
            f'<text x="{left + width + 5}" y="{y + 12}">{escape(label)} '
            f"({escape(counts)})</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

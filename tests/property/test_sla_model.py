"""SLA timelines against a brute-force model: the events walked minute by minute
over a simple calendar, each minute counted (or paused) one by one.

Events and instants fall on whole minutes, so the model is exact; the timeline
computes with the calendar's algebra, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.hours import BusinessHours
from escalate.sla import (
    EventKind,
    Metric,
    SlaEvent,
    SlaPolicy,
    SlaSettings,
    Target,
    timeline,
)

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)  # a Monday, before opening
MIN = timedelta(minutes=1)
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")


def office_open(minute: int) -> bool:
    """The model's calendar: Monday to Friday, 09:00-17:00 UTC."""
    t = T0 + minute * MIN
    return t.weekday() < 5 and 9 <= t.hour < 17


def target(metric: str, priority: str, minutes: int, hours: str | None) -> Target:
    return Target(
        metric=metric,
        priority=priority,
        within=minutes * MIN,
        hours=hours,
        warnings=(50,) if minutes % 2 == 0 else (),
    )


SETTINGS = SlaSettings(
    policies=[
        SlaPolicy(
            id="gold",
            targets=[
                target("first reply", "urgent", 60, "office"),
                target("first reply", "normal", 240, "office"),
                target("next reply", "urgent", 90, "office"),
                target("next reply", "normal", 300, None),
                target("periodic update", "urgent", 480, None),
                target("resolution", "urgent", 600, "office"),
                target("resolution", "normal", 1200, "office"),
                target("agent work", "urgent", 301, "office"),
                target("requester wait", "normal", 2000, None),
            ],
        ),
        SlaPolicy(
            id="silver",
            targets=[
                target("first reply", "normal", 120, None),
                target("resolution", "normal", 900, None),
                target("next reply", "urgent", 45, "office"),
            ],
        ),
    ],
    pauses={
        "Pending": {"resolution", "next reply", "requester wait", "agent work"},
        "On-hold": {"resolution", "agent work"},
    },
    calendars={"office": OFFICE},
)
RESOLVING = (Metric.REQUESTER_WAIT, Metric.AGENT_WORK, Metric.RESOLUTION)


class ModelRun:
    def __init__(self, metric: Metric, index: int, start: int) -> None:
        self.metric, self.index, self.start = metric, index, start
        self.end: int | None = None
        self.counted = self.paused = 0
        self.crossed: dict[int, int] = {}  # percent -> minute
        self.paused_minutes: list[int] = []
        self.policy: str | None = None
        self.target: Target | None = None


class Model:
    """The rules of docs/sla.md, one minute at a time."""

    def __init__(self, start: int) -> None:
        self.start = start  # when the clocks that run from the start start
        self.status: str | None = None
        self.priority: str | None = None
        self.policy: SlaPolicy | None = None
        self.solved = self.closed = self.replied = False
        self.runs: list[ModelRun] = []
        self.running: dict[Metric, ModelRun] = {}

    def target(self, metric: Metric) -> Target | None:
        if self.policy is None:
            return None
        return self.policy.target(metric, self.priority)

    def paused(self, metric: Metric) -> bool:
        if metric in RESOLVING and self.solved:
            return True
        return metric in SETTINGS.pauses.get(self.status or "", ())

    def begin(self, metric: Metric, minute: int) -> None:
        if metric not in self.running:
            index = sum(r.metric is metric for r in self.runs)
            run = ModelRun(metric, index, minute)
            self.runs.append(run)
            self.running[metric] = run

    def fulfil(self, metric: Metric, minute: int) -> None:
        run = self.running.pop(metric, None)
        if run is not None:
            run.end = minute
            run.policy = None if self.policy is None else self.policy.id
            run.target = self.target(metric)

    def apply(self, kind: str, value: str | None, minute: int) -> None:
        if kind == "status":
            self.status = value
        elif kind == "priority":
            self.priority = value
        elif kind == "policy":
            self.policy = SETTINGS.policy(str(value))
        elif kind == "created":
            for m in (Metric.FIRST_REPLY, *RESOLVING):
                self.begin(m, self.start)
        elif kind == "agent reply" and not (self.solved or self.closed):
            self.replied = True
            for m in (Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE):
                self.fulfil(m, minute)
            self.begin(Metric.PERIODIC_UPDATE, minute)
        elif kind == "customer message" and self.replied and not self.closed:
            self.begin(Metric.NEXT_REPLY, minute)
        elif kind == "solved":
            self.solved = self.replied = True
            for m in (Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE):
                self.fulfil(m, minute)
        elif kind == "reopened":
            self.solved = False
        elif kind == "closed":
            self.closed = True
            for m in list(self.running):
                self.fulfil(m, minute)

    def cross(self, minute: int) -> None:
        """Note the marks each running metric has reached by ``minute``."""
        for run in self.running.values():
            t = self.target(run.metric)
            if t is None:
                continue
            total = t.within // MIN
            marks = {p: -(-total * p // 100) for p in t.warnings} | {100: total}
            for percent, need in marks.items():
                if percent not in run.crossed and run.counted >= need:
                    run.crossed[percent] = minute

    def minute(self, minute: int) -> None:
        """Count the minute starting at ``minute``."""
        for run in self.running.values():
            if minute < run.start:  # a clock that starts later
                continue
            if self.paused(run.metric):
                run.paused_minutes.append(minute)
            t = self.target(run.metric)
            open_ = True if t is None or t.hours is None else office_open(minute)
            if not open_:
                continue
            if self.paused(run.metric):
                run.paused += 1
            else:
                run.counted += 1


def walk(
    events: list[tuple[int, str, str | None]], at: int, horizon: int, start: int = 0
) -> list[dict[str, Any]]:
    """Each run as the timeline gives it at ``at``: counted and paused to
    ``at``, and the marks reached by then or, nothing else happening, ahead.
    The clocks that run from the start start at ``start`` (the creation is
    minute 0); before the creation, under the status, priority and policy
    given at the creation."""
    model = Model(start)
    if start < 0:
        for m, kind, value in events:
            if m == 0 and kind in VALUES:
                model.apply(kind, value, 0)
        model.apply("created", None, start)
    counts: list[tuple[int, int]] = []
    for minute in range(min(start, 0), horizon):
        if minute <= at:
            for m, kind, value in events:
                if m == minute:
                    model.cross(minute)  # in order: what each event met
                    model.apply(kind, value, minute)
        if minute == at:
            counts = [(r.counted, r.paused) for r in model.runs]
        model.cross(minute)
        model.minute(minute)
        model.cross(minute + 1)
    out = []
    for run, (counted, paused) in zip(model.runs, counts, strict=True):
        breach = run.crossed.get(100)
        if run.end is not None and breach is not None and breach >= run.end:
            breach = None
        target = model.target(run.metric) if run.end is None else run.target
        stretches: list[list[int]] = []
        for m in run.paused_minutes:
            if m >= at:
                break
            if stretches and stretches[-1][1] == m:
                stretches[-1][1] = m + 1
            else:
                stretches.append([m, m + 1])
        out.append(
            {
                "metric": run.metric,
                "index": run.index,
                "counted": counted,
                "paused": paused,
                "start": run.start,
                "end": run.end,
                "target": None if target is None else target.within // MIN,
                "breach": breach,
                "warnings": sorted((p, x) for p, x in run.crossed.items() if p < 100),
                "pauses": [tuple(p) for p in stretches],
            }
        )
    return out


KINDS = [
    "customer message",
    "agent reply",
    "status",
    "priority",
    "policy",
    "solved",
    "reopened",
    "closed",
]
VALUES = {
    "status": ["Open", "Pending", "On-hold"],
    "priority": ["urgent", "normal", "low"],
    "policy": ["gold", "silver"],
}


@st.composite
def histories(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, str, str | None]], int, int]:
    first = [
        (0, "created", None),
        (0, "status", "Open"),
        (0, "priority", draw(st.sampled_from(VALUES["priority"]))),
        (0, "policy", draw(st.sampled_from(VALUES["policy"]))),
    ]
    later = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(KINDS))
        value = draw(st.sampled_from(VALUES[kind])) if kind in VALUES else None
        later.append((draw(st.integers(0, 4 * 24 * 60)), kind, value))
    later.sort(key=lambda e: e[0])  # stable: ties keep their order
    events = first + later
    # asked at any minute, or at an event's very instant (what happens there
    # is applied, and nothing is counted past it)
    at = draw(
        st.one_of(st.integers(0, 5 * 24 * 60), st.sampled_from([e[0] for e in events]))
    )
    # mostly clocks from the creation; else from a start field's instant up
    # to three days before it (ServiceNow's "start at") or after it
    start = draw(
        st.one_of(
            st.just(0),
            st.just(0),
            st.integers(-3 * 24 * 60, -1),
            st.integers(1, 3 * 24 * 60),
        )
    )
    return events, at, start


@settings(max_examples=150, deadline=None)
@given(histories())
def test_timeline_agrees_with_the_minute_model(
    history: tuple[list[tuple[int, str, str | None]], int, int],
) -> None:
    events, at, start = history
    horizon = max(at, start) + 12 * 24 * 60
    expected = walk(events, at, horizon, start)
    sla_events = [SlaEvent(T0 + m * MIN, kind, value) for m, kind, value in events]
    start_at = None if start == 0 else T0 + start * MIN
    got = timeline(SETTINGS, sla_events, at=T0 + at * MIN, start_at=start_at)
    minute = lambda t: None if t is None else (t - T0) // MIN  # noqa: E731
    # what a tick asks, of a timeline whose runs were never made
    due = timeline(SETTINGS, sla_events, at=T0 + at * MIN, start_at=start_at).due()
    order = {m: n for n, m in enumerate(Metric)}
    assert [(minute(x), order[m], i, p) for x, m, i, p in due] == sorted(
        (x, order[r["metric"]], r["index"], p)
        for r in expected
        if r["end"] is None
        for p, x in [
            *r["warnings"],
            *([(100, r["breach"])] if r["breach"] is not None else []),
        ]
    )
    actual = [
        {
            "metric": r.metric,
            "index": r.index,
            "counted": r.counted // MIN,
            "paused": r.paused // MIN,
            "start": minute(r.started_at),
            "end": minute(r.fulfilled_at),
            "target": None if r.target is None else r.target // MIN,
            "breach": minute(r.breached_at),
            "warnings": [(p, minute(x)) for p, x in r.warnings],
            "pauses": [(minute(a), minute(b)) for a, b in r.pauses],
        }
        for r in got.runs
    ]
    assert actual == expected
    for r in got.runs:  # whole minutes: nothing lost or made up below them
        assert r.counted % MIN == timedelta(0)


def _unused_kinds() -> set[str]:
    return {k.value for k in EventKind} - set(KINDS) - {"created", "reassigned"}


def test_the_model_covers_every_kind_of_event() -> None:
    assert _unused_kinds() == set()

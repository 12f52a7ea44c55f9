"""SLA timeline speed: 100,000 cases with 20 events each, under a policy with
three metrics in a business calendar (lunch break, Saturday, holidays).

Run: ``python benchmarks/sla.py``

Prints, separately (targets from the issue):

* computing the timelines of all cases at one instant (target: <= 2 s): each
  run counted, paused and its crossings so far, as integers;
* the breach instants of 100,000 active metrics for a tick (target: <= 0.5 s):
  ``SlaTimeline.due()`` of every timeline, which finds the crossings ahead of
  the instant of the runs still running;
* for reference, making every run a ``MetricRun`` value (done when a
  timeline's ``runs`` are first read: reports, explain).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from escalate import BusinessHours, SlaEvent, SlaPolicy, SlaSettings, Target, timeline

AMS = ZoneInfo("Europe/Amsterdam")
N = 100_000
EVENTS = 20
H = timedelta(hours=1)
HOURS = BusinessHours.from_spec(
    {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": "10:00-14:00"},
    tz=AMS,
    holidays=holidays.country_holidays("NL"),
)
SETTINGS = SlaSettings(
    policies=[
        SlaPolicy(
            id="standard",
            targets=[
                Target(
                    metric=m, priority=p, within=w * H, hours="office", warnings=(75,)
                )
                for m, targets in (
                    ("first reply", {"urgent": 1, "normal": 8}),
                    ("next reply", {"urgent": 2, "normal": 8}),
                    ("resolution", {"urgent": 8, "normal": 40}),
                )
                for p, w in targets.items()
            ],
        )
    ],
    pauses={"Pending": {"resolution", "next reply"}, "On-hold": {"resolution"}},
    calendars={"office": HOURS},
)
START = datetime(2026, 1, 5, 8, tzinfo=UTC)  # instants in UTC: no wall-clock sums
AT = datetime(2026, 12, 31, 12, tzinfo=AMS)
LATER = [
    ("customer message", None),
    ("agent reply", None),
    ("status", "Pending"),
    ("status", "Open"),
    ("status", "On-hold"),
    ("priority", "urgent"),
    ("priority", "normal"),
]


def histories(rng: random.Random) -> list[list[SlaEvent]]:
    out = []
    for _ in range(N):
        t = START + timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        events = [
            SlaEvent(t, "created"),
            SlaEvent(t, "status", "Open"),
            SlaEvent(t, "priority", rng.choice(("urgent", "normal"))),
            SlaEvent(t, "policy", "standard"),
        ]
        for _ in range(EVENTS - len(events)):
            t += timedelta(minutes=rng.randrange(1, 6 * 60))
            kind, value = rng.choice(LATER)
            events.append(SlaEvent(t, kind, value))
        out.append(events)
    return out


def main() -> None:
    rng = random.Random(20261204)
    cases = histories(rng)
    t0 = time.perf_counter()
    timelines = [timeline(SETTINGS, events, at=AT) for events in cases]
    took = time.perf_counter() - t0
    print(
        f"timelines: {N:,} cases x {EVENTS} events, 3 metrics with targets: "
        f"{took:.2f} s, {took / N * 1e6:.1f} us per case (target <= 2 s)"
    )
    t0 = time.perf_counter()
    due = [t.due() for t in timelines]
    took = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs = [t.runs for t in timelines]
    made = time.perf_counter() - t0
    active = sum(r.running and r.target is not None for rs in runs for r in rs)
    per = took / active * 100_000
    print(
        f"breach instants of {active:,} active metrics (due(), "
        f"{sum(map(len, due)):,} marks reached or ahead): {took:.3f} s, "
        f"{per:.3f} s per 100,000 (target <= 0.5 s)"
    )
    print(
        f"making the {sum(map(len, runs)):,} runs MetricRun values "
        f"(when first read): {made:.2f} s"
    )


if __name__ == "__main__":
    main()

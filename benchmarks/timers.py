"""SLA timer speed: 100,000 running timers with random histories of up to 10 pauses.

Run: ``python benchmarks/timers.py``

Times, separately: building the timers from histories generated beforehand
(each event recomputes the deadline and the future threshold crossings; target:
10 µs per event), then reading ``due_at`` and ``crossed`` for all of them (the
target: under 1 second in total).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from escalate import BusinessHours, SlaTimer, TimerState

AMS = ZoneInfo("Europe/Amsterdam")
N = 100_000
HOURS = BusinessHours.from_spec(
    {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": "10:00-14:00"},
    tz=AMS,
    holidays=holidays.country_holidays("NL"),
)
START = datetime(2026, 1, 5, 9, tzinfo=AMS)


def histories(rng: random.Random) -> list[tuple[datetime, list[datetime], timedelta]]:
    """Each timer's start, its pause and resume instants, and its target."""
    out = []
    for _ in range(N):
        t0 = START + timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        target = timedelta(hours=rng.choice((4, 8, 24, 40)))
        events = []
        at = t0
        for _ in range(rng.randrange(0, 11)):
            at += timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
            events.append(at)
            at += timedelta(minutes=rng.randrange(1, 2 * 24 * 60))
            events.append(at)
        out.append((t0, events, target))
    return out


def build(
    cases: list[tuple[datetime, list[datetime], timedelta]],
) -> list[SlaTimer]:
    timers = []
    for t0, events, target in cases:
        timer = SlaTimer.start(t0, target=target, hours=HOURS, thresholds=(50, 75, 100))
        for i in range(0, len(events), 2):
            timer = timer.pause(events[i]).resume(events[i + 1])
        timers.append(timer)
    return timers


def main() -> None:
    cases = histories(random.Random(20261123))
    t0 = time.perf_counter()
    timers = build(cases)
    built = time.perf_counter() - t0
    events = sum(len(t.transitions) for t in timers)
    assert all(t.state_now is TimerState.RUNNING for t in timers)
    since = START
    until = START + timedelta(days=400)
    t0 = time.perf_counter()
    due = [t.due_at for t in timers]
    crossed = [t.crossed(since, until) for t in timers]
    query = time.perf_counter() - t0
    print(f"{N:,} running timers, {events:,} events in all (up to 10 pauses each)")
    per_event = built / events * 1e6
    print(
        f"build (recompute on each event): {built:.2f} s ({per_event:.1f} µs/event, "
        "target <= 10)"
    )
    print(f"due_at + crossed for all:        {query:.3f} s (target < 1 s)")
    n_crossed = sum(map(len, crossed))
    n_due = sum(d is not None for d in due)
    print(f"  thresholds crossed in the window: {n_crossed:,}; due_at set: {n_due:,}")


if __name__ == "__main__":
    main()

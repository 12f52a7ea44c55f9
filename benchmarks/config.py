"""Configuration, recurring rules and the demo: what newcomers and operators wait for.

Run: ``pip install -e . && python benchmarks/config.py``

Figures:
- ``load_config`` of the bundled example (TOML, holidays, templates compiled);
- the first and the warm cost of ten years of business time on a calendar with
  two recurring rules and Dutch holidays, beside the same calendar without rules
  (recurrences are expanded lazily, a year at a time, like the holidays);
- ``escalate demo`` end to end in a subprocess (target: under a minute).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import holidays

from escalate import BusinessHours, Recurrence, example_config, load_config

AMS = ZoneInfo("Europe/Amsterdam")
A = datetime(2026, 1, 1, tzinfo=AMS)
B = datetime(2036, 1, 1, tzinfo=AMS)


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """The median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calendar(recurring: bool) -> BusinessHours:
    rules = (
        [
            Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours="13:30-17:00"),
            Recurrence(rule="FREQ=YEARLY;BYMONTH=12;BYDAY=-1FR", hours="09:00-15:00"),
        ]
        if recurring
        else []
    )
    return BusinessHours.from_spec(
        {"mon-fri": "09:00-12:30, 13:30-17:00"},
        tz=AMS,
        holidays=holidays.country_holidays("NL"),
        recurring=rules,
    )


def main() -> None:
    path = example_config()
    print(f"load_config(example): {timed(lambda: load_config(path)) * 1e3:8.1f} ms")
    for recurring in (False, True):
        label = "with 2 recurring rules" if recurring else "without recurring rules"
        first = timed(lambda r=recurring: calendar(r).elapsed(A, B))
        warm_cal = calendar(recurring)
        warm_cal.elapsed(A, B)
        warm = timed(lambda c=warm_cal: c.elapsed(A, B), repeat=1000)
        print(
            f"10 years elapsed, {label:24}: first {first * 1e3:7.1f} ms, "
            f"warm {warm * 1e6:6.1f} µs"
        )
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "escalate.cli", "demo", "--dir", folder],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - t0
    lines = result.stdout.count("\n")
    print(f"escalate demo (a week, SQLite, {lines} lines): {seconds:5.2f} s (< 60 s)")


if __name__ == "__main__":
    main()

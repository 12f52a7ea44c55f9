"""Business-hours speed, side by side with pandas and businesstime.

Run: ``pip install -e '.[bench]' && python benchmarks/hours.py``

Schedule: Mon-Fri 09:00-17:00, Europe/Amsterdam, Dutch holidays; aware datetimes
in and out for escalate and pandas. ``businesstime`` takes naive local times, so
the instants are converted for it (outside the timed call). pandas has no
"elapsed": its users count ``pandas.date_range(a, b, freq=cbh)`` marks (an hourly
grid), which is what is timed here.
"""

from __future__ import annotations

import random
import statistics
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import businesstime
import holidays
import pandas as pd
from pandas.tseries.offsets import CustomBusinessHour

from escalate import BusinessHours

warnings.simplefilter("ignore")

AMS = ZoneInfo("Europe/Amsterdam")
NL = holidays.country_holidays("NL", years=range(2000, 2046))
HOLIDAY_DATES = sorted(NL)
OURS = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz=AMS, holidays=NL)
PANDAS = CustomBusinessHour(start="09:00", end="17:00", holidays=HOLIDAY_DATES)
BT = businesstime.BusinessTime(
    business_hours=(
        datetime.min.time().replace(hour=9),
        datetime.min.time().replace(hour=17),
    ),
    holidays=HOLIDAY_DATES,
)
START = datetime(2026, 1, 5, 10, 30, tzinfo=AMS)  # a Monday


def median_us(fn: Callable[[], object], *, calls: int, samples: int = 7) -> float:
    """Median over ``samples`` of the mean time per call, in microseconds."""
    fn()  # warm caches (escalate builds a year's table on first use)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter_ns() - t0) / calls / 1000)
    return statistics.median(times)


def bt_elapsed(a: datetime, b: datetime) -> timedelta:
    """businesstime's answer as business time (its days are business days)."""
    d = BT.businesstimedelta(a, b)
    sign = -1 if d < timedelta(0) else 1
    d = abs(d)
    return sign * (d.days * timedelta(hours=8) + (d - timedelta(days=d.days)))


def fmt(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1e6:9.2f} s "
    if us >= 1000:
        return f"{us / 1000:9.2f} ms"
    return f"{us:9.2f} µs"


def bench_elapsed() -> dict[str, float]:
    print("\n## elapsed(a, b): median time per call")
    print(
        f"{'span':>8} | {'escalate':>12} | {'businesstime':>12} | {'pandas marks':>12}"
    )
    ours = {}
    for label, days in (
        ("1 day", 1),
        ("30 days", 30),
        ("1 year", 365),
        ("10 years", 3652),
    ):
        a, b = START, START + timedelta(days=days, hours=3)
        na, nb = a.replace(tzinfo=None), b.replace(tzinfo=None)
        pa, pb = pd.Timestamp(a), pd.Timestamp(b)
        ours[label] = median_us(lambda a=a, b=b: OURS.elapsed(a, b), calls=2000)
        bt = median_us(
            lambda na=na, nb=nb: BT.businesstimedelta(na, nb),
            calls=max(1, 200 // days),
            samples=3,
        )
        pn = median_us(
            lambda pa=pa, pb=pb: len(pd.date_range(pa, pb, freq=PANDAS)),
            calls=1 if days > 30 else 5,
            samples=3 if days < 3000 else 1,
        )
        print(f"{label:>8} | {fmt(ours[label])} | {fmt(bt)} | {fmt(pn)}")
    ratio = interleaved_ratio(
        lambda: OURS.elapsed(START, START + timedelta(days=1, hours=3)),
        lambda: OURS.elapsed(START, START + timedelta(days=3652, hours=3)),
    )
    print(
        f"escalate: 10 years costs {ratio:.2f}x the 1-day span, timed interleaved "
        "(target <= 1.3x)"
    )
    return ours


def interleaved_ratio(
    short: Callable[[], object], long: Callable[[], object], *, rounds: int = 15
) -> float:
    """Median over ``rounds`` of long/short, each round timing 2,000 calls of
    each back to back (so that a busy moment of the machine hits both)."""
    short(), long()
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(2000):
            short()
        t1 = time.perf_counter_ns()
        for _ in range(2000):
            long()
        t2 = time.perf_counter_ns()
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(ratios)


def bench_add() -> None:
    print("\n## add(t, d): median time per call")
    print(f"{'hours':>8} | {'escalate':>12} | {'pandas':>12} | {'speed-up':>9}")
    for hours in (8, 200, 2000, 20000, -8, -200, -2000, -20000):
        d = timedelta(hours=hours)
        ours = median_us(lambda d=d: OURS.add(START, d), calls=2000)
        off = CustomBusinessHour(
            hours, start="09:00", end="17:00", holidays=HOLIDAY_DATES
        )
        ts = pd.Timestamp(START)
        pn = median_us(
            lambda off=off, ts=ts: ts + off, calls=max(1, 2000 // abs(hours)), samples=3
        )
        print(f"{hours:>8} | {fmt(ours)} | {fmt(pn)} | {pn / ours:8.0f}x")


def bench_is_open() -> None:
    t = START + timedelta(hours=2)
    per_call = fmt(median_us(lambda: OURS.is_open(t), calls=5000)).strip()
    print(f"\n## is_open(t): {per_call} per call (target ~5 µs)")


def bench_random_spans() -> None:
    print("\n## 10,000 random elapsed() calls over spans up to 90 days")
    rng = random.Random(20261123)
    pairs = []
    for _ in range(10_000):
        a = START + timedelta(microseconds=rng.randrange(0, 3 * 365 * 86_400_000_000))
        b = a + timedelta(microseconds=rng.randrange(0, 90 * 86_400_000_000))
        pairs.append((a, b))
    naive = [(a.replace(tzinfo=None), b.replace(tzinfo=None)) for a, b in pairs]
    cold = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz=AMS, holidays=NL)
    t0 = time.perf_counter()
    for a, b in pairs:
        cold.elapsed(a, b)
    ours_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a, b in pairs:
        OURS.elapsed(a, b)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a, b in naive:
        BT.businesstimedelta(a, b)
    bt = time.perf_counter() - t0
    sample = pairs[:200]
    t0 = time.perf_counter()
    for a, b in sample:
        len(pd.date_range(pd.Timestamp(a), pd.Timestamp(b), freq=PANDAS))
    pn = (time.perf_counter() - t0) * len(pairs) / len(sample)
    print(
        f"escalate:      {ours:8.3f} s  ({ours_cold:.3f} "
        f"s with a cold cache; target ~0.1 s)"
    )
    print(f"businesstime:  {bt:8.3f} s  ({bt / ours:.0f}x slower; target >= 10x)")
    print(
        f"pandas marks:  {pn:8.3f} s  (extrapolated from "
        f"200 calls; {pn / ours:.0f}x slower)"
    )


def correctness_notes() -> None:
    print("\n## Correctness notes (the peers' answers next to escalate's)")
    # 1. A deadline that ends exactly at closing time.
    monday4 = datetime(2026, 11, 23, 16, tzinfo=AMS)
    p = pd.Timestamp(monday4) + CustomBusinessHour(1, start="09:00", end="17:00")
    ours_due = OURS.add(monday4, timedelta(hours=1))
    print(
        f"- Monday 16:00 + 1 business hour: escalate {ours_due:%a %H:%M}, "
        f"pandas {p:%a %H:%M} (the next opening)"
    )
    # 2. An overnight shift across the fall-back night (9 real hours).
    night = BusinessHours.from_spec({"mon-sun": "22:00-06:00"}, tz=AMS)
    sat = datetime(2026, 10, 24, 21, tzinfo=AMS)
    pnight = CustomBusinessHour(
        8, start="22:00", end="06:00", weekmask="Mon Tue Wed Thu Fri Sat Sun"
    )
    p = pd.Timestamp(sat) + pnight
    ours = night.add(sat, timedelta(hours=8))
    print(
        f"- Sat 21:00 + 8h on a 22:00-06:00 shift over the "
        f"fall-back night: escalate {ours:%a %H:%M %Z}, "
        f"pandas {p:%a %H:%M %Z} (wall-clock hours, then "
        f"the next shift)"
    )
    sun = datetime(2026, 10, 25, 12, tzinfo=AMS)
    print(
        f"  that night's shift: escalate {night.elapsed(sat, sun)} "
        f"of business time (real)"
    )
    try:
        n = len(
            pd.date_range(
                pd.Timestamp(sat),
                pd.Timestamp(sun),
                freq=CustomBusinessHour(
                    start="22:00", end="06:00", weekmask="Mon Tue Wed Thu Fri Sat Sun"
                ),
            )
        )
        print(f"  pandas date_range marks: {n}")
    except Exception as e:
        print(f"  pandas date_range over that night raises {type(e).__name__}: {e}")
    # 3. Microseconds.
    a = datetime(2026, 11, 23, 9, 0, 0, 1, tzinfo=AMS)
    b = datetime(2026, 11, 27, 13, 0, 0, 7, tzinfo=AMS)
    na, nb = a.replace(tzinfo=None), b.replace(tzinfo=None)
    print(
        f"- Mon 09:00:00.000001 to Fri 13:00:00.000007: "
        f"escalate {OURS.elapsed(a, b)}, businesstime_hours "
        f"{BT.businesstime_hours(na, nb)} (float hours)"
    )
    # 4. DST is invisible to businesstime (naive local times) and to pandas hours.
    always_bt = businesstime.BusinessTime(
        business_hours=(datetime.min.time(), datetime.max.time()), weekends=()
    )
    a, b = datetime(2026, 3, 28, 12, tzinfo=AMS), datetime(2026, 3, 29, 12, tzinfo=AMS)
    naive = (a.replace(tzinfo=None), b.replace(tzinfo=None))
    print(
        f"- 24 wall hours over the spring-forward night "
        f"on a 24/7 calendar: escalate {BusinessHours.always(AMS).elapsed(a, b)}, "
        f"businesstime {always_bt.businesstime_hours(*naive)}"
    )


def main() -> None:
    print(
        "escalate.hours benchmark: Mon-Fri 09:00-17:00 Europe/Amsterdam, Dutch holidays"
    )
    print(
        f"pandas {pd.__version__}, businesstime {businesstime.__version__}, "
        f"holidays {holidays.__version__}"
    )
    cold = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz=AMS, holidays=NL)
    t0 = time.perf_counter()
    cold.elapsed(START, START + timedelta(days=3652))
    print(
        f"first elapsed over 10 years (builds 11 year tables): "
        f"{(time.perf_counter() - t0) * 1000:.1f} ms"
    )
    bench_elapsed()
    bench_add()
    bench_is_open()
    bench_random_spans()
    correctness_notes()


if __name__ == "__main__":
    main()

"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from escalate.hours import BusinessHours
from escalate.model import Actor, Case
from escalate.recurrence import Recurrence
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem, TimeBasis
from escalate.templates import Templates
from tests.models import HoursModel, ModelShift

ZONES = (
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",
    "America/Havana",  # the clocks jump at midnight
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Asia/Kolkata",
    "UTC",
)
YEARS = (2011, 2012, 2025, 2026)

# Times around which DST changes happen, plus anything at all.
_INTERESTING = (0, 30, 60, 90, 120, 150, 180, 210, 720, 1380, 1410)


@cache
def transitions(zone: str) -> tuple[tuple[datetime, tuple[int, ...]], ...]:
    """The zone's offset changes: (UTC instant, wall minutes of day around it).

    The wall minutes are the local times just before and after the change and
    their midpoint, so that generated shifts open and close inside gaps and
    repeated hours.
    """
    tz = ZoneInfo(zone)
    out = []
    for year in YEARS:
        day = datetime(year, 1, 1, tzinfo=UTC)
        while day.year == year:
            nxt = day + timedelta(days=1)
            if nxt.astimezone(tz).utcoffset() != day.astimezone(tz).utcoffset():
                lo, hi = day, nxt  # offset(lo) != offset(hi): bisect to the minute
                while hi - lo > timedelta(minutes=1):
                    mid = lo + (hi - lo) // 2
                    if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                        lo = mid
                    else:
                        hi = mid
                before = _minute_of_day(lo.astimezone(tz)) + 1
                after = _minute_of_day(hi.astimezone(tz))
                mid_m = (before + after) // 2 if after > before else after
                walls = tuple(
                    sorted({m % 1440 for m in (before, after, mid_m, before - 30)})
                )
                out.append((hi, walls))
            day = nxt
    return tuple(out) or ((datetime(2026, 3, 29, 12, tzinfo=UTC), (0,)),)


def _minute_of_day(t: datetime) -> int:
    return t.hour * 60 + t.minute


minutes = st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 1439))
end_minutes = st.one_of(st.sampled_from((*_INTERESTING, 1440)), st.integers(1, 1440))


def shifts_near(walls: tuple[int, ...]) -> st.SearchStrategy[list[ModelShift]]:
    """Up to three shifts of a day, with bounds often at the given minutes."""
    start = st.one_of(st.sampled_from(walls), minutes)
    end = st.one_of(st.sampled_from(walls), st.sampled_from(walls), end_minutes).map(
        lambda m: m or 1440
    )
    return st.lists(st.tuples(start, end), max_size=3)


def spec_of(day_shifts: list[ModelShift]) -> list[tuple[time | str, time | str]]:
    """The structured day value the library takes for model shifts."""
    return [(_bound(s), _bound(e)) for s, e in day_shifts]


def _bound(minute: int) -> time | str:
    if minute == 1440:
        return "24:00"
    return time(minute // 60, minute % 60)


@st.composite
def recurrences(
    draw: st.DrawFn, days: list[date], shifts: st.SearchStrategy[list[ModelShift]]
) -> tuple[Recurrence, Callable[[date], bool], list[ModelShift]]:
    """A recurring rule, the brute-force test of its dates, and its shifts."""
    hours = draw(shifts)
    kind = draw(st.sampled_from(("weekly", "every n days", "monthly", "count")))
    start = draw(st.sampled_from(days))
    applies: Callable[[date], bool]
    if kind == "weekly":
        wd = draw(st.integers(0, 6))
        rule = Recurrence(
            rule=f"FREQ=WEEKLY;BYDAY={_RRULE_DAYS[wd]}", hours=spec_of(hours)
        )
        applies = lambda d: d.weekday() == wd  # noqa: E731
    elif kind == "every n days":
        n = draw(st.integers(1, 3))
        rule = Recurrence(
            rule=f"FREQ=DAILY;INTERVAL={n}", start=start, hours=spec_of(hours)
        )
        applies = lambda d: d >= start and (d - start).days % n == 0  # noqa: E731
    elif kind == "monthly":
        md = start.day
        rule = Recurrence(rule=f"FREQ=MONTHLY;BYMONTHDAY={md}", hours=spec_of(hours))
        applies = lambda d: d.day == md  # noqa: E731
    else:
        n = draw(st.integers(1, 3))
        rule = Recurrence(
            rule=f"FREQ=DAILY;COUNT={n}", start=start, hours=spec_of(hours)
        )
        applies = lambda d: 0 <= (d - start).days < n  # noqa: E731
    return rule, applies, hours


_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@st.composite
def scenarios(
    draw: st.DrawFn, *, max_days: int = 6
) -> tuple[BusinessHours, HoursModel, datetime, datetime]:
    """A schedule, its model, and a window [lo, hi) around a DST change."""
    zone = draw(st.sampled_from(ZONES))
    anchor, walls = draw(st.sampled_from(transitions(zone)))
    shifts = shifts_near(walls)
    lo = anchor - timedelta(
        days=draw(st.integers(0, max_days // 2)), hours=draw(st.integers(0, 23))
    )
    hi = lo + timedelta(days=draw(st.integers(1, max_days)))
    week = draw(st.lists(shifts, min_size=7, max_size=7))
    local_days = [
        (lo + timedelta(days=i)).astimezone(ZoneInfo(zone)).date()
        for i in range(-1, (hi - lo).days + 2)
    ]
    holiday_days = frozenset(draw(st.lists(st.sampled_from(local_days), max_size=3)))
    special = draw(st.dictionaries(st.sampled_from(local_days), shifts, max_size=2))
    recurring = draw(st.lists(recurrences(local_days, shifts), max_size=2))
    bh = BusinessHours.from_spec(
        {i: spec_of(week[i]) for i in range(7)},
        tz=zone,
        holidays=holiday_days,
        special_days={d: spec_of(s) for d, s in special.items()},
        recurring=[r for r, _, _ in recurring],
    )
    model = HoursModel(
        week,
        zone,
        holidays=holiday_days,
        special=special,
        recurring=[(applies, hours) for _, applies, hours in recurring],
    )
    return bh, model, lo, hi


def instants_in(draw: st.DrawFn, lo: datetime, hi: datetime, zone: str) -> datetime:
    """An instant in [lo, hi), microsecond-precise, shown in ``zone``."""
    span = (hi - lo) // timedelta(microseconds=1)
    offset = draw(
        st.one_of(
            st.integers(0, span - 1),
            st.integers(0, span // 60_000_000 - 1).map(lambda m: m * 60_000_000),
        )
    )
    return (lo + timedelta(microseconds=offset)).astimezone(ZoneInfo(zone))


def window_dates(lo: datetime, hi: datetime) -> list[date]:
    return [(lo + timedelta(days=i)).date() for i in range((hi - lo).days + 1)]


# -- rule books and cases (the evaluator's and the change planner's tests) ---------

AMS = ZoneInfo("Europe/Amsterdam")
CALENDARS = {
    "office": BusinessHours.from_spec(
        {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": "10:00-14:00"},
        tz="Europe/Amsterdam",
    ),
    "night": BusinessHours.from_spec({"mon-sun": "22:00-06:00"}, tz="America/New_York"),
}
START = datetime(2026, 10, 19, tzinfo=AMS)  # two weeks around the fall-back night
ADMIN = Actor("ann", permissions={"configure case escalation"})
PRIORITIES = ["a", "b", "c"]
offsets = st.integers(0, 14 * 24 * 60)  # minutes after START


def instant(m: int) -> datetime:
    return (START.astimezone(UTC) + timedelta(minutes=m)).astimezone(AMS)


actions = st.lists(
    st.tuples(
        st.integers(0, 40 * 60), st.lists(st.sampled_from([25, 50, 90]), max_size=2)
    ),
    min_size=1,
    max_size=4,
).map(
    lambda steps: [
        EscalationAction(
            id=f"step-{i}", after=timedelta(minutes=m), escalate_to="x", warnings=w
        )
        for i, (m, w) in enumerate(steps)
    ]
)


@st.composite
def books(draw: st.DrawFn, *, latest_only: bool | None = False) -> RuleBook:
    n = draw(st.integers(1, 4))
    items = []
    for i in range(n):
        prio = draw(st.one_of(st.none(), st.sampled_from(PRIORITIES)))
        items.append(
            RuleItem(
                id=f"item{i}",
                conditions=[] if prio is None else [("priority", "equals", prio)],
                hours=draw(st.sampled_from([None, "office", "night"])),
                basis=draw(st.sampled_from(list(TimeBasis))),
                actions=draw(actions),
                latest_only=draw(st.booleans()) if latest_only is None else latest_only,
            )
        )
    return RuleBook.build([Rule(name="r", items=items)], active="r")


@st.composite
def cases(draw: st.DrawFn) -> list[Case]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        created = draw(offsets)
        c = Case(
            id=f"c{i}",
            number=f"C-{i}",
            priority=draw(st.sampled_from(PRIORITIES)),
            created_at=instant(created),
            owner="x",
        )
        if draw(st.booleans()):
            c = c.changed(
                instant(created + draw(st.integers(0, 3000))),
                by=ADMIN,
                priority=c.priority,
            )
        out.append(c)
    return out


#: An address for every user the strategies name (as escalate_to or owner).
ADDRESSES: Final = {"x": "x@example.com", "y": "y@example.com"}
#: The mails the strategies' books send.
TEMPLATES: Final = Templates(
    {
        f"{name}.{part}": f"{name} {{{{ case.number }}}}"
        for name in ("escalation", "assignment", "warning")
        for part in ("subject", "txt")
    }
)

"""Business-hours clocks: open intervals, elapsed business time, deadlines.

A :class:`BusinessHours` is a frozen, hashable value: a weekly spec of shifts, a
``zoneinfo`` time zone, holidays and special days. Its semantics, which the tests
check one by one and ``docs/hours.md`` explains with examples:

* Intervals are half-open ``[open, close)``. An interval whose end is not after its
  start runs overnight and belongs to the day it starts on; ``24:00`` ends a day;
  overlapping or touching intervals count once.
* A holiday closes the intervals that *start* on it; a special day replaces that
  date's intervals and wins over a holiday.
* A local opening or closing time resolves to the earliest instant at which the
  local wall clock shows that date and time or later: inside a DST gap that is the
  instant the clocks jump; an ambiguous time means its first occurrence. This map
  is monotone, so an interval can never invert or jump past the next one.
* Business time is real elapsed time while open (an open hour across a fall-back
  lasts as long as it really lasts). ``elapsed(a, b)`` is exact to the microsecond
  and antisymmetric. ``add(t, d)`` for ``d >= 0`` is the earliest ``u >= t`` with
  ``elapsed(t, u) == d``; for ``d < 0`` the latest ``u <= t`` with
  ``elapsed(u, t) == -d``.
* Inputs may be aware datetimes in any zone; results are in the schedule's zone.

Implementation: open intervals are computed per UTC calendar year, lazily, as
integer microseconds with a cumulative open-time array, so that ``elapsed`` and
``add`` cost two ``bisect`` calls plus one addition per year crossed, whatever the
span. Holidays are read when a year is first used.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from escalate._hours_spec import (
    DAY,
    DAY_NAMES,
    DayShifts,
    format_day,
    parse_day,
    parse_days,
    parse_special_days,
    parse_weekly,
)
from escalate._instants import EPOCH, MICROSECOND, from_us, to_us, us_of, zone_named
from escalate._instants import require_duration as _require_duration
from escalate.errors import ScheduleError
from escalate.recurrence import Recurrence

__all__ = ["BusinessHours"]

HORIZON_YEARS: Final = 10
"""How far ``add``, ``next_open`` and ``next_close`` look before giving up."""

MIN_YEAR: Final = 2
MAX_YEAR: Final = 9997
_DAY_US: Final = us_of(DAY)


class _Identity:
    """Compares and hashes by the identity of the wrapped object."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _holiday_source(value: object) -> Container[date]:
    if value is None:
        return frozenset()
    if isinstance(value, set | frozenset | list | tuple):
        for d in value:
            if not isinstance(d, date) or isinstance(d, datetime):
                raise ScheduleError(
                    f"holidays: expected datetime.date values, got {d!r}"
                )
        return frozenset(value)
    if not isinstance(value, Container):
        raise ScheduleError(
            "holidays: expected a collection of dates (a set, or a "
            f"holidays.HolidayBase), got {type(value).__name__}"
        )
    return value


def _holiday_key(value: Container[date]) -> object:
    # A holidays.HolidayBase is a mutable dict that fills itself lazily, so it
    # compares by identity; plain sets of dates compare by content.
    return value if isinstance(value, frozenset) else _Identity(value)


def _holiday_repr(value: Container[date]) -> str:
    if isinstance(value, frozenset):
        return f"frozenset({sorted(value)!r})" if value else "frozenset()"
    return f"<{type(value).__name__} at {id(value):#x}>"


def _weekly_repr(week: tuple[DayShifts, ...]) -> str:
    return repr({n: format_day(s) for n, s in zip(DAY_NAMES, week, strict=True) if s})


def _special_repr(special: tuple[tuple[date, DayShifts], ...]) -> str:
    return repr({d.isoformat(): format_day(s) for d, s in special})


def _zone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, str):
        return zone_named(value, "tz", ScheduleError)
    raise ScheduleError(
        f"tz: expected a zone name or zoneinfo.ZoneInfo, got {type(value).__name__}"
    )


def _weekly(value: object) -> tuple[DayShifts, ...]:
    if isinstance(value, Mapping):
        return parse_weekly(value)
    if isinstance(value, tuple) and len(value) == 7:
        return tuple(parse_day(v, where=DAY_NAMES[i]) for i, v in enumerate(value))
    raise ScheduleError(
        "weekly: expected a spec mapping like {'mon-fri': '09:00-17:00'} or "
        f"seven days of shifts, got {value!r}"
    )


def _special(value: object) -> tuple[tuple[date, DayShifts], ...]:
    if value is None or isinstance(value, Mapping):
        return parse_special_days(value)
    if isinstance(value, tuple):
        return parse_special_days(dict(value))
    raise ScheduleError(
        f"special_days: expected a mapping of dates to hours, got {value!r}"
    )


def _recurring(value: object) -> tuple[Recurrence, ...]:
    if value is None:
        return ()
    if isinstance(value, Recurrence) or not isinstance(value, list | tuple):
        raise ScheduleError(
            f"recurring: expected a sequence of Recurrence values, got {value!r}"
        )
    for i, r in enumerate(value):
        if not isinstance(r, Recurrence):
            raise ScheduleError(f"recurring[{i}]: expected a Recurrence, got {r!r}")
    return tuple(value)


class _Year:
    """The open intervals of one UTC calendar year, as integer microseconds.

    ``starts``/``ends`` are sorted, disjoint and non-touching (except at the year
    boundary, where a stretch is cut); ``before[i]``/``after[i]`` are the open
    time in the year before the start / at the end of interval ``i``.
    """

    __slots__ = ("after", "before", "ends", "first", "last", "starts", "total")

    def __init__(self, first: int, last: int, spans: list[tuple[int, int]]) -> None:
        self.first = first
        self.last = last
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.before: list[int] = []
        self.after: list[int] = []
        acc = 0
        for s, e in spans:
            self.before.append(acc)
            acc += e - s
            self.after.append(acc)
        self.total = acc

    def position(self, x: int) -> int:
        """Open time in this year before instant ``x``."""
        i = bisect_right(self.starts, x) - 1
        if i < 0:
            return 0
        if x >= self.ends[i]:
            return self.after[i]
        return self.before[i] + x - self.starts[i]


class _Positions:
    """Calendar positions (see ``BusinessHours._position``) over a run of whole
    years ``[lo, hi)``, flat: the years' intervals end to end, ``before`` and
    ``after`` counted from the calendar's fixed instant, so a position is one
    bisect with no year to look up. Its first interval is an empty one at
    ``lo``, which gives the instants before the first open one."""

    __slots__ = ("after", "before", "ends", "hi", "lo", "starts")

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []
        self.after: list[int] = []

    def position(self, x: int) -> int:
        """The position of ``lo <= x < hi``."""
        i = bisect_right(self.starts, x) - 1
        if x >= self.ends[i]:
            return self.after[i]
        return self.before[i] + x - self.starts[i]


_NO_POSITIONS: Final = _Positions(0, 0)


def _year_start(year: int) -> int:
    return (datetime(year, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND


# UTC year starts, so that an instant's year is one bisect away.
_YEAR_STARTS: Final = [_year_start(y) for y in range(MIN_YEAR, MAX_YEAR + 2)]


def _located(t: datetime, name: str) -> tuple[int, int]:
    """``t`` in µs since the epoch (UTC) and its year, if a calendar can
    count there (see :func:`_require_years`)."""
    x = to_us(t, name)
    _require_years(x, t, name)
    return x, MIN_YEAR + bisect_right(_YEAR_STARTS, x) - 1


def _require_years(x: int, t: datetime, name: str) -> None:
    """Refuse ``t`` (``x`` µs since the epoch) if no calendar counts there,
    naming the argument ``name``: a clear error at the entry point, not a bare
    number from deep inside."""
    if not _YEAR_STARTS[0] <= x < _YEAR_STARTS[-1]:
        raise ScheduleError(
            f"{name}: expected an instant in the years {MIN_YEAR}-{MAX_YEAR}, "
            f"got {t.isoformat()}"
        )


def _resolve(wall: datetime, tz: ZoneInfo) -> int:
    """The earliest instant (UTC µs) at which the wall clock in ``tz`` shows
    ``wall`` (naive) or later."""
    first = (wall.replace(tzinfo=tz) - EPOCH) // MICROSECOND  # fold=0
    if from_us(first, tz).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the first occurrence if ambiguous
    # In a gap: the answer is the instant the clocks jump. fold=1 reads the wall
    # time with the offset after the jump (an instant before it), fold=0 with the
    # offset before (an instant after it); bisect between the two.
    lo = (wall.replace(tzinfo=tz, fold=1) - EPOCH) // MICROSECOND
    hi = first
    while from_us(lo, tz).replace(tzinfo=None) >= wall:
        lo -= _DAY_US
    while from_us(hi, tz).replace(tzinfo=None) < wall:
        hi += _DAY_US
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if from_us(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


@attrs.frozen(kw_only=True)
class BusinessHours:
    """A business-hours clock: when a business is open, in one time zone.

    Build it with :meth:`from_spec` (or :meth:`always` for 24/7). Two values are
    equal when their weekly shifts, zone, special days and holiday source are
    equal; a set of dates compares by content, any other holiday container (such
    as a ``holidays.HolidayBase``, which is mutable and fills itself lazily) by
    identity.

    Attributes:
        weekly: Seven tuples of shifts, Monday first. A shift is a pair of offsets
            from local midnight ``(start, end)``; an overnight shift has
            ``end > 24h``.
        tz: The schedule's time zone; results are in this zone.
        holidays: Dates whose shifts do not open (a container of dates).
        special_days: ``(date, shifts)`` pairs that replace a date's shifts.
        recurring: Recurring special days and closures (:class:`Recurrence`);
            a later one wins over an earlier one on the same date.
    """

    weekly: tuple[DayShifts, ...] = attrs.field(converter=_weekly, repr=_weekly_repr)
    tz: ZoneInfo = attrs.field(converter=_zone, eq=str)
    holidays: Container[date] = attrs.field(
        default=None, converter=_holiday_source, eq=_holiday_key, repr=_holiday_repr
    )
    special_days: tuple[tuple[date, DayShifts], ...] = attrs.field(
        default=None, converter=_special, repr=_special_repr
    )
    recurring: tuple[Recurrence, ...] = attrs.field(default=(), converter=_recurring)
    _years: dict[int, _Year] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )
    _specials: dict[date, DayShifts] = attrs.field(init=False, eq=False, repr=False)
    _recurring_years: dict[int, dict[date, DayShifts]] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )
    # year -> open time from the start of the first year asked to its start
    _offsets: dict[int, int] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )
    # the positions of the years asked for positions, flat (one in a list)
    _flat: list[_Positions] = attrs.field(
        init=False, factory=lambda: [_NO_POSITIONS], eq=False, repr=False
    )

    @_specials.default
    def _specials_default(self) -> dict[date, DayShifts]:
        return dict(self.special_days)

    # -- construction -------------------------------------------------------

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[Any, Any],
        *,
        tz: str | ZoneInfo,
        holidays: Container[date] | None = None,
        special_days: Mapping[date, Any] | None = None,
        recurring: Sequence[Recurrence] = (),
    ) -> BusinessHours:
        """A schedule from a weekly spec.

        Args:
            spec: Keys name days: ``"mon"`` .. ``"sun"`` (or full names), ranges
                like ``"mon-fri"``, lists like ``"sat,sun"``, or the integers
                0-6 (Monday 0). A day not named is closed; later keys override
                earlier ones for the days they name. Values are ``"closed"``,
                comma-separated ``"HH:MM-HH:MM"`` intervals, or a sequence of
                ``(start, end)`` pairs of ``datetime.time`` or ``"HH:MM"``.
            tz: An IANA zone name or a ``zoneinfo.ZoneInfo``.
            holidays: Any container of dates, e.g. a set or
                ``holidays.country_holidays("NL")`` (its lazy expansion works for
                any year asked).
            special_days: Date to day value; replaces that date's intervals, also
                on a holiday.
            recurring: Recurring special days and closures (RFC 5545 rules); a
                holiday or special day wins over them, a later one over an
                earlier one.

        Raises:
            ScheduleError: A malformed spec, naming the day and the text.
        """
        return cls(
            weekly=spec,
            tz=tz,
            holidays=holidays,
            special_days=special_days,
            recurring=tuple(recurring),
        )

    @classmethod
    def always(cls, tz: str | ZoneInfo = "UTC") -> BusinessHours:
        """Open around the clock: business time equals real time."""
        return cls(weekly={"mon-sun": "00:00-24:00"}, tz=tz)

    def with_overrides(
        self,
        spec: Mapping[Any, Any] | None = None,
        *,
        tz: str | ZoneInfo | None = None,
        holidays: Container[date] | None = None,
        special_days: Mapping[date, Any] | None = None,
        recurring: Sequence[Recurrence] = (),
    ) -> BusinessHours:
        """A new schedule layered on this one; this one is unchanged.

        Args:
            spec: Days to replace (same syntax as :meth:`from_spec`); days it
                does not name keep this schedule's hours.
            tz: A different zone, if given.
            holidays: A replacement holiday source, if given (``None`` keeps
                this one's; pass an empty set to have no holidays).
            special_days: Dates to add or replace; others are kept.
            recurring: Recurrences added after this one's (so they win).
        """
        week = list(self.weekly)
        for key, value in (spec or {}).items():
            shifts = parse_day(value, where=str(key))
            for day in parse_days(key):
                week[day] = shifts
        specials = dict(self.special_days)
        specials.update(parse_special_days(special_days))
        return BusinessHours(
            weekly=tuple(week),
            tz=self.tz if tz is None else tz,
            holidays=self.holidays if holidays is None else holidays,
            special_days=tuple(sorted(specials.items())),
            recurring=self.recurring + tuple(recurring),
        )

    # -- questions ------------------------------------------------------------

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b`` (negative when ``b`` is before ``a``).

        Exact to the microsecond; ``elapsed(b, a) == -elapsed(a, b)``.

        Raises:
            NaiveDatetimeError: ``a`` or ``b`` has no time zone.
        """
        xa, ya = _located(a, "a")
        xb, yb = _located(b, "b")
        if xb < xa:
            return timedelta(microseconds=-self._between(xb, yb, xa, ya))
        return timedelta(microseconds=self._between(xa, ya, xb, yb))

    def add(self, t: datetime, d: timedelta) -> datetime:
        """The instant ``d`` of business time after ``t`` (before it if ``d < 0``).

        For ``d >= 0`` the earliest ``u >= t`` with ``elapsed(t, u) == d`` (so a
        deadline that ends exactly at closing time is the closing instant); for
        ``d < 0`` the latest ``u <= t`` with ``elapsed(u, t) == -d``.

        Raises:
            NaiveDatetimeError: ``t`` has no time zone.
            ScheduleError: Not enough open time within ten years of ``t``.
        """
        x, y = _located(t, "t")
        need = us_of(_require_duration(d, "d"))
        if need == 0:
            return t.astimezone(self.tz)
        return from_us(self._add(x, y, need), self.tz)

    # -- integer API (µs since the epoch), for the timers' hot paths ----------

    def elapsed_us(self, xa: int, xb: int) -> int:
        """:meth:`elapsed` on integer microseconds since the epoch (UTC)."""
        if xb < xa:
            return -self._between(xb, self._year_of(xb), xa, self._year_of(xa))
        return self._between(xa, self._year_of(xa), xb, self._year_of(xb))

    def add_us(self, x: int, need: int) -> int:
        """:meth:`add` on integer microseconds since the epoch (UTC)."""
        if need > 0:  # most often within the flat positions: one bisect more
            flat = self._positions(x)
            target = flat.position(x) + need
            if target <= flat.after[-1]:
                i = bisect_left(flat.after, target)
                return flat.starts[i] + target - flat.before[i]
        return x if need == 0 else self._add(x, self._year_of(x), need)

    def elapsed_to(self, xb: int) -> Callable[[int], int]:
        """``lambda xa: elapsed_us(xa, xb)`` for many ``xa <= xb`` and one ``xb``
        (``xb``'s position is found once)."""
        yb = self._year_of(xb)
        year_b = self._year(yb)
        pos_b = year_b.position(xb)
        starts = _YEAR_STARTS
        first = year_b.first

        def since(xa: int) -> int:
            if xa >= first:
                return pos_b - year_b.position(xa)
            return self._between(xa, MIN_YEAR + bisect_right(starts, xa) - 1, xb, yb)

        return since

    def _position(self, x: int) -> int:
        """Open time from a fixed instant (the start of the first year asked)
        to ``x``, negative before it: ``elapsed_us(a, b)`` is
        ``_position(b) - _position(a)``, one bisect for many spans."""
        return self._positions(x).position(x)

    def _positions(self, x: int) -> _Positions:
        """The flat positions kept, if they cover ``x``, else made anew."""
        flat = self._flat[0]
        return flat if flat.lo <= x < flat.hi else self._positions_at(x)

    def _positions_at(self, x: int) -> _Positions:
        """The flat positions of the years asked so far and of ``x``'s (and
        those between: they are contiguous), made again with ``x``'s year."""
        y = self._year_of(x)
        self._offset(y)  # the offsets of every year from the first asked to y
        years = sorted(self._offsets)
        lo, hi = years[0], years[-1]
        flat = _Positions(_year_start(lo), _year_start(hi + 1))
        flat.starts.append(flat.lo)
        flat.ends.append(flat.lo)
        flat.before.append(self._offsets[lo])
        flat.after.append(self._offsets[lo])
        for year_number in range(lo, hi + 1):
            offset, year = self._offsets[year_number], self._year(year_number)
            flat.starts += year.starts
            flat.ends += year.ends
            flat.before += [offset + b for b in year.before]
            flat.after += [offset + a for a in year.after]
        self._flat[0] = flat
        return flat

    def _offset(self, y: int) -> int:
        offsets = self._offsets
        if not offsets:
            offsets[y] = 0
            return 0
        # the known years are contiguous: extend them to ``y``, a year at a time
        lo, hi = min(offsets), max(offsets)
        while y > hi:
            offsets[hi + 1] = offsets[hi] + self._year(hi).total
            hi += 1
        while y < lo:
            offsets[lo - 1] = offsets[lo] - self._year(lo - 1).total
            lo -= 1
        return offsets[y]

    def _between(self, xa: int, ya: int, xb: int, yb: int) -> int:
        if ya == yb:
            year = self._year(ya)
            return year.position(xb) - year.position(xa)
        # across years: the years' offsets (kept once known), not a step per year
        offsets = self._offsets
        oa, ob = offsets.get(ya), offsets.get(yb)
        if oa is None or ob is None:
            oa, ob = self._offset(ya), self._offset(yb)
        return ob + self._year(yb).position(xb) - oa - self._year(ya).position(xa)

    def _add(self, x: int, start: int, d: int) -> int:
        pos = self._year(start).position(x)
        need = d
        if need > 0:
            for y in self._horizon(start, +1):
                year = self._year(y)
                if need <= year.total - pos:
                    target = pos + need
                    i = bisect_left(year.after, target)
                    return year.starts[i] + target - year.before[i]
                need -= year.total - pos
                pos = 0
        else:
            need = -need
            for y in self._horizon(start, -1):
                year = self._year(y)
                if pos < 0:
                    pos = year.total
                if need <= pos:
                    target = pos - need
                    i = bisect_right(year.before, target) - 1
                    return year.starts[i] + target - year.before[i]
                need -= pos
                pos = -1  # the whole of the next (earlier) year
        raise self._beyond(x, d)

    def is_open(self, t: datetime) -> bool:
        """Whether the business is open at ``t``."""
        x, y = _located(t, "t")
        year = self._year(y)
        i = bisect_right(year.starts, x) - 1
        return i >= 0 and x < year.ends[i]

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself if open at ``t``, else the next opening.

        Raises:
            ScheduleError: No opening within ten years.
        """
        x, start = _located(t, "t")
        year = self._year(start)
        i = bisect_right(year.starts, x) - 1
        if i >= 0 and x < year.ends[i]:
            return t.astimezone(self.tz)
        i += 1
        for y in self._horizon(start):
            year = self._year(y)
            if i < len(year.starts):
                return from_us(year.starts[i], self.tz)
            i = 0
        raise self._beyond(x)

    def next_close(self, t: datetime) -> datetime:
        """The end of the open stretch containing ``t``, or of the next one.

        Raises:
            ScheduleError: The schedule does not close within ten years.
        """
        x, start = _located(t, "t")
        year = self._year(start)
        i = bisect_right(year.starts, x) - 1
        if i < 0 or x >= year.ends[i]:
            i += 1
        end: int | None = None
        for y in self._horizon(start):
            year = self._year(y)
            if end is not None and (not year.starts or year.starts[0] != end):
                return from_us(end, self.tz)  # the stretch ended at the year's edge
            if i < len(year.starts):
                end = year.ends[i]
                if end != year.last:
                    return from_us(end, self.tz)
                # Cut at the year boundary: follow it into the next year.
            i = 0
        raise self._beyond(x)

    def intervals(
        self, a: datetime, b: datetime
    ) -> tuple[tuple[datetime, datetime], ...]:
        """The maximal open stretches within ``[a, b)``, clipped to it.

        An overnight shift followed by the next day's opening at 00:00 is one
        stretch. Empty when ``b <= a``.
        """
        xa, ya = _located(a, "a")
        xb, yb = _located(b, "b")
        spans: list[list[int]] = []
        for y in range(ya, yb + 1):
            year = self._year(y)
            i = max(bisect_right(year.starts, xa) - 1, 0)
            for s, e in zip(year.starts[i:], year.ends[i:], strict=True):
                if s >= xb:
                    break
                s, e = max(s, xa), min(e, xb)
                if s >= e:
                    continue
                if spans and spans[-1][1] == s:
                    spans[-1][1] = e
                else:
                    spans.append([s, e])
        return tuple((from_us(s, self.tz), from_us(e, self.tz)) for s, e in spans)

    def shifts_on(self, day: date) -> DayShifts:
        """The shifts that start on local date ``day`` (special day, holiday,
        recurrence or the weekly spec, in that order of precedence)."""
        special = self._specials.get(day)
        if special is not None:
            return special
        if day in self.holidays:
            return ()
        if self.recurring:
            recurring = self._recurring_on(day.year).get(day)
            if recurring is not None:
                return recurring
        return self.weekly[day.weekday()]

    def _recurring_on(self, year: int) -> dict[date, DayShifts]:
        days = self._recurring_years.get(year)
        if days is None:
            days = {}
            first, last = date(year, 1, 1), date(year, 12, 31)
            for r in self.recurring:  # later ones win
                days.update(dict.fromkeys(r.dates(first, last), r.hours))
            self._recurring_years[year] = days
        return days

    def describe(self) -> str:
        """A one-line text of the weekly spec and zone, for humans."""
        days = ", ".join(
            f"{name} {format_day(s)}"
            for name, s in zip(DAY_NAMES, self.weekly, strict=True)
        )
        return f"{days} ({self.tz.key})"

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _year_of(x: int) -> int:
        i = bisect_right(_YEAR_STARTS, x)
        if not 0 < i < len(_YEAR_STARTS):
            raise ScheduleError(
                f"expected an instant in the years {MIN_YEAR}-{MAX_YEAR}, got "
                f"{x} µs since the epoch"
            )
        return MIN_YEAR + i - 1

    @staticmethod
    def _horizon(y: int, direction: int = 1) -> range:
        """The years to search from year ``y`` on (backwards if negative)."""
        if direction < 0:
            return range(y, max(y - HORIZON_YEARS, MIN_YEAR) - 1, -1)
        return range(y, min(y + HORIZON_YEARS, MAX_YEAR) + 1)

    def _beyond(self, x: int, need: int | None = None) -> ScheduleError:
        what = (
            "open time"
            if need is None
            else f"{timedelta(microseconds=need)} of open time"
        )
        return ScheduleError(
            f"not enough {what} within {HORIZON_YEARS} years of "
            f"{from_us(x, self.tz).isoformat()} in this schedule ({self.describe()})"
        )

    def _year(self, y: int) -> _Year:
        year = self._years.get(y)
        if year is None:
            year = self._years[y] = self._build_year(y)
        return year

    def _build_year(self, y: int) -> _Year:
        first, last = _year_start(y), _year_start(y + 1)
        midnight = time()
        spans: list[tuple[int, int]] = []
        day = date(y, 1, 1) - timedelta(days=3)
        end_day = date(y + 1, 1, 2)
        while day <= end_day:
            shifts = self.shifts_on(day)
            if shifts:
                base = datetime.combine(day, midnight)
                for start, end in shifts:
                    s = _resolve(base + start, self.tz)
                    e = _resolve(base + end, self.tz)
                    if s < e:
                        spans.append((s, e))
            day += DAY
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            s, e = max(s, first), min(e, last)
            if s >= e:
                continue
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        return _Year(first, last, merged)

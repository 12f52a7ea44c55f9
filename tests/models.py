"""Brute-force models the property tests compare the library against.

They are slow and obviously right: the hours model walks the UTC time line one
minute at a time, and decides whether each minute is open from the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_US = 60_000_000

# A day's shifts in the model: (start minute, end minute) as written in the spec,
# end in 1..1440; an end not after the start runs overnight.
ModelShift = tuple[int, int]


def us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


class HoursModel:
    """Which UTC minutes are open, by the wall clock.

    The wall clock may run backwards (fall-back), so the model keeps its running
    maximum: a local time ``w`` "has been reached" at instant ``x`` when the wall
    clock has shown ``w`` or later at some instant up to ``x``. A minute is open
    when that running maximum lies inside a wall interval ``[open, close)``.
    This is the definition "a local time resolves to the earliest instant at which
    the wall clock shows it or later", read directly, with no bisection.
    """

    def __init__(
        self,
        week: Sequence[Sequence[ModelShift]],
        tz: str,
        *,
        holidays: frozenset[date] = frozenset(),
        special: Mapping[date, Sequence[ModelShift]] | None = None,
        recurring: Sequence[tuple[Callable[[date], bool], Sequence[ModelShift]]] = (),
    ) -> None:
        self.week = week
        self.tz = ZoneInfo(tz)
        self.holidays = holidays
        self.special = dict(special or {})
        self.recurring = recurring
        self._walls: dict[date, list[tuple[datetime, datetime]]] = {}

    def wall_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day not in self._walls:
            self._walls[day] = self._wall_intervals(day)
        return self._walls[day]

    def _wall_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.special:
            shifts = self.special[day]
        elif day in self.holidays:
            shifts = []
        else:
            shifts = self.week[day.weekday()]
            for applies, hours in self.recurring:  # a later one wins
                if applies(day):
                    shifts = hours
        midnight = datetime(day.year, day.month, day.day)
        out = []
        for s, e in shifts:
            end = e if e > s else e + 1440
            out.append(
                (midnight + timedelta(minutes=s), midnight + timedelta(minutes=end))
            )
        return out

    def open_spans(self, lo: datetime, hi: datetime) -> list[tuple[int, int]]:
        """Open stretches (UTC µs) between two instants, minute by minute."""
        start = us(lo) // MINUTE_US
        first = start - 1440  # a day to settle the running maximum
        last = -(-us(hi) // MINUTE_US) + 1
        spans: list[list[int]] = []
        running_max: datetime | None = None
        for m in range(first, last):
            instant = EPOCH + timedelta(minutes=m)
            wall = instant.astimezone(self.tz).replace(tzinfo=None)
            if running_max is None or wall > running_max:
                running_max = wall
            day = running_max.date()
            is_open = any(
                start <= running_max < end
                for d in (day, day - timedelta(days=1))
                for start, end in self.wall_intervals(d)
            )
            if is_open and m >= start:
                s = m * MINUTE_US
                if spans and spans[-1][1] == s:
                    spans[-1][1] = s + MINUTE_US
                else:
                    spans.append([s, s + MINUTE_US])
        return [(s, e) for s, e in spans]

    def elapsed(self, spans: list[tuple[int, int]], a: int, b: int) -> int:
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        return sign * sum(max(0, min(e, b) - max(s, a)) for s, e in spans)

    def add(self, spans: list[tuple[int, int]], t: int, d: int) -> int | None:
        """Earliest u >= t with elapsed(t, u) == d (d >= 0), latest u <= t for
        d < 0; None when the spans do not hold enough open time."""
        if d == 0:
            return t
        if d > 0:
            need = d
            for s, e in spans:
                s = max(s, t)
                if s >= e:
                    continue
                if e - s >= need:
                    return s + need
                need -= e - s
            return None
        need = -d
        for s, e in reversed(spans):
            e = min(e, t)
            if s >= e:
                continue
            if e - s >= need:
                return e - need
            need -= e - s
        return None

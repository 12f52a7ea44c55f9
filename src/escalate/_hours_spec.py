"""Parsing business-hours specs into normalised day shifts.

A *shift* is a pair ``(start, end)`` of offsets from local midnight of the day it
belongs to, with ``0 <= start < 24h`` and ``start < end <= start + 24h``: an
interval written with an end not after its start runs overnight, so its end gets
one day added; ``24:00`` ends the day. The shifts of one day are sorted and merged
(overlapping or touching shifts count once), so two specs that open the same hours
compare equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from escalate.errors import ScheduleError

Shift = tuple[timedelta, timedelta]
DayShifts = tuple[Shift, ...]

DAY: Final = timedelta(days=1)
DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_DAY_INDEX: Final = {
    **{n: i for i, n in enumerate(DAY_NAMES)},
    **{n: i for i, n in enumerate(_FULL_NAMES)},
}
_TIME_RE: Final = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EXAMPLE: Final = "expected 'closed' or intervals like '09:00-12:30, 13:30-17:00'"


def parse_weekly(spec: Mapping[object, object]) -> tuple[DayShifts, ...]:
    """Seven tuples of shifts, Monday first, from a weekly spec.

    Keys name days (``"mon"``, ``"mon-fri"``, ``"sat,sun"``, full names, or the
    integers 0-6 with Monday 0); a day not named is closed; later keys override
    earlier ones for the days they name. Values are day values (see
    :func:`parse_day`).
    """
    if not isinstance(spec, Mapping):
        raise ScheduleError(
            f"spec: expected a mapping of days to hours, got {type(spec).__name__}"
        )
    week: list[DayShifts] = [() for _ in DAY_NAMES]
    for key, value in spec.items():
        shifts = parse_day(value, where=str(key))
        for day in parse_days(key):
            week[day] = shifts
    return tuple(week)


def parse_days(key: object) -> list[int]:
    """The weekday numbers (Monday 0) a spec key names."""
    if isinstance(key, int) and not isinstance(key, bool):
        if 0 <= key <= 6:
            return [key]
        raise ScheduleError(f"{key}: expected a weekday number 0-6 (Monday 0)")
    if not isinstance(key, str):
        raise ScheduleError(
            f"{key!r}: expected a day name like 'mon', 'mon-fri' or 'sat,sun'"
        )
    days: list[int] = []
    for part in key.split(","):
        names = [n.strip().lower() for n in part.split("-")]
        if len(names) > 2 or not all(n in _DAY_INDEX for n in names):
            raise ScheduleError(
                f"{key!r}: unknown day {part.strip()!r}; expected one of "
                f"{', '.join(DAY_NAMES)}, a range like 'mon-fri' or a list "
                "like 'sat,sun'"
            )
        first, last = _DAY_INDEX[names[0]], _DAY_INDEX[names[-1]]
        if last < first:
            raise ScheduleError(
                f"{key!r}: the range {part.strip()!r} runs backwards; expected "
                "days in week order like 'mon-fri' (write 'sat,sun,mon' to wrap)"
            )
        days.extend(range(first, last + 1))
    return days


def parse_day(value: object, *, where: str) -> DayShifts:
    """The merged shifts of one day value.

    A day value is ``"closed"``, a string of comma-separated ``HH:MM-HH:MM``
    intervals, or a sequence of ``(start, end)`` pairs whose bounds are
    ``datetime.time`` values or ``"HH:MM"`` strings (``"24:00"`` ends the day).
    An empty sequence is closed too.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "closed":
            return ()
        if not text:
            raise ScheduleError(f"{where}: {_EXAMPLE}, got an empty string")
        pairs: list[tuple[object, object]] = []
        for part in text.split(","):
            bounds = part.split("-")
            if len(bounds) != 2:
                raise ScheduleError(f"{where}: {_EXAMPLE}, got {value!r}")
            pairs.append((bounds[0].strip(), bounds[1].strip()))
        return _merge_day(_shift(p, where=where, text=value) for p in pairs)
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = list(value)
        for item in items:
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise ScheduleError(
                    f"{where}: expected (start, end) pairs, got {item!r} in {value!r}"
                )
        return _merge_day(_shift(tuple(i), where=where, text=value) for i in items)
    raise ScheduleError(f"{where}: {_EXAMPLE}, got {value!r}")


def parse_special_days(
    special: Mapping[Any, Any] | None,
) -> tuple[tuple[date, DayShifts], ...]:
    """Special days as a tuple of ``(date, shifts)`` sorted by date."""
    if special is None:
        return ()
    if not isinstance(special, Mapping):
        raise ScheduleError(
            "special_days: expected a mapping of dates to hours, got "
            f"{type(special).__name__}"
        )
    out: dict[date, DayShifts] = {}
    for key, value in special.items():
        if not isinstance(key, date) or isinstance(key, datetime):
            raise ScheduleError(
                f"special_days: expected datetime.date keys, got {key!r}"
            )
        out[key] = parse_day(value, where=f"special_days[{key.isoformat()}]")
    return tuple(sorted(out.items()))


def _shift(pair: tuple[object, ...], *, where: str, text: object) -> Shift:
    start = _offset(pair[0], where=where, text=text, end=False)
    end = _offset(pair[1], where=where, text=text, end=True)
    if end <= start:
        end += DAY
    normalised = all(isinstance(b, timedelta) for b in pair)  # merged: may be longer
    if end - start > DAY and not normalised:
        raise ScheduleError(
            f"{where}: a shift lasts at most 24 hours, got {pair!r} in {text!r}"
        )
    return (start, end)


def _offset(bound: object, *, where: str, text: object, end: bool) -> timedelta:
    if isinstance(bound, timedelta):  # normalised offsets (an overnight end > 24h)
        if timedelta(0) <= bound < (2 * DAY if end else DAY):
            return bound
    elif isinstance(bound, time):
        if bound.tzinfo is not None:
            raise ScheduleError(
                f"{where}: expected local times without tzinfo, got {bound!r}"
            )
        return timedelta(
            hours=bound.hour,
            minutes=bound.minute,
            seconds=bound.second,
            microseconds=bound.microsecond,
        )
    if isinstance(bound, str):
        m = _TIME_RE.match(bound)
        if m is not None:
            h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
            if (h < 24 and mi < 60 and s < 60) or (end and (h, mi, s) == (24, 0, 0)):
                return timedelta(hours=h, minutes=mi, seconds=s)
    raise ScheduleError(
        f"{where}: {_EXAMPLE} with times from 00:00 to 23:59 (24:00 only as an "
        f"end), got {bound!r} in {text!r}"
    )


def _merge_day(shifts: Iterable[Shift]) -> DayShifts:
    merged: list[Shift] = []
    for start, end in sorted(shifts):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def format_day(shifts: DayShifts) -> str:
    """The canonical text of a day's shifts (``"closed"`` for none)."""
    if not shifts:
        return "closed"
    return ", ".join(
        f"{_hhmm(s)}-{_hhmm(e % DAY if e != DAY else e)}" for s, e in shifts
    )


def _hhmm(offset: timedelta) -> str:
    total = offset // timedelta(seconds=1)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")

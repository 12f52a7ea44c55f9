"""Recurring special days and closures, as RFC 5545 recurrence rules.

A :class:`Recurrence` names the dates an ``RRULE`` gives (expanded with
``dateutil.rrule``) and the hours a business keeps on them: ``"closed"`` for a
recurring closure, or shifts like ``"09:00-12:00"`` for a recurring special day
(the first Monday of the month opens only in the morning). ``BusinessHours``
takes a tuple of them and expands them lazily, one year at a time, like the
holidays.

Rules are bounded so that expanding one is cheap whatever it says: a start not
before :data:`MIN_START`, ``COUNT`` up to :data:`MAX_COUNT`, ``INTERVAL`` up to
:data:`MAX_INTERVAL`, ordinals that can exist (a monthly ``BYDAY`` up to the 5th),
and a rule that gives no date within :data:`NEVER_WITHIN_YEARS` years of its
start is refused as one that never occurs (found in a bounded walk, not by
dateutil searching up to the year 9999).

A rule without a ``start`` is anchored nowhere: it must name its days itself
(``BYDAY``, ``BYMONTHDAY``, ``BYYEARDAY``, ``BYWEEKNO`` or ``BYEASTER`` for a
weekly, monthly or yearly rule) and may not count (``COUNT``, ``INTERVAL`` other
than 1), since those take their meaning from a first occurrence. Give ``start``
(the rule's ``DTSTART``, a date) for such rules.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Final

import attrs
from dateutil import rrule as _rrule

from escalate._hours_spec import DayShifts, format_day, parse_day
from escalate.errors import ScheduleError

__all__ = ["MAX_COUNT", "MAX_INTERVAL", "MIN_START", "NEVER_WITHIN_YEARS", "Recurrence"]

MIN_START: Final = date(1900, 1, 1)
"""The earliest start a rule may have (each expansion walks from it)."""

MAX_COUNT: Final = 10_000
"""The largest ``COUNT``."""

MAX_INTERVAL: Final = 1_000
"""The largest ``INTERVAL``."""

NEVER_WITHIN_YEARS: Final = 30
"""A rule that gives no date within this many years of its start never occurs
(weekdays repeat every 28 years) and is refused."""

_FREQUENCIES: Final = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_DAY_PARTS: Final = ("BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYEASTER")
_RANGES: Final = {
    "BYMONTH": (1, 12),
    "BYMONTHDAY": (1, 31),
    "BYYEARDAY": (1, 366),
    "BYWEEKNO": (1, 53),
    "BYDAY": (1, 53),
    "BYSETPOS": (1, 366),
}
_EXAMPLE: Final = "expected an RFC 5545 recurrence rule like 'FREQ=MONTHLY;BYDAY=1MO'"


def _rule_text(value: object) -> str:
    if not isinstance(value, str):
        raise ScheduleError(f"rule: {_EXAMPLE}, got {value!r}")
    text = value.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    return text.upper()


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, val = part.partition("=")
        if not eq or not name or not val or name in parts:
            raise ScheduleError(f"rule: {_EXAMPLE}, got {text!r}")
        parts[name] = val
    return parts


def _start(value: object) -> date | None:
    if value is None:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ScheduleError(f"start: expected a datetime.date, got {value!r}")
    if value < MIN_START:
        raise ScheduleError(
            f"start: expected a date from {MIN_START.isoformat()} on (every "
            f"expansion walks the rule from its start), got {value.isoformat()}"
        )
    return value


def _bounded(where: str, parts: dict[str, str], name: str, high: int) -> None:
    if name in parts:
        value = parts[name]
        if not value.isdigit() or not 1 <= int(value) <= high:
            raise ScheduleError(
                f"{where}: {name}: expected a whole number from 1 to {high}, got "
                f"{value!r}"
            )


def _hours(value: object) -> DayShifts:
    return parse_day(value, where="hours")


@attrs.frozen(kw_only=True)
class Recurrence:
    """Recurring dates with their own hours (none: a recurring closure).

    Attributes:
        rule: The ``RRULE`` value, e.g. ``"FREQ=YEARLY;BYMONTH=12;BYDAY=-1FR"``
            (the last Friday of the year); an ``RRULE:`` prefix is dropped and the
            text upper-cased. ``FREQ`` is ``DAILY``, ``WEEKLY``, ``MONTHLY`` or
            ``YEARLY``; ``DTSTART`` goes in ``start``.
        hours: The shifts kept on those dates (same syntax as a day of a weekly
            spec); ``"closed"`` (the default) closes them.
        start: The first date the rule may give (its ``DTSTART``); required when
            the rule counts or takes its day from its start.
        name: A label for people ("Team meeting").

    Raises:
        ScheduleError: A rule dateutil cannot read, an unsupported frequency, a
            rule that needs a start and has none, or malformed hours.
    """

    rule: str = attrs.field(converter=_rule_text)
    hours: DayShifts = attrs.field(default="closed", converter=_hours, repr=format_day)
    start: date | None = attrs.field(default=None, converter=_start)
    name: str = ""
    _parsed: Any = attrs.field(init=False, eq=False, repr=False)

    @_parsed.default
    def _parse(self) -> Any:
        parts = _parts(self.rule)
        where = f"rule {self.rule!r}"
        if "DTSTART" in parts:
            raise ScheduleError(f"{where}: give DTSTART as start, not in the rule")
        if parts.get("FREQ") not in _FREQUENCIES:
            raise ScheduleError(
                f"{where}: FREQ: expected one of {', '.join(_FREQUENCIES)}, got "
                f"{parts.get('FREQ')!r}"
            )
        if self.start is None:
            if "COUNT" in parts or parts.get("INTERVAL", "1") != "1":
                raise ScheduleError(
                    f"{where}: COUNT and INTERVAL count from the first occurrence; "
                    "expected a start date with them"
                )
            if parts["FREQ"] != "DAILY" and not any(p in parts for p in _DAY_PARTS):
                raise ScheduleError(
                    f"{where}: expected BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO or "
                    "BYEASTER to name its days, or a start date to take them from"
                )
        _bounded(where, parts, "COUNT", MAX_COUNT)
        _bounded(where, parts, "INTERVAL", MAX_INTERVAL)
        ranges = dict(_RANGES)
        if parts["FREQ"] == "MONTHLY":  # no month has a 6th Monday
            ranges["BYDAY"] = (1, 5)
        for part, (low, high) in ranges.items():
            for v in parts.get(part, "").split(",") if part in parts else ():
                n = v.rstrip("MOTUWEHFRSA") if part == "BYDAY" else v
                digits = n if part == "BYMONTH" else n.lstrip("+-")
                if n and not (digits.isdigit() and low <= abs(int(n)) <= high):
                    signed = "" if part == "BYMONTH" else " (or their negatives)"
                    raise ScheduleError(
                        f"{where}: {part}: expected numbers from {low} to {high}"
                        f"{signed}, got {v!r}"
                    )
        if "UNTIL" in parts:  # dates are local: 20281231T000000Z means 2028-12-31
            parts["UNTIL"] = parts["UNTIL"][:8]
        text = ";".join(f"{k}={v}" for k, v in parts.items())
        anchor = datetime.combine(self.start or date(2000, 1, 1), time())
        try:
            parsed: Any = _rrule.rrulestr(text, dtstart=anchor)  # one RRULE
            # A bounded trial: dateutil looks for a first date up to the year
            # 9999 (minutes of CPU for a rule that never occurs); with an UNTIL
            # of its own the walk stops there. A rule without a start is tried
            # from MIN_START: it takes each question's year as its start, so an
            # early UNTIL may still occur.
            begin = anchor if self.start else datetime.combine(MIN_START, time())
            horizon = begin.replace(year=begin.year + NEVER_WITHIN_YEARS)
            own = parsed._until  # the rule's own UNTIL, if any (dateutil's field)
            until = horizon if own is None else min(own, horizon)
            trial = parsed.replace(dtstart=begin, count=None, until=until)
            first = next(iter(trial), None)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
            raise ScheduleError(f"rule: {_EXAMPLE}, got {self.rule!r}: {e}") from e
        if first is None:
            raise ScheduleError(
                f"{where}: gives no date within {NEVER_WITHIN_YEARS} years of "
                f"{begin.date().isoformat()}; expected a rule that occurs"
            )
        return parsed

    def dates(self, first: date, last: date) -> list[date]:
        """The dates the rule gives from ``first`` to ``last``, both included,
        in order."""
        rule = self._parsed
        if self.start is None:  # no anchor: start where the question starts
            new_year = datetime.combine(date(first.year, 1, 1), time())
            rule = rule.replace(dtstart=new_year)
        lo = datetime.combine(first, time())
        hi = datetime.combine(last, time())
        return [d.date() for d in rule.between(lo, hi, inc=True)]

    def describe(self) -> str:
        """A one-line text for people."""
        label = f"{self.name}: " if self.name else ""
        since = f" from {self.start.isoformat()}" if self.start else ""
        return f"{label}{self.rule}{since} {format_day(self.hours)}"

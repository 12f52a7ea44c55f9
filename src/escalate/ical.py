"""Closures from an iCalendar (RFC 5545) file of holidays, as Zammad imports them.

:func:`read_ical` turns each ``VEVENT`` of a calendar into :class:`Recurrence`
closures for ``BusinessHours(recurring=...)``: a one-off event closes its dates
(an all-day event from ``DTSTART`` up to, not including, ``DTEND``), an event
with an ``RRULE`` closes every date the rule gives. It parses text; reading the
file is the caller's (the configuration loader does it for ``ical = "..."``).

It needs the optional ``icalendar`` package: ``pip install 'escalate[ical]'``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from escalate.errors import ConfigError, EscalateError
from escalate.recurrence import Recurrence

__all__ = ["read_ical"]

MAX_EVENT_DAYS = 366
"""The longest one-off closure an event may describe."""


def read_ical(data: str | bytes, *, where: str = "ical") -> tuple[Recurrence, ...]:
    """The closures an iCalendar text describes, in the order of its events.

    Args:
        data: The calendar's text.
        where: How error messages name the source (e.g. the file's path).

    Raises:
        ConfigError: The text is not an iCalendar calendar, or an event cannot be
            read as closed dates (a recurring event over several days, ``RDATE``
            or ``EXDATE``); the message names the event by number and summary.
            Also raised, with how to install it, when ``icalendar`` is missing.
    """
    try:
        import icalendar
    except ImportError as e:  # pragma: no cover - the test extra installs it
        raise ConfigError(
            f"{where}: reading iCalendar files needs the icalendar package: "
            "pip install 'escalate[ical]'"
        ) from e
    if not isinstance(data, str | bytes):
        raise ConfigError(f"{where}: expected iCalendar text, got {data!r}")
    try:
        calendar = icalendar.Calendar.from_ical(data)
        events = list(calendar.walk("VEVENT"))
    except Exception as e:  # icalendar's parser raises many kinds
        # The text is not quoted: it may be a file that is not a calendar.
        raise ConfigError(
            f"{where}: expected an iCalendar calendar (BEGIN:VCALENDAR ...); it "
            f"could not be read ({type(e).__name__})"
        ) from None
    out: list[Recurrence] = []
    for n, event in enumerate(events):
        label = f"{where}: event {n}"
        try:
            label += f" ({str(event.get('SUMMARY', ''))[:80] or 'untitled'})"
            out.extend(_closures(event))
        except EscalateError as e:
            raise ConfigError(f"{label}: {e}") from None
        except Exception as e:  # a property icalendar reads as something else
            raise ConfigError(
                f"{label}: cannot be read as closed dates: {type(e).__name__}: "
                f"{str(e)[:200]}"
            ) from None
    return tuple(out)


def _day(value: Any, what: str) -> date:
    if value is None:
        raise ConfigError(f"{what}: expected a date, got none")
    when = value.dt
    if isinstance(when, datetime):
        return when.date()  # the date in the event's own zone
    if isinstance(when, date):
        return when
    raise ConfigError(f"{what}: expected a date, got {when!r}")


def _closures(event: Any) -> list[Recurrence]:
    for name in ("RDATE", "EXDATE"):
        if event.get(name) is not None:
            raise ConfigError(f"{name} is not supported; expected DTSTART with RRULE")
    start = _day(event.get("DTSTART"), "DTSTART")
    if event.get("DTEND") is not None:
        days = (_day(event.get("DTEND"), "DTEND") - start).days
    elif event.get("DURATION") is not None:
        days = event.get("DURATION").dt // timedelta(days=1)
    else:
        days = 1
    days = max(days, 1)
    if days > MAX_EVENT_DAYS:
        raise ConfigError(
            f"expected an event of at most {MAX_EVENT_DAYS} days, got {days}"
        )
    name = str(event.get("SUMMARY", ""))
    rule = event.get("RRULE")
    if rule is None:
        return [Recurrence(rule=f"FREQ=DAILY;COUNT={days}", start=start, name=name)]
    if days > 1:
        raise ConfigError(
            f"a recurring event must last one day, got {days} days; expected one "
            "event per day"
        )
    return [Recurrence(rule=rule.to_ical().decode(), start=start, name=name)]

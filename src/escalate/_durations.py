"""Durations as people read them: ``4h 30m``, not ``1 day, 7:15:00``.

One format for every place escalate shows a duration (``explain``, ``status``,
the ``duration`` template filter), so a mail and the command line agree.
"""

from __future__ import annotations

from datetime import timedelta

from escalate._instants import MICROSECOND, require_duration


def format_duration(value: timedelta, *, days: bool = False) -> str:
    """``value`` in hours, minutes and seconds, leaving out the units that are 0:
    ``4h 30m``, ``45s``, ``26h 5s``, ``0m``; fractions of a second as decimals
    (``1.5s``); a negative duration with a leading ``-``. With ``days``, whole
    days of 24 hours come first (``1d 2h``): for calendar time; business time
    is best read in hours, as a business day is not 24 of them.

    >>> format_duration(timedelta(hours=31, minutes=15))
    '31h 15m'
    >>> format_duration(timedelta(hours=31, minutes=15), days=True)
    '1d 7h 15m'
    >>> format_duration(timedelta(seconds=-90))
    '-1m 30s'
    """
    us = require_duration(value, "duration") // MICROSECOND
    if us < 0:
        return "-" + format_duration(-value, days=days)
    seconds, fraction = divmod(us, 1_000_000)
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    parts = []
    if days and hours >= 24:
        d, hours = divmod(hours, 24)
        parts.append(f"{d}d")
    if hours:
        parts.append(f"{hours}h")
    if m:
        parts.append(f"{m}m")
    if s or fraction:
        parts.append(f"{s}.{fraction:06d}".rstrip("0") + "s" if fraction else f"{s}s")
    return " ".join(parts) or "0m"

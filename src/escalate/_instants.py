"""Instants as integers: the one conversion between aware datetimes and UTC µs.

Arithmetic between instants is done on integer microseconds since the Unix epoch
(UTC). Python subtracts and compares two datetimes that share a tzinfo by wall
clock, which is wrong across a DST change; going through UTC integers avoids that
and is also the fastest form for ``bisect``.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Final

from escalate.errors import ConfigError, NaiveDatetimeError, WrongTypeError

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)


def require_aware(value: object, name: str) -> datetime:
    """Return ``value`` if it is an aware datetime, else raise naming ``name``."""
    if not isinstance(value, datetime):
        raise WrongTypeError(
            f"{name}: expected an aware datetime, got {type(value).__name__} {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name}: expected an aware datetime (with tzinfo), got naive {value!r}"
        )
    return value


def require_duration(value: object, name: str) -> timedelta:
    """Return ``value`` if it is a timedelta, else raise naming ``name``."""
    if not isinstance(value, timedelta):
        raise WrongTypeError(
            f"{name}: expected a timedelta, got {type(value).__name__} {value!r}"
        )
    return value


def to_us(value: object, name: str) -> int:
    """Microseconds since the epoch (UTC) of an aware datetime.

    The hot path: one subtraction (Python converts both sides to UTC), checked
    only when it fails.
    """
    try:
        us: int = (value - EPOCH) // MICROSECOND  # type: ignore[operator]
    except TypeError:
        require_aware(value, name)  # raises the precise error
        raise
    return us


def from_us(us: int, tz: tzinfo) -> datetime:
    """The aware datetime in ``tz`` of ``us`` microseconds since the epoch."""
    return (EPOCH + timedelta(microseconds=us)).astimezone(tz)


def utc_from_us(us: int) -> datetime:
    """The aware UTC datetime of ``us`` microseconds since the epoch (cheap)."""
    return EPOCH + timedelta(microseconds=us)


def fraction_of(f: Fraction, total: int) -> int:
    """``f × total`` microseconds, rounded up (so counted >= f × target holds)."""
    return -((-f.numerator * total) // f.denominator)


def us_of(delta: timedelta) -> int:
    """A duration in whole microseconds."""
    return delta // MICROSECOND


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_named(
    name: object, where: str, error: type[ConfigError] = ConfigError
) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``, checked against the zone database's list of
    names before a file is opened for it: ``"Europe"`` (a folder of the database)
    or ``"../../etc/passwd"`` is an ``error`` naming ``where``, never an
    ``OSError`` from reading it.
    """
    if not isinstance(name, str):
        raise WrongTypeError(f"{where}: expected a zone name, got {name!r}")
    if len(name) > 64 or name not in _zone_names():
        raise error(
            f"{where}: expected an IANA time zone name like 'Europe/Amsterdam', "
            f"got {name[:64]!r}"
        )
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise error(
            f"{where}: the time zone {name!r} cannot be read from the zone database: "
            f"{e}"
        ) from None

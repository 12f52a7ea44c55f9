"""escalate: the escalation machinery of the big suites, as an embeddable library.

The public API is re-exported here; everything in a ``_private`` module is an
implementation detail.
"""

from __future__ import annotations

from escalate.errors import (
    ConfigError,
    EscalateError,
    NaiveDatetimeError,
    ScheduleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours

__all__ = [
    "BusinessHours",
    "ConfigError",
    "EscalateError",
    "NaiveDatetimeError",
    "ScheduleError",
    "WrongTypeError",
    "__version__",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("escalate")
    raise AttributeError(f"module 'escalate' has no attribute {name!r}")

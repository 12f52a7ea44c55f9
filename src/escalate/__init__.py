"""escalate: the escalation machinery of the big suites, as an embeddable library.

The public API is re-exported here; everything in a ``_private`` module is an
implementation detail. ``escalate.testing`` (the pytest plugin) is not imported
here, as it imports pytest.
"""

from __future__ import annotations

from escalate.errors import (
    ConfigError,
    EscalateError,
    InvalidOperation,
    NaiveDatetimeError,
    ScheduleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import Task
from escalate.timers import (
    TIMER_TRANSITIONS,
    Clock,
    ManualClock,
    Outcome,
    Phase,
    SlaTimer,
    SystemClock,
    TimerEvent,
    TimerState,
    TwoPhaseTimer,
    parse_thresholds,
)

__all__ = [
    "BusinessHours",
    "Clock",
    "ConfigError",
    "EscalateError",
    "InvalidOperation",
    "ManualClock",
    "NaiveDatetimeError",
    "Outcome",
    "Phase",
    "ScheduleError",
    "SlaTimer",
    "SystemClock",
    "TIMER_TRANSITIONS",
    "Task",
    "TimerEvent",
    "TimerState",
    "TwoPhaseTimer",
    "WrongTypeError",
    "__version__",
    "parse_thresholds",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("escalate")
    raise AttributeError(f"module 'escalate' has no attribute {name!r}")

"""escalate: the escalation machinery of the big suites, as an embeddable library.

The public API is re-exported here; everything in a ``_private`` module is an
implementation detail. ``escalate.testing`` (the pytest plugin) is not imported
here, as it imports pytest.
"""

from __future__ import annotations

from escalate.errors import (
    ConfigError,
    CriteriaSyntaxError,
    EscalateError,
    InvalidOperation,
    NaiveDatetimeError,
    PermissionDenied,
    RuleError,
    ScheduleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import BUILTIN_STATUSES, Actor, Case, Permission, Status, Task
from escalate.rules import (
    ActionKind,
    Condition,
    ConditionResult,
    DueAction,
    EscalationAction,
    Evaluation,
    ExpiryPolicy,
    Explanation,
    ItemTrial,
    Operator,
    Rule,
    RuleBook,
    RuleItem,
    StepStatus,
    TimeBasis,
    Verdict,
    due_actions,
    evaluate,
)
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
    "ActionKind",
    "Actor",
    "BUILTIN_STATUSES",
    "BusinessHours",
    "Case",
    "Clock",
    "Condition",
    "ConditionResult",
    "ConfigError",
    "CriteriaSyntaxError",
    "DueAction",
    "EscalateError",
    "EscalationAction",
    "Evaluation",
    "ExpiryPolicy",
    "Explanation",
    "InvalidOperation",
    "ItemTrial",
    "ManualClock",
    "NaiveDatetimeError",
    "Operator",
    "Outcome",
    "Permission",
    "PermissionDenied",
    "Phase",
    "Rule",
    "RuleBook",
    "RuleError",
    "RuleItem",
    "ScheduleError",
    "SlaTimer",
    "Status",
    "StepStatus",
    "SystemClock",
    "TIMER_TRANSITIONS",
    "Task",
    "TimeBasis",
    "TimerEvent",
    "TimerState",
    "TwoPhaseTimer",
    "Verdict",
    "WrongTypeError",
    "__version__",
    "due_actions",
    "evaluate",
    "parse_thresholds",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("escalate")
    raise AttributeError(f"module 'escalate' has no attribute {name!r}")

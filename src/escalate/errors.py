"""The whole exception tree of escalate.

Every public entry point rejects bad input with one of these. Each also subclasses
the builtin it refines, so ``except ValueError`` or ``except TypeError`` keeps
working in code that does not know escalate::

    EscalateError(Exception)
    ├── ConfigError(EscalateError, ValueError)      a bad spec, rule, scale or file
    │   ├── ScheduleError                           business-hours specs and limits
    │   ├── TemplateError                           a template: .template, .line
    │   └── RuleError                               rules, items, actions
    │       └── CriteriaSyntaxError                 a logic string (.position)
    ├── WrongTypeError(EscalateError, TypeError)    an argument of the wrong type
    │   └── NaiveDatetimeError                      a datetime without tzinfo
    ├── PermissionDenied(EscalateError, PermissionError)  the actor lacks it
    ├── DeliveryError(EscalateError)                mail could not be sent
    ├── StoreError(EscalateError)                   a store failed
    │   ├── NotFound(StoreError, KeyError)          no such record
    │   ├── ConflictError(StoreError)               a stale version, a taken key
    │   └── UnreadableEntry(StoreError)             a stored entry that cannot be read
    └── InvalidOperation(EscalateError)             an operation the state forbids

Messages name the argument or field, the value, and what was expected, e.g.
``"mon-fri: expected intervals like '09:00-17:00', got '9-5'"``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "CriteriaSyntaxError",
    "DeliveryError",
    "EscalateError",
    "InvalidOperation",
    "NaiveDatetimeError",
    "NotFound",
    "PermissionDenied",
    "RuleError",
    "ScheduleError",
    "StoreError",
    "TemplateError",
    "UnreadableEntry",
    "WrongTypeError",
]


class EscalateError(Exception):
    """The root of every exception escalate raises on purpose."""


class ConfigError(EscalateError, ValueError):
    """A configuration value (spec, rule, scale, file) is not valid."""


class ScheduleError(ConfigError):
    """A business-hours spec is malformed, or a schedule has too little open time.

    Raised for an unknown day, a time such as ``25:00``, a missing bound, or when
    ``add`` cannot find enough open time within ten years (a schedule that never
    opens).
    """


class WrongTypeError(EscalateError, TypeError):
    """An argument has the wrong type (a string where a duration was expected...)."""


class NaiveDatetimeError(WrongTypeError):
    """A datetime without a time zone was given where an instant is needed.

    The message names the argument, e.g. ``"t: expected an aware datetime..."``.
    """


class InvalidOperation(EscalateError):
    """An operation that the current state does not allow.

    Resuming a running timer, pausing a stopped one, an event dated before the
    previous one, moving a manual clock backwards: the message says why.
    """


class RuleError(ConfigError):
    """A rule, rule item, condition or action is not valid.

    The message names the rule, the item and the field, e.g.
    ``"rule 'gold', item 'vip': actions[0].after: expected a duration >= 0"``.
    """


class CriteriaSyntaxError(RuleError):
    """A criteria logic string such as ``"1 AND (2 OR"`` cannot be parsed.

    Attributes:
        expression: The logic string.
        position: The 0-based index of the character where it goes wrong.
    """

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        pointer = f"\n    {expression}\n    {' ' * position}^"
        super().__init__(f"{message} at position {position}{pointer}")
        self.expression = expression
        self.position = position


class PermissionDenied(EscalateError, PermissionError):
    """The actor lacks the permission an operation needs.

    The message names the actor, the operation and the permission.
    """


class TemplateError(ConfigError):
    """A template does not compile, uses a missing variable, reaches for Python
    internals, or would exceed a limit.

    Attributes:
        template: The template's name, if known.
        line: The line in the template, if known.
    """

    def __init__(
        self, message: str, *, template: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.template = template
        self.line = line


class DeliveryError(EscalateError):
    """A mail could not be delivered (the server refused it, or is down).

    The message says which mail (its Message-ID) and why. A temporary failure
    (a 4xx reply, a lost connection) keeps the mail queued for another try; a
    permanent one (``permanent=True``: a 5xx reply, RFC 5321 section 4.2.1)
    makes it a dead letter at once, since sending it again cannot succeed.

    Attributes:
        permanent: Whether sending it again would fail the same way.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class StoreError(EscalateError):
    """A store adapter failed; driver errors are translated into this."""


class NotFound(StoreError, KeyError):
    """No record with that key (a case id, a message id...)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class UnreadableEntry(StoreError):
    """A stored history entry (or head) cannot be read back: damaged or tampered.

    Attributes:
        case_id: The case whose history holds it.
        seq: Its position in the case's history (from 1), or None for a head.
    """

    def __init__(self, message: str, *, case_id: str, seq: int | None) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.seq = seq


class ConflictError(StoreError):
    """Someone else changed it first: a stale version, or a chain that moved on."""

    @classmethod
    def stale(cls, what: str, stored: int, given: int) -> ConflictError:
        """The error for saving a change made to version ``given`` of ``what``
        when the store holds version ``stored``."""
        return cls(
            f"{what}: stored version is {stored}, the change was made to version "
            f"{given}"
        )

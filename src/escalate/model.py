"""The things escalation is about, as frozen values.

For now: :class:`Task`, a to-do with a fixed due instant. A task only becomes
*overdue*: at its due instant it yields an internal reminder to its owner, and it
never escalates (seed 003: "tasks can be overdue, they cannot escalate").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from escalate._instants import require_aware, to_us
from escalate.errors import ConfigError, InvalidOperation

__all__ = ["Task"]


def _aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        require_aware(value, f"{type(instance).__name__}.{attribute.name}")


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{type(instance).__name__}.{attribute.name}: expected a non-empty "
            f"string, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Task:
    """A to-do with a fixed due instant; it becomes overdue, it never escalates.

    Attributes:
        id: The task's identifier.
        title: What is to be done.
        owner: The user who gets the internal reminder.
        due_at: When it is due (aware).
        done_at: When it was done, or None.
    """

    id: str = attrs.field(validator=_non_empty)
    title: str = attrs.field(validator=_non_empty)
    owner: str = attrs.field(validator=_non_empty)
    due_at: datetime = attrs.field(validator=_aware)
    done_at: datetime | None = attrs.field(default=None, validator=_aware)

    def overdue(self, at: datetime) -> bool:
        """Whether the task is overdue at ``at``: not done, and ``at >= due_at``.

        A task done after its due instant was overdue until it was done.
        """
        x = to_us(at, "at")
        if self.done_at is not None and to_us(self.done_at, "done_at") <= x:
            return False
        return x >= to_us(self.due_at, "due_at")

    def reminder_at(self) -> datetime | None:
        """When the internal reminder is due: ``due_at``, or None once done
        before it."""
        done = self.done_at
        if done is not None and to_us(done, "done_at") < to_us(self.due_at, "due_at"):
            return None
        return self.due_at

    def done(self, at: datetime) -> Task:
        """The task marked done at ``at``.

        Raises:
            InvalidOperation: It was done already.
        """
        require_aware(at, "at")
        if self.done_at is not None:
            raise InvalidOperation(
                f"done: task {self.id!r} was done already at {self.done_at.isoformat()}"
            )
        return attrs.evolve(self, done_at=at)

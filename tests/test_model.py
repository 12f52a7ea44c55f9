"""Named behaviours of escalate.model values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalate.errors import ConfigError, InvalidOperation, NaiveDatetimeError
from escalate.model import Task

DUE = datetime(2026, 11, 23, 12, tzinfo=UTC)


class TestTask:
    def test_becomes_overdue_at_its_due_instant(self) -> None:
        """A task is overdue from due_at on, until it is done."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE)
        assert not task.overdue(DUE - timedelta(microseconds=1))
        assert task.overdue(DUE)
        done = task.done(DUE + timedelta(hours=1))
        assert done.overdue(DUE)
        assert not done.overdue(DUE + timedelta(hours=1))

    def test_reminder_at_due_unless_done_before(self) -> None:
        """The internal reminder is due at due_at, unless done before it."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE)
        assert task.reminder_at() == DUE
        assert task.done(DUE - timedelta(hours=1)).reminder_at() is None

    def test_has_no_escalation(self) -> None:
        """Tasks only become overdue: they have nothing that escalates."""
        assert not [n for n in dir(Task) if "escalat" in n]

    def test_done_twice_is_refused(self) -> None:
        """Marking a task done twice raises InvalidOperation."""
        task = Task(id="t1", title="Call back", owner="ann", due_at=DUE).done(DUE)
        with pytest.raises(InvalidOperation, match="done already"):
            task.done(DUE)

    def test_validation(self) -> None:
        """Empty ids and naive due instants are refused, naming the field."""
        with pytest.raises(ConfigError, match=r"Task\.id"):
            Task(id="", title="x", owner="ann", due_at=DUE)
        with pytest.raises(NaiveDatetimeError, match=r"Task\.due_at"):
            Task(id="t", title="x", owner="ann", due_at=datetime(2026, 1, 1))

"""Test helpers for escalate and for your own test suites (a pytest plugin).

Installed with escalate, this module is registered as a pytest plugin (the
``pytest11`` entry point), so any test suite in an environment with escalate
installed gets the ``manual_clock`` fixture:

.. code-block:: python

    def test_reminder(manual_clock):
        manual_clock.advance(timedelta(hours=2))
        ...

The clock starts at :data:`DEFAULT_START` (2026-01-05 09:00 UTC, a Monday); mark a
test ``@pytest.mark.clock_start("2026-03-29T00:30:00+00:00")`` to start elsewhere.

This module imports pytest, so ``escalate/__init__.py`` does not import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import pytest

from escalate.errors import NaiveDatetimeError
from escalate.timers import ManualClock

__all__ = ["DEFAULT_START", "manual_clock"]

DEFAULT_START: Final = datetime(2026, 1, 5, 9, tzinfo=UTC)
"""Where ``manual_clock`` starts unless a ``clock_start`` mark says otherwise."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clock_start(iso): start the manual_clock fixture at this aware ISO 8601 "
        "instant instead of escalate.testing.DEFAULT_START",
    )


@pytest.fixture
def manual_clock(request: pytest.FixtureRequest) -> ManualClock:
    """A :class:`~escalate.timers.ManualClock` at ``DEFAULT_START`` (or the
    test's ``clock_start`` mark)."""
    mark = request.node.get_closest_marker("clock_start")
    if mark is None:
        return ManualClock(DEFAULT_START)
    start = datetime.fromisoformat(mark.args[0])
    if start.tzinfo is None:
        raise NaiveDatetimeError(
            f"clock_start: expected an ISO 8601 instant with an offset, got "
            f"{mark.args[0]!r}"
        )
    return ManualClock(start)

"""Idempotency keys: the names under which an action fires exactly once.

``kind/case/item/action/basis[/n:d]``: the kind (``escalation``, ``warning``,
``expiry``), the case id, the item and action ids, the basis instant in
microseconds since the Unix epoch (exact, and cheap to build for every case on
every tick), and for a warning its fraction. A task's overdue reminder is
``reminder/task/due``, the due instant in microseconds. An SLA warning or breach
is ``sla/case/metric/run/percent`` (100 for the breach). Each part is
percent-encoded where needed, so ids may hold any character.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final
from urllib.parse import quote

_SAFE_PART: Final = re.compile(r"[A-Za-z0-9_.@:+-]+")


def key_part(value: object) -> str:
    """A key part: fractions as ``n:d``, anything else percent-encoded."""
    if type(value) is str:  # most parts (an isinstance of Fraction is slow)
        text = value
    elif isinstance(value, Fraction):
        return f"{value.numerator}:{value.denominator}"
    else:
        text = str(value)
    return text if _SAFE_PART.fullmatch(text) else quote(text, safe="-_.@:+")


def action_key(*parts: object) -> str:
    """The idempotency key made of ``parts`` (see the module docstring)."""
    return "/".join(map(key_part, parts))


def basis_part(us: int) -> str:
    """The basis part of a key: the UTC instant in µs since the Unix epoch."""
    return str(us)


def task_key(task_id: str, due_us: int) -> str:
    """The key of a task's overdue reminder (a new due instant, a new key)."""
    return action_key("reminder", task_id, basis_part(due_us))


def sla_key(case_id: str, metric: str, run: int, percent: int) -> str:
    """The key of an SLA metric run's warning at ``percent`` (100: its breach)."""
    return action_key("sla", case_id, metric, run, percent)

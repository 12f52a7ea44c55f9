"""Enum values as configuration and callers give them: a member, or its value."""

from __future__ import annotations

import enum
from typing import TypeVar

from escalate.errors import ConfigError

_E = TypeVar("_E", bound=enum.Enum)


def member(kind: type[_E], name: str, value: object) -> _E:
    """``value`` as a member of ``kind`` (a member, or a member's value).

    Raises:
        ConfigError: Neither; the message names ``name`` and the values.
    """
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{name}: expected one of {[k.value for k in kind]}, got {value!r}"
        ) from None

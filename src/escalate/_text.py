"""What every store and every mail can carry: the one check of text values.

SQLite keeps any Python text (NUL too) but cannot encode a lone surrogate;
PostgreSQL refuses NUL and lone surrogates; an SMTP line cannot hold a bare NUL,
and a header cannot hold CR or LF. So a text that enters escalate (a case field,
an id, a template's output) is checked here, once, for what all of them can hold:

* valid Unicode: no lone surrogate (U+D800 to U+DFFF), which a JSON API lets
  through as ``"\\udc80"``;
* no NUL (U+0000);
* a bounded length, stated where the value is defined (``docs/model.md``).

Errors name the field, where the bad character is, and what was expected.
"""

from __future__ import annotations

import re
from typing import Final

from escalate.errors import ConfigError

__all__ = ["MAX_ID", "MAX_TEXT", "check_text", "unsafe_at"]

MAX_ID: Final = 200
"""The longest id or short name (case id, number, user id, status, priority)."""

MAX_TEXT: Final = 100_000
"""The longest free text (a custom field's value, a remark)."""

_UNSAFE: Final = re.compile("[\x00\ud800-\udfff]")


def unsafe_at(text: str) -> int | None:
    """The index of the first character no store or mail can carry, or None."""
    found = _UNSAFE.search(text)
    return None if found is None else found.start()


def describe_unsafe(text: str, at: int) -> str:
    """What is wrong at ``at``: ``a lone surrogate U+DC80 at character 3``."""
    char = text[at]
    kind = "a NUL character" if char == "\x00" else "a lone surrogate"
    return f"{kind} (U+{ord(char):04X}) at character {at}"


def check_text(
    field: str, value: str, *, max_length: int = MAX_TEXT, error: type = ConfigError
) -> str:
    """``value`` if every store and mail can carry it; else ``error`` naming
    ``field``, the position and what was expected.

    Args:
        field: How the message names the value (``case.number``).
        value: The text.
        max_length: The most characters allowed.
        error: The exception class to raise (a ``ConfigError`` subclass).
    """
    if len(value) > max_length:
        raise error(
            f"{field}: expected at most {max_length:,} characters, got "
            f"{len(value):,} (starting {value[:20]!r})"
        )
    at = unsafe_at(value)
    if at is not None:
        raise error(
            f"{field}: expected valid Unicode text without NUL, got "
            f"{describe_unsafe(value, at)}"
        )
    return value

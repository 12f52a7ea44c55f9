"""Reading parsed TOML with the path of every value, for error messages.

A :class:`Table` wraps one TOML table and its path (``rules.gold.items[2]``).
Each ``take_*`` reads a key, checks its type and converts it, and every error is
a ``ConfigError`` that starts with the value's path, names the value and says
what was expected. :meth:`Table.done` refuses keys nobody asked for (typos).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, Final, TypeVar

from escalate._text import describe_unsafe, unsafe_at
from escalate.errors import ConfigError, EscalateError

_T = TypeVar("_T")
_BARE: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION: Final = re.compile(
    r"^\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$"
)
DURATION_SYNTAX: Final = (
    'a duration like "4h", "2h30m", "90m" or "45s" (hours, minutes, seconds; '
    'there is no "d": write a day of business time in hours, e.g. "8h")'
)


def key_path(path: str, key: object) -> str:
    """``path.key``, the key quoted when it is not a bare TOML key (a key that
    is no text, from a mapping built in Python, is shown as its repr)."""
    if not isinstance(key, str):
        part = repr(key)
    else:
        part = key if _BARE.match(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{path}.{part}" if path else part


def describe(value: object) -> str:
    """How an error message shows a TOML value."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):  # as TOML writes it
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def fail(path: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"{path}: expected {expected}, got {describe(value)}")


def wrapped(path: str, build: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``build(*args, **kwargs)``, with an escalate error's message prefixed by
    ``path``."""
    try:
        return build(*args, **kwargs)
    except EscalateError as e:
        raise ConfigError(f"{path}: {e}") from e


def parse_duration(text: object, path: str) -> timedelta:
    """A duration in the documented syntax (``"4h"``, ``"2h30m"``, ``"90m"``)."""
    if isinstance(text, str):
        m = _DURATION.match(text)
        if m is not None and any(m.groupdict().values()):
            h, mi, s = (int(m[k] or 0) for k in "hms")
            if h <= 1_000_000:
                return timedelta(hours=h, minutes=mi, seconds=s)
    raise fail(path, DURATION_SYNTAX, text)


MAX_DEPTH: Final = 32
"""How deeply tables, arrays and dotted keys may nest in a configuration."""

# What the nesting scan looks at: strings and comments (skipped whole, so what
# they hold does not count), brackets, dots, and what ends a key.
_SCAN: Final = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'{3}.*?'{3}"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}.=,\n]",
    re.S,
)


def check_nesting(text: str, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse TOML text nested deeper than ``limit`` before it is parsed (the
    parser and every walk after it recurse): brackets and braces open, plus the
    dots of the key or header being read (``a.b.c = 1`` nests three deep).

    A scan with one regular expression, linear in the text; strings and
    comments are skipped whole.

    Raises:
        ConfigError: Naming the line and the limit.
    """
    depth = dots = 0
    line = 1
    for m in _SCAN.finditer(text):
        token = m.group()
        if len(token) > 1:  # a string or a comment
            line += token.count("\n")
            continue
        if token == "\n":
            line += 1
            dots = 0
        elif token in "[{":
            depth += 1
            dots = 0
        elif token in "]}":
            depth -= 1
        elif token == ".":
            dots += 1
        else:  # = or ,: the key is read
            dots = 0
        if depth + dots > limit:
            raise ConfigError(
                f"{where}: line {line}: tables, arrays and dotted keys nest more "
                f"than {limit} deep; expected at most {limit} levels"
            )


def check_depth(value: object, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse parsed TOML (or a mapping built in Python, say from a JSON API)
    nested deeper than ``limit``, or holding a key or text no store can keep (a
    lone surrogate, NUL: ``_text``), named by its path; iteratively, so the
    check itself cannot recurse."""
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        v, depth, path = stack.pop()
        if depth > limit:
            raise ConfigError(
                f"{where}: tables and arrays nest more than {limit} deep; expected "
                f"at most {limit} levels"
            )
        if isinstance(v, str):
            _safe(path or where, v)
        elif isinstance(v, dict):
            for k, item in v.items():
                at = key_path(path, k)
                if isinstance(k, str):
                    _safe(at, k)
                stack.append((item, depth + 1, at))
        elif isinstance(v, list | tuple):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(v))


def _safe(path: str, text: str) -> None:
    at = unsafe_at(text)
    if at is not None:
        raise ConfigError(
            f"{path}: expected valid Unicode text without NUL, got "
            f"{describe_unsafe(text, at)}"
        )


def check_offsets(value: object, path: str, *, dates: bool = False) -> None:
    """Refuse local (offset-less) date-times and times anywhere under ``value``:
    an instant in the file must say its offset. Under a key named ``dates``
    (holidays) a date is wanted, and a date-time is refused as such."""
    if dates and isinstance(value, datetime):
        raise fail(path, "a date like 2026-12-28 (a whole day, no time)", value)
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ConfigError(
            f"{path}: expected an instant with an offset like "
            f"2026-11-23T09:00:00+01:00, got {value.isoformat()} (no offset)"
        )
    if isinstance(value, time):
        raise fail(path, 'a date, an instant or a text like "09:00-17:00"', value)
    if isinstance(value, dict):
        for k, v in value.items():
            check_offsets(v, key_path(path, k), dates=k == "dates")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_offsets(v, f"{path}[{i}]", dates=dates)


class Table:
    """One TOML table and its path."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise fail(path, "a table", data)
        self.data: dict[str, Any] = data
        self.path = path
        self._seen: set[str] = set()

    def at(self, key: str) -> str:
        return key_path(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        return self.data.get(key, default)

    def _typed(
        self, key: str, kinds: tuple[type, ...], expected: str, default: Any
    ) -> Any:
        self._seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                near = difflib.get_close_matches(key, self.data, n=1, cutoff=0.75)
                if near:  # a misspelt key, not a missing one
                    raise ConfigError(
                        f"{self.at(near[0])}: unknown key; did you mean {key!r}?"
                    )
                raise ConfigError(f"{self.at(key)}: expected {expected}, got nothing")
            return default
        value = self.data[key]
        if not isinstance(value, kinds) or (
            bool not in kinds and isinstance(value, bool)
        ):
            raise fail(self.at(key), expected, value)
        return value

    def text(self, key: str, default: Any = ...) -> Any:
        value = self._typed(key, (str,), "a text", _default(default))
        if key in self.data and not value.strip():
            raise fail(self.at(key), "a non-empty text", value)
        return value

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._typed(key, (bool,), "true or false", default))

    def integer(self, key: str, default: Any = ...) -> Any:
        return self._typed(key, (int,), "a whole number", _default(default))

    def duration(self, key: str, default: Any = ...) -> Any:
        self._seen.add(key)
        if key not in self.data and default is not ...:
            return default
        return parse_duration(self.data.get(key), self.at(key))

    def day(self, key: str, default: Any = ...) -> Any:
        value = self._typed(key, (date,), "a date like 2026-12-24", _default(default))
        if isinstance(value, datetime):
            raise fail(self.at(key), "a date like 2026-12-24", value)
        return value

    def instant(self, key: str, default: Any = ...) -> Any:
        return self._typed(
            key,
            (datetime,),
            "an instant with an offset like 2026-11-23T09:00:00+01:00",
            _default(default),
        )

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._typed(key, (list,), "an array of texts", [])
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v:
                raise fail(f"{self.at(key)}[{i}]", "a non-empty text", v)
        return tuple(values)

    def table(self, key: str, *, required: bool = False) -> Table:
        self._seen.add(key)
        if key not in self.data and required:
            raise ConfigError(f"{self.at(key)}: expected a table, got nothing")
        return Table(self.data.get(key, {}), self.at(key))

    def tables(self, key: str) -> Iterator[Table]:
        """The tables of an array of tables, each with its index in the path."""
        values = self._typed(key, (list,), "an array of tables", [])
        for i, v in enumerate(values):
            yield Table(v, f"{self.at(key)}[{i}]")

    def named(self) -> Iterator[tuple[str, Table]]:
        """Every key of this table as a named sub-table (``[calendars.office]``)."""
        for name in self.data:
            yield name, self.table(name)

    def mapping(self, key: str) -> dict[str, Any]:
        return dict(self._typed(key, (dict,), "a table", {}))

    def done(self) -> None:
        """Refuse the keys nobody read."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            near = difflib.get_close_matches(unknown[0], self._seen, n=1, cutoff=0.75)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(
                f"{self.at(unknown[0])}: unknown key; {hint}expected one of "
                f"{', '.join(sorted(self._seen)) or 'no keys'}"
            )


_REQUIRED: Final = object()


def _default(default: Any) -> Any:
    return _REQUIRED if default is ... else default

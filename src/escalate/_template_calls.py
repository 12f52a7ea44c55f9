"""What a template may call: its filters, tests, methods and globals, each charged.

Nothing of jinja2's own library is reachable unless listed here. Each entry says
what it costs the render's budget (:mod:`escalate._template_budget`):

* filters and methods that only read (``length``, ``first``, ``default``,
  ``dict.get``) cost one unit;
* those that walk their input (``sort``, ``unique``, ``map``, ``find``) cost its
  length, and refuse inputs larger than ``Limits.size``;
* those that turn their input into text (``string``, ``join``, ``tojson``,
  ``upper``) refuse an input whose text would exceed ``Limits.size``;
* those that can amplify (``replace``, ``join``, ``batch``, ``slice``, padding,
  ``strftime``) compute the size of what they would build from their arguments and
  refuse it before it runs;
* every result is measured: text and containers by their size, numbers by their
  bits, and an iterator is wrapped so that each item drawn takes an iteration.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, cast

import jinja2
import jinja2.filters
import jinja2.tests
from jinja2.runtime import LoopContext, Undefined

from escalate import _template_budget as budget_
from escalate._durations import format_duration
from escalate._instants import zone_named
from escalate._template_budget import Budget
from escalate.errors import TemplateError

#: A check run before a call: (budget, the value, positional args, keyword args).
_Check = Callable[[Budget, Any, tuple[Any, ...], Mapping[str, Any]], None]


def _one(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    b.charge(1)


def _walk(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    if isinstance(value, str):
        b.charge(len(value))
    elif hasattr(value, "__len__"):
        b.allow("walking a value", budget_._len(value))


def _lookup(
    b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> None:
    """``attr``: jinja2 looks the name up through ``inspect.getattr_static``,
    some thirty times the cost of a plain read: an iteration, as a loop step."""
    b.charge(1)
    b.step()


def _looped(
    b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> None:
    """A filter that calls a test, a filter or an attribute lookup for every item
    (``map``, ``select``, ``rejectattr``): an iteration per item, as a loop."""
    _walk(b, value, args, kw)
    if hasattr(value, "__len__"):
        b.step(budget_._len(value))


def _compared(
    b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> None:
    """A filter that compares or hashes every item (``sort``, ``unique``, ``max``):
    its items' text (what comparing and, case-insensitively, lower-casing each
    costs) and ``n log n`` comparisons."""
    _walk(b, value, args, kw)
    n = budget_._len(value) if hasattr(value, "__len__") else 0
    b.charge_text(value)
    b.charge(n * n.bit_length())


def _text(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    b.allow("making text", b.text_size(value))


def _tojson(
    b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> None:
    indent = args[0] if args else kw.get("indent")
    if indent is None:
        width = 0
    elif isinstance(indent, str):
        width = len(indent)
    elif isinstance(indent, int) and not isinstance(indent, bool) and indent >= 0:
        width = indent
    else:
        raise TemplateError(
            f"tojson: expected indent as a count or a text, got {indent!r}"
        )
    # The indent is what amplifies: it is in the size worked out before. Escaping
    # (<, >, &, ' and non-ASCII as \u escapes) writes at most 12 characters for
    # one, a small multiple measured after, as for the other text filters.
    b.allow("tojson", b.text_size(value, indent=width))


MAX_ROUND_PRECISION: Final = 100
"""The largest precision ``round`` takes, either way (``round(-2)`` rounds to
hundreds): ``round`` computes ``10 ** precision``."""


def _round(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    precision = args[0] if args else kw.get("precision", 0)
    if (
        not isinstance(precision, int)
        or isinstance(precision, bool)
        or abs(precision) > MAX_ROUND_PRECISION
    ):
        raise TemplateError(
            f"round: expected a precision from -{MAX_ROUND_PRECISION} to "
            f"{MAX_ROUND_PRECISION}, got {precision!r}"
        )
    b.charge(1)


def _strip(b: Budget, s: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    """``trim`` and ``strip``: each character looked up among ``chars``."""
    chars = _text_arg(args, kw, 0, "chars")
    b.charge(b.text_size(s) * (1 + len(chars) // 64) + len(chars))


def _search(b: Budget, s: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    """A text method that reads its text and its arguments (``find``, ``split``,
    ``startswith`` with a tuple of prefixes)."""
    b.charge(b.text_size(s))
    for arg in (*args, *kw.values()):
        b.charge_text(arg)


def _int_arg(args: tuple[Any, ...], kw: Mapping[str, Any], i: int, key: str) -> int:
    value = args[i] if len(args) > i else kw.get(key, 0)
    return value if isinstance(value, int) else 0


def _text_arg(args: tuple[Any, ...], kw: Mapping[str, Any], i: int, key: str) -> str:
    value = args[i] if len(args) > i else kw.get(key, "")
    return str(value) if isinstance(value, str) else ""


def _replace(b: Budget, s: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    n = b.text_size(s)
    old, new = _text_arg(args, kw, 0, "old"), _text_arg(args, kw, 1, "new")
    count = _int_arg(args, kw, 2, "count")
    places = n + 1 if not old else n // len(old)
    if count > 0:
        places = min(places, count)
    b.allow("replace", n + places * max(len(new) - len(old), 0))


def _join(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    d = _text_arg(args, kw, 0, "d")
    b.allow("join", b.text_size(value) + len(d) * budget_._len(value))


def _joined(b: Budget, sep: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    items = args[0] if args else ()
    b.allow("join", b.text_size(items) + len(sep) * budget_._len(items))


def _pad(b: Budget, s: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    b.allow("padding", max(_int_arg(args, kw, 0, "width"), len(s)))


def _batch(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    n = _int_arg(args, kw, 0, "linecount")
    b.allow("batch", budget_._len(value) + max(n, 0))


def _slice(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    n = _int_arg(args, kw, 0, "slices")
    b.allow("slice", budget_._len(value) + max(n, 0))


def _sum(b: Budget, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    start = args[1] if len(args) > 1 else kw.get("start", 0)
    if isinstance(start, bool) or not isinstance(start, int | float | decimal.Decimal):
        raise TemplateError(f"sum adds numbers; got start={start!r}")
    _walk(b, value, args, kw)


def _strftime(b: Budget, d: Any, args: tuple[Any, ...], kw: Mapping[str, Any]) -> None:
    # No directive writes more than 40 characters (%c in the longest locale).
    b.allow("strftime", 40 * len(_text_arg(args, kw, 0, "format")))


_FILTERS: Final[dict[str, _Check]] = {
    "abs": _one,
    "attr": _lookup,
    "batch": _batch,
    "capitalize": _text,
    "count": _one,
    "d": _one,
    "default": _one,
    "dictsort": _compared,
    "duration": _one,
    "e": _text,
    "escape": _text,
    "first": _one,
    "float": _text,
    "forceescape": _text,
    "groupby": _compared,
    "int": _text,
    "items": _walk,
    "join": _join,
    "last": _one,
    "length": _one,
    "list": _walk,
    "local": _one,
    "lower": _text,
    "map": _looped,
    "max": _compared,
    "min": _compared,
    "reject": _looped,
    "rejectattr": _looped,
    "replace": _replace,
    "reverse": _walk,
    "round": _round,
    "select": _looped,
    "selectattr": _looped,
    "slice": _slice,
    "sort": _compared,
    "string": _text,
    "striptags": _text,
    "sum": _sum,
    "title": _text,
    "tojson": _tojson,
    "trim": _strip,
    "truncate": _text,
    "unique": _compared,
    "upper": _text,
    "urlencode": _text,
    "wordcount": _text,
}

_READING_TESTS: Final = (
    "defined undefined none boolean true false integer float number string mapping "
    "sequence iterable odd even divisibleby escaped sameas"
)
_COMPARING_TESTS: Final = (
    "eq equalto == ne != lt lessthan < le <= gt greaterthan > ge >= lower upper"
)
_TESTS: Final[dict[str, _Check]] = {
    **dict.fromkeys(_READING_TESTS.split(), _one),
    **dict.fromkeys(_COMPARING_TESTS.split(), _text),
    "in": lambda b, value, args, kw: budget_.charge_search(
        b, value, args[0] if args else ()
    ),
}

_READING_METHODS: Final = (
    "upper lower title capitalize casefold swapcase splitlines isdigit isalpha "
    "isalnum isspace islower isupper isnumeric isdecimal"
)
_SEARCHING_METHODS: Final = (
    "startswith endswith split rsplit partition rpartition count find rfind index "
    "rindex removeprefix removesuffix"
)
_STR: Final[dict[str, _Check]] = {
    **dict.fromkeys(_READING_METHODS.split(), _walk),
    **dict.fromkeys(_SEARCHING_METHODS.split(), _search),
    **dict.fromkeys(("strip", "lstrip", "rstrip"), _strip),
    "replace": _replace,
    "join": _joined,
    "ljust": _pad,
    "rjust": _pad,
    "center": _pad,
    "zfill": _pad,
}


def _find_item(
    b: Budget, seq: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> None:
    budget_.charge_search(b, args[0] if args else None, seq)


_SEQUENCE: Final[dict[str, _Check]] = {"index": _find_item, "count": _find_item}
_MAPPING: Final[dict[str, _Check]] = dict.fromkeys(
    ("get", "keys", "values", "items"), _one
)
_TIME: Final[dict[str, _Check]] = {
    "strftime": _strftime,
    "isoformat": _one,
    "date": _one,
    "time": _one,
    "weekday": _one,
    "isoweekday": _one,
    "total_seconds": _one,
}
_METHODS: Final[tuple[tuple[type | tuple[type, ...], dict[str, _Check]], ...]] = (
    (str, _STR),
    ((list, tuple), _SEQUENCE),
    (dict, _MAPPING),
    ((dt.date, dt.time, dt.timedelta), _TIME),
    (LoopContext, {"cycle": _one, "changed": _one}),
)


#: The filters that look an ``attribute`` up on every item, and where it stands
#: among their positional arguments (after the value). jinja2 splits it at dots
#: (and, for ``sort``, commas) and looks each part up: ``'a.b.c'`` is three
#: lookups per item, so a long path is work the filter's other checks miss.
_ATTRIBUTE_AT: Final = {
    "groupby": 0,
    "join": 1,
    "map": None,  # by keyword only: map's first argument is a filter's name
    "max": 1,
    "min": 1,
    "rejectattr": 0,
    "selectattr": 0,
    "sort": 2,
    "sum": 0,
    "unique": 1,
}


def _attribute_lookups(
    name: str, value: Any, args: tuple[Any, ...], kw: Mapping[str, Any]
) -> int:
    """How many lookups the filter's ``attribute`` costs in all: one per part
    of its path, per item."""
    if name not in _ATTRIBUTE_AT:
        return 0
    at = _ATTRIBUTE_AT[name]
    attribute = kw.get("attribute")
    if attribute is None and at is not None and len(args) > at:
        attribute = args[at]
    if not isinstance(attribute, str):
        return 0
    parts = attribute.count(".") + attribute.count(",") + 1
    items = budget_._len(value) if hasattr(value, "__len__") else 1
    return parts * items


def _charged(name: str, fn: Callable[..., Any], check: _Check) -> Callable[..., Any]:
    """``fn`` (a jinja2 filter or test) with its check before and measure after."""
    passes = 1 if hasattr(fn, "jinja_pass_arg") else 0

    def charged(*args: Any, **kwargs: Any) -> Any:
        b = budget_.current()
        value = args[passes]
        if isinstance(value, Iterator):  # drawn (and charged) item by item
            value = list(value)
            b.allow(f"the filter {name!r}", len(value))
            args = (*args[:passes], value, *args[passes + 1 :])
        rest = args[passes + 1 :]
        check(b, value, rest, kwargs)
        b.charge(_attribute_lookups(name, value, rest, kwargs))
        return b.measure(f"the filter {name!r}", fn(*args, **kwargs))

    if passes:
        charged.jinja_pass_arg = fn.jinja_pass_arg  # type: ignore[attr-defined]
    return charged


@jinja2.pass_context
def _local(context: Any, value: Any, zone: Any = None) -> dt.datetime:
    """``value`` (an aware instant) in ``zone``, or in the template's ``zone``
    variable (the calendar's zone) when none is named."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise TemplateError(f"local: expected an aware instant, got {value!r}")
    name = context.get("zone", "UTC") if zone is None else zone
    if not isinstance(name, str) or len(name) > 64:
        raise TemplateError(f"local: expected a zone name, got {name!r}")
    return value.astimezone(zone_named(name, "local", TemplateError))


def _duration(value: Any, days: Any = False) -> str:
    """``value`` (a duration) as ``4h 30m``; with ``days=True`` as ``1d 7h``."""
    if not isinstance(value, dt.timedelta):
        raise TemplateError(f"duration: expected a duration, got {value!r}")
    return format_duration(value, days=bool(days))


#: escalate's own filters, beside jinja2's.
_OWN: Final[dict[str, Callable[..., Any]]] = {"local": _local, "duration": _duration}


def filters(markup: bool) -> dict[str, Callable[..., Any]]:
    """The filters a template may use, and the internal ones the rewrite calls."""
    from escalate._template_syntax import COMPARE, CONCAT, LOOP

    table: dict[str, Callable[..., Any]] = {
        name: _charged(name, _OWN.get(name) or jinja2.filters.FILTERS[name], check)
        for name, check in _FILTERS.items()
    }
    table[LOOP] = budget_.loop
    table[CONCAT] = budget_.concat_markup if markup else budget_.concat_text
    table[COMPARE] = budget_.compare
    return table


def tests() -> dict[str, Callable[..., Any]]:
    """The tests a template may use."""
    return {
        name: _charged(
            name, cast("Callable[..., Any]", jinja2.tests.TESTS[name]), check
        )
        for name, check in _TESTS.items()
    }


def call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """Call ``obj`` from a template if it is on the allow-list, charged."""
    if isinstance(obj, Undefined):
        return obj(*args, **kwargs)  # raises: the name is undefined
    b = budget_.current()
    if obj is range:
        return b.measure("range()", range(*args, **kwargs))
    if obj is dict:
        for value in (*args, *kwargs.values()):
            _walk(b, value, (), {})
        return b.measure("dict()", dict(*args, **kwargs))
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    for types, methods in _METHODS:
        if isinstance(owner, types) and name in methods:
            methods[name](b, owner, args, kwargs)
            return b.measure(f"{name}()", obj(*args, **kwargs))
    what = f"the method {name!r} of {type(owner).__name__}" if owner else repr(obj)
    raise TemplateError(f"calling {what} is not allowed in templates")

"""The budget of one render: what a template may build, examine and repeat.

Every render gets its own :class:`Budget`, held in a context variable for the
duration of the render, so two renders (in two threads, or one after the other)
never share or reset each other's counts, and no template can reach it. Every
construct that repeats or builds something charges it:

* each loop iteration, and each item drawn from an iterator a filter or method
  returns, takes one of ``Limits.iterations``;
* each value an operator, filter, method or ``~`` builds takes its size (characters
  of text, items of a container: the references it holds, not what they refer to)
  from ``Limits.work``, and so does each comparison and each search through text;
* an operation that can amplify (``*``, ``+``, ``~``, ``replace``, ``join``,
  padding, ``batch``, ``strftime``, ...) computes the size of its result from its
  inputs and is refused *before* it runs when that exceeds ``Limits.size``; every
  other operation builds at most a small multiple of inputs already measured, and
  its result is measured after;
* numbers are kept under ``Limits.number_bits`` bits;
* the render's wall-clock deadline (``Limits.deadline``, on a monotonic
  stopwatch) is looked at every few charges and iterations, so no render outlives
  it by more than one bounded operation.

So the memory a render allocates is bounded by what it may charge (see
docs/templates.md for the figures), and its time by the iterations and the work.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from jinja2.runtime import Undefined
from markupsafe import Markup, escape

from escalate.errors import TemplateError

if TYPE_CHECKING:
    from escalate.templates import Limits

_CURRENT: Final[contextvars.ContextVar[Budget]] = contextvars.ContextVar(
    "escalate_template_budget"
)

_SIZED: Final = (list, tuple, dict, set, frozenset, range)
_VIEWS: Final[tuple[type, ...]] = (
    type({}.keys()),
    type({}.values()),
    type({}.items()),
)
_CONTAINERS: Final = _SIZED + _VIEWS
#: Containers smaller than this are measured again rather than remembered.
_REMEMBER: Final = 32
_END: Final = object()
_MICROSECOND: Final = timedelta(microseconds=1)
#: The deadline is looked at every this many charges and iterations.
_LOOK_EVERY: Final = 64


class Budget:
    """What is left to one render. Not shared, not resettable from a template."""

    __slots__ = (
        "_countdown",
        "_ends_at",
        "_stopwatch",
        "iterations",
        "limits",
        "sizes",
        "work",
    )

    def __init__(self, limits: Limits, stopwatch: Callable[[], int]) -> None:
        self.limits = limits
        self.iterations = limits.iterations
        self.work = limits.work
        self._stopwatch = stopwatch
        self._ends_at = stopwatch() + limits.deadline // _MICROSECOND * 1000
        self._countdown = _LOOK_EVERY
        # Text sizes of containers measured in this render, by id; the container is
        # kept so its id stays its own. Templates cannot change a container (the
        # methods that would are not available), so a size stays true.
        self.sizes: dict[int, tuple[object, int]] = {}

    def _look_at_the_time(self) -> None:
        self._countdown -= 1
        if self._countdown > 0:
            return
        self._countdown = _LOOK_EVERY
        if self._stopwatch() > self._ends_at:
            raise TemplateError(
                f"the render took longer than its deadline of "
                f"{self.limits.deadline.total_seconds():g} s (Limits.deadline)"
            )

    def step(self, count: int = 1) -> None:
        """Take one iteration (or ``count``: a loop a filter runs inside)."""
        self.iterations -= count
        if self.iterations < 0:
            raise TemplateError(
                f"the loops of one render may run at most "
                f"{self.limits.iterations:,} times in all (Limits.iterations)"
            )
        self._look_at_the_time()

    def charge(self, units: int) -> None:
        """Take ``units`` of work: characters or items built or examined."""
        self.work -= units
        if self.work < 0:
            raise TemplateError(
                f"one render may build or examine at most {self.limits.work:,} "
                "characters and items in all (Limits.work)"
            )
        self._look_at_the_time()

    def charge_text(self, value: Any) -> None:
        """Take the text size of ``value`` as work (what walking its text costs),
        measured no further than the work left."""
        self.charge(self.text_size(value, self.work + 1))

    def allow(self, what: str, size: int) -> None:
        """Refuse, before it is built, a value larger than ``Limits.size``."""
        if size > self.limits.size:
            raise TemplateError(
                f"{what} would build {size:,} characters or items; a value may "
                f"hold at most {self.limits.size:,} (Limits.size)"
            )
        self.charge(size)

    def bits(self, what: str, bits: int) -> None:
        """Refuse a number of more than ``Limits.number_bits`` bits."""
        if bits > self.limits.number_bits:
            raise TemplateError(
                f"{what} would build a number of {bits:,} bits; a number may have "
                f"at most {self.limits.number_bits:,} (Limits.number_bits)"
            )

    def text_size(self, value: Any, cap: int | None = None, *, indent: int = 0) -> int:
        """An upper bound of ``len(str(value))``, measured without building it.

        Stops, and returns a figure above ``cap`` (default ``Limits.size``), as soon as
        the bound passes it, so measuring costs at most about ``cap`` steps. Walks
        nested containers with a stack of its own (no recursion), and remembers the
        size of each large container it walked through. With ``indent``, the bound
        is that of JSON indented so: each item on a line of its own, behind
        ``indent`` spaces per level (sizes are then not remembered).
        """
        if isinstance(value, str):
            return len(value)
        limit = self.limits.size if cap is None else cap
        remember = not indent
        grand = 0
        # Each frame: [the container to remember or None, its items, its size].
        frames: list[list[Any]] = [[None, iter((value,)), 0]]
        while frames:
            frame = frames[-1]
            v: Any = next(frame[1], _END)
            if v is _END:
                frames.pop()
                owner, _, size = frame
                if owner is not None and remember:
                    self.sizes[id(owner)] = (owner, size)
                if frames:
                    frames[-1][2] += size
                continue
            if isinstance(v, str | bytes):
                size = len(v) + 2  # the quotes, within a container
            elif isinstance(v, bool) or v is None:
                size = 5
            elif isinstance(v, int):
                size = 2 + v.bit_length() * 3 // 10
            elif isinstance(v, float):
                size = 24
            elif isinstance(v, range):
                size = 8 * _len(v)  # as a list: the numbers and the commas
            elif isinstance(v, _CONTAINERS):
                known = self.sizes.get(id(v)) if remember else None
                if known is not None and known[0] is v:
                    size = known[1]
                else:
                    container: Any = v
                    size = 2 + 2 * len(container)  # brackets, commas and spaces
                    owner = v if len(container) >= _REMEMBER else None
                    items = container.items() if isinstance(v, dict) else container
                    frames.append([owner, iter(items), size])
                    grand += size
                    if grand > limit:
                        return grand
                    continue
            else:
                known = self.sizes.get(id(v))
                if known is None or known[0] is not v:
                    known = (v, len(repr(v)))
                    self.sizes[id(v)] = known
                size = known[1]
            if indent:  # a new line, indented to the item's level
                size += 1 + indent * len(frames)
            frame[2] += size
            grand += size
            if grand > limit:
                return grand
        return grand

    def measure(self, what: str, value: Any) -> Any:
        """Charge a value just built; wrap an iterator so that drawing costs."""
        if isinstance(value, str):
            self.allow(what, len(value))
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            self.bits(what, value.bit_length())
        elif isinstance(value, _CONTAINERS):
            self.allow(what, _len(value))
        elif isinstance(value, Iterator):
            return _drawn(self, value)
        return value


def _len(value: Any) -> int:
    try:
        return len(value)
    except OverflowError:  # a range wider than a machine word
        return 2**63


def current() -> Budget:
    """The budget of the render under way."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise TemplateError("a template ran outside of Templates.render") from None


def _drawn(budget: Budget, items: Iterator[Any]) -> Iterator[Any]:
    for item in items:
        budget.step()
        yield item


def start(limits: Limits, stopwatch: Callable[[], int]) -> contextvars.Token[Budget]:
    """Give the render about to start its own budget (its deadline read on
    ``stopwatch``, in nanoseconds)."""
    return _CURRENT.set(Budget(limits, stopwatch))


def stop(token: contextvars.Token[Budget]) -> None:
    """End the budget of the render that started with ``token``."""
    _CURRENT.reset(token)


# -- what the compiled template calls -------------------------------------------------


def loop(items: Iterable[Any]) -> Iterator[Any]:
    """The items a ``{% for %}`` loop draws, one iteration each."""
    budget = current()
    for item in items:
        budget.step()
        yield item


def _concat(pieces: tuple[Any, ...], markup: bool) -> str:
    budget = current()
    size = 0
    for p in pieces:
        size += budget.text_size(p)
        if size > budget.limits.size:
            break
    budget.allow("'~'", size)
    if markup:
        return Markup("").join(escape(p) for p in pieces)
    return "".join(str(p) for p in pieces)


def concat_text(first: Any, *rest: Any) -> str:
    """``a ~ b ~ ...`` in a text template."""
    return _concat((first, *rest), markup=False)


def concat_markup(first: Any, *rest: Any) -> str:
    """``a ~ b ~ ...`` in an HTML template: values are escaped."""
    return _concat((first, *rest), markup=True)


def charge_search(budget: Budget, item: Any, container: Any) -> None:
    """Charge ``item in container``: a text is searched through; a mapping or
    set hashes the item; a sequence compares the item with each of its items,
    each comparison costing up to the text of the shorter."""
    if isinstance(container, str):
        budget.charge(len(container) + budget.text_size(item, budget.work + 1))
    elif isinstance(container, Mapping | set | frozenset):
        budget.charge(budget.text_size(item, budget.work + 1) + 1)
    elif isinstance(container, _SIZED):
        budget.charge_text(container)
        budget.charge(_len(container) + 1)


def _in(budget: Budget, item: Any, container: Any) -> bool:
    if isinstance(container, (str, Mapping, set, frozenset, *_SIZED)):
        charge_search(budget, item, container)
    else:
        container = budget.measure("'in'", container)
    return item in container


def compare(left: Any, *ops_and_operands: Any) -> bool:
    """A comparison chain (``a < b <= c``, ``x in y``), charged by what it examines."""
    budget = current()
    result = True
    for i in range(0, len(ops_and_operands), 2):
        op, right = ops_and_operands[i], ops_and_operands[i + 1]
        if op == "in":
            result = _in(budget, left, right)
        elif op == "notin":
            result = not _in(budget, left, right)
        else:
            budget.charge(min(budget.text_size(left), budget.text_size(right)) // 8 + 1)
            result = _COMPARE[op](left, right)
        if not result:
            return False
        left = right
    return result


_COMPARE: Final = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
}


def output(value: Any) -> Any:
    """A value about to be written by ``{{ }}``: no larger than the output allows."""
    if type(value) is str or isinstance(value, Undefined):
        return value  # an undefined one raises when written
    budget = current()
    size = budget.text_size(value, budget.limits.output)
    if size > budget.limits.output:
        raise TemplateError(
            f"the output exceeds {budget.limits.output:,} characters (Limits.output)"
        )
    return value

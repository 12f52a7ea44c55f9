"""Rules evaluated tick after tick over the same open cases: :class:`RulePass`
(see :mod:`escalate.rules`).

A case's governing item, its basis and the instant each of its actions falls
due depend on the case and the book, not on the instant asked; so they are
found once per case and kept. A tick then looks again only at the cases that
have an action due by now and not known to be done: ``due_actions`` on those,
the same answer it gives on all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from escalate._frozen import FrozenMap
from escalate._instants import to_us
from escalate._rules_book import RuleBook
from escalate._rules_due import _NEVER, DueAction, _Finder
from escalate.errors import WrongTypeError
from escalate.hours import BusinessHours
from escalate.model import Case


class _Known:
    """What is kept of one case: the case it was found for (and so its version)
    and the instant its next action not known to be done falls due. Its
    actions are found again when that instant comes (a few cases per tick),
    so that a case keeps two references, not a list of keys."""

    __slots__ = ("case", "next")

    def __init__(self, case: Case, marks: list[tuple[int, str]], done: Collection[str]):
        self.case = case
        self.next = _first(marks, done)


def _first(marks: list[tuple[int, str]], done: Collection[str]) -> int:
    """The earliest instant among ``marks`` (by instant) not in ``done``."""
    for at, key in marks:
        if key not in done:
            return at
    return _NEVER


class RulePass:
    """:func:`due_actions` for a loop that asks again and again: it keeps each
    case's governing item and the instants its actions fall due, and between
    two calls looks again only at the cases with an action due and not done.

    It gives what ``due_actions(book, cases, now, calendars, already_done)``
    gives, in the same order, provided that

    * ``already_done`` only grows from call to call (fired keys are never
      unfired): an action found done is not looked at again;
    * a case that changed is a new ``Case`` value (they are frozen), or, read
      again from a store, has a new ``version`` (the store moves it on every
      save);
    * the book and calendars are the ones it was made with (make a new pass
      for new settings).

    An instant before the previous one forgets what was kept (everything is
    found again). Cases not given in a call are forgotten. A pass keeps state
    from call to call: use one per loop, not from two threads at once.

    Args:
        book: The rule book.
        calendars: Calendar name to business hours.
    """

    def __init__(
        self, book: RuleBook, calendars: Mapping[str, BusinessHours] | None = None
    ) -> None:
        if not isinstance(book, RuleBook):
            raise WrongTypeError(f"book: expected a RuleBook, got {book!r}")
        if calendars is not None and not (
            isinstance(calendars, Mapping)
            and all(
                isinstance(k, str) and isinstance(v, BusinessHours)
                for k, v in calendars.items()
            )
        ):
            raise WrongTypeError(
                "calendars: expected a mapping of calendar names to "
                f"BusinessHours, got {calendars!r}"
            )
        self.book = book
        self.calendars: Mapping[str, BusinessHours] = FrozenMap(calendars or {})
        self._known: dict[str, _Known] = {}
        self._last = -_NEVER

    @property
    def kept(self) -> int:
        """How many cases it keeps what it found for."""
        return len(self._known)

    def due(
        self,
        cases: Iterable[Case],
        now: datetime,
        already_done: Collection[str] = frozenset(),
    ) -> list[DueAction]:
        """The actions due at ``now`` over ``cases`` and not in
        ``already_done``, as :func:`due_actions` orders them.

        Raises:
            ConfigError: An item or the expiry policy names an unknown calendar.
            WrongTypeError: A case that is not a ``Case``.
        """
        x_now = to_us(now, "now")
        known = self._known if x_now >= self._last else {}
        finder = _Finder(self.book, self.calendars, x_now, already_done)
        kept: dict[str, _Known] = {}
        for case in cases:
            if type(case) is not Case and not isinstance(case, Case):
                raise WrongTypeError(
                    f"cases: expected Case values, got {type(case).__name__} {case!r}"
                )
            case_id = case.id
            k = known.get(case_id)
            # kept for this case as it is: the same value, or (read again from
            # a store) the same stored version; then it is open, as before
            if k is None or (
                k.case is not case
                and (case.version == 0 or case.version != k.case.version)
            ):
                if case.status.closed:
                    continue
                k = _Known(case, finder.marks(case), already_done)
            kept[case_id] = k
            if k.next > x_now:
                continue  # nothing due that is not done
            before = len(finder.found)
            finder.case(case)
            # what is due now, or ahead and not done: an action that was due
            # and is not (done, or passed over by a later step of a
            # ``latest_only`` item) never will be
            due = {a.key for _, a in finder.found[before:]}
            k.next = _first(
                [m for m in finder.marks(case) if m[0] > x_now or m[1] in due],
                already_done,
            )
        self._known = kept
        self._last = x_now
        return finder.actions()

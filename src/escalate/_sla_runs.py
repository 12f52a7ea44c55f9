"""A walked timeline's runs, kept as atomic values (tuples of integers and
texts, which the garbage collector stops looking at) until they are read;
then made :class:`MetricRun` values."""

from __future__ import annotations

from datetime import datetime, timedelta

from escalate._instants import utc_from_us
from escalate._sla_states import METRICS
from escalate._sla_values import Metric, MetricRun, _Runs

# A run once walked, in atomic values (kept by the timeline until its runs
# are asked for; the collector need not look inside): metric index, run index,
# start, end (None: live), counted, paused, breach, warnings ((percent,
# instant) by percent), pauses (from, to, flat), policy at its end, its
# target's duration, and whether it is running (counting, not paused; None:
# it has ended). Nothing in it refers to a container, so the collector
# untracks these tuples once it has looked at them.
Packed = tuple[
    int,
    int,
    int,
    int | None,
    int,
    int,
    int | None,
    tuple[tuple[int, int], ...],
    tuple[int, ...],
    str | None,
    timedelta | None,
    bool | None,
]


class Walked(_Runs):
    """The runs of a walk, kept as atomic values; the ``MetricRun`` values
    are made when first asked for."""

    __slots__ = ("_packed",)

    def __init__(self, packed: tuple[Packed, ...]) -> None:
        super().__init__(None)
        self._packed = packed

    def due(self) -> tuple[tuple[datetime, Metric, int, int], ...]:
        marks = []
        for metric, index, _, end, _, _, breach, warned, *_ in self._packed:
            if end is None:
                if breach is not None:
                    marks.append((breach, metric, index, 100))
                for percent, x in warned:
                    marks.append((x, metric, index, percent))
        marks.sort()
        return tuple((utc_from_us(x), METRICS[m], i, p) for x, m, i, p in marks)

    def make(self) -> tuple[MetricRun, ...]:
        return tuple(map(_result, self._packed))


def _result(run: Packed) -> MetricRun:
    (metric, index, start, end, counted, paused, breach, warned, pauses) = run[:9]
    policy, within, running = run[9:]
    if end is not None and breach is not None and breach >= end:
        breach = None  # fulfilled as its target was reached: on time
    return MetricRun(
        metric=METRICS[metric],
        index=index,
        started_at=utc_from_us(start),
        fulfilled_at=None if end is None else utc_from_us(end),
        counted=timedelta(microseconds=counted),
        paused=timedelta(microseconds=paused),
        pauses=_pairs(pauses),
        policy=policy,
        target=within,
        breached_at=None if breach is None else utc_from_us(breach),
        warnings=tuple((p, utc_from_us(x)) for p, x in warned),
        running=running is True,
    )


def _pairs(flat: tuple[int, ...]) -> tuple[tuple[datetime, datetime], ...]:
    return tuple(
        (utc_from_us(flat[i]), utc_from_us(flat[i + 1])) for i in range(0, len(flat), 2)
    )

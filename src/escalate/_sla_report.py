"""SLA reports (see :func:`escalate.sla.report`): for a period, per policy and
metric, the runs fulfilled within or after their target, those still active,
the attainment and the median and 90th percentile of the time to fulfil."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from escalate._instants import to_us, us_of
from escalate._sla_values import Metric, MetricRun, SlaTimeline
from escalate.errors import ConfigError, WrongTypeError


@attrs.frozen(kw_only=True)
class SlaReportRow:
    """One policy's metric over a period.

    Attributes:
        policy: The policy (in force at each run's end; None: none applied).
        metric: The metric.
        achieved: Runs fulfilled in the period within their target.
        breached: Runs fulfilled in the period after their target.
        active: Runs still running (or paused) at the period's end.
        active_breached: Of those, the ones past their target by then.
        attainment: ``achieved`` in percent of the runs fulfilled in the period
            (``achieved + breached``), rounded down to a hundredth as a text
            like ``"87.50"``; None when none was fulfilled.
        median: The median business time to fulfil of the runs fulfilled in
            the period (nearest rank: the lower middle one); None if none.
        p90: Their 90th percentile (nearest rank); None if none.
    """

    policy: str | None
    metric: Metric
    achieved: int
    breached: int
    active: int
    active_breached: int
    attainment: str | None
    median: timedelta | None
    p90: timedelta | None


def _texts(value: Iterable[str]) -> tuple[str, ...]:
    items = () if isinstance(value, str) else tuple(value)
    if isinstance(value, str) or not all(isinstance(v, str) for v in items):
        raise WrongTypeError(f"left_out: expected case ids, got {value!r}")
    return items


@attrs.frozen(kw_only=True)
class SlaReport:
    """The service levels of a period: a row per policy and metric, by policy
    id (None first), then in the order of :class:`Metric`."""

    start: datetime
    end: datetime
    rows: tuple[SlaReportRow, ...]
    left_out: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    """The ids of cases with SLA events whose timelines are not in the report,
    as the caller says (``escalate report``: deleted cases, whose events stay
    but whose case is gone), so that none is dropped without a word."""

    def text(self) -> str:
        """A table for people, one row per policy and metric."""
        head: tuple[str, ...] = (
            *("policy", "metric", "achieved", "breached", "attainment"),
            *("median", "p90", "active", "active breached"),
        )
        table: list[tuple[str, ...]] = [head] + [
            (
                r.policy or "(none)",
                r.metric.value,
                str(r.achieved),
                str(r.breached),
                "-" if r.attainment is None else f"{r.attainment}%",
                "-" if r.median is None else str(r.median),
                "-" if r.p90 is None else str(r.p90),
                str(r.active),
                str(r.active_breached),
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        lines = [f"SLA report {self.start.isoformat()} to {self.end.isoformat()}"]
        if not self.rows:
            lines.append("no SLA metric runs in the period")
        else:
            lines += [
                "  ".join(
                    cell.ljust(w) for cell, w in zip(row, widths, strict=True)
                ).rstrip()
                for row in table
            ]
        if self.left_out:
            lines.append(
                f"left out: {len(self.left_out)} case(s) with SLA events: "
                + ", ".join(self.left_out)
            )
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON: instants in ISO 8601, durations in whole
        microseconds (``median_us``, ``p90_us``), exact."""
        return json.dumps(
            {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "rows": [_row_json(r) for r in self.rows],
                "left_out": list(self.left_out),
            },
            indent=2,
        )


def _row_json(r: SlaReportRow) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "metric": r.metric.value,
        "achieved": r.achieved,
        "breached": r.breached,
        "active": r.active,
        "active_breached": r.active_breached,
        "attainment": r.attainment,
        "median_us": None if r.median is None else us_of(r.median),
        "p90_us": None if r.p90 is None else us_of(r.p90),
    }


def nearest_rank(values: Sequence[timedelta], percent: int) -> timedelta | None:
    """The ``percent``-th percentile of ``values`` by nearest rank: the smallest
    value that at least ``percent`` % of them are at most (exact: no
    interpolation); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-len(ordered) * percent // 100)  # ceil, at least 1 for percent > 0
    return ordered[max(rank, 1) - 1]


def report(
    timelines: Iterable[SlaTimeline], *, start: datetime, end: datetime
) -> SlaReport:
    """The service levels of ``[start, end)`` from timelines computed at
    ``end`` (one per case): per policy and metric, the runs fulfilled in the
    period, achieved or breached, with the attainment and the median and 90th
    percentile of their time to fulfil, and the runs still active at ``end``.

    Raises:
        ConfigError: ``end`` is not after ``start``, or a timeline was not
            computed at ``end``.
        NaiveDatetimeError: ``start`` or ``end`` has no time zone.
    """
    x0, x1 = to_us(start, "start"), to_us(end, "end")
    if x1 <= x0:
        raise ConfigError(
            f"end: expected an instant after start {start.isoformat()}, got "
            f"{end.isoformat()}"
        )
    groups: dict[tuple[str, int], list[MetricRun]] = {}
    for t in timelines:
        if not isinstance(t, SlaTimeline):
            raise WrongTypeError(f"timelines: expected SlaTimeline values, got {t!r}")
        if to_us(t.at, "at") != x1:
            raise ConfigError(
                f"timelines: expected timelines computed at the end "
                f"{end.isoformat()}, got one at {t.at.isoformat()}"
            )
        for run in t.runs:
            key = (run.policy or "", _order_of(run.metric))
            groups.setdefault(key, []).append(run)
    rows = []
    for (policy, _), runs in sorted(groups.items()):
        done = [
            r
            for r in runs
            if r.fulfilled_at is not None
            and x0 <= to_us(r.fulfilled_at, "fulfilled_at") < x1
        ]
        late = [r for r in done if r.breached_at is not None]
        active = [r for r in runs if r.fulfilled_at is None]
        times = [r.counted for r in done]
        achieved = len(done) - len(late)
        rows.append(
            SlaReportRow(
                policy=policy or None,
                metric=runs[0].metric,
                achieved=achieved,
                breached=len(late),
                active=len(active),
                active_breached=sum(r.breached(end) for r in active),
                attainment=_percent(achieved, len(done)),
                median=nearest_rank(times, 50),
                p90=nearest_rank(times, 90),
            )
        )
    return SlaReport(start=start, end=end, rows=tuple(rows))


def _order_of(metric: Metric) -> int:
    return _METRIC_ORDER[metric]


_METRIC_ORDER: Final = {m: i for i, m in enumerate(Metric)}


def _percent(part: int, whole: int) -> str | None:
    """``part`` in percent of ``whole``, rounded down to a hundredth, exactly."""
    if whole == 0:
        return None
    hundredths = part * 10_000 // whole
    return f"{hundredths // 100}.{hundredths % 100:02d}"

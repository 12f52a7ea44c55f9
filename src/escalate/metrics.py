"""Metrics an operator's monitoring reads: counters, gauges and histograms kept in
memory by the engine, written out in the Prometheus text format.

Why Prometheus text and not the OpenTelemetry API: it needs no dependency (the
format is a few lines of text, served by ``escalate run --metrics-port`` with the
standard library), and it is what Prometheus, VictoriaMetrics, Grafana Agent and
Datadog read directly, and what the OpenTelemetry Collector reads with its
``prometheus`` receiver. A process embedding escalate reads the same numbers
with :meth:`Metrics.value` or :meth:`Metrics.exposition` and forwards them to
whatever it uses.

The engine updates a :class:`Metrics` as it works; nothing here reads a clock or
touches the network (``escalate.adapters.prometheus`` serves it). Every name is
listed in :data:`METRICS` and in ``docs/metrics.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import attrs

from escalate._instants import MICROSECOND, require_duration
from escalate.errors import ConfigError

__all__ = ["METRICS", "MetricInfo", "Metrics"]


@attrs.frozen
class MetricInfo:
    """One metric: its name, type (``counter``, ``gauge``, ``histogram``), its
    labels and what it counts."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()


#: Every metric the engine keeps, by name.
METRICS: Final[Mapping[str, MetricInfo]] = {
    m.name: m
    for m in (
        MetricInfo("escalate_ticks_total", "counter", "Ticks run."),
        MetricInfo(
            "escalate_actions_fired_total",
            "counter",
            "Case actions carried out, by kind (escalation, warning, expiry).",
            ("kind",),
        ),
        MetricInfo("escalate_lead_steps_total", "counter", "Lead steps carried out."),
        MetricInfo("escalate_task_reminders_total", "counter", "Task reminders sent."),
        MetricInfo(
            "escalate_tick_errors_total",
            "counter",
            "Cases, leads or tasks a tick could not handle (left for the next).",
        ),
        MetricInfo(
            "escalate_conflict_retries_total",
            "counter",
            "Cases changed by another writer during a tick (retried next tick).",
        ),
        MetricInfo(
            "escalate_mails_queued_total",
            "counter",
            "Mails queued, by purpose (the template name).",
            ("purpose",),
        ),
        MetricInfo("escalate_mails_sent_total", "counter", "Mails sent."),
        MetricInfo(
            "escalate_mails_failed_total",
            "counter",
            "Mail sends that failed (kept for a retry).",
        ),
        MetricInfo(
            "escalate_tick_duration_seconds",
            "histogram",
            "How long a tick took, by the engine's clock.",
        ),
        MetricInfo(
            "escalate_due_lag_seconds",
            "histogram",
            "How late each action was carried out after it became due.",
        ),
        MetricInfo(
            "escalate_tick_due_lag_seconds",
            "gauge",
            "How late the oldest action the last tick handled was.",
        ),
        MetricInfo(
            "escalate_due_backlog",
            "gauge",
            "Open cases due and not handled, after the last tick.",
        ),
        MetricInfo("escalate_outbox_depth", "gauge", "Mails queued and not sent yet."),
        MetricInfo(
            "escalate_outbox_oldest_unsent_seconds",
            "gauge",
            "Age of the oldest mail not sent yet (0 when none).",
        ),
        MetricInfo(
            "escalate_last_tick_timestamp_seconds",
            "gauge",
            "When the last tick ran (Unix time).",
        ),
        MetricInfo(
            "escalate_mails_dead_total",
            "counter",
            "Mails made dead letters (a 5xx reply, or out of attempts or age).",
        ),
        MetricInfo(
            "escalate_outbox_dead",
            "gauge",
            "Dead letters waiting for an operator (retry or drop).",
        ),
        MetricInfo(
            "escalate_put_aside",
            "gauge",
            "Cases, leads and tasks put aside after failing (retried with backoff).",
        ),
        MetricInfo(
            "escalate_put_aside_total",
            "counter",
            "Times a failing case, lead or task was put aside.",
        ),
        MetricInfo(
            "escalate_worker_errors_total",
            "counter",
            "Store errors a worker met and went on after, by part (tick, dispatch, "
            "listen, start).",
            ("part",),
        ),
    )
}

#: Histogram bucket bounds in seconds (as µs, so no float is ever added up).
_BUCKETS_US: Final = tuple(
    s * 1_000
    for s in (5, 25, 100, 250, 1_000, 5_000, 15_000, 60_000, 300_000, 3_600_000)
)

_Labels = tuple[tuple[str, str], ...]


class Metrics:
    """The engine's metrics: thread-safe, in memory, read at any time.

    >>> m = Metrics()
    >>> m.inc("escalate_mails_sent_total", 2)
    >>> m.value("escalate_mails_sent_total")
    2
    >>> m.observe("escalate_tick_duration_seconds", timedelta(milliseconds=30))
    >>> print(m.exposition().splitlines()[0])
    # HELP escalate_ticks_total Ticks run.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, _Labels], int] = {}
        self._histograms: dict[str, list[int]] = {}  # bucket counts, count, sum µs
        self._keys: dict[tuple[Any, ...], tuple[str, _Labels]] = {}

    def _key(self, name: str, labels: Mapping[str, str]) -> tuple[str, _Labels]:
        """The key of a metric's value; checked, and kept (a tick counts each
        of its actions and mails under a few keys)."""
        asked = (name, *labels.items())
        try:
            key = self._keys.get(asked)
        except TypeError:  # an unhashable label value: made text below
            return self._checked_key(name, labels)
        if key is None:
            key = self._checked_key(name, labels)
            if len(self._keys) >= 10_000:
                self._keys.clear()
            self._keys[asked] = key
        return key

    def _checked_key(self, name: str, labels: Mapping[str, str]) -> tuple[str, _Labels]:
        info = METRICS.get(name)
        if info is None:
            raise ConfigError(
                f"metric: expected one of {sorted(METRICS)}, got {name!r}"
            )
        if set(labels) != set(info.labels):
            raise ConfigError(
                f"{name}: expected the labels {list(info.labels)}, got {sorted(labels)}"
            )
        return name, tuple(sorted((k, str(v)) for k, v in labels.items()))

    def inc(self, name: str, by: int = 1, **labels: str) -> None:
        """Add ``by`` to a counter."""
        key = self._key(name, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + by

    def set(self, name: str, value: int, **labels: str) -> None:
        """Set a gauge (an integer; seconds gauges take whole seconds)."""
        key = self._key(name, labels)
        with self._lock:
            self._values[key] = value

    def observe(self, name: str, duration: timedelta) -> None:
        """Count a duration into a histogram (a negative one counts as 0)."""
        self._key(name, {})
        us = max(require_duration(duration, name) // MICROSECOND, 0)
        with self._lock:
            h = self._histograms.setdefault(name, [0] * (len(_BUCKETS_US) + 2))
            for i, bound in enumerate(_BUCKETS_US):
                if us <= bound:
                    h[i] += 1
            h[-2] += 1
            h[-1] += us

    def value(self, name: str, **labels: str) -> int:
        """A counter's or gauge's value (0 if never set); a histogram's count."""
        if name in self._histograms:
            return self._histograms[name][-2]
        return self._values.get(self._key(name, labels), 0)

    def exposition(self) -> str:
        """Every metric in the Prometheus text format (version 0.0.4)."""
        out: list[str] = []
        with self._lock:
            values = dict(self._values)
            histograms = {k: list(v) for k, v in self._histograms.items()}
        for info in METRICS.values():
            out.append(f"# HELP {info.name} {info.help}")
            out.append(f"# TYPE {info.name} {info.type}")
            if info.type == "histogram":
                h = histograms.get(info.name, [0] * (len(_BUCKETS_US) + 2))
                for bound, n in zip(_BUCKETS_US, h, strict=False):
                    out.append(f'{info.name}_bucket{{le="{_seconds(bound)}"}} {n}')
                out.append(f'{info.name}_bucket{{le="+Inf"}} {h[-2]}')
                out.append(f"{info.name}_sum {_seconds(h[-1])}")
                out.append(f"{info.name}_count {h[-2]}")
                continue
            rows = sorted((k[1], v) for k, v in values.items() if k[0] == info.name)
            if not rows and not info.labels:
                rows = [((), 0)]
            for labels, v in rows:
                text = ",".join(f'{k}="{_escape(x)}"' for k, x in labels)
                out.append(f"{info.name}{{{text}}} {v}" if text else f"{info.name} {v}")
        return "\n".join(out) + "\n"


def _seconds(us: int) -> str:
    """``us`` microseconds as exact decimal seconds."""
    whole, frac = divmod(us, 1_000_000)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".") if frac else f"{whole}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

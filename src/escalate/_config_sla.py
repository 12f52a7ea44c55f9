"""The ``[sla]`` section of the configuration file: the SLA policies, in order,
and the statuses that pause each metric (see ``docs/sla.md`` and
``docs/config.md``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from escalate._toml import Table, fail, wrapped
from escalate.hours import BusinessHours
from escalate.rules import Condition
from escalate.sla import Metric, SlaPolicy, SlaSettings, Target

_METRICS = ", ".join(repr(m.value) for m in Metric)


def parse_sla(
    t: Table,
    calendars: Mapping[str, BusinessHours],
    conditions: Callable[[Table], tuple[Condition, ...]],
) -> SlaSettings:
    """The SLA settings of ``[sla]``; ``conditions`` reads a policy's
    conditions as a rule item's are read."""
    pauses: dict[str, list[str]] = {}
    for status, metrics in t.mapping("pauses").items():
        where = f"{t.at('pauses')}.{status}"
        if not isinstance(metrics, list) or not all(
            isinstance(m, str) and m in {x.value for x in Metric} for m in metrics
        ):
            raise fail(where, f"an array of metrics ({_METRICS})", metrics)
        pauses[status] = metrics
    policies = [_policy(p, conditions) for p in t.tables("policies")]
    t.done()
    return wrapped(
        t.path, SlaSettings, policies=policies, pauses=pauses, calendars=calendars
    )


def _policy(
    t: Table, conditions: Callable[[Table], tuple[Condition, ...]]
) -> SlaPolicy:
    kwargs = {
        "id": t.text("id"),
        "name": t.text("name", ""),
        "conditions": conditions(t),
        "logic": t.text("logic", None),
        "start_field": t.text("start_field", None),
        "targets": tuple(_target(x) for x in t.tables("targets")),
    }
    t.done()
    return wrapped(t.path, SlaPolicy, **kwargs)


def _target(t: Table) -> Target:
    metric = t.text("metric")
    if metric not in {m.value for m in Metric}:
        raise fail(t.at("metric"), f"one of {_METRICS}", metric)
    warnings = t.raw("warnings", [])
    if not isinstance(warnings, list):
        raise fail(t.at("warnings"), "an array of percentages like [75]", warnings)
    kwargs = {
        "metric": metric,
        "priority": t.text("priority"),
        "within": t.duration("within"),
        "hours": t.text("hours", None),
        "warnings": tuple(warnings),
    }
    t.done()
    return wrapped(t.path, Target, **kwargs)

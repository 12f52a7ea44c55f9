"""A fuzz of the tenant settings loader: whatever a tenant sends, as TOML text
or as a mapping from a JSON API, ends in a Config or an escalate error, within
the documented bound, never another exception."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalate.config import Config, load_tenant_config
from escalate.errors import EscalateError
from tests.test_operator import TENANT

#: Keys of every level of the configuration, and some that are not keys.
KEYS = [
    "calendars", "office", "tz", "weekly", "mon-fri", "sat", "special_days",
    "holidays", "country", "dates", "ical", "ical_text", "recurring", "rule",
    "start", "hours", "escalation", "scheduler", "active", "expiry", "after",
    "rules", "gold", "items", "id", "conditions", "logic", "basis", "actions",
    "escalate_to", "new_owner", "warnings", "extra_emails", "leads", "types",
    "web", "accept_within", "first_activity_within", "teams", "responsible",
    "assignment", "queue_user", "qualifications", "agents", "sla", "policies",
    "targets", "metric", "within", "pauses", "templates", "inline", "folder",
    "mail", "smtp", "host", "sender", "addresses", "fields", "type", "format",
    "a.b", "\udc80", "",
]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(
        [
            "Europe/Amsterdam",
            "Europe",
            "../../etc/passwd",
            "09:00-17:00",
            "22:00-06:00",
            "closed",
            "4h",
            "2h30m",
            "4 hours",
            "FREQ=DAILY",
            "FREQ=MONTHLY;BYDAY=6MO",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "1 AND (2 OR 3)",
            "(" * 200 + "1" + ")" * 200,
            "lead",
            "created",
            "lead@example.com",
            "a@b.example\r\nBcc: x@e.x",
            "{{ case.number }}",
            "{{ 1.5|round(100000000, 'ceil') }}",
            "{% for i in range(10) %}x{% endfor %}",
            "BEGIN:VCALENDAR\nEND:VCALENDAR\n",
            "first reply",
            "urgent",
            "NL",
            "\udc80",
            "\x00",
            "x" * 1000,
        ]
    ),
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=True),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=30,
)
DATA = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)

#: What the documented bound is checked with: far above what a load takes
#: (milliseconds), far below what the bugs it guards against took (seconds).
BOUND = timedelta(seconds=5)


def _loads(source: str | dict[str, Any]) -> None:
    try:
        result = load_tenant_config(source)
    except EscalateError:
        return
    assert isinstance(result, Config)
    # what a store writes of it: UTF-8 text without NUL (SQLite and PostgreSQL)
    document = result.settings.document()
    assert "\x00" not in document
    document.encode("utf-8")


@given(DATA)
@settings(
    max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow]
)
def test_any_mapping_loads_or_is_an_escalate_error(data: dict[str, Any]) -> None:
    """A mapping of any shape (a JSON API's): a Config or an escalate error."""
    _loads(data)


def _toml(data: dict[str, Any]) -> str:
    """A rough TOML writing of ``data``: keys quoted, values as JSON (most are
    TOML; those that are not test the parser's errors)."""
    lines = []
    for key, value in data.items():
        lines.append(f"{json.dumps(key)} = {json.dumps(value, default=str)}")
    return "\n".join(lines)


FRAGMENTS = st.sampled_from(
    [
        "[calendars.office]\n", 'tz = "Europe/Amsterdam"\n', 'tz = "Europe"\n',
        'weekly = { mon-fri = "09:00-17:00" }\n', "[rules.gold]\n",
        "[[rules.gold.items]]\n", 'id = "all"\n', 'hours = "office"\n',
        'actions = [{ id = "lead", after = "4h", escalate_to = "lead" }]\n',
        "[mail.addresses]\n", 'lead = "lead@example.com"\n', "[mail.smtp]\n",
        'host = "evil.example"\n', "[templates.inline]\n",
        '"escalation.txt" = "{{ case.number }}"\n', "[", "]", "{", "}", ".", "a.",
        "a" + ".a" * 40 + " = 1\n", "x = " + "[" * 40 + "]" * 40 + "\n",
        '"""', "'''", "#", "\n", '"\\udc80"', "= ", ", ",
        "[[calendars.office.recurring]]\n", 'rule = "FREQ=MONTHLY;BYDAY=6MO"\n',
        "start = 0001-01-01\n", "[holidays]\n", 'ical = "/etc/shadow"\n',
    ]
)  # fmt: skip


@given(st.one_of(DATA.map(_toml), st.lists(FRAGMENTS, max_size=30).map("".join)))
@settings(
    max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow]
)
def test_any_text_loads_or_is_an_escalate_error(text: str) -> None:
    """TOML text of any shape, valid or not: a Config or an escalate error."""
    _loads(text)


#: Texts no store keeps, drawn often: a lone surrogate, NUL.
UNSTORABLE = st.sampled_from(["\udc80", "a\x00b", "ok \ud800"])

BASE = TENANT.replace(
    'id = "all"\n',
    'id = "all"\nname = "every case"\nconditions = [["priority", "=", "high"]]\n',
).replace(
    'weekly = { mon-fri = "09:00-17:00" }',
    'weekly = { mon-fri = "09:00-17:00", sat = "10:00-12:00" }\n'
    'holidays = { country = "NL", dates = [2026-12-28] }',
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


@given(st.data())
@settings(
    max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow]
)
def test_a_valid_mapping_with_one_value_changed(data: st.DataObject) -> None:
    """A valid tenant's settings with any one value (or key) replaced by
    anything: a Config whose document every store can write, or an escalate
    error. (Most shapes above fail early; this reaches every loader.)"""
    import copy
    import tomllib

    base = tomllib.loads(BASE)
    mapping = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_leaves(base)))
    target: Any = mapping
    for step in path[:-1]:
        target = target[step]
    if data.draw(st.booleans()) and isinstance(path[-1], str):
        target[data.draw(st.sampled_from(KEYS))] = target.pop(path[-1])
    else:
        target[path[-1]] = data.draw(st.one_of(UNSTORABLE, VALUES))
    _loads(mapping)

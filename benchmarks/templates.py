"""Rendering mail templates: what the budget of an untrusted template costs.

Run: ``pip install -e . && python benchmarks/templates.py``

Renders the bundled example's mails (escalation, assignment, warning, task, lead
reminder; what the demo sends) and a richer HTML mail (a loop over a case's fields
and history, conditionals, filters) with the context the engine passes, and prints
the cost per mail beside jinja2's plain ``SandboxedEnvironment`` rendering the same
sources in the same run. The plain sandbox has no budget, no allow-list and no size
checks, so it is a floor: the previous escalate renderer was that sandbox plus a few
hooks. Target: at most 2x the floor.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from escalate import Templates, example_config, load_config
from escalate._template_calls import _OWN  # escalate's own filters: local, duration

RICH = {
    "rich.subject": "Case {{ case.number }}: {{ case.fields.get('customer', '-') }}",
    "rich.txt": (
        "Case {{ case.number }} ({{ case.priority|upper }})\n"
        "{% for name, value in case.fields.items() %}"
        "  {{ name }}: {{ value }}\n{% endfor %}"
        "{% for entry in history %}{{ loop.index }}. "
        "{{ entry.at.strftime('%d %b %H:%M') }}"
        " {{ entry.what|truncate(40) }}{% if entry.by %} by {{ entry.by }}{% endif %}\n"
        "{% endfor %}Due {{ due_at.isoformat() }}, {{ history|length }} entries.\n"
    ),
    "rich.html": (
        "<h1>Case {{ case.number }}</h1><table>"
        "{% for name, value in case.fields|dictsort %}"
        "<tr><th>{{ name|title }}</th><td>{{ value }}</td></tr>{% endfor %}</table>"
        "<ol>{% for entry in history if entry.by %}"
        "<li class='{{ loop.cycle('odd', 'even') }}'>{{ entry.what }}"
        " ({{ entry.by|default('system') }})</li>{% endfor %}</ol>"
        "<p>{{ history|map(attribute='by')|select|unique|join(', ') }}</p>"
    ),
}


def context() -> dict[str, Any]:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    case = {
        "id": "c-1042",
        "number": "C-1042",
        "status": "Active",
        "priority": "high",
        "owner": "ann",
        "fields": {"customer": "Acme B.V.", "product": "router", "region": "NL"},
        "created_at": at,
    }
    history = [
        {"at": at + timedelta(minutes=17 * i), "what": f"changed field {i}", "by": by}
        for i, by in enumerate(["ann", None, "bob", "ann", None, "mark"] * 4)
    ]
    return {
        "case": case,
        "history": history,
        "action": {"id": "manager", "after": timedelta(hours=8)},
        "kind": "escalation",
        "due_at": at + timedelta(hours=8),
        "basis_at": at,
        "rule": "standard",
        "item": "gold",
        "threshold": None,
        "task": {"title": "Call back Acme"},
        "lead": {"id": "l-7", "lead_type": "web"},
        "phase": "reaction",
        "zone": "Europe/Amsterdam",
        # the SLA mails' and the lead steps' own (docs/templates.md)
        "metric": "first reply",
        "run": 0,
        "percent": 100,
        "policy": "standard",
        "target": timedelta(hours=4),
        "counted": timedelta(hours=4, minutes=5),
        "step": "internal",
        "responsible": ["ann", "bob"],
        "external": None,
    }


def timed(fn: Callable[[], object], n: int) -> float:
    """The median microseconds per call over five runs of ``n`` calls."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    sources = dict(load_config(example_config()).templates) | RICH
    ours = Templates(sources)
    plain = SandboxedEnvironment(
        loader=jinja2.DictLoader(sources),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    html = SandboxedEnvironment(
        loader=jinja2.DictLoader(sources),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=True,
    )
    for env in (plain, html):  # the example's templates use | local and | duration
        env.filters.update(_OWN)
    ctx = context()
    mails = sorted({name.rsplit(".", 1)[0] for name in sources})
    print(f"{'mail':<16} {'escalate µs':>12} {'plain sandbox µs':>17} {'ratio':>6}")
    total_ours = total_plain = 0.0
    for mail in mails:
        parts = [
            p
            for p in (f"{mail}.subject", f"{mail}.txt", f"{mail}.html")
            if p in sources
        ]

        def render_plain(parts: list[str] = parts) -> None:
            for p in parts:
                (html if p.endswith(".html") else plain).get_template(p).render(ctx)

        def render_ours(mail: str = mail) -> None:
            ours.render_mail(mail, **ctx)

        n = 2000 if mail != "rich" else 300
        a, b = timed(render_ours, n), timed(render_plain, n)
        total_ours += a
        total_plain += b
        print(f"{mail:<16} {a:>12.1f} {b:>17.1f} {a / b:>6.2f}")
    print(
        f"{'all':<16} {total_ours:>12.1f} {total_plain:>17.1f} "
        f"{total_ours / total_plain:>6.2f}   (target: at most 2.00)"
    )


if __name__ == "__main__":
    main()

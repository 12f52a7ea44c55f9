"""Rule evaluation speed: 100,000 open cases against a 20-item, 3-step book.

Run: ``python benchmarks/rules.py``

The book has 20 items with mixed criteria (equals, in, contains, <, is empty,
AND/OR/NOT logic), business hours and three ladder steps each; 90 % of the cases
fall through to the last (catch-all) item, so the criteria of the earlier items
are tried too. Cases are up to two weeks old, so most have steps overdue.

Figures: one ``due_actions`` call over all cases at one instant (target: under
2 s) in the steady state, where a tick a minute earlier fired what was due then
(``already_done``), and cold, where nothing was done yet and every overdue step
and warning (about 200,000) is built.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from escalate import BusinessHours
from escalate.model import Case, Status
from escalate.rules import (
    EscalationAction,
    Rule,
    RuleBook,
    RuleItem,
    TimeBasis,
    due_actions,
)

AMS = ZoneInfo("Europe/Amsterdam")
N = 100_000
H = timedelta(hours=1)
CALENDARS = {
    "office": BusinessHours.from_spec(
        {"mon-fri": "09:00-12:30, 13:30-17:00"},
        tz=AMS,
        holidays=holidays.country_holidays("NL"),
    ),
    "support": BusinessHours.from_spec({"mon-sat": "07:00-22:00"}, tz=AMS),
}
REGIONS = ["NL", "BE", "DE", "FR", "UK", "US", "ES", "IT"]
PRODUCTS = ["server", "laptop", "phone", "printer", "network"]
NOW = datetime(2026, 11, 23, 14, tzinfo=AMS)


def book() -> RuleBook:
    items = []
    for i in range(19):
        conditions = [
            ("priority", "equals", ["low", "normal", "high", "urgent"][i % 4]),
            ("region", "in", REGIONS[i % 8 : i % 8 + 2]),
            ("subject", "contains", PRODUCTS[i % 5]),
            ("amount", "<", 1000 * (i + 1)),
            ("vip", "is empty"),
        ]
        items.append(
            RuleItem(
                id=f"item-{i}",
                name=f"item {i}",
                conditions=conditions,
                logic=[
                    "1 AND 2 AND 3 AND (4 OR 5)",
                    "1 AND (2 OR 3) AND 4 AND NOT 5",
                    "(1 OR 2) AND NOT 5 AND 3 AND 4",
                ][i % 3],
                hours=["office", "support", None][i % 3],
                basis=[TimeBasis.CREATED, TimeBasis.MODIFIED][i % 2],
                actions=[
                    EscalationAction(
                        id="step-1",
                        after=(i % 4 + 1) * H,
                        escalate_to="lead",
                        warnings=(50,),
                    ),
                    EscalationAction(
                        id="step-2",
                        after=(i % 4 + 4) * H,
                        escalate_to="manager",
                        new_owner="bob",
                    ),
                    EscalationAction(
                        id="step-3", after=(i % 4 + 16) * H, escalate_to="director"
                    ),
                ],
            )
        )
    items.append(
        RuleItem(
            id="catch-all",
            name="catch-all",
            hours="office",
            actions=[
                EscalationAction(id="step-4", after=8 * H, escalate_to="lead"),
                EscalationAction(id="step-5", after=16 * H, escalate_to="manager"),
                EscalationAction(id="step-6", after=40 * H, escalate_to="director"),
            ],
        )
    )
    return RuleBook.build([Rule(name="main", items=items)], active="main")


def cases(rng: random.Random) -> list[Case]:
    out = []
    for i in range(N):
        created = NOW - timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
        out.append(
            Case(
                id=f"case-{i:06d}",
                number=f"C-{i}",
                status=rng.choice(
                    [
                        Status.NEW,
                        Status.ACTIVE_NEW,
                        Status.ACTIVE_ASSIGNED,
                        Status.PENDING,
                    ]
                ),
                priority=rng.choice(["low", "normal", "high", "urgent"]),
                created_at=created,
                modified_at=created + timedelta(minutes=rng.randrange(0, 600))
                if rng.random() < 0.5
                else None,
                fields={
                    "region": rng.choice(REGIONS),
                    "subject": f"my {rng.choice(PRODUCTS)} is broken",
                    "amount": rng.randrange(0, 30_000),
                    **({"vip": "yes"} if rng.random() < 0.1 else {}),
                },
            )
        )
    return out


def main() -> None:
    rng = random.Random(20261123)
    b = book()
    cs = cases(rng)
    # A tick a minute earlier fired what was due then: the steady state.
    before = due_actions(b, cs, NOW - timedelta(minutes=1), CALENDARS)
    done = {d.key for d in before}
    t0 = time.perf_counter()
    due = due_actions(b, cs, NOW, CALENDARS, done)
    took = time.perf_counter() - t0
    t0 = time.perf_counter()
    cold = due_actions(b, cs, NOW, CALENDARS)
    took_cold = time.perf_counter() - t0
    governed = {}
    rule = b.active_rule
    assert rule is not None
    for c in cs[:5000]:
        for n, item in enumerate(rule.items):
            if item.matches(c):
                governed[n] = governed.get(n, 0) + 1
                break
    catch_all = governed.get(len(rule.items) - 1, 0) / 5000
    share = f"{catch_all:.0%} reach the catch-all item"
    print(f"book: {len(rule.items)} items x 3 actions; {N:,} open cases ({share})")
    print(
        f"steady state (done: {len(done):,} keys from a tick a minute earlier): "
        f"{took:.2f} s (target < 2 s), {N / took:,.0f} cases/s, {len(due):,} newly due"
    )
    print(
        f"cold (nothing done yet; every overdue step and warning built): "
        f"{took_cold:.2f} s, {N / took_cold:,.0f} cases/s, {len(cold):,} due"
    )


if __name__ == "__main__":
    main()

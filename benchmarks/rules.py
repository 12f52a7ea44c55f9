"""Rule evaluation speed: 100,000 open cases against a 20-item, 3-step book.

Run: ``pip install -e '.[bench]' && python benchmarks/rules.py [--cases N]``

The book has 20 items with mixed criteria (equals, in, contains, <, is empty,
AND/OR/NOT logic), business hours and three ladder steps each; 90 % of the cases
fall through to the last (catch-all) item, so the criteria of the earlier items
are tried too. Cases are up to two weeks old, so most have steps overdue.

Figures, in one run:

* one ``due_actions`` call over all cases at one instant in the steady state,
  where a tick a minute earlier fired what was due then (``already_done``), and
  cold, where nothing was done yet and every overdue step and warning (about
  200,000) is built;
* the same steady-state tick through a ``RulePass`` kept since the tick a minute
  earlier (target: <= 0.2 s), its answer checked equal to ``due_actions``';
* the reference: pandas with pyarrow strings evaluating the same criteria over the
  same records (each case's first matching item, from boolean masks), the
  criteria alone, records already in columns;
* the memory the pass keeps, per case, and the process's peak.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
import tracemalloc
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
    RulePass,
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
LOGIC = [
    "1 AND 2 AND 3 AND (4 OR 5)",
    "1 AND (2 OR 3) AND 4 AND NOT 5",
    "(1 OR 2) AND NOT 5 AND 3 AND 4",
]


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
                logic=LOGIC[i % 3],
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


def cases(rng: random.Random, n: int = N) -> list[Case]:
    out = []
    for i in range(n):
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


def pandas_governing(cs: list[Case]) -> tuple[float, list[int]]:
    """The same criteria with pandas and pyarrow strings: each case's first
    matching item (19 items, then the catch-all). Returns the time (the
    criteria alone; the columns are built before) and the items found."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "priority": pd.array([c.priority for c in cs], dtype="string[pyarrow]"),
            "region": pd.array(
                [c.fields["region"] for c in cs], dtype="string[pyarrow]"
            ),
            "subject": pd.array(
                [c.fields["subject"] for c in cs], dtype="string[pyarrow]"
            ),
            "amount": np.array([c.fields["amount"] for c in cs]),
            "vip": pd.array([c.fields.get("vip") for c in cs], dtype="string[pyarrow]"),
        }
    )
    t0 = time.perf_counter()
    masks = []
    vip_empty = frame["vip"].isna().to_numpy()
    for i in range(19):
        c1 = (frame["priority"] == ["low", "normal", "high", "urgent"][i % 4]).to_numpy(
            dtype=bool, na_value=False
        )
        c2 = frame["region"].isin(REGIONS[i % 8 : i % 8 + 2]).to_numpy(dtype=bool)
        c3 = (
            frame["subject"]
            .str.contains(PRODUCTS[i % 5], regex=False)
            .to_numpy(dtype=bool, na_value=False)
        )
        c4 = (frame["amount"] < 1000 * (i + 1)).to_numpy()
        c5 = vip_empty
        masks.append(
            [
                c1 & c2 & c3 & (c4 | c5),
                c1 & (c2 | c3) & c4 & ~c5,
                (c1 | c2) & ~c5 & c3 & c4,
            ][i % 3]
        )
    masks.append(np.ones(len(cs), dtype=bool))  # the catch-all
    governing = np.argmax(np.vstack(masks), axis=0)
    took = time.perf_counter() - t0
    return took, governing.tolist()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=N)
    n = parser.parse_args().cases
    rng = random.Random(20261123)
    b = book()
    cs = cases(rng, n)
    earlier = NOW - timedelta(minutes=1)
    # A tick a minute earlier fired what was due then: the steady state (its
    # keys found a slice of cases at a time: the process's peak is then what
    # the cases, the done keys and the pass need, not two million actions)
    done: set[str] = set()
    for i in range(0, n, 50_000):
        done |= {d.key for d in due_actions(b, cs[i : i + 50_000], earlier, CALENDARS)}
    t0 = time.perf_counter()
    due = due_actions(b, cs, NOW, CALENDARS, done)
    took = time.perf_counter() - t0
    cold: list[object] = []
    took_cold = 0.0
    if n <= 200_000:  # (all 2 million overdue actions of a million cases: skipped)
        t0 = time.perf_counter()
        cold = due_actions(b, cs, NOW, CALENDARS)
        took_cold = time.perf_counter() - t0
    # The pass, kept since the tick a minute earlier (which found each case).
    rp = RulePass(b, CALENDARS)
    t0 = time.perf_counter()
    rp.due(cs, earlier, done)
    filled = time.perf_counter() - t0
    t0 = time.perf_counter()
    incremental = rp.due(cs, NOW, done)
    took_pass = time.perf_counter() - t0
    assert incremental == due, "the pass must give what due_actions gives"
    rule = b.active_rule
    assert rule is not None
    governed = {}
    for c in cs[:5000]:
        for k, item in enumerate(rule.items):
            if item.matches(c):
                governed[k] = governed.get(k, 0) + 1
                break
    catch_all = governed.get(len(rule.items) - 1, 0) / 5000
    share = f"{catch_all:.0%} reach the catch-all item"
    print(f"book: {len(rule.items)} items x 3 actions; {n:,} open cases ({share})")
    print(
        f"due_actions, steady state (done: {len(done):,} keys from a tick a minute "
        f"earlier): {took:.2f} s, {n / took:,.0f} cases/s, {len(due):,} newly due"
    )
    if cold:
        print(
            f"due_actions, cold (nothing done yet; every overdue step and warning "
            f"built): {took_cold:.2f} s, {n / took_cold:,.0f} cases/s, "
            f"{len(cold):,} due"
        )
    print(
        f"RulePass, steady state (kept since the tick a minute earlier): "
        f"{took_pass:.3f} s (target <= 0.2 s), same {len(incremental):,} actions; "
        f"finding every case the first time took {filled:.2f} s"
    )
    if n <= 200_000:
        ref, found = pandas_governing(cs)
        ours = [rule.items.index(_first(rule.items, c)) for c in cs[:1000]]
        assert found[:1000] == ours, "pandas must find the same items"
        print(
            f"reference: pandas + pyarrow, the criteria alone over the same "
            f"records: {ref:.3f} s ({ref / took_pass:.1f}x the pass)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()  # what a pass keeps: another one, counted
    other = RulePass(b, CALENDARS)
    other.due(cs, earlier, done)
    kept_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del other
    print(
        f"memory: the pass keeps {kept_bytes / n:,.0f} bytes per case "
        f"({kept_bytes / 2**20:,.0f} MiB); the process peaked at "
        f"{peak / 2**30:.2f} GiB"
    )


def _first(items: tuple[RuleItem, ...], case: Case) -> RuleItem:
    return next(item for item in items if item.matches(case))


if __name__ == "__main__":
    main()

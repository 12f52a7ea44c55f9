"""Planning a change of the settings over 100,000 open cases in SQLite.

Run: ``python benchmarks/changes.py``

The store holds the rules benchmark's 100,000 open cases (a 20-item book of 3-step
ladders with warnings, 90 % of cases reaching the catch-all item), each with its
next due instant, and the keys of every action a tick a minute earlier fired
(~200,000). The change shortens the catch-all item's first step from 8h to 6h and
lengthens its second from 16h to 20h. Prints how long ``Escalator.plan`` takes
(target: at most 3 s) and what it found.

Beside it, in the same run: reading and decoding every open case (what a plan
need not do when the criteria are the same on both sides: it reads the states the
store keeps beside the cases), and a plan of a change that edits one item's
criteria as well, so that every case is read and matched again. Best of three
runs each (the machine is shared).
"""

from __future__ import annotations

import gc
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from rules import CALENDARS, NOW, book, cases  # the rules benchmark's data

from escalate import ChangePlan, ManualClock, RuleBook, Settings, due_actions
from escalate.adapters._sql import _SAVE_CASE, _case_row
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.testing import RecordingMailer

H = timedelta(hours=1)


def criteria_changed(b: RuleBook) -> RuleBook:
    """``changed``, and the first item's last condition edited."""
    rule = b.rule("main")
    first = rule.items[0]
    edited = attrs.evolve(
        first, conditions=[*first.conditions[:-1], ("vip", "is not empty")]
    )
    return changed(
        attrs.evolve(b, rules=[attrs.evolve(rule, items=[edited, *rule.items[1:]])])
    )


def changed(b: RuleBook) -> RuleBook:
    rule = b.rule("main")
    catch_all = rule.item("catch-all")
    afters = {"step-4": 6 * H, "step-5": 20 * H}
    item = attrs.evolve(
        catch_all,
        actions=[
            attrs.evolve(a, after=afters.get(a.id, a.after)) for a in catch_all.actions
        ],
    )
    return attrs.evolve(
        b,
        rules=[
            attrs.evolve(
                rule, items=[item if i.id == "catch-all" else i for i in rule.items]
            )
        ],
    )


def build(path: Path) -> tuple[RuleBook, int]:
    """The store: the cases, each with its next due instant, and the keys a tick
    a minute earlier fired (written straight into the tables). Returns the book
    and how many keys fired."""
    rng = random.Random(20261123)
    b = book()
    cs = cases(rng)
    store = SqliteStore(path)
    esc = Escalator(
        store, RecordingMailer(), ManualClock(NOW), book=b, calendars=CALENDARS
    )
    esc.sync_settings()
    done = {d.key for d in due_actions(b, cs, NOW - timedelta(minutes=1), CALENDARS)}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    # each case's row as save_case writes it: its next due instant and state
    rows = [_case_row(c, 1, *esc._schedule(c, esc.settings)) for c in cs]
    db = sqlite3.connect(path)
    with db:
        db.executemany(_SAVE_CASE, rows)
        db.executemany(
            "INSERT INTO fired (key, at_us) VALUES (?, ?)",
            [(k, (NOW - epoch) // timedelta(microseconds=1)) for k in done],
        )
    db.close()
    store.close()
    return b, len(done)


def best(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    """The shortest of ``runs`` timings of ``work``, and what it returned."""
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "plan.db"
        b, fired = build(path)  # its 100,000 generated cases are freed here
        store = SqliteStore(path)
        esc = Escalator(
            store, RecordingMailer(), ManualClock(NOW), book=b, calendars=CALENDARS
        )

        def read_all() -> int:
            n, last = 0, None
            while batch := store.open_cases(last, limit=1_000):
                n, last = n + len(batch), batch[-1].id
            return n

        floor, _ = best(3, read_all)
        new = Settings(changed(b), CALENDARS)
        took, plan = best(3, lambda: esc.plan(new))
        assert isinstance(plan, ChangePlan)
        s = plan.summary
        assert plan.before == Settings(b, CALENDARS).digest
        edited = Settings(criteria_changed(b), CALENDARS)
        took_edited, _ = best(3, lambda: esc.plan(edited))
        print(
            f"plan over {s.cases:,} open cases ({fired:,} fired keys): "
            f"{took:.2f} s (target <= 3 s); best of 3"
        )
        print(
            f"  {s.changed:,} change, {s.deadlines_moved:,} next deadlines move, "
            f"{s.due_now:,} steps due at once, {s.moved:,} waiting steps move, "
            f"{s.never:,} never fire, {s.overdue:,} overdue"
        )
        print(
            f"  beside it: reading and decoding every open case {floor:.2f} s (what "
            f"the plan skips); a plan that edits criteria too {took_edited:.2f} s "
            "(every case read and matched again)"
        )


if __name__ == "__main__":
    main()

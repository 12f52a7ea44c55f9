"""Cases that fail every tick are put aside, and one action's failure is that
action's: on a real SQLite file, with the manual clock."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.health import read_health
from escalate.model import Actor, Case, Status
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.test_engine import ADDRESSES, OFFICE, T0, TEMPLATES

H = timedelta(hours=1)
ANN = Actor("ann")
MINUTE = timedelta(minutes=1)

BOOK = RuleBook.build(
    [
        Rule(
            name="main",
            items=[
                RuleItem(  # its step names a user with no address: fails each time
                    id="broken",
                    conditions=[("priority", "equals", "broken")],
                    actions=[EscalationAction(id="a", after=H, escalate_to="ghost")],
                ),
                RuleItem(
                    id="ladder",
                    actions=[
                        EscalationAction(
                            id="lead", after=H, escalate_to="lead", warnings=(50,)
                        ),
                        EscalationAction(id="manager", after=2 * H, escalate_to="boss"),
                    ],
                ),
            ],
        )
    ],
    active="main",
)


def escalator(store: SqliteStore, clock: ManualClock, **kw: object) -> Escalator:
    return Escalator(
        store,
        RecordingMailer(),
        clock,
        book=BOOK,
        calendars={"office": OFFICE},
        templates=TEMPLATES,
        addresses=kw.pop("addresses", ADDRESSES),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def case(i: int | str, **kw: object) -> Case:
    values: dict[str, object] = {
        "owner": "queue",
        "status": Status.ACTIVE_NEW,
        "created_at": T0,
    }
    values.update(kw)
    return Case(id=f"c{i}", number=f"C-{i}", **values)  # type: ignore[arg-type]


def bulk_add(store: SqliteStore, esc: Escalator, cases: list[Case]) -> None:
    with store.transaction():
        for c in cases:
            esc.add_case(c, by=ANN)


class TestPoisonCases:
    def test_five_thousand_failing_cases_do_not_delay_a_healthy_one(
        self, tmp_path: Path
    ) -> None:
        """With 500 failing due cases (the read's batch) the healthy case after
        them never fired: each read returned the same 500 and the tick ended."""
        store = SqliteStore(tmp_path / "poison.db")
        clock = ManualClock(T0)
        esc = escalator(store, clock, batch=500)
        bulk_add(store, esc, [case(f"{i:05}", priority="broken") for i in range(5_000)])
        esc.add_case(case("z-healthy", created_at=T0 + MINUTE), by=ANN)
        clock.advance(2 * H)  # every poison case due before the healthy one
        report = esc.tick()
        escalated = [f.case_id for f in report.fired if f.kind.value == "escalation"]
        assert escalated == ["cz-healthy"]
        assert len(report.errors) == 5_000
        health = read_health(store, clock.now())
        assert health.quarantine.count == 5_000
        first = health.quarantine.items[0]
        assert "user 'ghost' has no address" in first.error
        assert first.until == clock.now() + MINUTE
        assert esc.metrics.value("escalate_put_aside") == 5_000
        assert esc.metrics.value("escalate_put_aside_total") == 5_000
        assert esc.tick().errors == ()  # put aside: not tried again at once

    def test_a_poison_case_is_retried_with_a_growing_backoff_and_fires_once_fixed(
        self, tmp_path: Path
    ) -> None:
        store = SqliteStore(tmp_path / "retry.db")
        clock = ManualClock(T0)
        esc = escalator(store, clock)
        esc.add_case(case(1, priority="broken"), by=ANN)
        clock.advance(2 * H)
        tried = []
        for _ in range(40):  # 40 minutes, a tick a minute
            if esc.tick().errors:
                tried.append(clock.now())
            clock.advance(MINUTE)
        waits = [b - a for a, b in itertools.pairwise(tried)]
        assert waits == [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE]
        assert store.quarantined_item("case", "c1").failures == 6  # type: ignore[union-attr]
        fixed = escalator(store, clock, addresses={**ADDRESSES, "ghost": "g@ex.com"})
        fixed.update_case("c1", {"solution": "fixed by the CRM"}, by=ANN)
        assert [f.key.split("/")[3] for f in fixed.tick().fired] == ["a"]
        clock.advance(H)
        assert fixed.tick().fired == ()
        assert read_health(store, clock.now()).quarantine.count == 0


class TestEachActionOnItsOwn:
    def test_an_owner_without_an_address_does_not_stop_the_ladder(
        self, tmp_path: Path
    ) -> None:
        """An action whose recipient has no address rolled back all of the
        case's work: a case whose owner had no address never escalated to the
        team lead either."""
        store = SqliteStore(tmp_path / "ladder.db")
        clock = ManualClock(T0)
        esc = escalator(store, clock)
        esc.add_case(case(1, owner="nobody"), by=ANN)
        clock.advance(3 * H)  # the warning, the lead and the manager all due
        report = esc.tick()
        steps = [(f.kind.value, f.key.split("/")[3]) for f in report.fired]
        assert steps == [("escalation", "lead"), ("escalation", "manager")]
        ((who, message),) = report.errors
        assert who == "c1"
        assert "the owner warned by warning 'lead': user 'nobody' has no address" in (
            message
        )
        assert sorted(
            m.recipient for m in esc.store.outbox_entries(dead=False, limit=9)
        ) == [
            "boss@example.com",
            "lead@example.com",
        ]
        for _ in range(10):  # retried after each backoff: the warning alone
            clock.advance(10 * MINUTE)
            again = esc.tick()
            assert again.fired == ()
        assert store.pending() == 2  # each escalation once
        fixed = escalator(store, clock, addresses={**ADDRESSES, "nobody": "n@ex.com"})
        clock.advance(H)
        assert [f.kind.value for f in fixed.tick().fired] == ["warning"]
        assert fixed.tick().fired == ()

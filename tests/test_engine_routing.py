"""Routing through the Escalator: the default queue user, waiting cases, pull,
manual and bulk assignment, and suggestions from the kept assignments (seed 004)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.engine import Escalator
from escalate.errors import ConfigError, InvalidOperation, NotFound, StoreError
from escalate.history import FollowUpKind
from escalate.matching import Agent, Qualification, QualificationCatalog, Routing
from escalate.model import Actor, Case, Status
from escalate.timers import ManualClock
from tests.test_engine import T0, escalator

SUP = Actor("sup")
ROUTING = Routing(
    queue_user="queue",
    catalog=QualificationCatalog([Qualification("dutch"), Qualification("network")]),
)
AGENTS = [
    Agent(id="ann", qualifications={"dutch": 8}, capacity=2),
    Agent(id="bob", qualifications={"network": 9}, capacity=5),
    Agent(id="kim", qualifications={"dutch": 9}, available=False),
]


def new(i: int, priority: str = "normal", **requirements: int) -> Case:
    return Case(
        id=f"c{i}",
        number=f"C-{1000 + i}",
        created_at=T0,
        priority=priority,
        requirements=requirements,
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Any:
    if request.param == "memory":
        return MemoryStore()
    return SqliteStore(f"{tmp_path}/routing.db")


def routed(store: Any, clock: ManualClock | None = None) -> Escalator:
    return escalator(store, clock or ManualClock(T0), routing=ROUTING, agents=AGENTS)


def test_a_new_case_goes_to_the_default_queue_user(store: Any) -> None:
    """Seed 004: every case is handled by someone. A case without an owner goes
    to the queue user in Active – New; one with an owner keeps it."""
    esc = routed(store)
    added = esc.add_case(new(1), by=SUP)
    assert (added.owner, added.status) == ("queue", Status.ACTIVE_NEW)
    assert esc.add_case(new(2).changed(T0, by=None, owner="bob"), by=SUP).owner == (
        "bob"
    )
    pending = esc.add_case(new(3).changed(T0, by=None, status=Status.PENDING), by=SUP)
    assert (pending.owner, pending.status) == ("queue", Status.PENDING)
    assert [c.id for c in esc.waiting_cases()] == ["c1"]
    plain = escalator(MemoryStore(), ManualClock(T0))  # no routing: left alone
    assert plain.add_case(new(1), by=SUP).owner is None


def test_pull_assigns_through_the_store(store: Any) -> None:
    """An agent pulls the best matching waiting cases up to its free capacity,
    counted from the cases it owns in the store; each is written with its
    history and follow-up, status Active – Assigned."""
    clock = ManualClock(T0)
    esc = routed(store, clock)
    for c in (new(1, "low", dutch=3), new(2, "urgent", dutch=5), new(3, network=4)):
        esc.add_case(c, by=SUP)
    esc.add_case(new(4, dutch=1).changed(T0, by=None, owner="ann"), by=SUP)
    clock.advance(timedelta(minutes=30))
    result = esc.pull("ann")
    assert result.free_before == 1  # capacity 2, owns c4 already
    (taken,) = result.assignments
    assert taken.case_id == "c2"
    stored = esc.store.get_case("c2")
    assert (stored.owner, stored.status) == ("ann", Status.ACTIVE_ASSIGNED)
    assert stored.modified_at == T0 + timedelta(minutes=30)
    kinds = [line.kind for line in esc.lines("c2")]
    assert FollowUpKind.HANDLER_CHANGED in kinds
    assert FollowUpKind.STATUS_CHANGED in kinds
    assert esc.verify("c2").ok
    assert [c.id for c in esc.waiting_cases()] == ["c1", "c3"]
    assert esc.pull("ann").reason.startswith("no free capacity")


def test_pull_names_what_is_missing_and_refuses_unknowns(store: Any) -> None:
    esc = routed(store)
    esc.add_case(new(1, dutch=9), by=SUP)
    result = esc.pull("ann")
    assert result.assignments == ()
    assert "dutch 8 < 9" in result.reason
    with pytest.raises(ConfigError, match=r"no agent 'zed'; known: \['ann'"):
        esc.pull("zed")
    # An Agent value says what the CRM knows now (availability, ratings).
    assert esc.pull(Agent(id="ann", qualifications={"dutch": 9})).assignments
    with pytest.raises(InvalidOperation, match="no routing configured"):
        escalator(store, ManualClock(T0)).pull("ann")


def test_assignments_are_logged(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Each assignment is logged, with the case and agent as fields."""
    esc = routed(store)
    esc.add_case(new(1, dutch=5), by=SUP)
    with caplog.at_level("INFO", logger="escalate.engine"):
        esc.pull("ann")
    (record,) = [r for r in caplog.records if "assigned" in r.getMessage()]
    assert record.getMessage() == "case c1 assigned to ann (pull, by ann)"
    assert (record.case_id, record.agent) == ("c1", "ann")  # type: ignore[attr-defined]


def test_manual_assignment_is_kept_for_suggestions(store: Any) -> None:
    """A manual assignment changes the owner (not the status) and is kept, so
    that the assigner's suggestions come from the store."""
    clock = ManualClock(T0)
    esc = routed(store, clock)
    for i in (1, 2, 3):
        esc.add_case(new(i, dutch=5), by=SUP)
    esc.assign("c1", "bob", by=SUP)
    clock.advance(timedelta(minutes=1))
    esc.assign("c2", "ann", by=SUP)
    stored = esc.store.get_case("c2")
    assert (stored.owner, stored.status) == ("ann", Status.ACTIVE_NEW)
    # ann is qualified for dutch 5; bob (no dutch) is not, kim is unavailable
    assert esc.suggest("c3", assigner="sup") == ("ann",)
    assert esc.suggest("c3", assigner="nobody") == ()
    assert [r.case_id for r in esc.store.assignments_by("sup", limit=5)] == [
        "c2",
        "c1",
    ]


def test_a_refused_assignment_leaves_nothing(store: Any) -> None:
    """An unknown agent or case is refused before anything is written."""
    esc = routed(store)
    esc.add_case(new(1), by=SUP)
    before = (esc.store.get_case("c1"), esc.history("c1"))
    with pytest.raises(ConfigError, match="expected a known agent or user"):
        esc.assign("c1", "anne", by=SUP)
    with pytest.raises(NotFound):
        esc.assign("c9", "ann", by=SUP)
    assert (esc.store.get_case("c1"), esc.history("c1")) == before
    assert esc.store.assignments_by("sup", limit=5) == []


def test_bulk_assignment_through_the_store(store: Any) -> None:
    esc = routed(store)
    for c in (new(1, "urgent", dutch=5), new(2, network=5), new(3, dutch=10)):
        esc.add_case(c, by=SUP)
    result = esc.assign_bulk(by=SUP)
    assert [(a.case_id, a.agent) for a in result.assignments] == [
        ("c1", "ann"),
        ("c2", "bob"),
    ]
    assert [u.case_id for u in result.unassigned] == ["c3"]
    assert esc.store.get_case("c2").owner == "bob"
    assert [c.id for c in esc.waiting_cases()] == ["c3"]


def test_a_pull_is_all_or_nothing() -> None:
    """If writing the second assignment fails, the first is rolled back too."""

    class Failing(MemoryStore):
        saves = 0

        def save_case(self, case: Case, **kw: Any) -> Case:
            if case.owner == "ann" and case.status == Status.ACTIVE_ASSIGNED:
                self.saves += 1
                if self.saves == 2:
                    raise StoreError("disk full")
            return super().save_case(case, **kw)

    store = Failing()
    esc = routed(store)
    esc.add_case(new(1, dutch=5), by=SUP)
    esc.add_case(new(2, dutch=5), by=SUP)
    with pytest.raises(StoreError, match="disk full"):
        esc.pull("ann")
    assert [c.id for c in esc.waiting_cases()] == ["c1", "c2"]
    assert all(esc.verify(c).ok for c in ("c1", "c2"))
    assert len(esc.history("c1")) == 1

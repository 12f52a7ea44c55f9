"""Named behaviours of escalate.matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from escalate.errors import ConfigError, InvalidOperation
from escalate.matching import (
    Agent,
    AssignmentRecord,
    MatchReason,
    Qualification,
    QualificationCatalog,
    Relaxation,
    Routing,
    WaitingQueue,
    assign_bulk,
    assign_manually,
    pull,
    suggest,
)
from escalate.model import Actor, Case, Status

T = datetime(2026, 11, 23, 9, tzinfo=UTC)
H = timedelta(hours=1)
CATALOG = QualificationCatalog(
    [
        Qualification("dutch"),
        Qualification("networking"),
        Qualification("patient", soft=True),
    ]
)
ROUTING = Routing(
    queue_user="queue",
    catalog=CATALOG,
    relaxation=[
        Relaxation(after=2 * H, drop={"patient"}),
        Relaxation(after=4 * H, lower={"dutch": 2}),
    ],
)
SUP = Actor("sup")


def new(i: int, priority: str = "normal", **req: int) -> Case:
    return ROUTING.route_new(
        Case(
            id=f"c{i}",
            number=f"C-{i}",
            priority=priority,
            created_at=T,
            requirements=req,
        )
    )


class TestQueue:
    def test_default_queue_user_gets_new_cases(self) -> None:
        """A new case goes to the queue user and stays Active – New: it waits."""
        case = new(1)
        assert (case.owner, case.status) == ("queue", Status.ACTIVE_NEW)
        assert ROUTING.is_waiting(case)
        assert not ROUTING.is_waiting(case.changed(T, by=SUP, owner="ann"))

    def test_ratings_outside_the_scale(self) -> None:
        """A rating outside its scale (or an unknown qualification) is a clear error."""
        with pytest.raises(
            ConfigError, match=r"11 is outside the scale of 'dutch' \(1-10\)"
        ):
            pull(Agent(id="ann", qualifications={"dutch": 11}), [], ROUTING, now=T)
        with pytest.raises(ConfigError, match="unknown qualification 'klingon'"):
            pull(
                new(1, klingon=3) and Agent(id="a", qualifications={"klingon": 1}),
                [],
                ROUTING,
                now=T,
            )
        with pytest.raises(ConfigError, match="scale low <= high"):
            Qualification("x", low=5, high=1)


class TestPull:
    def test_best_matching_cases_up_to_free_capacity(self) -> None:
        """Pull assigns the best qualified cases, up to free capacity."""
        cases = [
            new(1, "low", dutch=3),
            new(2, "urgent", dutch=5),
            new(3, "high", networking=9),
            new(4, "high", dutch=9),
        ]
        ann = Agent(id="ann", qualifications={"dutch": 8}, capacity=3)
        result = pull(ann, cases, ROUTING, now=T + H, open_counts={"ann": 1})
        assert [a.case_id for a in result.assignments] == ["c2", "c1"]
        assert all(
            a.case.status == Status.ACTIVE_ASSIGNED and a.case.owner == "ann"
            for a in result.assignments
        )
        assert result.assignments[0].case.modified_at == T + H  # by the agent, a person

    def test_nothing_matching(self) -> None:
        """A pull with nothing matching assigns nothing and says why."""
        ann = Agent(id="ann", qualifications={"dutch": 2})
        result = pull(
            ann,
            [new(1, dutch=5), new(2, dutch=3, networking=4), new(3, dutch=9)],
            ROUTING,
            now=T,
        )
        assert result.assignments == ()
        assert [(r.qualification, r.required, r.held) for r in result.missing] == [
            ("dutch", 3, 2),
            ("networking", 4, None),
        ]
        assert result.reason == (
            "none of the 3 waiting cases matches the agent's qualifications; "
            "nearest missing: dutch 2 < 3, networking >= 4 (not rated)"
        )
        assert pull(ann, [], ROUTING, now=T).reason == "no case is waiting"

    def test_unavailable_or_full(self) -> None:
        """An unavailable agent, or one without free capacity, gets nothing."""
        cases = [new(1)]
        assert (
            "not available"
            in pull(Agent(id="a", available=False), cases, ROUTING, now=T).reason
        )
        full = pull(
            Agent(id="a", capacity=2), cases, ROUTING, now=T, open_counts={"a": 2}
        )
        assert (full.assignments, full.free_before) == ((), 0)

    def test_relaxation_after_waiting(self) -> None:
        """After two hours the soft skill is dropped; after four, dutch drops by 2."""
        case = new(1, dutch=8, patient=9)
        ann = Agent(id="ann", qualifications={"dutch": 6})
        assert pull(ann, [case], ROUTING, now=T + H).assignments == ()
        assert pull(ann, [case], ROUTING, now=T + 3 * H).assignments == ()
        (done,) = pull(ann, [case], ROUTING, now=T + 5 * H).assignments
        assert done.qualifications == (
            MatchReason(
                qualification="dutch",
                asked=8,
                required=6,
                held=6,
                relaxed_by=(ROUTING.relaxation[1],),
            ),
            MatchReason(
                qualification="patient",
                asked=9,
                required=None,
                held=None,
                relaxed_by=(ROUTING.relaxation[0],),
            ),
        )
        assert "dropped patient after waiting 2h" in done.reasons
        assert "lowered dutch from 8 to 6 after waiting 4h" in done.reasons

    def test_no_relaxation_note_when_the_level_stays(self) -> None:
        """Lowering a level already at the bottom of its scale changes nothing,
        and nothing says it did."""
        case = new(1, dutch=1)
        (done,) = pull(
            Agent(id="ann", qualifications={"dutch": 1}), [case], ROUTING, now=T + 5 * H
        ).assignments
        assert done.qualifications[0].relaxed_by == ()
        assert not any("lowered" in r for r in done.reasons)
        assert ROUTING.reasons(case, T + 5 * H)[0].relaxation is None

    def test_reasons_are_data_rendered_as_text(self) -> None:
        """Each requirement comes with the level asked, required and held; the
        sentences are rendered from them."""
        (done,) = pull(
            Agent(id="ann", qualifications={"dutch": 7, "networking": 9}),
            [new(1, "urgent", dutch=5, networking=2)],
            ROUTING,
            now=T + H,
        ).assignments
        assert (done.method, done.case_score, done.surplus) == ("pull", 40060, 9)
        assert [(r.qualification, r.required, r.held) for r in done.qualifications] == [
            ("dutch", 5, 7),
            ("networking", 2, 9),
        ]
        assert done.reasons == (
            "qualified: dutch 7 >= 5, networking 9 >= 2",
            "case score 40060 (priority 'urgent', waited 1h), surplus 9",
        )

    def test_a_queue_decides_at_one_instant(self) -> None:
        """A queue built at one instant refuses a pull at another (its waiting
        times and relaxation would contradict the pull's), and another routing."""
        queue = WaitingQueue.of([new(1, dutch=8, patient=9)], ROUTING, T + 3 * H)
        ann = Agent(id="ann", qualifications={"dutch": 6})
        with pytest.raises(InvalidOperation, match=r"now: .* is not the instant"):
            pull(ann, queue, ROUTING, now=T + 5 * H)
        other = Routing(queue_user="queue", catalog=CATALOG)
        with pytest.raises(InvalidOperation, match="routing: not the routing"):
            pull(ann, queue, other, now=T + 3 * H)
        # The same instant in another zone is the same instant.
        same = (T + 3 * H).astimezone(ZoneInfo("Europe/Amsterdam"))
        assert pull(ann, queue, ROUTING, now=same).assignments == ()


class TestManual:
    def test_manual_assignment_keeps_the_status(self) -> None:
        """Assigning by hand changes the owner, not the status."""
        a = assign_manually(new(1), "bob", by=SUP, now=T)
        assert (a.case.owner, a.case.status) == ("bob", Status.ACTIVE_NEW)
        assert dict(a.changes) == {"owner": "bob"}
        assert a.reasons == ("assigned by hand by sup",)

    def test_suggestions_from_own_recent_assignments(self) -> None:
        """Most recent first, distinct, limited, available and qualified only."""
        agents = [
            Agent(id="ann", qualifications={"dutch": 9}),
            Agent(id="bob", qualifications={"dutch": 3}),
            Agent(id="cem", qualifications={"dutch": 8}, available=False),
            Agent(id="dan", qualifications={"dutch": 7}),
            Agent(id="eve", qualifications={"dutch": 7}),
        ]
        history = [
            AssignmentRecord(assigner="sup", agent="ann", case_id="x1", at=T),
            AssignmentRecord(assigner="sup", agent="bob", case_id="x2", at=T + H),
            AssignmentRecord(assigner="sup", agent="cem", case_id="x3", at=T + 2 * H),
            AssignmentRecord(assigner="other", agent="dan", case_id="x4", at=T + 3 * H),
            AssignmentRecord(assigner="sup", agent="ann", case_id="x5", at=T + 4 * H),
            AssignmentRecord(assigner="sup", agent="eve", case_id="x6", at=T + 4 * H),
            AssignmentRecord(assigner="sup", agent="dan", case_id="x7", at=T - H),
        ]
        case = new(1, dutch=7)
        assert suggest("sup", case, history, agents, ROUTING, now=T) == (
            "ann",
            "eve",
            "dan",
        )
        assert suggest("sup", case, history, agents, ROUTING, now=T, limit=1) == (
            "ann",
        )


class TestBulk:
    def test_maximum_coverage_beats_greedy(self) -> None:
        """Greedy gives the all-rounder the urgent case; the flow covers both."""
        cases = [new(1, "urgent", dutch=5), new(2, "low", dutch=5, networking=5)]
        agents = [
            Agent(
                id="allround", qualifications={"dutch": 5, "networking": 5}, capacity=1
            ),
            Agent(id="dutch", qualifications={"dutch": 9}, capacity=1),
        ]
        result = assign_bulk(cases, agents, ROUTING, now=T, by=SUP)
        assert (result.greedy_coverage, result.coverage) == (1, 2)
        assert {(a.case_id, a.agent) for a in result.assignments} == {
            ("c1", "dutch"),
            ("c2", "allround"),
        }

    def test_refusals_say_why(self) -> None:
        """A case no agent can take names the missing level; a full pool says so."""
        agents = [Agent(id="ann", qualifications={"dutch": 6}, capacity=1)]
        result = assign_bulk(
            [new(1, dutch=7), new(2, "urgent"), new(3)], agents, ROUTING, now=T, by=SUP
        )
        reasons = {u.case_id: u.reason for u in result.unassigned}
        assert reasons == {
            "c1": "no available agent has dutch >= 7 (the best has 6)",
            "c3": "all 1 qualified agents are at capacity",
        }
        c1 = result.unassigned[0]
        assert (c1.qualified_agents, c1.agents) == (0, 1)
        assert [(r.qualification, r.required, r.held) for r in c1.requirements] == [
            ("dutch", 7, 6)
        ]
        nobody = assign_bulk([new(1, dutch=7)], [], ROUTING, now=T, by=SUP)
        assert nobody.unassigned[0].reason == "no agent is available"

    def test_bulk_reasons_carry_the_agent_rating(self) -> None:
        """A bulk decision names the rating of the agent it chose."""
        agents = [Agent(id="ann", qualifications={"dutch": 7}, capacity=1)]
        (done,) = assign_bulk(
            [new(1, dutch=5)], agents, ROUTING, now=T, by=SUP
        ).assignments
        assert done.method == "bulk"
        assert done.qualifications[0].held == 7
        assert done.reasons[0] == "qualified: dutch 7 >= 5"

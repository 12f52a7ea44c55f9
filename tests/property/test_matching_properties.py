"""Property tests for pull and bulk assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.matching import (
    Agent,
    Qualification,
    QualificationCatalog,
    Routing,
    assign_bulk,
    pull,
)
from escalate.model import Actor, Case

T = datetime(2026, 11, 23, 9, tzinfo=UTC)
QUALS = ["a", "b", "c"]
ROUTING = Routing(
    queue_user="queue", catalog=QualificationCatalog([Qualification(q) for q in QUALS])
)

levels = st.dictionaries(st.sampled_from(QUALS), st.integers(1, 10), max_size=3)
case_lists = st.lists(
    st.tuples(
        st.sampled_from(["low", "high", "urgent"]),
        st.dictionaries(st.sampled_from(QUALS), st.sampled_from([2, 5]), max_size=2),
        st.integers(0, 300),
    ),
    max_size=8,
)
agent_lists = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(QUALS), st.sampled_from([2, 5, 9]), max_size=3),
        st.integers(0, 2),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)


def build(cs: list, ags: list) -> tuple[list[Case], list[Agent]]:
    cases = [
        ROUTING.route_new(
            Case(
                id=f"c{i}",
                number=str(i),
                priority=p,
                requirements=r,
                created_at=T - timedelta(minutes=m),
            )
        )
        for i, (p, r, m) in enumerate(cs)
    ]
    agents = [
        Agent(id=f"a{i}", qualifications=q, capacity=cap, available=av)
        for i, (q, cap, av) in enumerate(ags)
    ]
    return cases, agents


def qualified(agent: Agent, case: Case) -> bool:
    return all(
        agent.qualifications.get(n, 0) >= v for n, v in case.requirements.items()
    )


def brute_max(cases: list[Case], agents: list[Agent]) -> int:
    pool = [a for a in agents if a.available]

    def go(i: int, room: tuple[int, ...]) -> int:
        if i == len(cases):
            return 0
        best = go(i + 1, room)
        for k, a in enumerate(pool):
            if room[k] > 0 and qualified(a, cases[i]):
                best = max(
                    best, 1 + go(i + 1, (*room[:k], room[k] - 1, *room[k + 1 :]))
                )
        return best

    return go(0, tuple(a.capacity for a in pool))


class TestMatchingProperties:
    @settings(max_examples=200, deadline=None)
    @given(
        case_lists,
        agent_lists,
        st.dictionaries(st.sampled_from(["a0", "a1", "a2"]), st.integers(0, 2)),
    )
    def test_pull_is_qualified_and_within_capacity(
        self, cs: list, ags: list, open_counts: dict
    ) -> None:
        """Pull never assigns to an unqualified agent or beyond free capacity."""
        cases, agents = build(cs, ags)
        by_id = {c.id: c for c in cases}
        for agent in agents:
            result = pull(agent, cases, ROUTING, now=T, open_counts=open_counts)
            assert len(result.assignments) <= max(
                0, agent.capacity - open_counts.get(agent.id, 0)
            )
            for a in result.assignments:
                assert agent.available
                assert qualified(agent, by_id[a.case_id])

    @settings(max_examples=400, deadline=None)
    @given(case_lists, agent_lists)
    def test_bulk_reaches_the_maximum(self, cs: list, ags: list) -> None:
        """Bulk assignment covers as many cases as a brute-force maximum, validly."""
        cases, agents = build(cs, ags)
        result = assign_bulk(cases, agents, ROUTING, now=T, by=Actor("sup"))
        assert result.coverage == brute_max(cases, agents)
        assert result.coverage >= result.greedy_coverage
        by_agent: dict[str, int] = {}
        by_id = {a.id: a for a in agents}
        cases_by_id = {c.id: c for c in cases}
        for a in result.assignments:
            by_agent[a.agent] = by_agent.get(a.agent, 0) + 1
            assert by_id[a.agent].available
            assert qualified(by_id[a.agent], cases_by_id[a.case_id])
        assert all(n <= by_id[agent].capacity for agent, n in by_agent.items())
        assert len(result.assignments) + len(result.unassigned) == len(cases)

    @settings(max_examples=200, deadline=None)
    @given(case_lists, agent_lists)
    def test_reasons_agree_with_the_decisions(self, cs: list, ags: list) -> None:
        """The reasons as data say what a brute-force check says: each
        assignment's requirements hold the chosen agent's ratings and are met; a
        case left for want of a qualified agent has none, and one left with
        qualified agents has them all at capacity; an empty pull's "missing"
        names only requirements the agent falls short of."""
        cases, agents = build(cs, ags)
        pool = [a for a in agents if a.available]
        by_id = {a.id: a for a in agents}
        cases_by_id = {c.id: c for c in cases}
        result = assign_bulk(cases, agents, ROUTING, now=T, by=Actor("sup"))
        for a in result.assignments:
            agent = by_id[a.agent]
            assert [r.qualification for r in a.qualifications] == sorted(
                cases_by_id[a.case_id].requirements
            )
            for r in a.qualifications:
                assert r.met
                assert r.held == agent.qualifications.get(r.qualification)
        for u in result.unassigned:
            fit = [a for a in pool if qualified(a, cases_by_id[u.case_id])]
            assert u.qualified_agents == len(fit)
            for r in u.requirements:
                best = max(
                    (
                        a.qualifications[r.qualification]
                        for a in pool
                        if r.qualification in a.qualifications
                    ),
                    default=None,
                )
                assert r.held == best
        for agent in pool:
            empty = pull(agent, cases, ROUTING, now=T)
            if empty.assignments or not empty.considered or not agent.capacity:
                continue
            assert empty.missing
            for r in empty.missing:
                assert not r.met
                assert any(
                    c.requirements.get(r.qualification) == r.required for c in cases
                )

    @settings(max_examples=150, deadline=None)
    @given(case_lists, agent_lists, st.randoms(use_true_random=False))
    def test_independent_of_input_order(self, cs: list, ags: list, rnd: Any) -> None:
        """Shuffling the cases and agents changes nothing."""
        cases, agents = build(cs, ags)
        first = assign_bulk(cases, agents, ROUTING, now=T, by=Actor("sup"))
        rnd.shuffle(cases)
        rnd.shuffle(agents)
        again = assign_bulk(cases, agents, ROUTING, now=T, by=Actor("sup"))
        assert [(a.case_id, a.agent) for a in again.assignments] == [
            (a.case_id, a.agent) for a in first.assignments
        ]
        for agent in agents:
            assert [
                a.case_id for a in pull(agent, cases, ROUTING, now=T).assignments
            ] == [
                a.case_id
                for a in pull(agent, list(reversed(cases)), ROUTING, now=T).assignments
            ]

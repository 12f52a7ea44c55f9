"""The Escalator's routing: who handles a case (seed 004, 1CRM), through the
store, each decision in one transaction.

* A new case without an owner goes to the default queue user (``add_case``).
* The waiting cases are the queue user's open cases in *Active – New*.
* An agent pulls the best matching ones; a supervisor assigns in bulk; a person
  assigns by hand, and those manual assignments are kept (an
  :class:`~escalate.ports.AssignmentLog`) so that :meth:`suggest` works from
  the store.

The decisions are :mod:`escalate.matching`'s; this part reads what they need
from the store and writes what they decide (history, follow-up, next due).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from escalate._engine_base import _Engine
from escalate.errors import ConfigError, InvalidOperation, WrongTypeError
from escalate.history import apply_change
from escalate.matching import (
    Agent,
    Assignment,
    AssignmentRecord,
    BulkResult,
    PullResult,
    Routing,
    assign_bulk,
    assign_manually,
    pull,
    suggest,
)
from escalate.model import Actor, Case, Status

_log: Final = logging.getLogger("escalate.engine")

SUGGESTION_WINDOW: Final = 200
"""How many of an assigner's latest manual assignments suggestions look at."""


class _Assigning(_Engine):
    """Routing and assignment (a part of :class:`~escalate.engine.Escalator`)."""

    routing: Routing | None
    agents: dict[str, Agent]

    def _route_new(self, case: Case) -> Case:
        """A new case without an owner goes to the default queue user, in
        *Active – New* when it is new (status New or Active – New); a case
        created in another status keeps it."""
        if self.routing is None or case.owner is not None:
            return case
        if case.status.name in (Status.NEW.name, Status.ACTIVE_NEW.name):
            return self.routing.route_new(case)
        return attrs.evolve(case, owner=self.routing.queue_user)

    def _require_routing(self, what: str) -> Routing:
        if self.routing is None:
            raise InvalidOperation(
                f"{what}: no routing configured; give the Escalator routing= (a "
                "Routing, or [assignment] in the configuration)"
            )
        return self.routing

    def _agent(self, agent: Agent | str) -> Agent:
        if isinstance(agent, Agent):
            return agent
        if not isinstance(agent, str):
            raise WrongTypeError(
                f"agent: expected an Agent or an agent id, got {agent!r}"
            )
        try:
            return self.agents[agent]
        except KeyError:
            raise ConfigError(
                f"agent: no agent {agent!r}; known: {sorted(self.agents)}"
            ) from None

    def waiting_cases(self) -> list[Case]:
        """The cases waiting for an agent: open, owned by the default queue user,
        in *Active – New*; by id."""
        queue = self._require_routing("waiting_cases").queue_user
        out: list[Case] = []
        after = None
        while batch := self.store.owned_cases(
            queue, status=Status.ACTIVE_NEW.name, after=after, limit=self.batch
        ):
            out.extend(batch)
            after = batch[-1].id
        return out

    def pull(self, agent: Agent | str) -> PullResult:
        """The best waiting cases the agent is qualified for, up to its free
        capacity (capacity − open cases it owns in the store), assigned to it
        with status *Active – Assigned*, at the clock's now, in one transaction.

        Args:
            agent: An agent id (from ``agents=``), or an :class:`Agent` value
                (its availability and ratings as your CRM knows them now).
        """
        routing = self._require_routing("pull")
        chosen = self._agent(agent)
        with self.store.transaction():
            now = self.clock.now()
            result = pull(
                chosen,
                self.waiting_cases(),
                routing,
                now=now,
                open_counts=self.store.open_counts([chosen.id]),
            )
            for assignment in result.assignments:
                self._apply(assignment)
        _logged(result.assignments)
        return result

    def assign_bulk(
        self, *, by: Actor, agents: Iterable[Agent] | None = None
    ) -> BulkResult:
        """Assign as many waiting cases as possible to the available agents
        (``agents``, default those given to the Escalator) within their free
        capacities, in one transaction (:func:`escalate.matching.assign_bulk`)."""
        routing = self._require_routing("assign_bulk")
        pool = list(self.agents.values() if agents is None else agents)
        with self.store.transaction():
            now = self.clock.now()
            result = assign_bulk(
                self.waiting_cases(),
                pool,
                routing,
                now=now,
                by=by,
                open_counts=self.store.open_counts([a.id for a in pool]),
            )
            for assignment in result.assignments:
                self._apply(assignment)
        _logged(result.assignments)
        return result

    def assign(self, case_id: str, agent: str, *, by: Actor) -> Assignment:
        """Assign a case by hand: the owner changes, the status does not (seed
        004: the person sets *Active – Assigned* themselves). The assignment is
        kept for :meth:`suggest`.

        Raises:
            NotFound: No such case.
            ConfigError: ``agent`` is not a known agent or user (when the
                Escalator knows its agents or addresses).
        """
        if not isinstance(by, Actor):
            raise WrongTypeError(f"by: expected an Actor, got {by!r}")
        known = set(self.agents) | set(self.addresses)
        if not isinstance(agent, str) or not agent or (known and agent not in known):
            raise ConfigError(
                f"agent: expected a known agent or user, one of {sorted(known)}, "
                f"got {agent!r}"
            )
        with self.store.transaction():
            now = self.clock.now()
            assignment = assign_manually(
                self.store.get_case(case_id), agent, by=by, now=now
            )
            self._apply(assignment)
            self.store.record_assignment(
                AssignmentRecord(assigner=by.id, agent=agent, case_id=case_id, at=now)
            )
        _logged([assignment])
        return assignment

    def suggest(
        self, case_id: str, *, assigner: str, limit: int = 5
    ) -> tuple[str, ...]:
        """Agents to suggest to ``assigner`` for a case: from their own latest
        manual assignments (the last :data:`SUGGESTION_WINDOW`), most recent
        first, distinct, only agents available and qualified for the case now."""
        routing = self._require_routing("suggest")
        case = self.store.get_case(case_id)
        return suggest(
            assigner,
            case,
            self.store.assignments_by(assigner, limit=SUGGESTION_WINDOW),
            self.agents.values(),
            routing,
            now=self.clock.now(),
            limit=limit,
        )

    def _apply(self, assignment: Assignment) -> None:
        """Write an assignment: history, follow-up lines, the case and its next
        due. A case changed since it was read is a ConflictError from the store
        (and the whole transaction rolls back)."""
        change = apply_change(
            self._file(assignment.before),
            assignment.changes,
            by=assignment.by,
            at=assignment.at,
        )
        self._write(change)
        self._save_case(change.file.case)


def _logged(assignments: Sequence[Assignment]) -> None:
    """Log each assignment once its transaction has committed."""
    for a in assignments:
        _log.info(
            "case %s assigned to %s (%s, by %s)",
            a.case_id,
            a.agent,
            a.method,
            a.by.id,
            extra={"case_id": a.case_id, "agent": a.agent, "method": a.method},
        )

"""Escalation rules (seed 000) and the evaluator that turns them into due actions.

A :class:`RuleBook` is immutable data: the escalation scheduler switch, named
:class:`Rule` s of which at most one is active, each an ordered list of
:class:`RuleItem` s (criteria, business hours, a time basis and an action ladder),
and the Pending → Expired :class:`ExpiryPolicy`. Every change takes an
:class:`~escalate.model.Actor` with the permission ``configure case escalation``
and returns a new book with ``version + 1``.

The evaluator is pure: :func:`evaluate` says what governs one case at an instant
and why; :func:`due_actions` yields, for many cases, the :class:`DueAction` s that
are due and not yet done, in a deterministic order; a :class:`RulePass` gives the
same tick after tick, finding again only what changed. Nothing here sends mail or
writes anything.

Invariants:

* Items are tried in order; the first whose criteria match governs the case.
* An action is due iff ``now >= basis`` and ``hours.elapsed(basis, now) >=
  after`` (``after == 0`` is due at the basis itself).
* Each action fires once per case and basis: its idempotency key is built from
  (case id, item id, action id, basis instant) and nothing else. Every item and
  every action has an explicit id (refused without one), so reordering items,
  inserting items or steps, renaming, or changing criteria, templates or a
  step's ``after`` re-fires nothing; a new basis (``MODIFIED``) arms the ladder
  again.
* Closed cases, a switched-off scheduler or no active rule: nothing escalates.
  The expiry policy is separate (it has its own switch) and applies to open cases.
"""

from escalate._criteria import Operator
from escalate._rules_book import (
    ActionKind,
    Condition,
    ConditionResult,
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    TimeBasis,
)
from escalate._rules_due import DueAction, due_actions
from escalate._rules_explain import (
    Evaluation,
    Explanation,
    ItemTrial,
    StepStatus,
    Verdict,
    evaluate,
    step_label,
)
from escalate._rules_pass import RulePass

__all__ = [
    "ActionKind",
    "Condition",
    "ConditionResult",
    "DueAction",
    "EscalationAction",
    "Evaluation",
    "ExpiryPolicy",
    "Explanation",
    "ItemTrial",
    "Operator",
    "Rule",
    "RuleBook",
    "RuleItem",
    "RulePass",
    "StepStatus",
    "TimeBasis",
    "Verdict",
    "due_actions",
    "evaluate",
    "step_label",
]

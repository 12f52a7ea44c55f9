"""The chain of a case's SLA events: each event's hash covers the one before,
and the head (count, last hash) is kept apart from the events, as a case
history's is (``docs/history.md``), so that an audit finds an event edited,
removed or added outside escalate, and a checkpoint one rewritten with its head.

A store keeps no hash beside each event: the head is the fold of the events in
the order appended, and a check folds them again. Back-dating stays possible
through the front door (a CRM may report an event late, ``Escalator.record``);
what the chain adds is that what was recorded stays as recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Final

import attrs

from escalate._history_chain import GENESIS, Problem, Verification
from escalate._sla_values import SlaEvent
from escalate.errors import WrongTypeError

SLA_ENCODING_VERSION: Final = 1


def sla_event_hash(prev: str, case_id: str, seq: int, event: SlaEvent) -> str:
    """The hash of a case's ``seq``-th SLA event after ``prev``: SHA-256 (hex)
    of the UTF-8 JSON object ``{"at", "case", "kind", "prev", "seq", "v",
    "value"}``, keys sorted, no spaces: the instant in µs since the epoch, the
    case id, the kind's text, the previous hash (64 zeros for the first), the
    number from 1, the encoding version (1) and the value (or null)."""
    # The text of json.dumps(document, sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False), written out (an audit hashes every stored event).
    value = "null" if event.value is None else _string(event.value)
    text = (
        f'{{"at":{int(event._us)},"case":{_string(case_id)},'
        f'"kind":{_string(event.kind.value)},"prev":{_string(prev)},'
        f'"seq":{int(seq)},"v":{SLA_ENCODING_VERSION},"value":{value}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


_string: Final = json.encoder.encode_basestring


@attrs.frozen
class SlaHead:
    """Where a case's chain of SLA events ends: its case, event count and last
    hash (``GENESIS`` for none)."""

    case_id: str
    count: int = 0
    hash: str = GENESIS

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.case_id, str):
            raise WrongTypeError(f"case_id: expected text, got {self.case_id!r}")
        if type(self.count) is not int or self.count < 0:
            raise WrongTypeError(f"count: expected 0 or more, got {self.count!r}")
        if not isinstance(self.hash, str) or len(self.hash) != 64:
            raise WrongTypeError(
                f"hash: expected 64 hex digits (SHA-256), got {self.hash!r}"
            )

    def after(self, events: Sequence[SlaEvent]) -> SlaHead:
        """The head once ``events`` are appended."""
        count, digest = self.count, self.hash
        for event in events:
            count += 1
            digest = sla_event_hash(digest, self.case_id, count, event)
        return SlaHead(self.case_id, count, digest)


def verify_sla(
    events: Sequence[SlaEvent], head: SlaHead, *, since: str | None = None
) -> Verification:
    """Check a case's SLA events (as stored, in order) against ``head``: the
    first ``head.count`` of them must give its hash, and there must be no more,
    unless ``head`` is a checkpoint's (``since``: its instant, as text), which a
    store may extend."""
    case_id, count = head.case_id, len(events)
    after = "" if since is None else f" (since the checkpoint of {since})"

    def broken(problem: Problem, reason: str) -> Verification:
        return Verification(
            ok=False,
            case_id=case_id,
            count=count,
            problem=problem,
            reason=f"SLA events: {reason}{after}",
        )

    if count < head.count:
        return broken(
            Problem.REMOVED,
            f"{head.count} by their head, {count} stored: events were removed",
        )
    if SlaHead(case_id).after(events[: head.count]).hash != head.hash:
        return broken(
            Problem.EDITED,
            f"the first {head.count} no longer give their head's hash: an event "
            "was changed, removed or replaced",
        )
    if count > head.count and since is None:
        return broken(
            Problem.INSERTED,
            f"{count} stored, {head.count} by their head: events were added "
            "outside escalate",
        )
    return Verification(ok=True, case_id=case_id, count=count)

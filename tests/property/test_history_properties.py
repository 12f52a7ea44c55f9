"""Property tests for the history chain and follow-up durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.errors import InvalidOperation, PermissionDenied
from escalate.history import (
    FollowUpKind,
    HistoryAction,
    HistoryEntry,
    add_line,
    apply_change,
    create_case,
    delete_line,
    expire,
    log_message,
    verify,
)
from escalate.model import Actor, Case, Status

T = datetime(2026, 11, 23, 9, tzinfo=UTC)
PEOPLE = [
    Actor("ann"),
    Actor("bob"),
    Actor("boss", permissions={"delete follow-up lines"}),
]
STATUSES = [Status.ACTIVE_NEW, Status.ACTIVE_ASSIGNED, Status.PENDING, Status.CLOSED]

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("change"),
            st.sampled_from(["priority", "owner", "status", "medium", "solution"]),
            st.integers(0, 3),
        ),
        st.tuples(
            st.just("line"),
            st.sampled_from(PEOPLE),
            st.one_of(st.none(), st.integers(0, 120)),
        ),
        st.tuples(st.just("delete"), st.sampled_from(PEOPLE), st.integers(0, 30)),
        st.tuples(
            st.just("mail"),
            st.sampled_from([FollowUpKind.EMAIL_TO_CUSTOMER, FollowUpKind.FAX_SENT]),
            st.just(0),
        ),
        st.tuples(st.just("expire"), st.just(None), st.just(0)),
    ),
    max_size=25,
)


def run(
    operations: list[tuple[Any, Any, Any]],
) -> tuple[list[HistoryEntry], Any, dict[int, timedelta]]:
    """Apply the operations; return the entries, the final file and a model of
    the live manual durations (line seq -> duration)."""
    change = create_case(
        Case(id="c1", number="C-1", created_at=T, status=Status.ACTIVE_NEW),
        by=PEOPLE[0],
    )
    entries = list(change.entries)
    f = change.file
    durations: dict[int, timedelta] = {}
    for i, (op, a, b) in enumerate(operations):
        at = T + timedelta(minutes=i + 1)
        try:
            if op == "change":
                value = {
                    "priority": ["low", "high", "urgent", None][b],
                    "owner": ["ann", "bob", None, "kim"][b],
                    "status": STATUSES[b],
                    "solution": ["fixed", "rebooted", "", "replaced"][b],
                }.get(a)
                changes = (
                    {"fields": {"medium": ["phone", "mail", None, "chat"][b]}}
                    if a == "medium"
                    else {a: value}
                )
                change = apply_change(f, changes, by=PEOPLE[b % 3], at=at)
            elif op == "line":
                duration = None if b is None else timedelta(minutes=b)
                change = add_line(f, f"remark {i}", by=a, at=at, duration=duration)
                if duration is not None:
                    durations[change.lines[0].seq] = duration
            elif op == "delete":
                manual = [
                    line for line in f.live_lines if line.kind is FollowUpKind.MANUAL
                ]
                if not manual:
                    continue
                line = manual[b % len(manual)]
                change = delete_line(f, line.seq, by=a, at=at)
                durations.pop(line.seq, None)
            elif op == "mail":
                change = log_message(f, a, "sent", at=at)
            elif f.case.status == Status.PENDING:
                change = expire(f, at=at)
            else:
                continue
        except (PermissionDenied, InvalidOperation):  # refusals are part of the game
            continue
        entries += change.entries
        f = change.file
    return entries, f, durations


class TestChainProperties:
    @settings(max_examples=150, deadline=None)
    @given(ops)
    def test_chain_always_verifies(self, operations: list) -> None:
        """Whatever happens to a case, its history chain verifies against its head."""
        entries, f, _ = run(operations)
        assert verify(entries, head=f.head).ok
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert {e.action for e in entries} <= set(HistoryAction)

    @settings(max_examples=150, deadline=None)
    @given(ops)
    def test_duration_is_the_sum_of_live_manual_durations(
        self, operations: list
    ) -> None:
        """The case's duration equals the sum of its live manual lines' durations."""
        _, f, durations = run(operations)
        assert f.duration == sum(durations.values(), timedelta(0))

    @settings(max_examples=300, deadline=None)
    @given(ops, st.data())
    def test_any_single_tampering_is_found_where_it_starts(
        self, operations: list, data: st.DataObject
    ) -> None:
        """Edit, drop, swap, insert or cut: verify(head=...) names the first
        position that differs."""
        entries, f, _ = run(operations)
        n = len(entries)
        kind = data.draw(st.sampled_from(["edit", "drop", "swap", "insert", "cut"]))
        i = data.draw(st.integers(0, n - 1))
        tampered = list(entries)
        if kind == "edit":
            field = data.draw(st.sampled_from(["actor", "at", "details", "action"]))
            value = {
                "actor": "mallory",
                "at": entries[i].at + timedelta(seconds=1),
                "details": {"forged": True},
                "action": HistoryAction.CASE_CLOSED
                if entries[i].action is not HistoryAction.CASE_CLOSED
                else HistoryAction.CASE_MODIFIED,
            }[field]
            tampered[i] = attrs.evolve(entries[i], **{field: value})
        elif kind == "drop":
            del tampered[i]
        elif kind == "swap":
            if n < 2:
                return
            i = min(i, n - 2)
            tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
        elif kind == "insert":
            tampered.insert(i, entries[data.draw(st.integers(0, n - 1))])
        else:
            del tampered[i:]
        first = next(
            (k + 1 for k in range(min(len(tampered), n)) if tampered[k] != entries[k]),
            min(len(tampered), n) + 1,
        )
        result = verify(tampered, head=f.head)
        assert not result.ok
        assert result.seq == first, (kind, result)

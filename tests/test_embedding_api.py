"""What a CRM does through the Escalator without reaching into the store."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from escalate.adapters.memory import MemoryStore
from escalate.adapters.sqlite import SqliteStore
from escalate.errors import (
    ConfigError,
    InvalidOperation,
    NotFound,
    PermissionDenied,
    WrongTypeError,
)
from escalate.history import DocumentKind, FollowUpKind, Problem
from escalate.model import Actor, Case, Permission, Status
from escalate.timers import ManualClock
from tests.test_engine import T0, case, escalator

ANN, BOB = Actor("ann"), Actor("bob")


@pytest.fixture(params=["memory", "sqlite"])
def esc(request: pytest.FixtureRequest, tmp_path: object) -> object:
    store = (
        MemoryStore() if request.param == "memory" else SqliteStore(f"{tmp_path}/s.db")
    )
    e = escalator(store, ManualClock(T0))
    e.add_case(case(), by=ANN, registration_confirmation="We received your case.")
    return e


def test_lines_history_and_verify(esc: object) -> None:
    e = esc  # type: ignore[assignment]
    line = e.add_line(
        "c1", "Called the customer", by=ANN, duration=timedelta(minutes=20)
    )
    assert (line.kind, line.author, line.duration) == (
        FollowUpKind.MANUAL,
        "ann",
        timedelta(minutes=20),
    )
    assert [x.kind for x in e.lines("c1")] == [
        FollowUpKind.CASE_CREATED,
        FollowUpKind.REGISTRATION_CONFIRMATION,
        FollowUpKind.MANUAL,
    ]
    with pytest.raises(PermissionDenied, match="'bob' lacks"):
        e.delete_line("c1", line.seq, by=BOB)
    e.delete_line("c1", line.seq, by=ANN)
    assert e.deleted_lines("c1") == {line.seq}
    with pytest.raises(InvalidOperation, match="deleted already"):
        e.delete_line(
            "c1",
            line.seq,
            by=Actor("boss", permissions={Permission.DELETE_FOLLOW_UP_LINES}),
        )
    with pytest.raises(InvalidOperation, match="written by the library"):
        e.delete_line("c1", 1, by=ANN)
    assert [h.action.value for h in e.history("c1")][-1] == "follow-up line deleted"
    assert e.verify("c1").ok


def test_a_failed_line_leaves_nothing(esc: object) -> None:
    e = esc  # type: ignore[assignment]
    before = (e.lines("c1"), e.history("c1"))
    with pytest.raises(ConfigError, match="needs a remark"):
        e.add_line("c1", " ", by=ANN, duration=timedelta(minutes=5))
    assert (e.lines("c1"), e.history("c1")) == before


def test_closing_by_status_name_with_a_confirmation(esc: object) -> None:
    e = esc  # type: ignore[assignment]
    closed = e.update_case(
        "c1", {"status": "closed"}, by=ANN, closing_confirmation="Solved."
    )
    assert closed.status == Status.CLOSED
    assert e.lines("c1")[-1].kind is FollowUpKind.CLOSING_CONFIRMATION
    reopened = e.update_case("c1", {"status": "Active - New"}, by=ANN)
    assert reopened.status == Status.ACTIVE_NEW
    with pytest.raises(ConfigError, match=r"expected one of \['New', .*got 'Clsoed'"):
        e.update_case("c1", {"status": "Clsoed"}, by=ANN)


def test_documents_and_the_work_list(esc: object) -> None:
    e = esc  # type: ignore[assignment]
    doc = e.escalate_to_document("c1", DocumentKind.COMPLAINT, by=ANN)
    changed = e.update_document(doc.number, status="In progress", handler="bob")
    assert e.documents("c1") == [changed]
    (row,) = e.work_list("c1")
    assert (row.document_number, row.status, row.handler) == (
        doc.number,
        "In progress",
        "bob",
    )
    with pytest.raises(ConfigError, match="unknown fields"):
        e.update_document(doc.number, owner="x")


def test_add_case_refuses_what_is_not_a_case(esc: object) -> None:
    with pytest.raises(WrongTypeError, match="expected a Case"):
        esc.add_case({"id": "c2"}, by=ANN)  # type: ignore[attr-defined]


def test_verify_reports_a_cut_history(tmp_path: object) -> None:
    store = SqliteStore(f"{tmp_path}/s.db")
    e = escalator(store, ManualClock(T0))
    e.add_case(Case(id="c1", number="C-1", created_at=T0), by=ANN)
    e.update_case("c1", {"priority": "high"}, by=ANN)
    store._db.execute("DROP TRIGGER history_no_delete")
    store._db.execute("DELETE FROM history WHERE case_id = 'c1' AND seq = 2")
    result = e.verify("c1")
    assert (result.ok, result.problem) == (False, Problem.TRUNCATED)


def test_find_a_case_by_id_or_number(esc: object) -> None:
    """An id wins; else the number people see; several cases with one number
    are named, not guessed between."""
    e = esc  # type: ignore[assignment]
    assert e.find_case("c1").id == "c1"
    assert e.find_case(e.find_case("c1").number).id == "c1"
    e.add_case(attrs.evolve(case(2), number="C-7"), by=ANN)
    e.add_case(attrs.evolve(case(3), number="C-7"), by=ANN)
    with pytest.raises(ConfigError, match=r"the number 'C-7' names 2 cases \(c2, c3\)"):
        e.find_case("C-7")
    with pytest.raises(NotFound, match="no case has the id or number 'C-9'"):
        e.find_case("C-9")

"""The Escalator's case files: what a CRM reads and writes beside the case itself
(follow-up lines, the history and its verification, escalation documents and the
work list), each through the store in one transaction, under the core's rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from escalate._engine_base import _Engine
from escalate.errors import ConfigError, NotFound
from escalate.history import (
    EscalationDocument,
    FollowUpLine,
    HistoryEntry,
    Verification,
    WorkListRow,
    add_line,
    delete_line,
    update_document,
    verify,
    work_list,
)
from escalate.model import Actor, Case


class _CaseFiles(_Engine):
    """Follow-up, history and documents (a part of
    :class:`~escalate.engine.Escalator`)."""

    def find_case(self, ref: str) -> Case:
        """The case whose id is ``ref``, else the one whose number (the number
        people see, ``C-1042``) is ``ref``; an id wins over a number.

        Raises:
            NotFound: No case has that id or number.
            ConfigError: Several cases have that number (their ids are listed).
        """
        if not isinstance(ref, str) or not ref:
            raise ConfigError(f"case: expected a case id or number, got {ref!r}")
        try:
            return self.store.get_case(ref)
        except NotFound:
            ids = self.store.case_ids_by_number(ref)
        if not ids:
            raise NotFound(f"no case has the id or number {ref!r}")
        if len(ids) > 1:
            raise ConfigError(
                f"case: the number {ref!r} names {len(ids)} cases ({', '.join(ids)}); "
                "give the id"
            )
        return self.store.get_case(ids[0])

    def add_line(
        self,
        case_id: str,
        text: str,
        *,
        by: Actor,
        duration: timedelta | None = None,
    ) -> FollowUpLine:
        """An agent's follow-up line on a stored case, at the clock's now; a
        ``duration`` (with a remark) adds to the case's time.

        Raises:
            NotFound: No such case.
            ConfigError: A duration without a remark, or a negative one.
        """
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            change = add_line(file, text, by=by, at=self.clock.now(), duration=duration)
            self._write(change)
        return change.lines[-1]

    def delete_line(self, case_id: str, line_seq: int, *, by: Actor) -> None:
        """Delete a manual line (by its author, or an actor with ``delete
        follow-up lines``): a marker and a history entry; the line stays.

        Raises:
            InvalidOperation: The line is automatic, or deleted already.
            PermissionDenied: ``by`` may not delete it.
        """
        with self.store.transaction():
            file = self._file(self.store.get_case(case_id))
            self._write(delete_line(file, line_seq, by=by, at=self.clock.now()))

    def lines(self, case_id: str) -> list[FollowUpLine]:
        """The case's follow-up lines, in order (deleted ones too; see
        :meth:`deleted_lines`)."""
        return self.store.lines(case_id)

    def deleted_lines(self, case_id: str) -> frozenset[int]:
        """The numbers of the case's deleted follow-up lines."""
        return frozenset(d.line_seq for d in self.store.deletions(case_id))

    def history(self, case_id: str) -> list[HistoryEntry]:
        """The case's history entries, in order."""
        return self.store.history(case_id)

    def verify(self, case_id: str) -> Verification:
        """Check the case's history chain against its stored head."""
        return verify(
            self.store.history(case_id), head=self.store.history_head(case_id)
        )

    def documents(self, case_id: str) -> list[EscalationDocument]:
        """The complaints, service reports and actions the case escalated into."""
        return self.store.documents(case_id)

    def update_document(self, number: str, **changes: Any) -> EscalationDocument:
        """Change a document's status, handler, priority or description; returns
        it as stored."""
        with self.store.transaction():
            document = update_document(self.store.get_document(number), **changes)
            self.store.save_document(document)
        return document

    def work_list(self, case_id: str) -> Sequence[WorkListRow]:
        """The case's escalation work list: a row per document, in time order."""
        return work_list(self.store.get_case(case_id), self.store.documents(case_id))

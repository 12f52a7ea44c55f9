"""A tick's due items taken in batches: every :data:`PER_COMMIT` of them one
transaction, each a savepoint of it, retried at once when another writer got
there first (a part of :class:`~escalate.engine.Escalator`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

from escalate._engine_base import _Engine
from escalate.errors import ConflictError, EscalateError
from escalate.ports import Quarantined

_log: Final = logging.getLogger("escalate.engine")
_T = TypeVar("_T")

QUARANTINE_FIRST: Final = timedelta(minutes=1)
"""How long a case, lead or task that failed is put aside the first time (each
failure in a row doubles it, up to :data:`QUARANTINE_MAX`)."""
QUARANTINE_MAX: Final = timedelta(hours=1)
"""The longest a failing item is put aside."""
_MAX_ERROR: Final = 2_000  # characters of an error kept with an item put aside
TICK_ATTEMPTS: Final = 3
"""How often a tick tries a due case, lead or task that another writer changed
meanwhile before it reports it (and leaves it for the next tick)."""
PER_COMMIT: Final = 50
"""How many due cases (leads, tasks) a tick handles in one transaction, each in
a savepoint of it. Cases committed together share the pages their writes touch
(a commit per case wrote them all each time), while the write lock (SQLite) or
the cases' row locks (PostgreSQL) are held for ~8 ms, and a PostgreSQL
transaction stays within the 64 subtransactions (one per savepoint that writes)
its snapshots can track without overflowing to disk."""


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


class _DueBatches(_Engine):
    """Due items in batches (a part of :class:`~escalate.engine.Escalator`)."""

    def _each_due(
        self,
        read: Callable[..., Sequence[_Identified]],
        handle: Callable[[str, datetime], list[_T] | None],
        now: datetime,
        errors: list[tuple[str, str]],
        kind: str = "case",
    ) -> tuple[int, list[_T]]:
        """Handle each item ``read(now, limit=batch)`` gives, once, in batches,
        until none is due. Every :data:`PER_COMMIT` items of a batch are one
        transaction, each item a savepoint of it: a failure undoes that item
        alone, goes into ``errors``, and the rest goes on; what a transaction
        carried out is logged and counted once it committed (one whose commit
        fails leaves nothing, and each of its items is an error). ``handle``
        returns None for an item it did not take (no longer due, or taken by
        another worker). Returns how many were handled, and what ``handle``
        returned."""
        done: list[_T] = []
        seen: set[str] = set()
        handled = 0
        while True:
            batch = [x for x in read(now, limit=self.batch) if x.id not in seen]
            if not batch:
                return handled, done
            seen.update(x.id for x in batch)
            for i in range(0, len(batch), PER_COMMIT):
                group = batch[i : i + PER_COMMIT]
                results = self._committed_together(group, handle, now, errors, kind)
                handled += len(results)
                for result in results:
                    done += result

    def _committed_together(
        self,
        group: Sequence[_Identified],
        handle: Callable[[str, datetime], list[_T] | None],
        now: datetime,
        errors: list[tuple[str, str]],
        kind: str,
    ) -> list[list[_T]]:
        """Handle ``group`` in one transaction, each item in a savepoint; what
        ``handle`` returned for the items it took, once committed."""
        label = _label(kind)
        results: list[list[_T]] = []
        settled: set[str] = set()  # not taken, or reported as an error
        self._queued, self._after_commit = [], []
        try:
            with self.store.transaction():
                for item in group:
                    result = self._handled_once(handle, item.id, now, errors, kind)
                    if result is None:
                        settled.add(item.id)
                    else:
                        results.append(result)
        except EscalateError as e:  # the transaction could not begin or commit
            for item in group:
                if item.id in settled:
                    continue
                message = f"{label}not committed, left for the next tick: {e}"
                errors.append((item.id, message))
                _log.error("%s: %s", item.id, message, extra={"subject": item.id})
            return []
        self._committed()
        return results

    def _handled_once(
        self,
        handle: Callable[[str, datetime], list[_T] | None],
        item_id: str,
        now: datetime,
        errors: list[tuple[str, str]],
        kind: str,
    ) -> list[_T] | None:
        """``handle``, its failure reported into ``errors`` (then None) and the
        item put aside; the errors of actions it left out reported too."""
        label = _label(kind)
        self._skipped, self._partly = {}, []
        try:
            result = self._with_conflicts_retried(handle, item_id, now)
        except ConflictError as e:
            message = (
                f"{label}changed meanwhile ({TICK_ATTEMPTS} attempts), "
                f"retried next tick: {e}"
            )
            errors.append((item_id, message))
            _log.warning("%s: %s", item_id, message, extra={"subject": item_id})
            return None
        except EscalateError as e:
            errors.append((item_id, f"{label}{e}"))
            _log.error(
                "%s: %s%s (put aside, tried again later)",
                item_id,
                label,
                e,
                extra={"subject": item_id},
            )
            self._put_aside(kind, item_id, now, f"{label}{e}")
            return None
        for message in self._partly:
            errors.append((item_id, f"{label}{message}"))
            _log.error(
                "%s: %s%s (its other actions carried out; put aside)",
                item_id,
                label,
                message,
                extra={"subject": item_id},
            )
        return result

    def _put_aside(self, kind: str, item_id: str, now: datetime, error: str) -> None:
        """Move a failing item's next due instant on, by a backoff that grows
        with each failure in a row (:data:`QUARANTINE_FIRST` doubling up to
        :data:`QUARANTINE_MAX`), so that the due reads move past it; kept in
        the store with its error (``escalate status`` lists it)."""
        try:
            with self.store.savepoint():
                before = self.store.quarantined_item(kind, item_id)
                failures = 1  # in a row: failed again within an hour of its retry
                if before is not None and before.until >= now - QUARANTINE_MAX:
                    failures = before.failures + 1
                until = now + backoff(failures)
                self.store.quarantine(
                    Quarantined(
                        kind=kind,
                        id=item_id,
                        failures=failures,
                        error=error[:_MAX_ERROR],
                        at=now,
                        until=until,
                    )
                )
        except EscalateError as e:  # the store is failing too: the next tick
            _log.error(
                "%s: could not put it aside: %s", item_id, e, extra={"subject": item_id}
            )
            return
        self.metrics.inc("escalate_put_aside_total")
        _log.warning(
            "%s: %s put aside until %s (failure %d in a row)",
            item_id,
            kind,
            until.isoformat(),
            failures,
            extra={
                "subject": item_id,
                "until": until.isoformat(),
                "failures": failures,
            },
        )

    def _with_conflicts_retried(
        self,
        handle: Callable[[str, datetime], list[_T] | None],
        item_id: str,
        now: datetime,
    ) -> list[_T] | None:
        """``handle`` in a savepoint, again while another writer got there
        first (a stale version, a serialization failure, a deadlock: its
        savepoint rolled back, so it starts afresh), at most
        :data:`TICK_ATTEMPTS` times; and again without an action that failed
        (``ActionFailed``: the item's other actions are carried out, that one
        is reported). What a failed attempt queued or left to do after the
        commit is forgotten with it."""
        attempt = 1
        while True:
            queued, after = len(self._queued), len(self._after_commit)
            try:
                with self.store.savepoint():
                    return handle(item_id, now)
            except BaseException as e:
                del self._queued[queued:]
                del self._after_commit[after:]
                if isinstance(e, ActionFailed) and e.key not in self._skipped:
                    self._skipped[e.key] = e.message
                    continue  # once per action: the ladder is finite
                if not isinstance(e, ConflictError) or attempt == TICK_ATTEMPTS:
                    raise
                attempt += 1
                self.metrics.inc("escalate_conflict_retries_total")


class ActionFailed(Exception):
    """One action of a due item could not be carried out (no address, a
    template that does not render): the item is handled again without it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def backoff(failures: int) -> timedelta:
    """How long an item that failed ``failures`` times in a row is put aside."""
    if failures > 20:
        return QUARANTINE_MAX
    wait: timedelta = QUARANTINE_FIRST * 2 ** (failures - 1)
    return min(wait, QUARANTINE_MAX)


def _label(kind: str) -> str:
    return "" if kind == "case" else f"{kind}: "

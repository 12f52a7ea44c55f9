"""The Escalator's settings: planning a change of them, bringing the store to
them, and recomputing the open cases' and leads' next due instants when they
change."""

from __future__ import annotations

import bisect
import gc
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Final, TypeVar

import attrs

from escalate._engine_base import _Engine
from escalate.changes import (
    AppliedChange,
    ChangePlan,
    PlannedStep,
    SubjectPlan,
    _Planner,
    _Prepared,
    _Unchanged,
)
from escalate.errors import ConflictError, EscalateError, NotFound, WrongTypeError
from escalate.history import note_skipped
from escalate.model import Actor, Case
from escalate.ports import CaseState, OutboxStore, SettingsRecord, SettingsVersion
from escalate.rules import ActionKind
from escalate.settings import ChangesApplyTo, OnChange, Settings, check_change

_log: Final = logging.getLogger("escalate.engine")

_R = TypeVar("_R")

RECOMPUTE_ATTEMPTS: Final = 5
"""How often a recompute batch is tried when other workers change its cases."""
_PLAN_BATCH: Final = 1_000  # cases read, and keys asked about, at a time


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while a plan walks every open
    case, and restores it after (nesting, and between threads, counted).

    A plan allocates hundreds of thousands of small objects and keeps a row per
    case; none of them form reference cycles, so reference counting frees all
    that is dropped, and the collector would only scan the growing heap over and
    over (it cost a fifth of a plan's time). ``gc.disable`` is process-wide, so
    the first pause disables it, the last resume enables it again, and only if
    it was enabled before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


_collector_paused: Final = _CollectorPause()


class _FiredKeys:
    """The store's fired keys as a container (each key asked once)."""

    def __init__(self, store: OutboxStore) -> None:
        self._store = store
        self._known: dict[object, bool] = {}

    def __contains__(self, key: object) -> bool:
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = isinstance(key, str) and self._store.is_fired(
                key
            )
        return known


class _SettingsSync(_Engine):
    """Plan, apply and recompute (a part of :class:`~escalate.engine.Escalator`)."""

    def plan(self, settings: Settings | None = None) -> ChangePlan:
        """What bringing the store to ``settings`` (default: this escalator's)
        would do to every open case and lead, now; nothing is written.

        See :mod:`escalate.changes`: for each, what governs it and its next
        deadline before and after, the steps the change makes due at once, those
        that will never fire, and the waiting ones whose instant moves.
        """
        after = self._settings if settings is None else settings
        if not isinstance(after, Settings):
            raise WrongTypeError(f"settings: expected a Settings, got {after!r}")
        record = self.store.settings_record()
        before = None
        if record is not None:
            try:
                before = Settings.from_document(record.document)
            except EscalateError:
                before = None  # no longer valid: nothing to compare with
        digest = None if record is None else record.digest
        return self._planned(before, digest, after, self.clock.now())

    def _planned(
        self,
        before: Settings | None,
        before_digest: str | None,
        after: Settings,
        now: datetime,
    ) -> ChangePlan:
        # One planner per pair of settings that govern cases before and after:
        # the two given, or a version a case keeps (changes_apply_to).
        planners: dict[tuple[int, int], _Planner] = {}
        by_pin: dict[str | None, _Planner | str] = {}

        def planner_for(pinned: str | None) -> _Planner | str:
            known = by_pin.get(pinned)
            if known is not None:
                return known
            try:
                b, a = self._pair(pinned, before, after)
            except EscalateError as e:
                by_pin[pinned] = str(e)
                return by_pin[pinned]
            key = (id(b), id(a))
            if key not in planners:
                planners[key] = _Planner(b, a, now)
            by_pin[pinned] = planners[key]
            return planners[key]

        rows: list[SubjectPlan | _Unchanged] = []
        last = None
        with _collector_paused():
            while states := self.store.open_case_states(last, limit=_PLAN_BATCH):
                batch = self._prepare(planner_for, states, last)
                fired = self.store.fired_among(_Planner.keys(p for _, _, p in batch))
                rows += [planner.case(i, p, fired) for i, planner, p in batch]
                last = states[-1].id
            lead_fired = _FiredKeys(self.store)
            for lead_id in self.store.lead_ids():
                lead = self.store.get_lead(lead_id)
                planner = planner_for(lead.settings_version)
                rows.append(
                    _Planner.lead_error(lead, planner)
                    if isinstance(planner, str)
                    else planner.lead(lead, lead_fired)
                )
        return ChangePlan(
            at=now,
            before=before_digest,
            after=after.digest,
            on_change=after.changes.on_change,
            entries=rows,
        )

    def _pair(
        self, pinned: str | None, before: Settings | None, after: Settings
    ) -> tuple[Settings | None, Settings]:
        """The settings that govern a case or lead keeping ``pinned`` before and
        after the change. At a change to ``changes_apply_to = "new cases"`` from
        open cases, it keeps the settings it followed (apply records them)."""
        b = None if before is None else self._resolve(pinned, before)
        if (
            before is not None
            and before.changes.apply_to is ChangesApplyTo.OPEN_CASES
            and after.changes.apply_to is ChangesApplyTo.NEW_CASES
        ):
            return b, before
        return b, self._resolve(pinned, after)

    def _prepare(
        self,
        planner_for: Callable[[str | None], _Planner | str],
        states: list[CaseState],
        after: str | None,
    ) -> list[tuple[str, _Planner, _Prepared]]:
        """The preparation of a batch of open cases (those after ``after``) by
        the planner of each: from their states where it can, else from the
        cases, read in one batch (a case deleted meanwhile is left out)."""
        fallback = planner_for(None)
        assert isinstance(fallback, _Planner)  # the settings given: no version read
        todo: list[tuple[CaseState, _Planner, _Prepared | None]] = []
        for state in states:
            planner = planner_for(state.settings_version)
            if isinstance(planner, str):  # its version cannot be read: an error row
                todo.append((state, fallback, planner))
            else:
                todo.append((state, planner, planner.prepare_state(state)))
        cases: dict[str, Case] = {}
        if any(p is None for _, _, p in todo):
            cases = {c.id: c for c in self.store.open_cases(after, limit=len(states))}
        ready: list[tuple[str, _Planner, _Prepared]] = []
        for state, planner, p in todo:
            if p is None:
                case = cases.get(state.id)
                if case is None:
                    try:
                        case = self.store.get_case(state.id)
                    except NotFound:
                        continue  # deleted since its state was read
                p = planner.prepare(case)
            ready.append((state.id, planner, p))
        return ready

    def apply(self, *, by: Actor | None = None) -> AppliedChange | None:
        """Bring the store to this escalator's settings: keep them (every version
        is kept by digest), and recompute every open case's and lead's next due
        instant, following the settings' ``on_change``: steps the change makes
        due at once fire on the next tick (``fire``), or are recorded as skipped
        now, each with a follow-up line on its case (``skip``). Returns what was
        done, with the plan it followed; None when the store had these settings
        already.

        The recompute goes in batches of open cases, then leads, by id, each
        in one transaction that locks the store's settings record and moves its
        ``through`` on: several workers applying the same settings take turns,
        each batch done once, and a worker that dies in the middle leaves the
        next one to resume after the last batch that committed, against the
        same settings before.

        Args:
            by: Who puts them in force; default: who configured this escalator
                (``Escalator(by=...)``, ``use_settings(..., by=...)``).

        Raises:
            PermissionDenied: The store holds other settings, and ``by`` may not
                change them to these (none given, or without the permission the
                change needs: ``settings.check_change``). Nothing is written.
        """
        record = self.store.settings_record()
        if record is not None and record.digest == self._digest and record.recomputed:
            return None
        if record is None:
            previous = None
        elif record.digest != self._digest:
            previous = record.digest
        else:
            previous = record.previous  # a recompute cut short: finish it
        now = self.clock.now()
        before = self._stored_settings(previous)
        if record is not None and record.digest != self._digest:
            check_change(before, self._settings, by or self.configured_by, "apply")
        plan = self._planned(before, previous, self._settings, now)
        stored = SettingsRecord(
            digest=self._digest,
            document=self._settings.document(),
            saved_at=now,
            recomputed=False,
            previous=previous,
        )
        with self.store.transaction():
            current = self.store.settings_record()  # locked until this commits
            if current is None or current.digest != self._digest:
                self.store.save_settings_version(
                    SettingsVersion(
                        digest=self._digest, document=stored.document, saved_at=now
                    )
                )
                self.store.save_settings(stored)
            # else stored by another worker meanwhile, or cut short: resumed below
        skip: dict[str, list[PlannedStep]] = {}
        if self._settings.changes.on_change is OnChange.SKIP:
            for row in plan.changes:
                steps = [s for s in row.due_now if s.kind is not ActionKind.EXPIRY]
                if steps:
                    skip[f"{row.subject.value}/{row.id}"] = steps
        # From open cases to new cases only: open ones keep what they followed.
        keep = (
            previous
            if before is not None
            and before.changes.apply_to is ChangesApplyTo.OPEN_CASES
            and self._settings.changes.apply_to is ChangesApplyTo.NEW_CASES
            else None
        )
        _log.info(
            "settings %s in force: recomputing open cases and leads",
            self._digest[:12],
            extra={"digest": self._digest, "previous": previous},
        )
        recomputed, skipped = self._recompute_resumably(skip, now, keep)
        _log.info(
            "settings %s: recomputed %d, skipped %d steps",
            self._digest[:12],
            recomputed,
            skipped,
            extra={"digest": self._digest, "recomputed": recomputed},
        )
        return AppliedChange(plan=plan, recomputed=recomputed, skipped=skipped)

    def sync_settings(self) -> int:
        """:meth:`apply`, returning only how many cases and leads were
        recomputed (0 when the store had these settings already)."""
        applied = self.apply()
        return 0 if applied is None else applied.recomputed

    def _stored_settings(self, digest: str | None) -> Settings | None:
        """The settings version kept under ``digest``; None for no digest, or one
        that is not kept or no longer reads (there is nothing to compare with)."""
        if digest is None:
            return None
        try:
            return Settings.from_document(self.store.settings_version(digest).document)
        except EscalateError:
            return None

    def recompute(self, case_ids: Iterable[str] | None = None) -> int:
        """Recompute the next due instants of the given cases (all open cases and
        all leads if None), a batch per transaction; fired actions stay fired.
        Returns how many cases and leads were recomputed; :meth:`apply` calls it
        when the settings change."""
        return self._recompute(case_ids, {}, self.clock.now())[0]

    def _recompute_resumably(
        self,
        skip: Mapping[str, Sequence[PlannedStep]],
        now: datetime,
        keep: str | None,
    ) -> tuple[int, int]:
        """Recompute the open cases, then the leads, after the stored record's
        ``through``, a batch per transaction, until none is left (then the
        record says ``recomputed``) or the record names other settings.
        Returns how many this worker recomputed, and how many steps it
        recorded as skipped."""
        lead_ids: list[str] = []
        read_leads = False

        def next_batch() -> tuple[int, int, bool]:
            nonlocal lead_ids, read_leads
            record = self.store.settings_record()  # locked: one batch at a time
            if record is None or record.digest != self._digest or record.recomputed:
                return 0, 0, True  # finished by another worker, or superseded
            kind, _, after = (record.through or "case/").partition("/")
            if kind == "case":
                states = self.store.open_case_states(after or None, limit=self.batch)
                if states:
                    ids = [state.id for state in states]
                    n, k = self._recompute_cases(ids, skip, now, keep)
                    moved = attrs.evolve(record, through=f"case/{ids[-1]}")
                    self.store.save_settings(moved)
                    return n, k, False
                after = ""
            if not read_leads:
                lead_ids, read_leads = sorted(self.store.lead_ids()), True
            start = bisect.bisect_right(lead_ids, after) if after else 0
            ids = lead_ids[start : start + self.batch]
            if ids:
                n, k = self._recompute_leads(ids, skip, now, keep)
                self.store.save_settings(
                    attrs.evolve(record, through=f"lead/{ids[-1]}")
                )
                return n, k, False
            self.store.save_settings(
                attrs.evolve(record, recomputed=True, through=None)
            )
            return 0, 0, True

        done = skipped = 0
        while True:
            n, k, finished = self._with_retries(next_batch)
            done, skipped = done + n, skipped + k
            if finished:
                return done, skipped
            self.progress("recomputed")

    def _recompute(
        self,
        case_ids: Iterable[str] | None,
        skip: Mapping[str, Sequence[PlannedStep]],
        now: datetime,
        keep: str | None = None,
    ) -> tuple[int, int]:
        """Recompute, first recording as skipped the steps ``skip`` names (by
        ``case/<id>`` or ``lead/<id>``), each in the transaction that saves its
        case or lead; with ``keep``, each case and lead keeps that settings
        version from now on. Returns how many were recomputed, and how many
        skipped."""
        done = skipped = 0
        ids = list(self.store.open_case_ids() if case_ids is None else case_ids)
        batches = [
            (self._recompute_cases, ids[i : i + self.batch])
            for i in range(0, len(ids), self.batch)
        ]
        if case_ids is None:
            lead_ids = list(self.store.lead_ids())
            batches += [
                (self._recompute_leads, lead_ids[i : i + self.batch])
                for i in range(0, len(lead_ids), self.batch)
            ]
        for recompute, batch in batches:
            n, k = self._with_retries(partial(recompute, batch, skip, now, keep))
            done, skipped = done + n, skipped + k
            self.progress("recomputed")
        return done, skipped

    def _recompute_cases(
        self,
        batch: Sequence[str],
        skip: Mapping[str, Sequence[PlannedStep]],
        now: datetime,
        keep: str | None,
    ) -> tuple[int, int]:
        skipped = 0
        for case_id in batch:
            case = self.store.get_case(case_id)
            if keep is not None and case.settings_version != keep:
                case = attrs.evolve(case, settings_version=keep)
            skipped += self._skip(case, skip.get(f"case/{case_id}", ()), now)
            self._sla_reselect(case, now)
            try:
                due, governed = self._schedule(case, self.settings_for(case))
            except EscalateError:
                due, governed = now, None  # the tick reports what is wrong
            self.store.save_case(case, next_due=due, governed=governed)
        return len(batch), skipped

    def _recompute_leads(
        self,
        batch: Sequence[str],
        skip: Mapping[str, Sequence[PlannedStep]],
        now: datetime,
        keep: str | None,
    ) -> tuple[int, int]:
        skipped = 0
        for lead_id in batch:
            lead = self.store.get_lead(lead_id)
            if keep is not None and lead.settings_version != keep:
                lead = attrs.evolve(lead, settings_version=keep)
            for step in skip.get(f"lead/{lead_id}", ()):
                skipped += self.store.record_fired(step.key, now, skipped=True)
            try:
                due = self._lead_due(lead, self.settings_for(lead))
            except EscalateError:
                due = now  # the tick reports what is wrong
            self.store.save_lead(lead, next_due=due)
        return len(batch), skipped

    def _with_retries(self, work: Callable[[], _R]) -> _R:
        """``work`` in one transaction; if another worker changed one of its
        cases meanwhile (a recompute is idempotent), it is done again, at most
        :data:`RECOMPUTE_ATTEMPTS` times."""
        for attempt in range(1, RECOMPUTE_ATTEMPTS + 1):
            try:
                with self.store.transaction():
                    return work()
            except ConflictError:
                if attempt == RECOMPUTE_ATTEMPTS:
                    raise
                self.metrics.inc("escalate_conflict_retries_total")
        raise AssertionError("unreachable")  # pragma: no cover

    def _skip(self, case: Case, steps: Sequence[PlannedStep], now: datetime) -> int:
        """Record ``steps`` of the case as skipped, with a follow-up line for
        each (those recorded before, by another worker, are left alone)."""
        recorded = [
            s.label for s in steps if self.store.record_fired(s.key, now, skipped=True)
        ]
        if recorded:
            self._write(note_skipped(self._file(case), recorded, at=now))
        return len(recorded)

"""The Escalator's settings: planning a change of them, bringing the store to
them, and recomputing the open cases' and leads' next due instants when they
change."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final, cast

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
from escalate.errors import EscalateError, NotFound, WrongTypeError
from escalate.history import note_skipped
from escalate.model import Case
from escalate.ports import CaseState, OutboxStore, SettingsRecord, SettingsVersion
from escalate.rules import ActionKind
from escalate.settings import OnChange, Settings

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
        planner = _Planner(before, after, now)
        rows: list[SubjectPlan | _Unchanged] = []
        last = None
        with _collector_paused():
            while states := self.store.open_case_states(last, limit=_PLAN_BATCH):
                ids, ready = self._prepare(planner, states, last)
                fired = self.store.fired_among(planner.keys(ready))
                rows += map(planner.case, ids, ready, [fired] * len(ids))
                last = states[-1].id
            lead_fired = _FiredKeys(self.store)
            rows += [
                planner.lead(self.store.get_lead(lead_id), lead_fired)
                for lead_id in self.store.lead_ids()
            ]
        return ChangePlan(
            at=now,
            before=before_digest,
            after=after.digest,
            on_change=after.changes.on_change,
            entries=rows,
        )

    def _prepare(
        self, planner: _Planner, states: list[CaseState], after: str | None
    ) -> tuple[list[str], list[_Prepared]]:
        """The planner's preparation of a batch of open cases (those after
        ``after``): from their states where it can, else from the cases, read in
        one batch (a case deleted meanwhile is left out)."""
        prepared = [planner.prepare_state(state) for state in states]
        if None not in prepared:
            return [s.id for s in states], cast("list[_Prepared]", prepared)
        cases = {c.id: c for c in self.store.open_cases(after, limit=len(states))}
        ids: list[str] = []
        ready: list[_Prepared] = []
        for state, p in zip(states, prepared, strict=True):
            if p is None:
                case = cases.get(state.id)
                if case is None:
                    try:
                        case = self.store.get_case(state.id)
                    except NotFound:
                        continue  # deleted since its state was read
                p = planner.prepare(case)
            ids.append(state.id)
            ready.append(p)
        return ids, ready

    def apply(self) -> AppliedChange | None:
        """Bring the store to this escalator's settings: keep them (every version
        is kept by digest), and recompute every open case's and lead's next due
        instant, following the settings' ``on_change``: steps the change makes
        due at once fire on the next tick (``fire``), or are recorded as skipped
        now, each with a follow-up line on its case (``skip``). Returns what was
        done, with the plan it followed; None when the store had these settings
        already.

        The store's record says whether the recompute finished, so a worker that
        dies in the middle leaves it to the next one to finish, against the same
        settings before.
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
        plan = self._planned(
            self._stored_settings(previous), previous, self._settings, now
        )
        stored = SettingsRecord(
            digest=self._digest,
            document=self._settings.document(),
            saved_at=now,
            recomputed=False,
            previous=previous,
        )
        with self.store.transaction():
            self.store.save_settings_version(
                SettingsVersion(
                    digest=self._digest, document=stored.document, saved_at=now
                )
            )
            self.store.save_settings(stored)
        skip: dict[str, list[PlannedStep]] = {}
        if self._settings.changes.on_change is OnChange.SKIP:
            for row in plan.changes:
                steps = [s for s in row.due_now if s.kind is not ActionKind.EXPIRY]
                if steps:
                    skip[f"{row.subject.value}/{row.id}"] = steps
        recomputed, skipped = self._recompute(None, skip, now)
        self.store.save_settings(attrs.evolve(stored, recomputed=True))
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

    def _recompute(
        self,
        case_ids: Iterable[str] | None,
        skip: Mapping[str, Sequence[PlannedStep]],
        now: datetime,
    ) -> tuple[int, int]:
        """Recompute, first recording as skipped the steps ``skip`` names (by
        ``case/<id>`` or ``lead/<id>``), each in the transaction that saves its
        case or lead. Returns how many were recomputed, and how many skipped."""
        done = skipped = 0
        ids = list(self.store.open_case_ids() if case_ids is None else case_ids)
        for i in range(0, len(ids), self.batch):
            with self.store.transaction():
                for case_id in ids[i : i + self.batch]:
                    case = self.store.get_case(case_id)
                    steps = skip.get(f"case/{case_id}", ())
                    skipped += self._skip(case, steps, now)
                    try:
                        due, governed = self._schedule(case, self._settings)
                    except EscalateError:
                        due, governed = now, None  # the tick reports what is wrong
                    self.store.save_case(case, next_due=due, governed=governed)
                    done += 1
            self.progress("recomputed")
        if case_ids is None:
            lead_ids = list(self.store.lead_ids())
            for i in range(0, len(lead_ids), self.batch):
                with self.store.transaction():
                    for lead_id in lead_ids[i : i + self.batch]:
                        lead = self.store.get_lead(lead_id)
                        for step in skip.get(f"lead/{lead_id}", ()):
                            skipped += self.store.record_fired(
                                step.key, now, skipped=True
                            )
                        try:
                            due = self._lead_due(lead, self._settings)
                        except EscalateError:
                            due = now  # the tick reports what is wrong
                        self.store.save_lead(lead, next_due=due)
                        done += 1
                self.progress("recomputed")
        return done, skipped

    def _skip(self, case: Case, steps: Sequence[PlannedStep], now: datetime) -> int:
        """Record ``steps`` of the case as skipped, with a follow-up line for
        each (those recorded before, by another worker, are left alone)."""
        recorded = [
            s.label for s in steps if self.store.record_fired(s.key, now, skipped=True)
        ]
        if recorded:
            self._write(note_skipped(self._file(case), recorded, at=now))
        return len(recorded)

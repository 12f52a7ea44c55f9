"""The Escalator's settings: bringing the store to them, and recomputing the open
cases' and leads' next due instants when they change."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

from escalate._engine_base import _Engine
from escalate.errors import EscalateError
from escalate.ports import SettingsRecord, SettingsVersion
from escalate.settings import Settings


class _SettingsSync(_Engine):
    """Sync and recompute (a part of :class:`~escalate.engine.Escalator`)."""

    def sync_settings(self) -> int:
        """Make the store's settings this escalator's, recomputing every open
        case's next due instant when they differ (in batches); returns how many
        cases were recomputed (0 when the store had these settings already).

        The store's record says whether the recompute finished, so a worker that
        dies in the middle leaves it to the next one to finish.
        """
        return self._sync()[0]

    def _sync(self) -> tuple[int, int]:
        """:meth:`sync_settings`, also returning how many deadlines moved."""
        record = self.store.settings_record()
        if record is not None and record.digest == self._digest and record.recomputed:
            return 0, 0
        if record is None:
            previous = None
        elif record.digest != self._digest:
            previous = record.digest
        else:
            previous = record.previous  # a recompute cut short: finish it
        before = self._stored_settings(previous)
        now = self.clock.now()
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
        done, moved = self._recompute(None, before)
        self.store.save_settings(attrs.evolve(stored, recomputed=True))
        return done, moved

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
        Returns how many cases and leads were recomputed; :meth:`sync_settings`
        calls it when the settings change."""
        return self._recompute(case_ids, None)[0]

    def _recompute(
        self, case_ids: Iterable[str] | None, before: Settings | None
    ) -> tuple[int, int]:
        """Recompute; also count the next deadlines that differ from those under
        the settings ``before`` (when given)."""
        done = moved = 0
        now = self.clock.now()

        def due_or_now(
            due: Callable[..., datetime | None], *args: Any
        ) -> datetime | None:
            try:
                return due(*args)
            except EscalateError:
                return now  # due at once: the tick reports what is wrong

        ids = list(self.store.open_case_ids() if case_ids is None else case_ids)
        for i in range(0, len(ids), self.batch):
            with self.store.transaction():
                for case_id in ids[i : i + self.batch]:
                    case = self.store.get_case(case_id)
                    due = due_or_now(self._next_due, case, self._settings)
                    if before is not None:
                        moved += due != due_or_now(self._next_due, case, before)
                    self.store.save_case(case, next_due=due)
                    done += 1
            self.progress("recomputed")
        if case_ids is None:
            lead_ids = list(self.store.lead_ids())
            for i in range(0, len(lead_ids), self.batch):
                with self.store.transaction():
                    for lead_id in lead_ids[i : i + self.batch]:
                        lead = self.store.get_lead(lead_id)
                        due = due_or_now(self._lead_due, lead, self._settings)
                        if before is not None:
                            moved += due != due_or_now(self._lead_due, lead, before)
                        self.store.save_lead(lead, next_due=due)
                        done += 1
                self.progress("recomputed")
        return done, moved

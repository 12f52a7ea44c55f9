"""How a store's escalation work stands: what ``escalate status`` prints and a
health check reads.

:func:`read_health` asks the store's ports (the due index, the outbox, the tick
log) at an instant and returns a :class:`Health` value; nothing here reads a
clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from escalate._durations import format_duration
from escalate._instants import require_aware, require_duration
from escalate.ports import (
    Backlog,
    CaseStore,
    Heartbeat,
    OutboxEntry,
    OutboxState,
    OutboxStore,
    QuarantineState,
    TickLog,
    TickRecord,
)

__all__ = ["Health", "entry_data", "read_health"]


@attrs.frozen(kw_only=True)
class Health:
    """The state of the work at ``at``.

    Attributes:
        at: When it was read.
        backlog: Open cases due and not handled, and the earliest due instant.
        outbox: Mails waiting, since when, and those that failed.
        last_tick: The latest tick a worker recorded, or None.
        quarantine: The cases, leads and tasks put aside after failing.
        workers: The workers seen recently (their heartbeats), latest first.
    """

    at: datetime
    backlog: Backlog
    outbox: OutboxState
    last_tick: TickRecord | None
    quarantine: QuarantineState = attrs.field(factory=lambda: QuarantineState(count=0))
    workers: tuple[Heartbeat, ...] = ()

    @property
    def due_lag(self) -> timedelta:
        """How late the oldest overdue action is (0 when nothing is overdue)."""
        oldest = self.backlog.oldest
        return timedelta(0) if oldest is None else max(self.at - oldest, timedelta(0))

    @property
    def mail_lag(self) -> timedelta:
        """How long the oldest unsent mail has waited (0 when none waits)."""
        oldest = self.outbox.oldest_queued_at
        return timedelta(0) if oldest is None else max(self.at - oldest, timedelta(0))

    @property
    def lag(self) -> timedelta:
        """The larger of :attr:`due_lag` and :attr:`mail_lag`: how far behind
        the work is, whether the ticks or the mail are stuck."""
        return max(self.due_lag, self.mail_lag)

    def late(self, max_lag: timedelta) -> bool:
        """Whether the work is more than ``max_lag`` behind."""
        return self.lag > require_duration(max_lag, "max_lag")

    def _shown(self, t: datetime) -> str:
        return t.astimezone(self.at.tzinfo).isoformat()

    def lines(self) -> list[str]:
        """The state as text, a line each, instants in the offset of ``at``."""
        b, o, t = self.backlog, self.outbox, self.last_tick
        out = [f"status at {self.at.isoformat()}"]
        due_lag = format_duration(self.due_lag, days=True)
        mail_lag = format_duration(self.mail_lag, days=True)
        if t is None:
            out.append("  last tick: none recorded")
        else:
            out.append(
                f"  last tick: {self._shown(t.at)} "
                f"({format_duration(self.at - t.at, days=True)} ago): "
                f"{t.cases} due cases, {t.fired} carried out, {t.errors} errors"
            )
        for w in self.workers:
            out.append(
                f"  worker {w.worker} (pid {w.pid} on {w.host}): last tick "
                f"{self._shown(w.at)} "
                f"({format_duration(self.at - w.at, days=True)} ago)"
            )
        if b.oldest is None:
            out.append("  due backlog: none")
        else:
            out.append(
                f"  due backlog: {b.count} cases; the oldest was due at "
                f"{self._shown(b.oldest)} ({due_lag} late)"
            )
        q = self.quarantine
        if q.count:
            out.append(f"  put aside after failing: {q.count}")
        for item in q.items:
            out.append(
                f"  put aside: {item.kind} {item.id}, {item.failures} failures in a "
                f"row, retried at {self._shown(item.until)}: {item.error}"
            )
        if o.oldest_queued_at is None:
            out.append("  outbox: empty")
        else:
            out.append(
                f"  outbox: {o.depth} mails waiting; the oldest queued at "
                f"{self._shown(o.oldest_queued_at)} "
                f"({mail_lag} ago)"
            )
        for c in o.claimed:
            assert c.lease_until is not None
            out.append(
                f"  being sent: {c.message_id} to {c.recipient}, claimed by "
                f"{c.claimed_by or 'a worker'} until {self._shown(c.lease_until)}"
            )
        for f in o.failing:
            out.append(
                f"  failed: {f.message_id} to {f.recipient}, {f.attempts} attempts, "
                f"retried at {self._shown(f.retry_at)}: {f.error}"
            )
        if o.dead:
            out.append(
                f"  dead letters: {o.dead} (not sent: escalate outbox list --dead; "
                "retry ID or drop ID)"
            )
        for d in o.dead_letters:
            assert d.dead_at is not None
            out.append(
                f"  dead: {d.message_id} to {d.recipient}, {d.attempts} attempts, "
                f"given up at {self._shown(d.dead_at)}: {d.error}"
            )
        return out

    def data(self) -> dict[str, Any]:
        """The state as JSON-ready data (instants in ISO 8601, lags in seconds)."""
        t = self.last_tick
        return {
            "at": self.at.isoformat(),
            "last_tick": None
            if t is None
            else {
                "at": t.at.isoformat(),
                "cases": t.cases,
                "fired": t.fired,
                "errors": t.errors,
            },
            "due_backlog": self.backlog.count,
            "oldest_due_at": _iso(self.backlog.oldest),
            "due_lag_seconds": self.due_lag // timedelta(seconds=1),
            "outbox_depth": self.outbox.depth,
            "oldest_unsent_at": _iso(self.outbox.oldest_queued_at),
            "mail_lag_seconds": self.mail_lag // timedelta(seconds=1),
            "failed_mails": [
                {
                    "message_id": f.message_id,
                    "recipient": f.recipient,
                    "attempts": f.attempts,
                    "error": f.error,
                    "retry_at": f.retry_at.isoformat(),
                }
                for f in self.outbox.failing
            ],
            "put_aside_count": self.quarantine.count,
            "put_aside": [
                {
                    "kind": q.kind,
                    "id": q.id,
                    "failures": q.failures,
                    "error": q.error,
                    "at": q.at.isoformat(),
                    "until": q.until.isoformat(),
                }
                for q in self.quarantine.items
            ],
            "workers": [
                {
                    "worker": w.worker,
                    "host": w.host,
                    "pid": w.pid,
                    "started_at": w.started_at.isoformat(),
                    "last_tick": w.at.isoformat(),
                }
                for w in self.workers
            ],
            "claimed_mails": [entry_data(c) for c in self.outbox.claimed],
            "dead_letter_count": self.outbox.dead,
            "dead_letters": [entry_data(d) for d in self.outbox.dead_letters],
        }


class _HealthStore(CaseStore, OutboxStore, TickLog, Protocol):
    """What :func:`read_health` reads."""


def read_health(
    store: _HealthStore,
    at: datetime,
    *,
    failing: int = 20,
    seen_within: timedelta = timedelta(minutes=15),
) -> Health:
    """The state of the store's work at ``at``: its due backlog, outbox (with
    up to ``failing`` failed, claimed and dead mails), what is put aside, the
    last tick, and the workers that ticked within ``seen_within``; read in one
    snapshot that takes no write lock."""
    require_aware(at, "at")
    seen = require_duration(seen_within, "seen_within")
    with store.reading():
        return Health(
            at=at,
            backlog=store.due_backlog(at),
            outbox=store.outbox_state(failing=failing, at=at),
            last_tick=store.last_tick(),
            quarantine=store.quarantine_state(at, limit=failing),
            workers=tuple(store.heartbeats(at - seen)),
        )


def entry_data(e: OutboxEntry) -> dict[str, Any]:
    """An outbox entry as JSON-ready data."""
    return {
        "message_id": e.message_id,
        "recipient": e.recipient,
        "purpose": e.purpose,
        "key": e.key,
        "queued_at": e.queued_at.isoformat(),
        "attempts": e.attempts,
        "error": e.error,
        "next_attempt_at": None if e.dead else e.next_attempt_at.isoformat(),
        "dead_at": _iso(e.dead_at),
        "claimed_by": e.claimed_by,
        "lease_until": _iso(e.lease_until),
    }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()

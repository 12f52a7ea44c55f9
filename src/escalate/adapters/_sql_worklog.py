"""Worker heartbeats and the items put aside of a SQL store (a part of
:class:`~escalate.adapters._sql.SqlStore`)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from escalate._instants import to_us, utc_from_us
from escalate.adapters._sql_base import SqlBase
from escalate.errors import ConfigError
from escalate.ports import Heartbeat, Quarantined, QuarantineState

_DUE_TABLES: Final = {"case": "cases", "lead": "leads", "task": "tasks"}
_FORGET_QUARANTINE_US: Final = 7 * 86_400_000_000  # a week after its retry


class SqlWorkLog(SqlBase):
    """Heartbeats and the quarantine: what ``escalate status`` reads of the
    workers."""

    def record_heartbeat(self, beat: Heartbeat) -> None:
        """Keep ``beat`` as its worker's latest."""
        with self.transaction():
            self._write(
                "INSERT INTO workers (worker, host, pid, started_us, at_us) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker) DO UPDATE "
                "SET at_us = excluded.at_us WHERE excluded.at_us >= workers.at_us",
                (
                    beat.worker,
                    beat.host,
                    beat.pid,
                    to_us(beat.started_at, "started_at"),
                    to_us(beat.at, "at"),
                ),
            )

    def heartbeats(self, since: datetime) -> list[Heartbeat]:
        """The workers' latest heartbeats at or after ``since``, latest first."""
        rows = self._rows(
            "SELECT worker, host, pid, started_us, at_us FROM workers "
            "WHERE at_us >= ? ORDER BY at_us DESC, worker",
            (to_us(since, "since"),),
        )
        return [
            Heartbeat(
                worker=w,
                host=h,
                pid=pid,
                started_at=utc_from_us(started),
                at=utc_from_us(at),
            )
            for w, h, pid, started, at in rows
        ]

    def quarantine(self, entry: Quarantined) -> None:
        """Keep ``entry`` (replacing the item's earlier one) and move the
        item's next due instant to its ``until``; entries retried more than a
        week ago are forgotten meanwhile."""
        table = _DUE_TABLES.get(entry.kind)
        if table is None:
            raise ConfigError(
                f"kind: expected 'case', 'lead' or 'task', got {entry.kind!r}"
            )
        until = to_us(entry.until, "until")
        at = to_us(entry.at, "at")
        with self.transaction():
            self._write(
                "DELETE FROM quarantine WHERE until_us < ?",
                (at - _FORGET_QUARANTINE_US,),
            )
            self._write(
                "INSERT INTO quarantine (kind, id, failures, error, at_us, until_us) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
                "failures = excluded.failures, error = excluded.error, "
                "at_us = excluded.at_us, until_us = excluded.until_us",
                (entry.kind, entry.id, entry.failures, entry.error, at, until),
            )
            self._write(
                f"UPDATE {table} SET next_due_us = ? "
                "WHERE id = ? AND next_due_us IS NOT NULL",
                (until, entry.id),
            )  # our table names

    def quarantined_item(self, kind: str, item_id: str) -> Quarantined | None:
        """The item's entry, if it was ever put aside (and not forgotten)."""
        rows = self._rows(
            "SELECT kind, id, failures, error, at_us, until_us FROM quarantine "
            "WHERE kind = ? AND id = ?",
            (kind, item_id),
        )
        return _quarantined(*rows[0]) if rows else None

    def quarantine_state(self, at: datetime, *, limit: int) -> QuarantineState:
        """The items put aside at ``at``: how many, and the first ``limit``."""
        x = to_us(at, "at")
        with self.reading():
            ((count,),) = self._rows(
                "SELECT COUNT(*) FROM quarantine WHERE until_us > ?", (x,)
            )
            rows = self._rows(
                "SELECT kind, id, failures, error, at_us, until_us FROM quarantine "
                "WHERE until_us > ? ORDER BY until_us, kind, id LIMIT ?",
                (x, max(limit, 0)),
            )
        return QuarantineState(
            count=int(count), items=tuple(_quarantined(*r) for r in rows)
        )


def _quarantined(
    kind: str, item_id: str, failures: int, error: str, at_us: int, until_us: int
) -> Quarantined:
    return Quarantined(
        kind=kind,
        id=item_id,
        failures=failures,
        error=error,
        at=utc_from_us(at_us),
        until=utc_from_us(until_us),
    )

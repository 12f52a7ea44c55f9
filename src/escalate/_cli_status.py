"""``escalate status``: a probe that only reads, and answers in bounded time
(a part of :mod:`escalate.cli`).

It opens the store as it is (never creating or migrating it), reads it in one
snapshot that takes no write lock (:meth:`~escalate.ports.CaseStore.reading`),
with each statement bounded on PostgreSQL (``statement_timeout``,
``lock_timeout``), and gives up past ``--timeout``: exit 2, "could not tell".
On SQLite it runs ``PRAGMA quick_check`` first when the file is small enough
for a probe; past that it says why it did not (``escalate verify`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Final, TextIO

from escalate._durations import format_duration
from escalate.adapters._sql import SqlStore
from escalate.adapters.sqlite import SqliteStore
from escalate.errors import EscalateError, StoreError
from escalate.health import Health, read_health
from escalate.timers import SystemClock

QUICK_CHECK_UP_TO: Final = 64 * 1024 * 1024
"""The largest SQLite file ``status`` runs ``quick_check`` on (it reads every
page: about a second per GB); ``verify`` checks any size."""

COULD_NOT_TELL: Final = 2


class _Probe:
    """What the reading thread found: the health, an integrity note, or why
    it could not."""

    def __init__(self) -> None:
        self.health: Health | None = None
        self.integrity: list[str] = []
        self.corrupt = False
        self.error: str | None = None
        self.refused: EscalateError | None = None  # a bad option, not the store


def status(
    args: argparse.Namespace,
    out: TextIO,
    open_store: Callable[[timedelta], SqlStore],
) -> int:
    """Run the probe; 0 fine, 1 late, dead letters past --max-dead or a
    corrupt file, 2 could not tell."""
    probe = _Probe()
    at = args.now or SystemClock().now()
    reader = threading.Thread(
        target=_read, args=(probe, open_store, args.timeout, at), daemon=True
    )
    reader.start()
    reader.join(args.timeout.total_seconds())
    if probe.refused is not None:
        raise probe.refused
    if reader.is_alive() or probe.error is not None:
        why = probe.error or (
            f"the store did not answer within --timeout {format_duration(args.timeout)}"
        )
        if args.json:
            json.dump({"could_not_tell": why}, out, indent=1)
            out.write("\n")
        else:
            out.write(f"could not tell: {why}\n")
        return COULD_NOT_TELL
    if probe.corrupt:
        out.write("".join(f"integrity: CORRUPT: {p}\n" for p in probe.integrity))
        out.write("the file is corrupt: restore it from a backup\n")
        return 1
    health = probe.health
    assert health is not None
    late = args.max_lag is not None and health.late(args.max_lag)
    dead = args.max_dead is not None and health.outbox.dead > args.max_dead
    if args.json:
        data = {**health.data(), "late": late, "too_many_dead": dead}
        json.dump({**data, "integrity": probe.integrity[0]}, out, indent=1)
        out.write("\n")
    else:
        out.write("\n".join(health.lines()) + "\n")
        out.write(f"  integrity: {probe.integrity[0]}\n")
        if late:
            out.write(
                f"late: {format_duration(health.lag)} behind, more than "
                f"--max-lag {format_duration(args.max_lag)}\n"
            )
        if dead:
            out.write(
                f"dead letters: {health.outbox.dead}, more than --max-dead "
                f"{args.max_dead}\n"
            )
    return 1 if late or dead else 0


def _read(
    probe: _Probe,
    open_store: Callable[[timedelta], SqlStore],
    timeout: timedelta,
    at: object,
) -> None:
    try:
        store = open_store(timeout)
        try:
            _integrity(probe, store)
            if not probe.corrupt:
                probe.health = read_health(store, at)  # type: ignore[arg-type]
        finally:
            store.close()
    except StoreError as e:
        probe.error = str(e)
    except EscalateError as e:
        probe.refused = e


def _integrity(probe: _Probe, store: SqlStore) -> None:
    if not isinstance(store, SqliteStore):
        probe.integrity = ["not checked here (PostgreSQL checks its own pages)"]
        return
    size = os.path.getsize(store.path)
    if size > QUICK_CHECK_UP_TO:
        probe.integrity = [
            f"not checked (the file is {size // (1024 * 1024)} MiB, too big for a "
            "probe: escalate verify checks it)"
        ]
        return
    problems = store.integrity_problems()
    probe.corrupt = bool(problems)
    probe.integrity = problems or ["ok (quick_check)"]

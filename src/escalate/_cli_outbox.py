"""``escalate outbox list | retry ID | drop ID``: the mails an operator acts
on, dead letters first among them (a part of :mod:`escalate.cli`)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from escalate.adapters._sql import SqlStore
from escalate.delivery import message_id_of
from escalate.health import entry_data
from escalate.ports import OutboxEntry
from escalate.timers import SystemClock


def outbox_list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    """The dead letters (``--dead``) or the waiting mails, oldest first."""
    entries = store.outbox_entries(dead=args.dead, limit=args.limit)
    if args.json:
        json.dump([entry_data(e) for e in entries], out, indent=1)
        out.write("\n")
        return 0
    what = "dead letters" if args.dead else "waiting mails"
    out.write(f"{len(entries)} {what}" + (":\n" if entries else "\n"))
    for e in entries:
        out.write(_line(e) + "\n")
    return 0


def _line(e: OutboxEntry) -> str:
    if e.dead_at is not None:
        state = f"dead since {e.dead_at.isoformat()}"
    elif e.lease_until is not None:
        by = e.claimed_by or "a worker"
        state = f"claimed by {by} until {e.lease_until.isoformat()}"
    else:
        state = f"next attempt {e.next_attempt_at.isoformat()}"
    error = f": {e.error}" if e.error else ""
    return (
        f"  {e.message_id} to {e.recipient} ({e.purpose}), queued "
        f"{e.queued_at.isoformat()}, {e.attempts} attempts, {state}{error}"
    )


def outbox_retry(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    """Put a dead letter back into the queue."""
    store.retry_mail(message_id_of(args.message_id), at=args.now or SystemClock().now())
    out.write(f"{args.message_id}: back in the queue, sent by the next dispatch\n")
    return 0


def outbox_drop(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    """Stop sending a dead or waiting mail, for good."""
    store.drop_mail(message_id_of(args.message_id), at=args.now or SystemClock().now())
    out.write(f"{args.message_id}: dropped, never sent\n")
    return 0

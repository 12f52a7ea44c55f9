"""The outbox of a SQL store: claims, marks, dead letters (a part of
:class:`~escalate.adapters._sql.SqlStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from escalate._codec import mail_from_json, mail_to_json
from escalate._instants import to_us, utc_from_us
from escalate._outbox_rules import check_dead, check_not_held, check_unsent
from escalate.adapters._sql_base import PER_QUERY as _PER_QUERY
from escalate.adapters._sql_base import SqlBase
from escalate.errors import ConflictError, NotFound
from escalate.mail import OutgoingMail
from escalate.ports import Claim, FailingMail, OutboxEntry, OutboxState

_WAITING: Final = "sent_us IS NULL AND dead_us IS NULL"  # an outbox row's states
_DEAD: Final = "dead_us IS NOT NULL AND dropped_us IS NULL"


class SqlOutbox(SqlBase):
    """The outbox part of a SQL store."""

    def enqueue(self, mail: OutgoingMail, *, at: datetime) -> bool:
        """Queue a mail; False if its Message-ID is queued already."""
        with self.transaction():
            cursor = self._write(
                "INSERT INTO outbox (message_id, ord, data, next_attempt_us, "
                f"queued_us) VALUES (?, {self._NEXT_ORD}, ?, ?, ?) "
                "ON CONFLICT (message_id) DO NOTHING",
                (mail.message_id, mail_to_json(mail), to_us(at, "at"), to_us(at, "at")),
            )
            return cursor.rowcount == 1

    def claim(
        self, now: datetime, *, lease: timedelta, limit: int, by: str | None = None
    ) -> list[Claim]:
        """Claim up to ``limit`` waiting messages that are due and not leased,
        for ``by``: one statement, which picks them (skipping those another
        worker's claim holds) and leases them."""
        x = to_us(now, "now")
        until = x + lease // timedelta(microseconds=1)
        with self.transaction():
            rows = self._rows(
                # a token names its message and claim (never reused: a claim
                # given back leaves its attempt uncounted, not its claim)
                "UPDATE outbox SET attempts = attempts + 1, lease_until_us = ?, "
                "claims = claims + 1, "
                "token = message_id || '#' || CAST(claims + 1 AS TEXT), "
                "claimed_by = ? "
                "WHERE message_id IN (SELECT message_id FROM outbox "
                f"WHERE {_WAITING} AND next_attempt_us <= ? "
                "AND (token IS NULL OR lease_until_us <= ?) "
                f"ORDER BY next_attempt_us, ord LIMIT ?{self._SKIP_LOCKED}) "
                "RETURNING next_attempt_us, ord, data, token, attempts, queued_us",
                (until, by, x, x, limit),
            )
        rows.sort(key=lambda r: (r[0], r[1]))  # RETURNING keeps no order
        lease_until = utc_from_us(until)
        return [
            Claim(
                mail=mail_from_json(data),
                token=token,
                attempt=attempts,
                lease_until=lease_until,
                queued_at=utc_from_us(queued),
            )
            for _, _, data, token, attempts, queued in rows
        ]

    def release(self, claims: Sequence[Claim]) -> None:
        """Give claims back untried: each mail is claimable at once, its
        attempt not counted (a claim that lapsed to another worker is left)."""
        with self.transaction():
            for c in claims:
                self._write(
                    "UPDATE outbox SET token = NULL, claimed_by = NULL, "
                    "attempts = attempts - 1 WHERE message_id = ? AND token = ?",
                    (c.mail.message_id, c.token),
                )

    def _check(self, claim: Claim) -> None:
        rows = self._rows(
            "SELECT token FROM outbox WHERE message_id = ?", (claim.mail.message_id,)
        )
        if not rows:
            raise NotFound(f"mail {claim.mail.message_id} is not in the outbox")
        if rows[0][0] != claim.token:
            raise ConflictError(
                f"mail {claim.mail.message_id}: the claim {claim.token} lapsed and "
                "another worker holds it"
            )

    def mark_sent(self, claims: Sequence[Claim], *, at: datetime) -> list[str]:
        """Mark claimed mails sent, in one transaction; returns the Message-IDs
        marked (a claim whose lease lapsed to another worker is not marked)."""
        x = to_us(at, "at")
        marked: set[tuple[str, int]] = set()  # Message-ID, attempt
        with self.transaction():
            for i in range(0, len(claims), _PER_QUERY // 2):
                chunk = claims[i : i + _PER_QUERY // 2]
                marks = ", ".join("?" * len(chunk))
                # a token names its message and attempt: held only by that row
                rows = self._rows(
                    f"UPDATE outbox SET sent_us = ?, token = NULL, claimed_by = NULL "
                    f"WHERE message_id IN ({marks}) AND token IN ({marks}) "
                    "RETURNING message_id, attempts",
                    (
                        x,
                        *(c.mail.message_id for c in chunk),
                        *(c.token for c in chunk),
                    ),
                )
                marked.update((r[0], r[1]) for r in rows)
        out = []
        for c in claims:  # in the order given, each marked claim once
            if (c.mail.message_id, c.attempt) in marked:
                marked.discard((c.mail.message_id, c.attempt))
                out.append(c.mail.message_id)
        return out

    def mark_failed(self, claim: Claim, *, error: str, retry_at: datetime) -> None:
        """Release a claimed mail for another try at ``retry_at``."""
        with self.transaction():
            self._check(claim)
            self._write(
                "UPDATE outbox SET token = NULL, claimed_by = NULL, error = ?, "
                "next_attempt_us = ? WHERE message_id = ?",
                (error, to_us(retry_at, "retry_at"), claim.mail.message_id),
            )

    def mark_dead(self, claim: Claim, *, error: str, at: datetime) -> None:
        """Make a claimed mail a dead letter: sending it stops."""
        with self.transaction():
            self._check(claim)
            self._write(
                "UPDATE outbox SET token = NULL, claimed_by = NULL, error = ?, "
                "dead_us = ? WHERE message_id = ?",
                (error, to_us(at, "at"), claim.mail.message_id),
            )

    def pending(self) -> int:
        """How many mails wait to be sent (dead letters apart)."""
        return int(self._rows(f"SELECT COUNT(*) FROM outbox WHERE {_WAITING}")[0][0])

    def outbox_state(
        self, *, failing: int = 20, at: datetime | None = None
    ) -> OutboxState:
        """How many mails wait, since when, up to ``failing`` of those whose
        last attempt failed, of those a claim holds at ``at`` (any claim when
        None), and of the dead letters (each list oldest queued first)."""
        n = max(failing, 0)
        held = "" if at is None else f" AND lease_until_us > {to_us(at, 'at')}"
        with self.reading():  # one snapshot for the reads
            depth = self.pending()
            oldest = self._rows(
                f"SELECT queued_us FROM outbox WHERE {_WAITING} ORDER BY ord LIMIT 1"
            )
            rows = self._rows(
                "SELECT message_id, data, attempts, error, next_attempt_us FROM outbox "
                f"WHERE {_WAITING} AND error IS NOT NULL ORDER BY ord LIMIT ?",
                (n,),
            )
            claimed = self._entries(f"{_WAITING} AND token IS NOT NULL{held}", n)
            (dead,) = self._rows(f"SELECT COUNT(*) FROM outbox WHERE {_DEAD}")[0]
            dead_letters = self._entries(_DEAD, n)
        return OutboxState(
            depth=depth,
            oldest_queued_at=utc_from_us(oldest[0][0]) if oldest else None,
            failing=tuple(
                FailingMail(
                    message_id=message_id,
                    recipient=mail_from_json(data).recipient,
                    attempts=attempts,
                    error=error,
                    retry_at=utc_from_us(retry_us),
                )
                for message_id, data, attempts, error, retry_us in rows
            ),
            claimed=tuple(claimed),
            dead=int(dead),
            dead_letters=tuple(dead_letters),
        )

    def outbox_entries(self, *, dead: bool, limit: int) -> list[OutboxEntry]:
        """The dead letters (``dead``), else the waiting mails, oldest queued
        first, at most ``limit``."""
        return self._entries(_DEAD if dead else _WAITING, max(limit, 0))

    def _entries(self, where: str, limit: int) -> list[OutboxEntry]:
        rows = self._rows(
            "SELECT message_id, data, queued_us, attempts, error, next_attempt_us, "
            "dead_us, claimed_by, token, lease_until_us FROM outbox "
            f"WHERE {where} ORDER BY ord LIMIT ?",
            (limit,),
        )  # our fragments
        return [_entry(*row) for row in rows]

    def _unsent_row(self, message_id: str) -> tuple[Any, ...]:
        rows = self._rows(
            "SELECT sent_us, dead_us, dropped_us, token, lease_until_us, claimed_by "
            f"FROM outbox WHERE message_id = ?{self._LOCK}",
            (message_id,),
        )
        row = tuple(rows[0]) if rows else (None,) * 6
        check_unsent(message_id, found=bool(rows), sent_us=row[0], dropped_us=row[2])
        return row

    def retry_mail(self, message_id: str, *, at: datetime) -> None:
        """Put a dead letter back into the queue, queued again at ``at`` (its
        age for ``max_age`` and the lag counts from then), its attempts from 0
        (the last error kept until the next attempt).

        Raises:
            NotFound: No such mail.
            InvalidOperation: It is not a dead letter.
        """
        with self.transaction():
            _, dead_us, *_ = self._unsent_row(message_id)
            check_dead(message_id, dead_us)
            self._write(
                "UPDATE outbox SET dead_us = NULL, attempts = 0, next_attempt_us = ?, "
                "queued_us = ? WHERE message_id = ?",
                (to_us(at, "at"), to_us(at, "at"), message_id),
            )

    def drop_mail(self, message_id: str, *, at: datetime) -> None:
        """Stop sending a dead or waiting mail, for good (it stays, dropped).

        Raises:
            NotFound: No such mail.
            InvalidOperation: It was sent or dropped, or a claim holds it now.
        """
        x = to_us(at, "at")
        with self.transaction():
            _, _, _, token, lease_until, by = self._unsent_row(message_id)
            check_not_held(
                message_id, token=token, lease_until_us=lease_until, at_us=x, by=by
            )
            self._write(
                "UPDATE outbox SET dropped_us = ?, dead_us = COALESCE(dead_us, ?), "
                "token = NULL, claimed_by = NULL WHERE message_id = ?",
                (x, x, message_id),
            )


def _entry(
    message_id: str,
    data: str,
    queued_us: int,
    attempts: int,
    error: str | None,
    next_us: int,
    dead_us: int | None,
    by: str | None,
    token: str | None,
    lease_us: int,
) -> OutboxEntry:
    mail = mail_from_json(data)
    claimed = token is not None
    return OutboxEntry(
        message_id=message_id,
        recipient=mail.recipient,
        purpose=mail.purpose,
        key=mail.key,
        queued_at=utc_from_us(queued_us),
        attempts=attempts,
        error=error,
        next_attempt_at=utc_from_us(next_us),
        dead_at=None if dead_us is None else utc_from_us(dead_us),
        claimed_by=by if claimed else None,
        lease_until=utc_from_us(lease_us) if claimed else None,
    )

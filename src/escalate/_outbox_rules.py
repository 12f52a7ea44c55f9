"""What an operator may do to an outbox mail (``retry_mail``, ``drop_mail``),
said once for every store: each check raises the error the port promises."""

from __future__ import annotations

from escalate._instants import utc_from_us
from escalate.errors import InvalidOperation, NotFound


def check_unsent(
    message_id: str, *, found: bool, sent_us: int | None, dropped_us: int | None
) -> None:
    """The mail is there, not sent and not dropped."""
    if not found:
        raise NotFound(f"mail {message_id!r} is not in the outbox")
    if sent_us is not None:
        raise InvalidOperation(f"mail {message_id!r} was sent already")
    if dropped_us is not None:
        raise InvalidOperation(f"mail {message_id!r} was dropped already")


def check_dead(message_id: str, dead_us: int | None) -> None:
    """The mail is a dead letter (what ``retry_mail`` puts back)."""
    if dead_us is None:
        raise InvalidOperation(
            f"mail {message_id!r} is not a dead letter: it is waiting"
        )


def check_not_held(
    message_id: str,
    *,
    token: str | None,
    lease_until_us: int,
    at_us: int,
    by: str | None,
) -> None:
    """No worker's claim holds the mail at ``at_us`` (what ``drop_mail``
    must not take from under a send)."""
    if token is not None and lease_until_us > at_us:
        raise InvalidOperation(
            f"mail {message_id!r} is being sent by {by or 'a worker'} (its claim "
            f"holds it until {utc_from_us(lease_until_us).isoformat()})"
        )

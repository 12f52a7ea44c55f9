"""Sending the outbox: each queued mail claimed by one worker for a lease, sent,
and marked sent the moment its server accepted it.

:class:`Dispatcher` is what ``Escalator.dispatch`` runs, and what ``escalate
run`` runs beside the ticks, on a store connection of its own, so that a slow
mail server never holds up an escalation. What it promises:

* **One copy per mail**, but for the one duplicate no client can avoid: a mail
  is marked sent in its own transaction as soon as the server accepted it, so a
  lost connection or a killed worker re-sends only the mail in flight (the
  connection lost between the server's 250 and the mark), never the batch. A
  mail is never started when the claim holding it could lapse before the send
  ends (``now + send_deadline`` past ``lease_until``): those left are released
  at once. So two workers never send the same mail at the same time, however
  slow the server, as long as the mailer keeps to its deadline
  (``SmtpMailer(deadline=...)`` does).
* **Reply classes** (RFC 5321, 4.2.1): a permanent failure (a 5xx reply,
  ``DeliveryError(permanent=True)``) makes the mail a *dead letter* at once,
  with the server's answer; a temporary one (4xx, a lost connection) is tried
  again with backoff (``first_retry`` doubling to ``max_retry``) until
  ``max_attempts`` or ``max_age``, then it is a dead letter too. Dead letters
  wait for an operator: ``escalate outbox retry ID`` or ``drop ID``
  (``OutboxStore.retry_mail``, ``drop_mail``).

Nothing here reads the wall clock: time is the dispatcher's :class:`Clock`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import attrs

from escalate._instants import require_duration
from escalate._text import MAX_ID, check_text
from escalate.errors import ConfigError, DeliveryError, WrongTypeError
from escalate.mail import Mailer
from escalate.metrics import Metrics
from escalate.ports import Claim, OutboxEntry, OutboxStore
from escalate.timers import Clock

__all__ = [
    "DeliveryPolicy",
    "DispatchReport",
    "Dispatcher",
    "check_lease",
    "message_id_of",
]

_log: Final = logging.getLogger("escalate.outbox")
_MAX_ERROR: Final = 2_000  # characters of a failure kept with its mail


def _positive(name: str) -> Callable[[object, object, timedelta], None]:
    def check(instance: object, attribute: object, value: timedelta) -> None:
        require_duration(value, name)
        if value <= timedelta(0):
            raise ConfigError(f"{name}: expected a positive duration, got {value!r}")

    return check


def _attempts(instance: object, attribute: object, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise WrongTypeError(f"max_attempts: expected a whole number, got {value!r}")
    if not 1 <= value <= 1_000:
        raise ConfigError(f"max_attempts: expected 1 to 1000, got {value}")


@attrs.frozen(kw_only=True)
class DeliveryPolicy:
    """How long a mail is tried before it is a dead letter (the operator's:
    ``[mail.delivery]``).

    Attributes:
        max_attempts: Attempts at most (a permanent failure ends it at once).
        max_age: A mail queued longer ago than this is not tried again.
        first_retry: The wait after the first temporary failure; each further
            one doubles it.
        max_retry: The longest wait between two attempts.
        send_deadline: The longest one send may take (the mailer's deadline):
            a mail is only started while its claim holds that long.
    """

    max_attempts: int = attrs.field(default=10, validator=_attempts)
    max_age: timedelta = attrs.field(
        default=timedelta(days=2), validator=_positive("max_age")
    )
    first_retry: timedelta = attrs.field(
        default=timedelta(minutes=1), validator=_positive("first_retry")
    )
    max_retry: timedelta = attrs.field(
        default=timedelta(hours=1), validator=_positive("max_retry")
    )
    send_deadline: timedelta = attrs.field(
        default=timedelta(minutes=2), validator=_positive("send_deadline")
    )

    def retry_in(self, attempt: int) -> timedelta:
        """The wait after attempt ``attempt`` (1 for the first) failed."""
        if attempt > 40:  # 2**40 minutes is past any max_retry
            return self.max_retry
        wait: timedelta = self.first_retry * 2 ** (attempt - 1)
        return min(wait, self.max_retry)

    def gives_up(self, claim: Claim, now: datetime) -> str | None:
        """Why a mail whose attempt failed is not tried again, or None."""
        if claim.attempt >= self.max_attempts:
            return f"{claim.attempt} attempts, the most [mail.delivery] allows"
        queued = claim.queued_at
        if queued is not None and now + self.retry_in(claim.attempt) - queued > (
            self.max_age
        ):
            return f"queued at {queued.isoformat()}, older than max_age by the retry"
        return None


@attrs.frozen(kw_only=True)
class DispatchReport:
    """What a dispatch did.

    Attributes:
        at: When it began.
        sent: The Message-IDs sent (and marked sent).
        failed: (Message-ID, error) of each temporary failure, kept for a retry.
        dead: (Message-ID, error) of each mail made a dead letter.
        released: How many claims were given back untried (their lease would
            not have outlasted another send).
    """

    at: datetime
    sent: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    dead: tuple[tuple[str, str], ...] = ()
    released: int = 0


def check_lease(lease: timedelta, policy: DeliveryPolicy) -> timedelta:
    """``lease`` if it is at least twice the policy's send deadline (a claim
    must outlast the send it holds), else a ConfigError."""
    require_duration(lease, "lease")
    if lease < 2 * policy.send_deadline:
        raise ConfigError(
            f"lease: expected at least twice the send deadline "
            f"({2 * policy.send_deadline}), got {lease}: a claim must outlast "
            "the send it holds"
        )
    return lease


class Dispatcher:
    """Sends an outbox's mails through a mailer.

    Args:
        store: The outbox.
        mailer: Sends each mail.
        clock: Tells the time.
        lease: How long a claim holds its mails; at least twice
            ``policy.send_deadline``, so that a claim leaves room to send.
        policy: Retries, dead letters and the send deadline.
        metrics: Where it counts what it does.
        worker: Who claims (``status`` shows it beside each claimed mail).
        progress: Called with "sent" after each send and "marked" after each
            mark (tests stop a worker at a chosen point with it).
    """

    def __init__(
        self,
        store: OutboxStore,
        mailer: Mailer,
        clock: Clock,
        *,
        lease: timedelta = timedelta(minutes=5),
        policy: DeliveryPolicy | None = None,
        metrics: Metrics | None = None,
        worker: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.policy = policy or DeliveryPolicy()
        if not isinstance(self.policy, DeliveryPolicy):
            raise WrongTypeError(f"delivery: expected a DeliveryPolicy, got {policy!r}")
        self.lease = check_lease(lease, self.policy)
        self.metrics = Metrics() if metrics is None else metrics
        self.worker = worker
        self.progress = progress or _quiet

    def dispatch(
        self, *, limit: int = 100, stop: Callable[[], bool] | None = None
    ) -> DispatchReport:
        """Claim up to ``limit`` due mails and send each, marking it sent at
        once; see the module docstring. ``stop``, asked before each send, ends
        the dispatch early (the claims left are given back)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(
                f"limit: expected a whole number of 1 or more, got {limit!r}"
            )
        now = self.clock.now()
        claims = self.store.claim(now, lease=self.lease, limit=limit, by=self.worker)
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        dead: list[tuple[str, str]] = []
        for i, claim in enumerate(claims):
            stopping = stop is not None and stop()
            if stopping or (
                self.clock.now() + self.policy.send_deadline > claim.lease_until
            ):
                left = claims[i:]
                self.store.release(left)
                _log.info(
                    "%d claimed mails given back: %s",
                    len(left),
                    "the worker stops"
                    if stopping
                    else "their lease would not outlast another send",
                    extra={"released": len(left)},
                )
                return DispatchReport(
                    at=now,
                    sent=tuple(sent),
                    failed=tuple(failed),
                    dead=tuple(dead),
                    released=len(left),
                )
            try:
                self.mailer.send(claim.mail)
            except DeliveryError as e:
                self._failed(claim, e, failed, dead)
                continue
            self.progress("sent")
            if self._marked(claim):
                sent.append(claim.mail.message_id)
        return DispatchReport(
            at=now, sent=tuple(sent), failed=tuple(failed), dead=tuple(dead)
        )

    # -- dead letters ---------------------------------------------------------------

    def dead_letters(self, *, limit: int = 100) -> list[OutboxEntry]:
        """The dead letters, oldest queued first."""
        return self.store.outbox_entries(dead=True, limit=limit)

    def retry(self, message_id: str) -> None:
        """Put a dead letter back into the queue, due now, attempts from 0."""
        self.store.retry_mail(message_id_of(message_id), at=self.clock.now())
        _log.info(
            "dead letter %s put back", message_id, extra={"message_id": message_id}
        )

    def drop(self, message_id: str) -> None:
        """Stop sending a dead or waiting mail, for good."""
        self.store.drop_mail(message_id_of(message_id), at=self.clock.now())
        _log.warning("mail %s dropped", message_id, extra={"message_id": message_id})

    def _marked(self, claim: Claim) -> bool:
        """Mark a sent mail sent, in a transaction of its own."""
        mail = claim.mail
        fields = _fields(claim)
        if not self.store.mark_sent([claim], at=self.clock.now()):
            _log.warning(
                "sent %s to %s, but its claim had lapsed to another worker",
                mail.message_id,
                mail.recipient,
                extra=fields,
            )
            return False
        self.progress("marked")
        self.metrics.inc("escalate_mails_sent_total")
        _log.info("sent %s to %s", mail.message_id, mail.recipient, extra=fields)
        return True

    def _failed(
        self,
        claim: Claim,
        e: DeliveryError,
        failed: list[tuple[str, str]],
        dead: list[tuple[str, str]],
    ) -> None:
        mail = claim.mail
        now = self.clock.now()
        error = str(e)[:_MAX_ERROR]  # a server's answer may run to many lines
        fields = {**_fields(claim), "error": error}
        why = "a permanent failure" if e.permanent else self.policy.gives_up(claim, now)
        if why is not None:
            self.store.mark_dead(claim, error=error, at=now)
            dead.append((mail.message_id, error))
            self.metrics.inc("escalate_mails_dead_total")
            _log.error(
                "sending %s to %s stopped (%s; a dead letter now): %s",
                mail.message_id,
                mail.recipient,
                why,
                error,
                extra=fields,
            )
            return
        backoff = self.policy.retry_in(claim.attempt)
        self.store.mark_failed(claim, error=error, retry_at=now + backoff)
        failed.append((mail.message_id, error))
        self.metrics.inc("escalate_mails_failed_total")
        _log.warning(
            "sending %s to %s failed (attempt %d, retried in %s): %s",
            mail.message_id,
            mail.recipient,
            claim.attempt,
            backoff,
            error,
            extra=fields,
        )


def message_id_of(value: object) -> str:
    """``value`` if it can be a Message-ID (a text a store and a mail carry),
    else a clear error naming it."""
    if not isinstance(value, str):
        raise WrongTypeError(f"message_id: expected a text, got {value!r}")
    return check_text("message_id", value, max_length=MAX_ID * 4)


def _fields(claim: Claim) -> dict[str, object]:
    """What a log record of a mail's attempt carries (``extra``)."""
    mail = claim.mail
    return {
        "key": mail.key,
        "message_id": mail.message_id,
        "recipient": mail.recipient,
        "purpose": mail.purpose,
        "attempt": claim.attempt,
    }


def _quiet(step: str) -> None:
    """The default progress hook: nothing."""

"""Outgoing mail as a value, and the ``Mailer`` port that sends it.

An :class:`OutgoingMail` is what the engine enqueues and a mailer sends: one
recipient, a subject, a text body and optionally an HTML body, headers, and a
**stable Message-ID** derived from the action's idempotency key, the mail's purpose
(its template: one action may send an escalation and an assignment mail to the same
person) and the recipient, so that each mail has an identity of its own and a resend
after a crash can be recognised downstream. Building the
``email.message.EmailMessage`` is :meth:`OutgoingMail.to_message`; sending is an
adapter's job (``escalate.adapters``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from escalate._frozen import FrozenMap
from escalate._instants import require_aware
from escalate._text import unsafe_at
from escalate.errors import ConfigError

__all__ = ["MAX_ADDRESS", "Mailer", "OutgoingMail", "check_address", "message_id"]

# One address, nothing around it: no white space (so no CR or LF: no header
# injection), no brackets, quotes, commas or semicolons (so no second address
# in a To header), one @, a dot in the domain.
_ADDRESS: Final = re.compile(
    r'^[^@\s<>,;:"()\[\]\\]+@[^@\s<>,;:"()\[\]\\]+\.[^@\s<>,;:"()\[\]\\.]+$'
)

MAX_ADDRESS: Final = 254
"""The longest e-mail address (RFC 5321's path limit, less its brackets)."""


def message_id(
    key: str, recipient: str, *, purpose: str = "", domain: str = "escalate.invalid"
) -> str:
    """The stable Message-ID of the mail for ``key`` with ``purpose`` to ``recipient``.

    Two mails differ in their Message-ID when they differ in any of the three: the
    action (its key), what the mail is for (its template, say ``"escalation"`` and
    ``"assignment"``), or the recipient (compared case-blind).
    """
    text = f"{key}\n{recipient.lower()}"
    if purpose:  # without one, the identity of mails queued before purposes existed
        text = f"{key}\n{purpose}\n{recipient.lower()}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def check_address(value: object, where: str) -> str:
    """``value`` if it is one e-mail address the mail builder can put in a
    header as it is: else a ConfigError naming ``where``.

    Refused: CR, LF or any white space (a ``Bcc:`` smuggled into a header), a
    second address (commas, semicolons, angle brackets, quotes), NUL or a lone
    surrogate, and more than ``MAX_ADDRESS`` characters.
    """
    problem = ""
    if isinstance(value, str) and len(value) <= MAX_ADDRESS:
        found = _address_problem(value)
        if found is None:
            return value
        problem = found
    shown = value[:MAX_ADDRESS] if isinstance(value, str) else value
    raise ConfigError(
        f"{where}: expected one e-mail address like 'ann@example.com', got "
        f"{shown!r}{problem}"
    )


@functools.lru_cache(maxsize=10_000)
def _address_problem(value: str) -> str | None:
    """None for a good address, else what to add to the message. Cached: an
    address is checked once (parsing one costs about 20 µs, and every mail has
    two)."""
    if not _ADDRESS.match(value) or unsafe_at(value) is not None:
        return ""
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError) as e:
        return f": {e}"
    if parsed.addr_spec != value:
        return f" (a header reads it as {parsed.addr_spec!r})"
    return None


def _aware_or_none(_: Any, __: Any, value: datetime | None) -> None:
    if value is not None:
        require_aware(value, "created_at")


def _headers(value: Any) -> FrozenMap[str, str]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value or {})


@attrs.frozen(kw_only=True)
class OutgoingMail:
    """One mail to one recipient.

    Attributes:
        key: The idempotency key of the action it belongs to.
        recipient: The address it goes to.
        sender: The From address.
        subject: One line.
        text: The plain-text body.
        html: The HTML body, if any.
        headers: Extra headers.
        purpose: What the mail is for: the template it was rendered from
            (``"escalation"``, ``"assignment"``, ...); sent as ``X-Escalate-Purpose``.
        message_id: Derived from ``key``, ``purpose`` and ``recipient`` unless given.
        created_at: When it was written (queued): its ``Date`` header, the same
            on every attempt. None for a mail made without one; the mailer then
            dates it when it sends it.
    """

    key: str
    recipient: str = attrs.field(
        validator=lambda _, __, v: check_address(v, "recipient")
    )
    sender: str = attrs.field(validator=lambda _, __, v: check_address(v, "sender"))
    subject: str
    text: str
    html: str | None = None
    headers: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_headers)
    purpose: str = ""
    message_id: str = attrs.field()
    created_at: datetime | None = attrs.field(default=None, validator=_aware_or_none)

    @message_id.default
    def _message_id(self) -> str:
        domain = self.sender.rsplit("@", 1)[1]
        return message_id(self.key, self.recipient, purpose=self.purpose, domain=domain)

    def __attrs_post_init__(self) -> None:
        if "\n" in self.subject or "\r" in self.subject:
            raise ConfigError(f"subject: expected one line, got {self.subject!r}")

    def to_message(
        self, *, sender_name: str | None = None, date: datetime | None = None
    ) -> EmailMessage:
        """The ``email.message.EmailMessage`` (multipart/alternative with HTML).

        Its ``Date`` header is ``created_at``, else ``date`` (a mailer passes
        the time it sends); a mail with neither has no ``Date``.
        """
        msg = EmailMessage()
        dated = self.created_at or date
        if dated is not None:
            msg["Date"] = format_datetime(require_aware(dated, "date"))
        msg["From"] = (
            formataddr((sender_name, self.sender)) if sender_name else self.sender
        )
        msg["To"] = self.recipient
        msg["Subject"] = self.subject
        msg["Message-ID"] = self.message_id
        msg["X-Escalate-Key"] = self.key
        if self.purpose:
            msg["X-Escalate-Purpose"] = self.purpose
        for name, value in sorted(self.headers.items()):
            msg[name] = value
        msg.set_content(self.text)
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html")
        return msg


@runtime_checkable
class Mailer(Protocol):
    """The mail port: sends one :class:`OutgoingMail`.

    Sending the same mail twice must be harmless downstream (the Message-ID is
    the same); a mail that cannot be delivered raises
    :class:`~escalate.errors.DeliveryError`.
    """

    def send(self, mail: OutgoingMail) -> None: ...

"""The history chain: the canonical encoding of an entry, entries chained by
their hashes, heads, and :func:`verify` (see :mod:`escalate.history`)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, NamedTuple

import attrs

from escalate._frozen import deep_freeze
from escalate._instants import require_aware, to_us, utc_from_us
from escalate.errors import ConflictError, UnreadableEntry, WrongTypeError
from escalate.model import Status

GENESIS: Final = "0" * 64
"""The ``prev`` hash of a case's first history entry."""

ENCODING_VERSION: Final = 1


class HistoryAction(enum.Enum):
    """The six actions a case history logs (seed 002), and no others."""

    CASE_CREATED = "case created"
    CASE_MODIFIED = "case modified"
    FOLLOW_UP_LINE_DELETED = "follow-up line deleted"
    CASE_REOPENED = "case reopened"
    SOLUTION_ENTERED = "solution entered"
    CASE_CLOSED = "case closed"


# -- the canonical encoding ----------------------------------------------------------


def canonical_details(value: Any) -> Any:
    """A detail value in its JSON-native canonical form.

    None, bools, ints and texts stay; a ``Status`` is its name; aware datetimes
    become UTC ISO 8601 text with microseconds; dates ISO text;
    timedeltas whole microseconds; floats, Decimals and Fractions their ``str``;
    sequences lists; mappings objects with text keys. Anything else is refused.
    Instants are written as UTC ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Status):
        return value.name
    if isinstance(value, enum.Enum):
        return canonical_details(value.value)
    if isinstance(value, datetime):
        return _instant_text(to_us(value, "details"))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)
    if isinstance(value, float | Decimal | Fraction):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): canonical_details(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical_details(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise WrongTypeError(
        f"details: expected text, numbers, instants, durations, lists or mappings, "
        f"got {type(value).__name__} {value!r}"
    )


def _instant_text(us: int) -> str:
    return utc_from_us(us).isoformat(timespec="microseconds")


def encode_entry(
    *,
    case_id: str,
    seq: int,
    action: HistoryAction,
    at: datetime,
    actor: str | None,
    details: Mapping[str, Any],
    prev: str,
) -> bytes:
    """The canonical encoding of an entry: the bytes its hash is taken over.

    UTF-8 JSON, keys sorted, no spaces (``separators=(",", ":")``), non-ASCII
    written as is, of the object ``{"action", "actor", "at", "case", "details",
    "prev", "seq", "v"}``: the action's text, the actor's id or null for the
    library, the instant as UTC ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, the case id,
    the details (canonical), the previous entry's hash (64 zeros for the first),
    the sequence number from 1, and the encoding version (1).
    """
    return _encode(
        case_id, seq, action.value, _at_text(at), actor, _details_text(details), prev
    )


def _at_text(at: datetime) -> str:
    require_aware(at, "at")
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def _details_text(details: Mapping[str, Any]) -> str:
    return _DETAILS.encode(details) if details else "{}"


def _encode(
    case_id: str,
    seq: int,
    action: str,
    at_text: str,
    actor: str | None,
    details_text: str,
    prev: str,
) -> bytes:
    # The same bytes as json.dumps(document, sort_keys=True, separators=(",",":"),
    # ensure_ascii=False) of the document in encode_entry(), around its fixed keys.
    return (
        f'{{"action":{_string(action)},"actor":'
        f"{'null' if actor is None else _string(actor)}"
        f',"at":"{at_text}","case":{_string(case_id)},"details":{details_text},'
        f'"prev":{_string(prev)},"seq":{int(seq)},"v":{ENCODING_VERSION}}}'
    ).encode()


_string: Final = json.encoder.encode_basestring
_DETAILS: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class StoredEntry(NamedTuple):
    """A history entry as a store keeps it: its fields as the stored texts
    (``details`` the canonical JSON its hash covers, ``at`` ISO 8601 in UTC).

    What an audit checks (:meth:`computed_hash` is taken over these texts, the
    details not decoded); :meth:`entry` decodes it.
    """

    case_id: str
    seq: int
    action: str
    at: str
    actor: str | None
    details: str
    prev: str
    hash: str

    @classmethod
    def of(cls, entry: HistoryEntry) -> StoredEntry:
        """The stored form of an entry."""
        return cls(
            entry.case_id,
            entry.seq,
            entry.action.value,
            entry.at.isoformat(),
            entry.actor,
            entry._details_text,
            entry.prev,
            entry.hash,
        )

    def computed_hash(self) -> str:
        """The hash its content gives: over the stored texts when they are in
        the canonical form (the common case: one SHA-256, no decoding), else
        over the decoded entry (as :meth:`HistoryEntry.computed_hash`).

        Raises:
            UnreadableEntry: It does not hash to ``hash`` and cannot be decoded.
        """
        case_id, seq, action, at, actor, details, prev, digest = self
        if len(at) != 32 and len(at) == 25:  # written without the µs
            at = at[:19] + ".000000" + at[19:]
        if action in _ACTIONS and len(at) == 32 and at.endswith("+00:00"):
            try:
                encoded = _encode(case_id, seq, action, at, actor, details, prev)
            except TypeError:  # a field of another type: decoded below
                pass
            else:
                computed = hashlib.sha256(encoded).hexdigest()
                if computed == digest:
                    return computed
        return self.entry().computed_hash()

    def entry(self, pos: int | None = None) -> HistoryEntry:
        """The entry, decoded.

        Args:
            pos: Its position in the case's history, for the error (default:
                its ``seq``).

        Raises:
            UnreadableEntry: It cannot be read back (damaged or tampered).
        """
        where = self.seq if pos is None else pos
        try:
            for name, value, kind in (
                ("number", self.seq, int),
                ("case", self.case_id, str),
                ("prev", self.prev, str),
            ):
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise ValueError(f"its {name} is {value!r}")
            if not isinstance(self.hash, str) or (
                self.actor is not None and not isinstance(self.actor, str)
            ):
                raise ValueError(
                    f"its hash or actor is not text: {self.hash!r}, {self.actor!r}"
                )
            return HistoryEntry(
                case_id=self.case_id,
                seq=self.seq,
                action=HistoryAction(self.action),
                at=datetime.fromisoformat(self.at),
                actor=self.actor,
                details=deep_freeze(json.loads(self.details)),
                prev=self.prev,
                hash=self.hash,
            )
        except Exception as e:  # whatever the damage, it is this row's
            raise UnreadableEntry(
                f"case {self.case_id!r}: history entry {where} cannot be read: "
                f"{type(e).__name__}: {e}",
                case_id=self.case_id,
                seq=where if isinstance(where, int) else None,
            ) from e


_ACTIONS: Final = frozenset(a.value for a in HistoryAction)


@attrs.frozen(kw_only=True)
class HistoryEntry:
    """One entry of a case's history, chained to the previous one by ``prev``.

    Attributes:
        case_id: The case.
        seq: The sequence number within the case, from 1.
        action: One of the six :class:`HistoryAction` s.
        at: When it happened (UTC).
        actor: The person's id, or None for the library itself.
        details: Canonical details (see :func:`canonical_details`), read-only.
        prev: The previous entry's hash (:data:`GENESIS` for the first).
        hash: SHA-256 (hex) of :func:`encode_entry` of this entry.
    """

    case_id: str
    seq: int
    action: HistoryAction
    at: datetime
    actor: str | None
    details: Mapping[str, Any]
    prev: str
    hash: str
    # The canonical text of ``at`` and ``details``, derived once (attrs.evolve
    # derives it again, so an edited entry still fails to verify).
    _at_text: str = attrs.field(init=False, eq=False, repr=False)
    _details_text: str = attrs.field(init=False, eq=False, repr=False)

    @_at_text.default
    def _at_text_default(self) -> str:
        return _at_text(self.at)

    @_details_text.default
    def _details_text_default(self) -> str:
        return _details_text(self.details)

    @classmethod
    def chained(
        cls,
        head: HistoryHead,
        *,
        action: HistoryAction,
        at: datetime,
        actor: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> HistoryEntry:
        """The entry that follows ``head``, with its hash computed."""
        entry = cls(
            case_id=head.case_id,
            seq=head.count + 1,
            action=action,
            at=utc_from_us(to_us(at, "at")),
            actor=actor,
            details=deep_freeze(canonical_details(dict(details or {}))),
            prev=head.hash,
            hash="",
        )
        # The hash is the one field derived from the others; set it before the
        # entry is handed out (so the canonical text is built only once).
        object.__setattr__(entry, "hash", entry.computed_hash())
        return entry

    def computed_hash(self) -> str:
        """The hash this entry's content gives (equal to ``hash`` unless edited)."""
        return hashlib.sha256(
            _encode(
                self.case_id,
                self.seq,
                self.action.value,
                self._at_text,
                self.actor,
                self._details_text,
                self.prev,
            )
        ).hexdigest()


@attrs.frozen
class HistoryHead:
    """Where a case's history chain ends: its case, entry count and last hash."""

    case_id: str
    count: int = 0
    hash: str = GENESIS

    def after(self, entry: HistoryEntry) -> HistoryHead:
        """The head once ``entry`` is appended."""
        return HistoryHead(self.case_id, entry.seq, entry.hash)

    def require_next(self, entry: HistoryEntry) -> None:
        """Refuse ``entry`` unless it follows this (the stored) head.

        Raises:
            ConflictError: Its number or previous hash does not follow the head.
        """
        if entry.seq != self.count + 1 or entry.prev != self.hash:
            raise ConflictError(
                f"case {entry.case_id!r}: history entry {entry.seq} does not "
                f"follow the stored head (entry {self.count})"
            )


# -- verification ----------------------------------------------------------------


class Problem(enum.Enum):
    """What :func:`verify` found wrong."""

    EDITED = "edited"
    REMOVED = "removed"
    REORDERED = "reordered"
    INSERTED = "inserted"
    TRUNCATED = "truncated"
    TOMBSTONE_REMOVED = "tombstone removed"
    """A case deleted by a checkpoint's time has lost its deletion record."""
    UNREADABLE = "unreadable"
    """A stored entry cannot be read back (damaged or tampered)."""


@attrs.frozen(kw_only=True)
class Verification:
    """The result of :func:`verify`.

    Attributes:
        ok: The chain holds (and matches the head, if one was given).
        case_id: The case checked.
        count: How many entries were given.
        seq: The first sequence number where the chain breaks, or None.
        problem: What is wrong there, or None.
        reason: A sentence saying so.
    """

    ok: bool
    case_id: str | None
    count: int
    seq: int | None = None
    problem: Problem | None = None
    reason: str = "the chain holds"

    def __bool__(self) -> bool:
        return self.ok


def verify(
    entries: Sequence[HistoryEntry | StoredEntry],
    *,
    head: HistoryHead | None = None,
) -> Verification:
    """Check a case's history chain, in the order given.

    Reports the first sequence number where the chain breaks and what is wrong:
    an entry *edited* (its content no longer gives its hash, or its hash no longer
    is what the next entry recorded), *removed*, *reordered*, *inserted*, or, with
    ``head``, entries *truncated* from the end. Without ``head`` a cut-off tail
    cannot be seen: a shorter chain is still a valid chain.

    Entries as stored (:class:`StoredEntry`) are hashed over their stored
    texts, decoded only where those do not give the hash.

    Raises:
        UnreadableEntry: A stored entry that does not give its hash cannot be
            decoded, or its number is not a number.
    """
    case_id = (
        head.case_id if head is not None else (entries[0].case_id if entries else None)
    )
    count = len(entries)

    def broken(seq: int, problem: Problem, reason: str) -> Verification:
        return Verification(
            ok=False,
            case_id=case_id,
            count=count,
            seq=seq,
            problem=problem,
            reason=reason,
        )

    # How many entries there should be: the head knows, when given.
    expected = count if head is None else max(count, head.count)
    prev = GENESIS
    for pos, entry in enumerate(entries, 1):
        if entry.case_id != case_id:
            return broken(
                pos, Problem.INSERTED, f"entry {pos} belongs to case {entry.case_id!r}"
            )
        if entry.seq != pos:
            if type(entry.seq) is not int:  # a stored number that is not one
                assert isinstance(entry, StoredEntry)
                entry.entry(pos)  # raises UnreadableEntry, saying so
            seqs = [e.seq for e in entries]
            if entry.seq < pos or entry.seq > expected or seqs.count(entry.seq) > 1:
                return broken(
                    pos,
                    Problem.INSERTED,
                    f"position {pos} holds an entry numbered {entry.seq}: one was "
                    "inserted",
                )
            if pos in seqs[pos:]:
                return broken(
                    pos,
                    Problem.REORDERED,
                    f"entry {pos} comes after entry {entry.seq}: the order was changed",
                )
            return broken(
                pos,
                Problem.REMOVED,
                f"entry {pos} is missing (the next one is {entry.seq})",
            )
        if entry.computed_hash() != entry.hash:
            return broken(
                pos,
                Problem.EDITED,
                f"entry {pos}'s content does not give its hash: edited",
            )
        if entry.prev != prev and pos == 1:
            return broken(
                1,
                Problem.EDITED,
                "entry 1 does not start the chain: its previous hash is not the "
                "start value",
            )
        if entry.prev != prev:
            return broken(
                pos - 1,
                Problem.EDITED,
                f"entry {pos} records a different hash for entry {pos - 1}: entry "
                f"{pos - 1} was rewritten",
            )
        prev = entry.hash
    if head is not None:
        if count < head.count:
            return broken(
                count + 1,
                Problem.TRUNCATED,
                f"the chain ends at entry {count} but the head says {head.count}",
            )
        if count > head.count:
            return broken(
                head.count + 1,
                Problem.INSERTED,
                f"entries after {head.count}, the head's last, were added",
            )
        if prev != head.hash:
            return broken(
                count,
                Problem.EDITED,
                f"entry {count}'s hash is not the head's: rewritten",
            )
    return Verification(ok=True, case_id=case_id, count=count)

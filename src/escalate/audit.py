"""Auditing a store's history: every case against its head, and the whole store
against a checkpoint kept somewhere else.

What is checked, and by what (``docs/history.md`` has the threat model):

* :func:`audit` checks each case's chain of entries against the head the store
  keeps **apart from the entries** (and a deleted case's chain against the head in
  its deletion record too). An edited, removed, inserted or reordered entry, a cut
  tail, a tail rewritten with recomputed hashes, and a case's whole history
  deleted are found, as long as the heads were not rewritten to match.
* A :class:`Checkpoint` is a digest of all heads at an instant: the root of a
  Merkle tree (RFC 6962's construction) over one leaf per case, ``[case id,
  count, last hash, deleted]``, sorted by case id. Kept outside the database (or
  its root published), it lets :func:`check_against` prove that the store still
  extends it: every case of the checkpoint still has at least that many entries
  with the same hashes, and a case deleted then still has its tombstone. That
  catches a rewrite by someone who can write everything in the database, heads
  included. A Merkle tree rather than one hash over a sorted list, because one
  case's head can then be proven against the root alone
  (:meth:`Checkpoint.proof`), with a path of ``log2(cases)`` hashes, without
  showing any other case.
* Each case's **SLA events** are chained too (``escalate.sla.SlaHead``): the
  audit checks them against the SLA head the store keeps apart, and a
  checkpoint holds each case's SLA head as two more fields of its leaf,
  ``[..., SLA event count, last SLA hash]`` (a case without SLA events has the
  four fields only, so a checkpoint of a store without them is as before).

Everything here reads through the store ports and is deterministic; the instant
of a checkpoint is passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any, Final, Protocol

import attrs

from escalate._instants import require_aware
from escalate.errors import ConfigError, EscalateError, UnreadableEntry
from escalate.history import (
    HistoryHead,
    Problem,
    StoredEntry,
    Verification,
    verify,
)
from escalate.ports import CaseStore, HistoryStore, SlaEventLog
from escalate.sla import SlaHead, verify_sla

__all__ = [
    "AuditReport",
    "Checkpoint",
    "CheckpointLeaf",
    "InclusionProof",
    "audit",
    "check_against",
    "take_checkpoint",
]

CHECKPOINT_FORMAT: Final = "escalate checkpoint 1"
_EMPTY_ROOT: Final = hashlib.sha256(b"").hexdigest()


class AuditedStore(HistoryStore, CaseStore, SlaEventLog, Protocol):
    """What an audit reads: the history part, the case deletion records and the
    SLA events."""


@attrs.frozen(kw_only=True)
class AuditReport:
    """What an audit found.

    Attributes:
        checked: How many case histories were checked.
        broken: One :class:`~escalate.history.Verification` per broken case, in
            case id order (the first break of each).
        sla_checked: How many cases' SLA events were checked.
        sla_broken: One verification per case whose SLA events are broken, in
            case id order.
    """

    checked: int
    broken: tuple[Verification, ...] = ()
    sla_checked: int = 0
    sla_broken: tuple[Verification, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing is broken."""
        return not self.broken and not self.sla_broken

    def __bool__(self) -> bool:
        return self.ok


def audit(store: AuditedStore) -> AuditReport:
    """Verify every case's history (open, closed or deleted) against the head the
    store keeps apart from it, and each deleted case's against the head its
    deletion record holds.

    The entries are read as stored (:meth:`HistoryStore.stored_history`, one
    pass over all cases) and hashed over their stored canonical texts; details
    are decoded only for an entry whose texts do not give its hash.

    Args:
        store: The store (its history part and its deletion records).
    """
    tombstones = {d.case_id: d.head for d in store.case_deletions()}
    heads = {h.case_id: h for h in store.history_heads()}
    cases = heads.keys() | tombstones.keys()
    broken: dict[str, Verification] = {}
    seen: set[str] = set()

    def check(case_id: str, entries: list[StoredEntry]) -> None:
        head = heads.get(case_id)
        try:
            result = verify(
                entries, head=HistoryHead(case_id) if head is None else head
            )
            tombstone = tombstones.get(case_id)
            if result.ok and tombstone is not None:
                result = verify(entries, head=tombstone)
                if not result.ok:
                    result = attrs.evolve(
                        result,
                        reason=f"{result.reason} (the deletion record's head)",
                    )
        except UnreadableEntry as e:  # reported as that case's break; go on
            result = _unreadable(e)
        if not result.ok:
            broken[case_id] = result

    for case_id, entries in _by_case(store.stored_history()):
        seen.add(case_id)
        check(case_id, entries)
    for case_id in cases - seen:  # a head (or deletion record) without entries
        check(case_id, [])
    sla_heads = store.sla_heads()
    return AuditReport(
        checked=len(cases),
        broken=tuple(broken[c] for c in sorted(broken)),
        sla_checked=len(sla_heads),
        sla_broken=_sla_broken(store, sla_heads),
    )


def _sla_broken(
    store: AuditedStore, heads: Iterable[SlaHead], since: str | None = None
) -> tuple[Verification, ...]:
    """The cases whose SLA events do not verify against their heads (those of
    the checkpoint of ``since``, if given: a store may extend it)."""
    broken = []
    for head in heads:
        try:
            result = verify_sla(store.sla_events(head.case_id), head, since=since)
        except EscalateError as e:  # a stored event that cannot be read back
            result = Verification(
                ok=False,
                case_id=head.case_id,
                count=0,
                problem=Problem.UNREADABLE,
                reason=f"SLA events: an event cannot be read back: {e}",
            )
        if not result.ok:
            broken.append(result)
    return tuple(broken)


def _by_case(
    stored: Iterable[StoredEntry],
) -> Iterator[tuple[str, list[StoredEntry]]]:
    """The entries of each case in turn (the store gives them by case)."""
    for case_id, entries in groupby(stored, key=itemgetter(0)):
        yield case_id, list(entries)


def _unreadable(error: UnreadableEntry) -> Verification:
    return Verification(
        ok=False,
        case_id=error.case_id,
        count=0,
        seq=error.seq,
        problem=Problem.UNREADABLE,
        reason=str(error).removeprefix(f"case {error.case_id!r}: "),
    )


# -- the Merkle tree (RFC 6962, section 2.1) ---------------------------------------


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(_root(leaves[:k]), _root(leaves[k:]))


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``m``, bottom up."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _root(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _root(leaves[:k])]


@attrs.frozen
class CheckpointLeaf:
    """One case in a checkpoint: its head then, whether it was deleted, and
    the head of its SLA events then (None: it had none)."""

    head: HistoryHead
    deleted: bool = False
    sla: SlaHead | None = None

    def __attrs_post_init__(self) -> None:
        if self.sla is not None and self.sla.case_id != self.head.case_id:
            raise ConfigError(
                f"sla: expected the head of case {self.head.case_id!r}'s SLA "
                f"events, got case {self.sla.case_id!r}'s"
            )

    def fields(self) -> list[Any]:
        """``[case id, count, hash, deleted]``, then ``SLA count, SLA hash``
        if the case had SLA events."""
        h = self.head
        more = [] if self.sla is None else [self.sla.count, self.sla.hash]
        return [h.case_id, h.count, h.hash, self.deleted, *more]

    def data(self) -> bytes:
        """The leaf's bytes: the UTF-8 JSON array of its :meth:`fields`,
        without spaces."""
        return json.dumps(
            self.fields(), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


@attrs.frozen(kw_only=True)
class InclusionProof:
    """Proof that one leaf is in a checkpoint of ``size`` leaves (RFC 6962's audit
    path): ``index`` is the leaf's place, ``path`` the sibling hashes (hex), bottom
    up."""

    index: int
    size: int
    path: tuple[str, ...]

    def verify(self, root: str, leaf: CheckpointLeaf) -> bool:
        """Whether ``leaf`` at ``index`` gives ``root`` (RFC 9162, 2.1.3.2)."""
        if not 0 <= self.index < self.size:
            return False
        fn, sn = self.index, self.size - 1
        r = _leaf_hash(leaf.data())
        for hex_hash in self.path:
            p = bytes.fromhex(hex_hash)
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                r = _node_hash(p, r)
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                r = _node_hash(r, p)
            fn >>= 1
            sn >>= 1
        return sn == 0 and r.hex() == root


def _leaves(value: Iterable[CheckpointLeaf]) -> tuple[CheckpointLeaf, ...]:
    leaves = tuple(sorted(value, key=lambda leaf: leaf.head.case_id))
    ids = [leaf.head.case_id for leaf in leaves]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"leaves: expected one leaf per case, got {ids}")
    return leaves


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A digest of all history heads at an instant (see the module docstring).

    Attributes:
        at: When it was taken.
        leaves: One per case with history, sorted by case id.
        root: The Merkle root over the leaves, in hex.
    """

    at: datetime
    leaves: tuple[CheckpointLeaf, ...] = attrs.field(converter=_leaves)
    root: str = attrs.field(init=False)

    @root.default
    def _root_default(self) -> str:
        if not self.leaves:
            return _EMPTY_ROOT
        return _root([_leaf_hash(leaf.data()) for leaf in self.leaves]).hex()

    def __attrs_post_init__(self) -> None:
        require_aware(self.at, "at")

    def proof(self, case_id: str) -> InclusionProof:
        """The proof that ``case_id``'s leaf is in this checkpoint.

        Raises:
            ConfigError: The case is not in it.
        """
        ids = [leaf.head.case_id for leaf in self.leaves]
        if case_id not in ids:
            raise ConfigError(f"case_id: {case_id!r} is not in the checkpoint")
        index = ids.index(case_id)
        hashes = [_leaf_hash(leaf.data()) for leaf in self.leaves]
        return InclusionProof(
            index=index,
            size=len(hashes),
            path=tuple(h.hex() for h in _path(index, hashes)),
        )

    def leaf(self, case_id: str) -> CheckpointLeaf:
        """The case's leaf.

        Raises:
            ConfigError: The case is not in it.
        """
        for leaf in self.leaves:
            if leaf.head.case_id == case_id:
                return leaf
        raise ConfigError(f"case_id: {case_id!r} is not in the checkpoint")

    def document(self) -> str:
        """The checkpoint as JSON text, to keep outside the database."""
        return json.dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "at": self.at.isoformat(),
                "root": self.root,
                "cases": [leaf.fields() for leaf in self.leaves],
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def from_document(cls, text: str, *, where: str = "checkpoint") -> Checkpoint:
        """The checkpoint of a :meth:`document`, after checking that its leaves
        still give its root.

        Raises:
            ConfigError: The text is not a checkpoint, or its leaves do not give
                its root (the file was changed).
        """
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
                raise ConfigError(
                    f"{where}: expected a checkpoint ({CHECKPOINT_FORMAT!r}) as "
                    "written by 'escalate verify --checkpoint'"
                )
            checkpoint = cls(
                at=datetime.fromisoformat(data["at"]),
                leaves=[_leaf(row) for row in data["cases"]],
            )
            root = data["root"]
        except ConfigError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{where}: expected a checkpoint document: {e}") from e
        if checkpoint.root != root:
            raise ConfigError(
                f"{where}: its cases do not give its root {root!r} (they give "
                f"{checkpoint.root!r}): the file was changed"
            )
        return checkpoint


def _leaf(row: Any) -> CheckpointLeaf:
    shape = (
        "[id, count, hash, deleted] or [id, count, hash, deleted, SLA count, SLA hash]"
    )
    if not isinstance(row, list) or len(row) not in (4, 6):
        raise ValueError(f"a case is {shape}, got {row!r}")
    case_id, count, hash_, deleted, *sla = row
    if not (
        isinstance(case_id, str)
        and _is_count(count)
        and isinstance(hash_, str)
        and isinstance(deleted, bool)
        and (not sla or (_is_count(sla[0]) and isinstance(sla[1], str)))
    ):
        raise ValueError(f"a case is {shape}, got {row!r}")
    head = HistoryHead(case_id, count, hash_)
    return CheckpointLeaf(head, deleted, SlaHead(case_id, *sla) if sla else None)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def take_checkpoint(store: AuditedStore, at: datetime) -> Checkpoint:
    """A checkpoint of every head the store keeps (history and SLA events), at
    ``at``."""
    deleted = {d.case_id for d in store.case_deletions()}
    heads = {h.case_id: h for h in store.history_heads()}
    sla = {h.case_id: h for h in store.sla_heads() if h.count}
    return Checkpoint(
        at=at,
        leaves=[
            CheckpointLeaf(heads.get(c, HistoryHead(c)), c in deleted, sla.get(c))
            for c in heads.keys() | sla.keys()
        ],
    )


def check_against(store: AuditedStore, checkpoint: Checkpoint) -> AuditReport:
    """Whether the store still extends ``checkpoint``: each case in it still has at
    least that many entries, the first of them chaining to the same last hash,
    and each case deleted then still has its deletion record.
    """
    tombstones = {d.case_id for d in store.case_deletions()}
    when = checkpoint.at.isoformat()
    leaves = {leaf.head.case_id: leaf for leaf in checkpoint.leaves}
    results: dict[str, Verification] = {}

    def check(leaf: CheckpointLeaf, entries: list[StoredEntry]) -> Verification:
        head = leaf.head
        try:
            if len(entries) < head.count:
                result = Verification(
                    ok=False,
                    case_id=head.case_id,
                    count=len(entries),
                    seq=len(entries) + 1,
                    problem=Problem.TRUNCATED,
                    reason=(
                        f"the checkpoint of {when} has {head.count} entries, the "
                        f"store {len(entries)}"
                    ),
                )
            else:
                result = verify(entries[: head.count], head=head)
                if not result.ok:
                    result = attrs.evolve(
                        result,
                        reason=f"{result.reason} (since the checkpoint of {when})",
                    )
        except UnreadableEntry as e:
            return _unreadable(e)
        if result.ok and leaf.deleted and head.case_id not in tombstones:
            result = Verification(
                ok=False,
                case_id=head.case_id,
                count=len(entries),
                problem=Problem.TOMBSTONE_REMOVED,
                reason=(
                    f"the case was deleted by the checkpoint of {when}, but its "
                    "deletion record is gone"
                ),
            )
        return result

    for case_id, entries in _by_case(store.stored_history()):
        leaf = leaves.get(case_id)
        if leaf is not None:
            results[case_id] = check(leaf, entries)
    broken = []
    for leaf in checkpoint.leaves:
        result = results.get(leaf.head.case_id)
        if result is None:  # (not `or`: a broken Verification is falsy)
            result = check(leaf, [])
        if not result.ok:
            broken.append(result)
    sla = [leaf.sla for leaf in checkpoint.leaves if leaf.sla is not None]
    return AuditReport(
        checked=len(checkpoint.leaves),
        broken=tuple(broken),
        sla_checked=len(sla),
        sla_broken=_sla_broken(store, sla, when),
    )

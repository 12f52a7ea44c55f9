"""escalate.audit: the Merkle checkpoint against RFC 6962's reference values and a
model written from the RFC's definition, its proofs, and audits of a memory
store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.adapters.memory import MemoryStore
from escalate.audit import (
    Checkpoint,
    CheckpointLeaf,
    InclusionProof,
    _leaf_hash,
    _root,
    audit,
    check_against,
    take_checkpoint,
)
from escalate.errors import ConfigError, NaiveDatetimeError
from escalate.history import HistoryHead, Problem, apply_change, create_case
from escalate.model import Actor, Case

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)

# The Certificate Transparency reference inputs and the roots of their first n
# (RFC 6962's construction; the values every CT implementation tests against).
CT_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def model_root(data: list[bytes]) -> bytes:
    """MTH from RFC 6962 section 2.1, word for word."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(
        b"\x01" + model_root(data[:k]) + model_root(data[k:])
    ).digest()


class TestMerkleTree:
    @pytest.mark.parametrize("n", range(1, 9))
    def test_the_reference_roots(self, n: int) -> None:
        """The tree gives CT's reference root for the first n reference inputs."""
        leaves = [_leaf_hash(bytes.fromhex(x)) for x in CT_INPUTS[:n]]
        assert _root(leaves).hex() == CT_ROOTS[n - 1]

    def test_the_empty_checkpoint(self) -> None:
        """No cases: the root is the hash of nothing, as RFC 6962 says."""
        assert Checkpoint(at=T0, leaves=[]).root == hashlib.sha256(b"").hexdigest()


heads = st.builds(
    HistoryHead,
    st.text(min_size=1, max_size=6),
    st.integers(0, 99),
    st.text("0123456789abcdef", min_size=64, max_size=64),
)
leaves = st.lists(
    st.builds(CheckpointLeaf, heads, st.booleans()),
    max_size=40,
    unique_by=lambda leaf: leaf.head.case_id,
)


class TestCheckpointProperties:
    @given(leaves)
    def test_root_agrees_with_the_model(self, ls: list[CheckpointLeaf]) -> None:
        """The root is the RFC's MTH of the leaves' data, sorted by case id."""
        checkpoint = Checkpoint(at=T0, leaves=ls)
        ordered = sorted(ls, key=lambda leaf: leaf.head.case_id)
        assert checkpoint.root == model_root([x.data() for x in ordered]).hex()

    @given(leaves, st.data())
    def test_every_leaf_is_proven_and_nothing_else(
        self, ls: list[CheckpointLeaf], data: st.DataObject
    ) -> None:
        """Each case's proof verifies its leaf; a changed leaf, index or path
        does not."""
        checkpoint = Checkpoint(at=T0, leaves=ls)
        for leaf in checkpoint.leaves:
            proof = checkpoint.proof(leaf.head.case_id)
            assert proof.verify(checkpoint.root, leaf)
            assert not proof.verify(
                checkpoint.root, attrs.evolve(leaf, deleted=not leaf.deleted)
            )
            moved = attrs.evolve(leaf.head, count=leaf.head.count + 1)
            assert not proof.verify(
                checkpoint.root, CheckpointLeaf(moved, leaf.deleted)
            )
            if proof.size > 1:
                shift = data.draw(st.integers(1, proof.size - 1))
                other = (proof.index + shift) % proof.size
                assert not attrs.evolve(proof, index=other).verify(
                    checkpoint.root, leaf
                )
                assert not attrs.evolve(proof, path=proof.path[:-1]).verify(
                    checkpoint.root, leaf
                )

    @given(leaves)
    def test_the_document_round_trips(self, ls: list[CheckpointLeaf]) -> None:
        """A checkpoint read back from its document is equal, root and all."""
        checkpoint = Checkpoint(at=T0 + timedelta(microseconds=7), leaves=ls)
        assert Checkpoint.from_document(checkpoint.document()) == checkpoint


class TestCheckpointValues:
    def test_refusals(self) -> None:
        """A naive instant, two leaves of one case, an unknown case: errors."""
        leaf = CheckpointLeaf(HistoryHead("c1", 1, "0" * 64))
        with pytest.raises(NaiveDatetimeError):
            Checkpoint(at=datetime(2026, 1, 1), leaves=[leaf])
        with pytest.raises(ConfigError, match="one leaf per case"):
            Checkpoint(at=T0, leaves=[leaf, leaf])
        with pytest.raises(ConfigError, match="'c2' is not in the checkpoint"):
            Checkpoint(at=T0, leaves=[leaf]).proof("c2")

    def test_a_proof_out_of_range_is_false(self) -> None:
        """An index outside the tree proves nothing."""
        leaf = CheckpointLeaf(HistoryHead("c1", 1, "0" * 64))
        root = Checkpoint(at=T0, leaves=[leaf]).root
        assert not InclusionProof(index=1, size=1, path=()).verify(root, leaf)
        assert InclusionProof(index=0, size=1, path=()).verify(root, leaf)


def store_with_history() -> MemoryStore:
    store = MemoryStore()
    change = create_case(Case(id="c1", number="C-1", created_at=T0), by=Actor("ann"))
    store.append_history(change.entries)
    later = apply_change(change.file, {"priority": "high"}, by=Actor("ann"), at=T0)
    store.append_history(later.entries)
    return store


class TestAuditOfAMemoryStore:
    def test_a_clean_store(self) -> None:
        """One case, checked, nothing broken; a checkpoint of it is extended."""
        store = store_with_history()
        report = audit(store)
        assert (report.ok, report.checked, bool(report)) == (True, 1, True)
        assert check_against(store, take_checkpoint(store, T0)).ok

    def test_a_cut_tail(self) -> None:
        """The last entry cut behind the store's back: truncated, at entry 2."""
        store = store_with_history()
        checkpoint = take_checkpoint(store, T0)
        store._history["c1"].pop()
        (broken,) = audit(store).broken
        assert (broken.case_id, broken.seq, broken.problem) == (
            "c1",
            2,
            Problem.TRUNCATED,
        )
        (since,) = check_against(store, checkpoint).broken
        assert since.problem is Problem.TRUNCATED

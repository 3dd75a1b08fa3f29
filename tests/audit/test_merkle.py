"""RFC 9162 Merkle trees against a naive, recursive reference written straight from the RFC."""

import hashlib

import pytest

from audit import merkle
from audit.merkle import CompactRange, ProofError


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + f"entry {i}".encode()).digest()


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


LEAVES = [leaf(i) for i in range(70)]


def test_it_computes_the_rfc_root_for_every_size():
    tree = CompactRange()
    assert tree.root() == mth([])
    for n in range(1, len(LEAVES) + 1):
        tree.append(LEAVES[n - 1])
        assert tree.root() == mth(LEAVES[:n]), n
        assert merkle.root_of(LEAVES[:n]) == mth(LEAVES[:n])


def test_it_extends_a_tree_by_many_leaves_as_appending_them_one_by_one_would():
    for first in range(0, 20):
        for more in range(0, 51 - first):
            one_by_one = CompactRange()
            for item in LEAVES[: first + more]:
                one_by_one.append(item)
            batched = CompactRange()
            batched.extend(LEAVES[:first])
            batched.extend(LEAVES[first : first + more])
            assert (batched.size, batched.to_bytes()) == (one_by_one.size, one_by_one.to_bytes()), (first, more)
            assert batched.root() == mth(LEAVES[: first + more])


def test_one_leaf_on_the_stored_bytes_makes_the_range_and_root_of_the_rfc():
    leaves = [leaf(i) for i in range(300)]
    stored = b""
    for size, new in enumerate(leaves):
        stored = merkle.append_one(size, stored, new)
        tree = CompactRange.from_bytes(size + 1, stored)
        assert tree.root() == mth(leaves[: size + 1])


def test_it_round_trips_a_compact_range_through_bytes():
    tree = CompactRange()
    for item in LEAVES[:45]:
        tree.append(item)
    again = CompactRange.from_bytes(45, tree.to_bytes())
    again.append(LEAVES[45])
    assert again.root() == mth(LEAVES[:46])


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 70])
def test_it_builds_inclusion_proofs_like_the_rfc_and_they_verify(size):
    leaves = LEAVES[:size]
    root = mth(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, iter(leaves))
        assert proof == path(index, leaves)
        merkle.verify_inclusion(index, size, leaves[index], proof, root)


@pytest.mark.parametrize("second", [2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 70])
def test_it_builds_consistency_proofs_like_the_rfc_and_they_verify(second):
    leaves = LEAVES[:second]
    for first in range(1, second + 1):
        proof = merkle.consistency_proof(first, second, iter(leaves))
        assert proof == (subproof(first, leaves, True) if first < second else [])
        merkle.verify_consistency(first, second, mth(leaves[:first]), mth(leaves), proof)


def test_it_decomposes_ranges_into_aligned_subtrees():
    for start in range(0, 40):
        for end in range(start, 41):
            parts = merkle.decompose(start, end)
            position = start
            for part_start, level in parts:
                assert part_start == position and part_start % (1 << level) == 0
                position += 1 << level
            assert position == end
    tree = CompactRange()
    for start, level in merkle.decompose(0, 13):
        tree.append_subtree(level, mth(LEAVES[start : start + (1 << level)]))
    assert tree.root() == mth(LEAVES[:13])


def _mutations(proof: list[bytes]):
    if proof:
        yield "dropped last", proof[:-1]
        yield "dropped first", proof[1:]
        flipped = bytearray(proof[0])
        flipped[0] ^= 1
        yield "flipped bit", [bytes(flipped), *proof[1:]]
        yield "truncated node", [proof[0][:31], *proof[1:]]
        if len(proof) > 1:
            yield "swapped", [proof[1], proof[0], *proof[2:]]
    yield "extra node", [*proof, leaf(999)]


def test_it_rejects_malformed_inclusion_proofs():
    size, index = 21, 6
    root = mth(LEAVES[:size])
    good = path(index, LEAVES[:size])
    for name, bad in _mutations(good):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, LEAVES[index], bad, root)
            pytest.fail(name)
    for wrong_index, wrong_size in ((7, size), (index, 22), (index, 12), (21, 21), (-1, 21)):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(wrong_index, wrong_size, LEAVES[index], good, mth(LEAVES[:wrong_size]))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(index, size, LEAVES[index + 1], good, root)


def test_it_rejects_malformed_consistency_proofs():
    first, second = 6, 21
    a, b = mth(LEAVES[:first]), mth(LEAVES[:second])
    good = subproof(first, LEAVES[:second], True)
    merkle.verify_consistency(first, second, a, b, good)
    for name, bad in _mutations(good):
        with pytest.raises(ProofError):
            merkle.verify_consistency(first, second, a, b, bad)
            pytest.fail(name)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, second, a, b, [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, second, mth(LEAVES[1:7]), b, good)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, second, a, mth(LEAVES[:20]), good)
    with pytest.raises(ProofError):
        merkle.verify_consistency(7, second, a, b, good)
    with pytest.raises(ProofError):
        merkle.verify_consistency(second, first, b, a, good)
    with pytest.raises(ProofError):
        merkle.verify_consistency(4, 4, a, a, [a])
    # A power-of-two first tree: its own root is not repeated in the proof.
    pow2 = subproof(8, LEAVES[:second], True)
    merkle.verify_consistency(8, second, mth(LEAVES[:8]), b, pow2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(8, second, mth(LEAVES[:8]), b, [mth(LEAVES[:8]), *pow2])

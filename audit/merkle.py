"""RFC 9162 Merkle trees (section 2.1): roots, inclusion and consistency proofs.

Leaves are already leaf hashes (SHA-256(0x00 || entry)); interior nodes are
SHA-256(0x01 || left || right). Nothing here needs the whole tree in memory:
a compact range (the roots of the perfect subtrees along the right edge) is
enough to append leaves and to compute a root, and proofs are computed by
streaming leaf hashes through the few subtree ranges the proof needs.
Pure Python, no Django.
"""

import hashlib
from collections.abc import Iterable, Iterator

from audit.canonical import node_hash

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof is malformed or does not prove what it claims."""


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The right edge of a tree of `size` leaves: one perfect subtree root per set bit of size."""

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None):
        self.size = size
        self.nodes = list(nodes or [])
        if len(self.nodes) != bin(size).count("1"):
            raise ValueError("a compact range has one node per set bit of its size")

    def append(self, leaf: bytes) -> None:
        nodes = self.nodes
        size = self.size
        node = leaf
        while size & 1:
            node = node_hash(nodes.pop(), node)
            size >>= 1
        nodes.append(node)
        self.size += 1

    def append_subtree(self, level: int, node: bytes) -> None:
        """Appends a perfect subtree of 2**level leaves that starts at the current size."""
        width = 1 << level
        if self.size % width:
            raise ProofError("subtree is not aligned to the tree's right edge")
        nodes = self.nodes
        size = self.size >> level
        while size & 1:
            node = node_hash(nodes.pop(), node)
            size >>= 1
        nodes.append(node)
        self.size += width

    def extend(self, leaves: list[bytes]) -> None:
        """Appends many leaves; the same tree as append() of each, with fewer Python calls.

        The new leaves are cut into the aligned perfect subtrees that cover them, and each subtree
        is hashed a level at a time, one list comprehension per level. It computes the same
        interior nodes as append() would (one per leaf, on average), so it only saves the
        interpreter's work per leaf: audit_verify's hot path."""
        sha256 = hashlib.sha256
        offset = self.size
        for start, level in decompose(offset, offset + len(leaves)):
            nodes = leaves[start - offset : start - offset + (1 << level)]
            while len(nodes) > 1:
                pairs = zip(nodes[::2], nodes[1::2], strict=True)
                nodes = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
            self.append_subtree(level, nodes[0])

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def to_bytes(self) -> bytes:
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> "CompactRange":
        return cls(size, [bytes(data[i : i + 32]) for i in range(0, len(data), 32)])


def append_one(size: int, compact: bytes, leaf: bytes) -> bytes:
    """The stored compact range (CompactRange.to_bytes) of a tree of `size` leaves whose stored range
    is `compact`, after one more leaf: CompactRange.append on the bytes, without building a range."""
    sha256 = hashlib.sha256
    node, end = leaf, len(compact)
    while size & 1:  # each set low bit of size is a right-edge node that merges with the new one
        node = sha256(b"\x01" + compact[end - 32 : end] + node).digest()
        end -= 32
        size >>= 1
    return compact[:end] + node


def root_of(leaves: Iterable[bytes]) -> bytes:
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def decompose(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees covering [start, end), left to right, as (start, level)."""
    parts = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        parts.append((start, level))
        start += 1 << level
    return parts


# -- proofs as lists of leaf ranges --------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1, as the [start, end) range of each node, leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    offset = 0
    while size > 1:
        k = _split(size)
        if index < k:
            ranges.append((offset + k, offset + size))
            size = k
        else:
            ranges.append((offset, offset + k))
            offset += k
            index -= k
            size -= k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(first, D[0:second]) of RFC 9162 2.1.4.1, as the [start, end) range of each node."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        return []
    ranges: list[tuple[int, int]] = []
    offset, m, n, whole = 0, first, second, True
    while m != n:
        k = _split(n)
        if m <= k:
            ranges.append((offset + k, offset + n))
            n = k
        else:
            ranges.append((offset, offset + k))
            offset += k
            m -= k
            n -= k
            whole = False
    if not whole:
        ranges.append((offset, offset + m))
    ranges.reverse()
    return ranges


def hashes_for_ranges(ranges: list[tuple[int, int]], leaves: Iterator[bytes], start: int = 0) -> list[bytes]:
    """Streams leaf hashes (from leaf `start` on) once, returning the root of each range, in order given.

    The ranges of a proof are disjoint, so one pass with one compact range open at a time is enough.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    results: list[bytes | None] = [None] * len(ranges)
    position = start
    for i in order:
        begin, end = ranges[i]
        tree = CompactRange()
        while position < end:
            leaf = next(leaves)
            if position >= begin:
                tree.append(leaf)
            position += 1
        results[i] = tree.root()
    return results  # type: ignore[return-value]


def inclusion_proof(index: int, size: int, leaves: Iterator[bytes]) -> list[bytes]:
    return hashes_for_ranges(inclusion_ranges(index, size), leaves)


def consistency_proof(first: int, second: int, leaves: Iterator[bytes]) -> list[bytes]:
    return hashes_for_ranges(consistency_ranges(first, second), leaves)


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -------------------------------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    if any(len(node) != 32 for node in proof):
        raise ProofError("every proof node is 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> None:
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if any(len(node) != 32 for node in proof):
        raise ProofError("every proof node is 32 bytes")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes is empty")
        if first_root != second_root:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root or sr != second_root:
        raise ProofError("consistency proof does not lead to both roots")

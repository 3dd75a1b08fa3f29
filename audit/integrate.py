"""Integration: new leaf hashes into the tree, as a pure function over tiles (no Django, no storage).

As Tessera's storage/internal/integrate.go: the caller (audit.outbox, the same on SQLite and
PostgreSQL) gives the tree's size and right edge before, the leaf hashes of the entries sequenced
after it, and a function that reads the entries of a partly filled tile; it gets back the new size,
the new right edge and root, the roots at the sizes it asked for (checkpoints every N), and the
tiles the leaves filled (C2SP tlog-tiles, 256 hashes at height 8 * level). It writes them itself.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from audit.merkle import CompactRange

HEIGHT = 8
WIDTH = 1 << HEIGHT

# (level, first entry, end) -> the entries [first, end) of that level already stored
ReadEntries = Callable[[int, int, int], list[bytes]]


@dataclass(slots=True)
class FilledTile:
    level: int
    index: int
    hashes: bytes  # 256 hashes, concatenated
    root: bytes


@dataclass(slots=True)
class Integration:
    size: int
    tree: CompactRange
    root: bytes
    roots_at: dict[int, bytes] = field(default_factory=dict)
    tiles: list[FilledTile] = field(default_factory=list)


def perfect_root(hashes: list[bytes]) -> bytes:
    """The root of a perfect subtree over these hashes (a power of two of them)."""
    sha256 = hashlib.sha256
    while len(hashes) > 1:
        hashes = [sha256(b"\x01" + left + right).digest() for left, right in zip(hashes[::2], hashes[1::2],
                                                                                  strict=True)]
    return hashes[0]


def integrate(*, tree: CompactRange, leaf_hashes: list[bytes], read_entries: ReadEntries,
              roots_at: Iterable[int] = ()) -> Integration:
    """The tree `tree` with `leaf_hashes` appended. `tree` is not changed."""
    old_size = tree.size
    new = CompactRange(tree.size, tree.nodes)
    wanted: dict[int, bytes] = {}
    done = 0
    for size in sorted(roots_at):
        if not old_size < size <= old_size + len(leaf_hashes):
            raise ValueError(f"a root at {size} is not inside the integrated range")
        new.extend(leaf_hashes[done : size - old_size])
        done = size - old_size
        wanted[size] = new.root()
    new.extend(leaf_hashes[done:])
    return Integration(size=new.size, tree=new, root=new.root(), roots_at=wanted,
                       tiles=filled_tiles(old_size, leaf_hashes, read_entries))


def filled_tiles(old_size: int, new_leaves: list[bytes], read_entries: ReadEntries) -> list[FilledTile]:
    """Every tile, at every level, that the leaves appended after `old_size` fill."""
    out: list[FilledTile] = []
    new = new_leaves
    low, high = old_size, old_size + len(new_leaves)  # entry counts at this level, before and after
    level = 0
    while low // WIDTH < high // WIDTH:
        roots = []
        for index in range(low // WIDTH, high // WIDTH):
            start = index * WIDTH
            entries = read_entries(level, start, low) if start < low else []
            entries += new[max(start, low) - low : start + WIDTH - low]
            root = perfect_root(entries)
            out.append(FilledTile(level=level, index=index, hashes=b"".join(entries), root=root))
            roots.append(root)
        new, low, high, level = roots, low // WIDTH, high // WIDTH, level + 1
    return out


def encode_index(index: int) -> str:
    """A tile index as tlog-tiles path elements: 1234067 -> x001/x234/067."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if not index:
            break
    groups.reverse()
    return "/".join([f"x{group}" for group in groups[:-1]] + groups[-1:])

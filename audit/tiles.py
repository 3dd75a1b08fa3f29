"""The Merkle tree stored as C2SP tlog-tiles, so proofs and roots cost O(log n) reads.

A tile at level L, index N holds 256 consecutive hashes at height 8·L of the RFC 9162 tree:
level 0 holds leaf hashes; each hash of level L+1 is the root of a full tile of level L. Full
tiles are stored (AuditTile) as they fill, in the transaction that appends the events that fill
them, with their root, so a partial tile of level L+1 is read as the roots of the full tiles below
it, and a partial tile of level 0 as the events' hash column. Any perfect subtree is then one tile
read and at most 127 hashes away; a proof is ~log2(n) of those, with tiles shared between them.

https://c2sp.org/tlog-tiles. Pure functions at the top; reads and writes at the bottom.
"""

import re

from django.db import connection

from audit.integrate import HEIGHT, WIDTH, encode_index, filled_tiles, perfect_root
from audit.merkle import EMPTY_ROOT, ProofError, consistency_ranges, decompose, inclusion_ranges, node_hash
from audit.models import AuditTile

MAX_LEVEL = 63


_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")


def decode_index(text: str) -> int:
    """The inverse of encode_index; refuses any other spelling (ValueError)."""
    if not _INDEX.match(text):
        raise ValueError(f"not a tile index: {text!r}")
    index = int(text.replace("x", "").replace("/", ""))
    if encode_index(index) != text:
        raise ValueError(f"not the canonical spelling of tile index {index}: {text!r}")
    return index


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    suffix = "" if width == WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


# -- writes -----------------------------------------------------------------------------------------


def store_filled_tiles(old_size: int, new_leaves: list[bytes]) -> None:
    """Stores every tile the leaves appended after `old_size` filled, at every level.

    Call in the transaction that appends the leaves, after their events are inserted."""
    store_tiles(filled_tiles(old_size, new_leaves, read_entries))


def store_tiles(tiles) -> None:
    if tiles:
        AuditTile.objects.bulk_create([AuditTile(level=t.level, index=t.index, hashes=t.hashes, root=t.root)
                                       for t in tiles])


def rebuild_tiles() -> int:
    """Stores the full tiles of a trail appended before tiles existed; returns how many. Idempotent."""
    if AuditTile.objects.exists():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM audit_auditevent ORDER BY seq")
        leaves = [bytes.fromhex(row[0]) for row in cursor.fetchall()]
    store_filled_tiles(0, leaves)
    return AuditTile.objects.count()


# -- reads ------------------------------------------------------------------------------------------


def read_entries(level: int, start: int, end: int) -> list[bytes]:
    """Entries [start, end) of a level: leaf hashes at level 0, roots of full tiles below above it."""
    if end <= start:
        return []
    if level == 0:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash FROM audit_auditevent WHERE seq > %s AND seq <= %s ORDER BY seq",
                           [start, end])
            rows = cursor.fetchall()
        if [row[0] for row in rows] != list(range(start + 1, end + 1)):
            raise ProofError(f"events {start + 1}..{end} are not all in the trail")
        return [bytes.fromhex(row[1]) for row in rows]
    roots = list(AuditTile.objects.filter(level=level - 1, index__gte=start, index__lt=end)
                 .order_by("index").values_list("index", "root"))
    if [index for index, _ in roots] != list(range(start, end)):
        raise ProofError(f"tiles {start}..{end - 1} of level {level - 1} are not all stored")
    return [bytes(root) for _, root in roots]


class TileReader:
    """Hashes of the tree of the first `size` leaves, read through tiles (cached per reader)."""

    def __init__(self, size: int):
        self.size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self.reads = 0

    def available(self, level: int) -> int:
        """How many entries level `level` has in a tree of this size."""
        return self.size >> (HEIGHT * level)

    def tile(self, level: int, index: int, width: int = WIDTH) -> list[bytes]:
        """Entries of tile (level, index), at least `width` of them (all the tree has, up to 256)."""
        have = self.available(level) - index * WIDTH
        if not 0 < width <= min(have, WIDTH):
            raise ProofError(f"tile {level}/{index} has no {width} entries in a tree of {self.size}")
        cached = self._tiles.get((level, index))
        if cached is not None and len(cached) >= width:
            return cached[:width]
        self.reads += 1
        if have >= WIDTH:
            stored = self._stored_tile(level, index)
            if stored is not None:
                data = bytes(stored)
                entries = [data[i : i + 32] for i in range(0, len(data), 32)]
                self._tiles[(level, index)] = entries
                return entries[:width]
        entries = self._read_entries(level, index * WIDTH, index * WIDTH + min(have, WIDTH))
        self._tiles[(level, index)] = entries
        return entries[:width]

    # Where the tree's hashes are stored: the global trail's here; a holder's log overrides these
    # (audit.holder_logs.HolderTileReader).
    def _stored_tile(self, level: int, index: int) -> bytes | None:
        return AuditTile.objects.filter(level=level, index=index).values_list("hashes", flat=True).first()

    def _read_entries(self, level: int, start: int, end: int) -> list[bytes]:
        return read_entries(level, start, end)

    def perfect(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves starting at leaf index * 2**height."""
        level, rest = divmod(height, HEIGHT)
        first = index << rest  # the subtree's first entry at height HEIGHT * level
        tile_index, offset = divmod(first, WIDTH)
        entries = self.tile(level, tile_index, offset + (1 << rest))
        return perfect_root(entries[offset : offset + (1 << rest)])

    def range_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that starts on a boundary of its own size's power of two
        (every range of an RFC 9162 proof, and [0, n))."""
        if end <= start:
            return EMPTY_ROOT
        nodes = [self.perfect(level, first >> level) for first, level in decompose(start, end)]
        root = nodes[-1]
        for node in reversed(nodes[:-1]):
            root = node_hash(node, root)
        return root

    def root(self) -> bytes:
        return self.range_root(0, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        return [self.range_root(start, end) for start, end in inclusion_ranges(index, self.size)]

    def consistency_proof(self, first: int) -> list[bytes]:
        return [self.range_root(start, end) for start, end in consistency_ranges(first, self.size)]

"""The phone as a witness of its holder's own log: signed notes, RFC 9162 proofs and tlog-tiles, written here
from the specs (C2SP signed-note, tlog-checkpoint, tlog-tiles; RFC 9162 2.1), not taken from the server.

A phone that trusts the server's proofs proves nothing, so consistency is computed from the tiles
themselves: every hash a proof needs is the root of a perfect subtree, which is one tile (or part of
one) away. The server's contract is docs/holder-log.md.
"""

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEIGHT = 8
WIDTH = 1 << HEIGHT
EMPTY_ROOT = hashlib.sha256(b"").digest()
HOLDER_HEAD = "audit.holder_head"


class Invalid(ValueError):
    """Something signed or proved does not check out."""


# -- hashes and RFC 9162 ---------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees covering [start, end), left to right, as (first leaf, height)."""
    parts = []
    while start < end:
        height = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << height) > end:
            height -= 1
        parts.append((start, height))
        start += 1 << height
    return parts


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf range [start, end) of each node of PROOF(first, D[0:second]) (RFC 9162 2.1.4.1)."""
    ranges: list[tuple[int, int]] = []
    offset, m, n, whole = 0, first, second, True
    while m != n:
        k = _split(n)
        if m <= k:
            ranges.append((offset + k, offset + n))
            n = k
        else:
            ranges.append((offset, offset + k))
            offset, m, n, whole = offset + k, m - k, n - k, False
    if not whole:
        ranges.append((offset, offset + m))
    ranges.reverse()
    return ranges


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 2.1.4.2."""
    if not 0 < first < second:
        raise Invalid(f"no consistency proof from {first} to {second} entries")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        raise Invalid("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise Invalid("the newer tree does not contain the older one")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        raise Invalid(f"leaf {index} is not inside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for node in proof:
        if sn == 0:
            raise Invalid("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(node, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid("the inclusion proof is too short")
    return r


# -- tiles -----------------------------------------------------------------------------------------


def tile_path(level: int, index: int, width: int) -> str:
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if not index:
            break
    groups.reverse()
    text = "/".join([f"x{group}" for group in groups[:-1]] + groups[-1:])
    return f"tile/{level}/{text}" + ("" if width == WIDTH else f".p/{width}")


class Tiles:
    """Hashes of the tree of `size` leaves, read from its tiles through `fetch(path) -> bytes`."""

    def __init__(self, size: int, fetch: Callable[[str], bytes]):
        self.size = size
        self.fetch = fetch
        self._cache: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, index: int, width: int) -> list[bytes]:
        have = min(WIDTH, (self.size >> (HEIGHT * level)) - index * WIDTH)
        cached = self._cache.get((level, index))
        if cached is None:
            data = self.fetch(tile_path(level, index, have))
            if len(data) != 32 * have:
                raise Invalid(f"tile {level}/{index} is {len(data)} bytes, not {32 * have}")
            cached = self._cache[(level, index)] = [data[i : i + 32] for i in range(0, len(data), 32)]
        return cached[:width]

    def perfect(self, height: int, first: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves from leaf `first`."""
        level, rest = divmod(height, HEIGHT)
        start = first >> (HEIGHT * level)
        index, offset = divmod(start, WIDTH)
        hashes = self.tile(level, index, offset + (1 << rest))[offset : offset + (1 << rest)]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def range_root(self, start: int, end: int) -> bytes:
        if end <= start:
            return EMPTY_ROOT
        nodes = [self.perfect(height, first) for first, height in subtrees(start, end)]
        root = nodes[-1]
        for node in reversed(nodes[:-1]):
            root = node_hash(node, root)
        return root

    def consistency_proof(self, first: int) -> list[bytes]:
        return [self.range_root(start, end) for start, end in consistency_ranges(first, self.size)]


# -- signed notes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey, bytes]:
    """<name>+<hex key id>+<base64(0x01 || Ed25519 public key)> -> (name, key, key id)."""
    name, _, rest = vkey.strip().partition("+")
    key_hex, _, blob = rest.partition("+")
    try:
        raw = base64.b64decode(blob, validate=True)
        wanted = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise Invalid(f"not a verifier key: {vkey!r}") from exc
    if not name or len(raw) != 33 or raw[0] != 1:
        raise Invalid(f"not an Ed25519 verifier key: {vkey!r}")
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != wanted:
        raise Invalid("the verifier key's id does not match its name and key")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:]), wanted


def open_checkpoint(note: str, vkey: str) -> Checkpoint:
    """Checks the note's signature by the key and reads its checkpoint (C2SP tlog-checkpoint)."""
    name, key, key_id = parse_verifier_key(vkey)
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise Invalid("a signed note is a body, a blank line and signature lines")
    body += "\n"
    verified = False
    for line in signatures[:-1].split("\n"):
        signer, _, blob = line.removeprefix("\u2014 ").rpartition(" ")
        if signer != name:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise Invalid("a signature is not base64") from exc
        if raw[:4] != key_id or len(raw) != 68:
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature as exc:
            raise Invalid("the checkpoint's signature does not verify") from exc
        verified = True
    if not verified:
        raise Invalid(f"the checkpoint is not signed by {name}")
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
        raise Invalid("a checkpoint is an origin, a size and a root")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise Invalid("the checkpoint's root is not base64") from exc
    if len(root) != 32:
        raise Invalid("the checkpoint's root is not 32 bytes")
    return Checkpoint(origin=lines[0], size=int(lines[1]), root=root, note=note)


# -- the holder's log ------------------------------------------------------------------------------


class Rollback(Invalid):
    """The log is smaller than, or different from, one this phone verified before."""


@dataclass(frozen=True)
class Verified:
    origin: str
    size: int
    root: bytes
    note: str
    committed: int  # the size of the newest head found in a signed global checkpoint
    global_size: int
    key: str


def check_holder_log(*, latest_note: str, commitment: dict, fetch_tile: Callable[[str], bytes],
                     pinned_key: str | None, known: Checkpoint | None, global_size: int = 0) -> Verified:
    """Checks the newest holder checkpoint and the newest commitment against what was verified before.

    `known` is the checkpoint this phone verified last (None the first time); `pinned_key` the signing
    key it saw first. Raises Rollback when the log shrank or forked, Invalid for anything else that
    does not check out."""
    key = commitment["verifier_key"]
    if not isinstance(key, str):
        raise Invalid("the commitment names no signing key")
    if pinned_key is not None and key.strip() != pinned_key.strip():
        raise Rollback("the service signs with another key than the one this phone has known")
    key_name, _, _ = parse_verifier_key(key)
    latest = open_checkpoint(latest_note, key)
    committed = open_checkpoint(commitment["holder_checkpoint"], key)
    if not latest.origin.startswith(f"{key_name}/holder/") or committed.origin != latest.origin:
        raise Invalid(f"{latest.origin!r} is not this holder's log of {key_name}")
    if known is not None and known.origin != latest.origin:
        raise Rollback(f"the service now shows another log ({latest.origin}) than the one this phone verified "
                       f"({known.origin})")
    if known is not None and latest.size < known.size:
        raise Rollback(f"the log has {latest.size} entries now, but this phone verified {known.size}: "
                       "it was rolled back")
    newest = max(latest, committed, key=lambda c: c.size)
    tiles = Tiles(newest.size, fetch_tile)
    for older in (known, latest, committed):
        if older is None or older is newest:
            continue
        if older.size > newest.size:
            raise Rollback(f"the log has {newest.size} entries now, but this phone verified {older.size}: "
                           "it was rolled back")
        if older.size == newest.size:
            if older.root != newest.root:
                raise Rollback(f"two different logs of {older.size} entries: the log forked")
            continue
        if older.size == 0:
            continue
        try:
            verify_consistency(older.size, newest.size, older.root, newest.root, tiles.consistency_proof(older.size))
        except Invalid as exc:
            raise Rollback(f"the log of {newest.size} entries does not extend the {older.size} this phone "
                           f"verified: it forked ({exc})") from exc
    # The head committed to the global trail must be the committed checkpoint, included in a signed
    # global checkpoint.
    try:
        entry = base64.b64decode(commitment["entry"], validate=True)
        event = json.loads(entry)
        proof = [base64.b64decode(node, validate=True) for node in commitment["inclusion_proof"]]
    except (TypeError, ValueError) as exc:
        raise Invalid("the commitment's entry or proof is not base64 JSON") from exc
    details = event.get("details") if isinstance(event, dict) else None
    if (event.get("action") != HOLDER_HEAD or not isinstance(details, dict)
            or details.get("origin") != committed.origin or details.get("size") != committed.size
            or details.get("root") != committed.root.hex()):
        raise Invalid("the committed entry is not the head of this log")
    global_checkpoint = open_checkpoint(commitment["global_checkpoint"], key)
    if global_checkpoint.origin != key_name:
        raise Invalid(f"the global checkpoint is for {global_checkpoint.origin!r}, not {key_name!r}")
    if global_checkpoint.size < global_size:
        raise Rollback(f"the global trail has {global_checkpoint.size} entries now, but this phone saw "
                       f"{global_size}: it was rolled back")
    index = commitment["leaf_index"]
    if not isinstance(index, int) or isinstance(index, bool):
        raise Invalid("the commitment's leaf_index is not a number")
    if root_from_inclusion(index, global_checkpoint.size, leaf_hash(entry), proof) != global_checkpoint.root:
        raise Invalid("this log's head is not in the signed global checkpoint")
    return Verified(origin=newest.origin, size=newest.size, root=newest.root, note=newest.note,
                    committed=committed.size, global_size=global_checkpoint.size, key=key)

"""/api/v1/audit/tlog/ read by an independent tlog-tiles client written here from the spec
(https://c2sp.org/tlog-tiles): only HTTP, hashlib and the log's public key. It checks the signed
checkpoint, rebuilds the root from tiles, checks every entry bundle against the level 0 tiles and
proves inclusion from tiles alone."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from django.urls import reverse

from audit.services import audit_checkpoint_create

pytestmark = pytest.mark.django_db

PREFIX = "/api/v1/audit/tlog/"


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _path_index(n: int) -> str:
    text = f"{n:03d}"
    groups = [text[max(i - 3, 0) : i] for i in range(len(text), 0, -3)][::-1]
    groups = [g.zfill(3) for g in groups]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


class TileClient:
    def __init__(self, client, public_key, origin):
        self.client, self.public_key, self.origin = client, public_key, origin

    def get(self, path: str):
        return self.client.get(PREFIX + path)

    def checkpoint(self) -> tuple[int, bytes]:
        response = self.get("checkpoint")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        note = response.content.decode()
        body, _, sigs = note.partition("\n\n")
        raw_key = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key_id = _sha(self.origin.encode() + b"\n\x01" + raw_key)[:4]
        line = next(s for s in sigs.splitlines() if s.startswith(f"\u2014 {self.origin} "))
        blob = base64.b64decode(line.rsplit(" ", 1)[1])
        assert blob[:4] == key_id
        self.public_key.verify(blob[4:], (body + "\n").encode())
        origin, size, root = body.split("\n")
        assert origin == self.origin
        return int(size), base64.b64decode(root)

    def tile(self, level: int, index: int, width: int) -> list[bytes]:
        suffix = "" if width == 256 else f".p/{width}"
        response = self.get(f"tile/{level}/{_path_index(index)}{suffix}")
        assert response.status_code == 200, (level, index, width, response.content)
        assert response["Content-Type"] == "application/octet-stream"
        data = response.content
        assert len(data) == 32 * width
        return [data[i : i + 32] for i in range(0, len(data), 32)]

    def level_hashes(self, level: int, size: int) -> list[bytes]:
        """Every hash at height 8*level of the tree of `size` leaves, from full and partial tiles."""
        count = size // 256**level
        hashes = []
        for index in range((count + 255) // 256):
            hashes += self.tile(level, index, min(256, count - 256 * index))
        return hashes

    def entries(self, index: int, width: int) -> list[bytes]:
        suffix = "" if width == 256 else f".p/{width}"
        response = self.get(f"tile/entries/{_path_index(index)}{suffix}")
        assert response.status_code == 200
        data, out = response.content, []
        while data:
            length = int.from_bytes(data[:2], "big")
            out.append(data[2 : 2 + length])
            data = data[2 + length :]
        assert len(out) == width
        return out


def _mth(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return _sha(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:]))


def _root_from_tiles(client: TileClient, size: int) -> bytes:
    """MTH(D[0:size]) from tiles: one perfect subtree per set bit of size (largest first); a subtree
    of 2**h leaves is the MTH of 2**(h - 8L) consecutive hashes of a level L = h // 8 tile."""
    levels: dict[int, list[bytes]] = {}
    nodes, start = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if not size >> height & 1:
            continue
        level = height // 8
        if level not in levels:
            levels[level] = client.level_hashes(level, size)
        span = 256**level
        count = 1 << (height - 8 * level)
        nodes.append(_mth(levels[level][start // span : start // span + count]))
        start += 1 << height
    root = nodes[-1]
    for node in reversed(nodes[:-1]):
        root = _sha(b"\x01" + node + root)
    return root


@pytest.fixture
def signed(many_events, audrey, api, settings):
    from core import signing

    many_events(256 * 3 + 77)
    checkpoint = audit_checkpoint_create()
    return TileClient(api(audrey), signing.public_key("AUDIT_SIGNING_KEY"), settings.AUDIT_CHECKPOINT_ORIGIN), \
        checkpoint


def test_an_independent_tile_client_rebuilds_the_signed_root(signed):
    client, checkpoint = signed
    size, root = client.checkpoint()
    assert size == 845 == checkpoint.tree_size
    leaves = client.level_hashes(0, size)
    assert len(leaves) == size and _mth(leaves) == root
    assert _root_from_tiles(client, size) == root
    assert client.tile(1, 0, 3) == [_mth(leaves[i * 256 : (i + 1) * 256]) for i in range(3)]


def test_entry_bundles_hash_to_the_level_zero_tiles(signed):
    client, _ = signed
    size, _ = client.checkpoint()
    for index in range(4):
        width = min(256, size - 256 * index)
        bodies = client.entries(index, width)
        assert [_sha(b"\x00" + body) for body in bodies] == client.tile(0, index, width)
    # A partial bundle of a full tile is its first entries (it served an earlier checkpoint).
    assert client.entries(0, 5) == client.entries(0, 256)[:5]


def test_inclusion_from_tiles_alone(signed):
    client, _ = signed
    size, root = client.checkpoint()
    leaves = client.level_hashes(0, size)
    index = 600
    # The audit path, computed by this client from the leaves it read from tiles.
    path, lo, hi, i = [], 0, size, index
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if i - lo < k:
            path.append(_mth(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(_mth(leaves[lo : lo + k]))
            lo += k
    proof = client.client.get(reverse("api-audit-proof-inclusion"), {"seq": index + 1}).json()["proof"]
    assert [bytes.fromhex(p) for p in proof] == path[::-1]
    assert proof and bytes.fromhex(client.client.get(reverse("api-audit-proof-inclusion"),
                                                     {"seq": index + 1}).json()["root_hash"]) == root


@pytest.mark.parametrize("path", [
    "tile/0/004",            # beyond the signed tree
    "tile/0/003",            # partial: only .p/77 exists
    "tile/0/003.p/78",       # wider than the tree
    "tile/0/3",              # not the spec's spelling
    "tile/0/x000/003",       # not canonical
    "tile/0/000.p/0",        # width 0
    "tile/0/000.p/256",      # a full tile has no .p
    "tile/0/000.p/07",       # leading zero
    "tile/2/000.p/1",        # the tree has no level 2 entry yet
    "tile/64/000",           # levels end at 63
    "tile/entries/003",      # the entries of a partial tile
    "tile/entries/004.p/1",
])
def test_it_refuses_tiles_the_signed_tree_does_not_have(signed, path):
    client, _ = signed
    response = client.get(path)
    assert response.status_code == 404
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["error"]["code"] in ("audit_tile_not_found", "not_found")


def test_only_the_signed_tree_is_served(many_events, audrey, api):
    many_events(10)
    client = api(audrey)
    assert client.get(PREFIX + "checkpoint").status_code == 404
    assert client.get(PREFIX + "tile/0/000.p/1").status_code == 404
    audit_checkpoint_create()
    many_events(5)  # not yet signed
    assert client.get(PREFIX + "tile/0/000.p/10").status_code == 200
    assert client.get(PREFIX + "tile/0/000.p/11").status_code == 404
    assert client.get(PREFIX + "tile/entries/000.p/11").status_code == 404


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_tiles_are_for_auditors(signed, who, api, request):
    response = api(request.getfixturevalue(who)).get(PREFIX + "tile/0/000")
    assert response.status_code == 403
    assert api().get(PREFIX + "checkpoint").status_code == 401

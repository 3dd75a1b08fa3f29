"""The tree as C2SP tlog-tiles: stored as tiles fill, proofs read from them, checked against the
naive reference (every leaf streamed) and against the signed checkpoint."""

import pytest
from django.db import connection

from audit import integrate, merkle, tiles
from audit.models import AuditEvent, AuditTile
from audit.selectors import audit_consistency_proof, audit_inclusion_proof, audit_leaf_hashes
from audit.services import audit_checkpoint_create

pytestmark = pytest.mark.django_db


def test_tile_indexes_are_spelled_as_the_spec_says():
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(5) == "005"
    assert tiles.encode_index(1000) == "x001/000"
    for index in (0, 7, 999, 1000, 1234067, 10**9):
        assert tiles.decode_index(tiles.encode_index(index)) == index
    for bad in ("5", "x000/005", "001/002", "x1/002", "0005", "x001/x234/067/", "-01"):
        with pytest.raises(ValueError):
            tiles.decode_index(bad)
    assert tiles.tile_path(0, 1234067, 8) == "tile/0/x001/x234/067.p/8"
    assert tiles.tile_path("entries", 3) == "tile/entries/003"


@pytest.fixture
def narrow(monkeypatch):
    """Tiles of 4 hashes (height 2): the arithmetic is the same at any width, and levels 0..2 appear
    with a few dozen events instead of 256**2."""
    monkeypatch.setattr(tiles, "HEIGHT", 2)
    monkeypatch.setattr(integrate, "HEIGHT", 2)
    monkeypatch.setattr(tiles, "WIDTH", 4)
    monkeypatch.setattr(integrate, "WIDTH", 4)


def _leaves(size):
    return list(audit_leaf_hashes(last_seq=size)) if size else []


def test_full_tiles_are_stored_as_they_fill_in_batches_of_any_size(narrow, many_events):
    for batch in (1, 2, 5, 3, 17, 1, 40):
        many_events(batch)
    size = 69
    leaves = _leaves(size)
    stored = {(t.level, t.index): bytes(t.hashes) for t in AuditTile.objects.all()}
    # level 0: 17 full tiles; level 1: 4; level 2: 1
    assert sorted(stored) == [(0, i) for i in range(17)] + [(1, i) for i in range(4)] + [(2, 0)]
    for index in range(17):
        assert stored[(0, index)] == b"".join(leaves[4 * index : 4 * index + 4])
    for index in range(4):
        expected = [merkle.root_of(leaves[16 * index + 4 * i : 16 * index + 4 * i + 4]) for i in range(4)]
        assert stored[(1, index)] == b"".join(expected)
    assert stored[(2, 0)] == b"".join(merkle.root_of(leaves[16 * i : 16 * i + 16]) for i in range(4))


@pytest.mark.parametrize("height", [2, 8])
def test_proofs_from_tiles_equal_the_naive_reference(height, monkeypatch, many_events):
    monkeypatch.setattr(tiles, "HEIGHT", height)
    monkeypatch.setattr(integrate, "HEIGHT", height)
    monkeypatch.setattr(tiles, "WIDTH", 1 << height)
    monkeypatch.setattr(integrate, "WIDTH", 1 << height)
    for batch in (3, 30, 7, 300, 1, 60):
        many_events(batch)
    size = 401
    leaves = _leaves(size)
    for tree_size in (1, 2, 3, 4, 5, 16, 17, 63, 64, 65, 255, 256, 257, 300, 401):
        reader = tiles.TileReader(tree_size)
        assert reader.root() == merkle.root_of(leaves[:tree_size])
        for index in {i for i in (0, 1, tree_size // 2, tree_size - 2, tree_size - 1) if 0 <= i < tree_size}:
            assert reader.inclusion_proof(index) == merkle.inclusion_proof(index, tree_size, iter(leaves))
        for first in {f for f in (1, 2, tree_size // 3, tree_size - 1, tree_size) if 0 < f <= tree_size}:
            assert reader.consistency_proof(first) == merkle.consistency_proof(first, tree_size, iter(leaves))


def test_proofs_read_only_a_few_tiles(monkeypatch, many_events):
    monkeypatch.setattr(tiles, "HEIGHT", 2)
    monkeypatch.setattr(integrate, "HEIGHT", 2)
    monkeypatch.setattr(tiles, "WIDTH", 4)
    monkeypatch.setattr(integrate, "WIDTH", 4)
    many_events(1000)
    reader = tiles.TileReader(1000)
    reader.inclusion_proof(517)
    assert reader.reads <= 2 * 5  # about two tiles per level: the path's and the right edge's
    reader = tiles.TileReader(1000)
    reader.consistency_proof(611)
    assert reader.reads <= 3 * 5


def test_the_api_proofs_come_from_tiles_and_verify(many_events, settings):
    many_events(600)
    checkpoint = audit_checkpoint_create()
    root = bytes.fromhex(checkpoint.root_hash)
    for seq in (1, 256, 257, 512, 599, 600):
        proof = audit_inclusion_proof(seq=seq)
        leaf = bytes.fromhex(AuditEvent.objects.get(seq=seq).hash)
        merkle.verify_inclusion(seq - 1, 600, leaf, [bytes.fromhex(p) for p in proof["proof"]], root)
    for first in (1, 255, 256, 300, 599):
        proof = audit_consistency_proof(first=first)
        merkle.verify_consistency(first, 600, bytes.fromhex(proof["first_root"]), root,
                                  [bytes.fromhex(p) for p in proof["proof"]])


def test_rebuild_stores_the_tiles_of_a_trail_from_before_tiles(many_events):
    from audit import triggers

    many_events(700)
    before = {(t.level, t.index): bytes(t.hashes) for t in AuditTile.objects.all()}
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_audittile")
    assert tiles.rebuild_tiles() == len(before) == 2
    assert {(t.level, t.index): bytes(t.hashes) for t in AuditTile.objects.all()} == before

"""audit_verify against a trail that someone with database access has tampered with (triggers dropped)."""

import hashlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import canonical, integrate, triggers
from audit.keys import chained_event_mac, event_mac
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import audit_checkpoint_create
from audit.verification import audit_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(settings, many_events):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    many_events(23)
    audit_checkpoint_create()
    return 23


def _sql(sql, params=()):
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _canonical(seq) -> bytes:
    return bytes(AuditEvent.objects.get(seq=seq).canonical)


def _leaf(body: bytes) -> str:
    return hashlib.sha256(b"\x00" + body).hexdigest()


def _mac(body: bytes) -> str:
    """The MAC a key holder would give these bytes (with the label of the format they claim)."""
    leaf = bytes.fromhex(_leaf(body))
    return event_mac(leaf) if canonical.is_entry(body) else chained_event_mac(leaf)


def test_it_verifies_an_untouched_trail(trail):
    report = audit_verify()
    assert report.ok, report.problem
    assert (report.events, report.checkpoints) == (23, 5)
    assert AuditCheckpoint.objects.count() == 5


def test_it_prints_ok_with_the_counts(trail, capsys):
    call_command("audit_verify", "--no-progress")
    out = capsys.readouterr().out
    assert out.startswith("OK: 23 events, 5 signed checkpoints verified")


def test_it_verifies_an_empty_trail():
    report = audit_verify()
    assert report.ok and report.events == 0


def _fails_at(seq: int, words: str):
    report = audit_verify()
    assert not report.ok
    assert report.first_bad_seq == seq, report.problem
    assert words in report.problem
    with pytest.raises(CommandError, match=f"seq {seq}"):
        call_command("audit_verify", "--no-progress")


def test_it_names_an_edited_column(trail):
    _sql("UPDATE audit_auditevent SET outcome = 'allowed', action = 'consent.given' WHERE seq = 9")
    _fails_at(9, "column action")


def test_it_names_an_edited_canonical_byte(trail):
    body = _canonical(12).replace(b'"outcome":"denied"', b'"outcome":"allowed"')
    _sql("UPDATE audit_auditevent SET canonical = %s, outcome = 'allowed' WHERE seq = 12", [body])
    _fails_at(12, "hash does not match")


def test_it_finds_an_edit_whose_hash_was_recomputed(trail):
    body = _canonical(12).replace(b'"outcome":"denied"', b'"outcome":"allowed"')
    _sql("UPDATE audit_auditevent SET canonical = %s, outcome = 'allowed', hash = %s WHERE seq = 12",
         [body, _leaf(body)])
    _fails_at(12, "MAC does not verify")


def test_it_finds_an_edit_with_hash_and_mac_recomputed_by_a_key_holder(trail):
    """Someone holding the MAC key (not the database's business) rewrites one entry: the next row's link
    (the INSERT guard's column) and the signed checkpoints tell."""
    body = _canonical(12).replace(b'"outcome":"denied"', b'"outcome":"allowed"')
    _sql("UPDATE audit_auditevent SET canonical = %s, outcome = 'allowed', hash = %s, mac = %s WHERE seq = 12",
         [body, _leaf(body), _mac(body)])
    _fails_at(13, "prev_hash does not match the hash of the event before it")


def test_it_names_a_deleted_row(trail):
    _sql("DELETE FROM audit_auditevent WHERE seq = 7")
    _fails_at(7, "seq 7 is missing")


def test_it_names_a_deleted_last_row(trail):
    _sql("DELETE FROM audit_auditevent WHERE seq = 23")
    _fails_at(23, "head says there are 23")


def test_it_names_reordered_rows(trail):
    _sql("UPDATE audit_auditevent SET seq = -1 WHERE seq = 4")
    _sql("UPDATE audit_auditevent SET seq = 4 WHERE seq = 5")
    _sql("UPDATE audit_auditevent SET seq = 5 WHERE seq = -1")
    _fails_at(4, "hash")


def test_it_finds_a_rewritten_tail_through_the_signed_checkpoints(trail):
    """Rewrite seq 8 onwards consistently (hashes, links, MACs with a stolen key, the head): only the
    checkpoint signatures can tell."""
    from audit.merkle import CompactRange

    prev = AuditEvent.objects.get(seq=7).hash
    tree = CompactRange()
    for event in AuditEvent.objects.filter(seq__lte=7).order_by("seq"):
        tree.append(bytes.fromhex(event.hash))
    for seq in range(8, 24):
        decoded = json.loads(_canonical(seq))
        link = prev  # the INSERT guard's column; an entry holds no link of its own
        if seq == 8:
            decoded["outcome"] = "error"
        body = json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()
        prev = _leaf(body)
        tree.append(bytes.fromhex(prev))
        _sql("UPDATE audit_auditevent SET canonical = %s, prev_hash = %s, hash = %s, outcome = %s, mac = %s "
             "WHERE seq = %s", [body, link, prev, decoded["outcome"], _mac(body), seq])
    _sql("UPDATE audit_audithead SET last_hash = %s, compact_range = %s", [prev, tree.to_bytes()])
    _fails_at(10, "signed checkpoint at 10 does not match")


def test_it_names_a_forged_checkpoint(trail):
    note = AuditCheckpoint.objects.get(tree_size=15).note.replace("\n15\n", "\n16\n")
    _sql("UPDATE audit_auditcheckpoint SET note = %s WHERE tree_size = 15", [note])
    _fails_at(15, "signature")


def test_it_names_a_checkpoint_with_a_swapped_root(trail):
    other = AuditCheckpoint.objects.get(tree_size=10)
    _sql("UPDATE audit_auditcheckpoint SET note = %s, root_hash = %s WHERE tree_size = 15",
         [other.note, other.root_hash])
    _fails_at(15, "differ from its signed note")


def test_it_restores_the_triggers_after_a_tamper(trail):
    _sql("UPDATE audit_auditevent SET outcome = 'allowed' WHERE seq = 3")
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")


def test_it_names_an_event_whose_canonical_bytes_are_not_json(trail):
    body = b"\xffnot json"
    _sql("UPDATE audit_auditevent SET canonical = %s, hash = %s, mac = %s WHERE seq = 23",
         [body, _leaf(body), _mac(body)])
    _fails_at(23, "not JSON")


def test_it_names_an_edited_details_column(trail):
    _sql("""UPDATE audit_auditevent SET details = '{"count": 99}' WHERE seq = 17""")
    _fails_at(17, "column details")


def test_it_names_an_edited_time_column(trail):
    from datetime import timedelta

    # A year earlier, by subtraction: .replace(year=...) fails on a 29 February.
    _sql("UPDATE audit_auditevent SET time = %s WHERE seq = 6",
         [AuditEvent.objects.get(seq=6).time - timedelta(days=365)])
    _fails_at(6, "column time")


def test_it_checks_an_untouched_trail_without_looking_rows_up_one_by_one(trail, django_assert_max_num_queries):
    """The fast paths (columns encoded back into canonical bytes) must agree with append's encoding;
    if they drifted, every event would fall back to a lookup of its own. (Three of these are the
    consent cross-checks: the ledger's entries, its state rows, its guards; one more its events; two
    the set-aside entries, their alarms and acknowledgements; one a tail rewind left open.)"""
    with django_assert_max_num_queries(18):
        assert audit_verify().ok


def test_it_checks_the_columns_of_both_formats_on_the_fast_path(both_formats, monkeypatch):
    """The database's column check picks each row's layout by its format; an untouched trail of both
    never falls back to the field-by-field path."""
    from audit import verification

    def slower_path(max_seq):
        raise AssertionError("the column check fell back to the field-by-field path")

    monkeypatch.setattr(verification, "_generic_rows", slower_path)
    report = audit_verify()
    assert report.ok, report.problem
    assert report.events == 16


@pytest.mark.parametrize("seq", [1, 6, 7, 8, 16])
def test_it_names_an_edited_column_in_either_format(both_formats, seq):
    _sql("UPDATE audit_auditevent SET actor_id = 'x9' WHERE seq = %s", [seq])
    _fails_at(seq, "column actor_id")


@pytest.mark.parametrize("micro", [0, 6, 123456])
def test_it_reads_column_times_in_the_canonical_form(micro):
    from datetime import UTC, datetime, timedelta, timezone

    from audit.canonical import format_time
    from audit.verification import _time_text

    for tz in (UTC, timezone(timedelta(hours=2))):
        moment = datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=tz)
        assert _time_text(moment) == format_time(moment)
    fraction = f".{micro:06d}" if micro else ""
    assert _time_text(f"2026-01-02 03:04:05{fraction}") == format_time(
        datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=UTC))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 events: checkpoints (every 5) fall inside chunks and on their edges, and on
    PostgreSQL a problem is found while the rows are still streaming."""
    from audit import verification

    monkeypatch.setattr(verification, "_CHUNK", 4)


def test_it_verifies_an_untouched_trail_in_small_chunks(trail, small_chunks):
    report = audit_verify()
    assert report.ok, report.problem
    assert (report.events, report.checkpoints) == (23, 5)
    assert report.root_hash == AuditCheckpoint.objects.get(tree_size=23).root_hash


@pytest.mark.parametrize("seq", [1, 4, 5, 9, 22, 23])
def test_it_names_an_edited_column_in_small_chunks_and_the_connection_stays_usable(trail, small_chunks, seq):
    _sql("UPDATE audit_auditevent SET purpose = 'other' WHERE seq = %s", [seq])
    report = audit_verify()
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problem
    assert "column purpose" in report.problem
    assert AuditEvent.objects.count() == 23  # the same transaction goes on


@pytest.mark.parametrize("seq", [2, 8, 12, 20])
def test_it_names_a_broken_hash_in_small_chunks_and_the_connection_stays_usable(trail, small_chunks, seq):
    _sql("UPDATE audit_auditevent SET hash = %s WHERE seq = %s", ["0" * 64, seq])
    report = audit_verify()
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problem
    assert "hash does not match" in report.problem
    assert AuditEvent.objects.count() == 23
    assert not audit_verify().ok  # and verification runs again


@pytest.mark.parametrize("tamper_test", [
    test_it_names_an_edited_column, test_it_names_an_edited_canonical_byte,
    test_it_finds_an_edit_whose_hash_was_recomputed, test_it_names_a_deleted_row, test_it_names_a_deleted_last_row,
    test_it_names_reordered_rows,
    test_it_finds_a_rewritten_tail_through_the_signed_checkpoints, test_it_names_an_edited_details_column,
    test_it_names_an_edited_time_column,
])
def test_it_names_the_same_first_bad_seq_in_small_chunks(trail, small_chunks, tamper_test):
    tamper_test(trail)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_it_leaves_the_planner_setting_as_it_was(trail):
    def enable_sort():
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_sort")
            return cursor.fetchone()[0]

    assert audit_verify().ok
    assert enable_sort() == "on"
    _sql("UPDATE audit_auditevent SET hash = %s WHERE seq = 3", ["0" * 64])
    assert not audit_verify().ok
    assert enable_sort() == "on"


@pytest.fixture
def narrow_tiles(monkeypatch, settings, many_events):
    """Tiles of 4 hashes (height 2), so 23 events fill five level-0 tiles and one level-1 tile."""
    from audit import tiles

    monkeypatch.setattr(tiles, "HEIGHT", 2)

    monkeypatch.setattr(integrate, "HEIGHT", 2)
    monkeypatch.setattr(tiles, "WIDTH", 4)
    monkeypatch.setattr(integrate, "WIDTH", 4)
    settings.AUDIT_CHECKPOINT_EVERY = 5
    many_events(23)
    audit_checkpoint_create()


def test_it_checks_the_stored_tiles_of_an_untouched_trail(narrow_tiles):
    from audit.models import AuditTile

    assert sorted(AuditTile.objects.values_list("level", "index")) == [(0, i) for i in range(5)] + [(1, 0)]
    report = audit_verify()
    assert report.ok, report.problem


@pytest.mark.parametrize(("level", "index", "column", "seq"), [
    (0, 2, "hashes", 9), (0, 0, "hashes", 1), (0, 4, "root", 17), (1, 0, "hashes", 1), (1, 0, "root", 1),
])
def test_it_names_a_stored_tile_that_no_longer_matches_the_events(narrow_tiles, level, index, column, seq):
    """The events, chain, MACs and checkpoints are untouched: only a tile that proofs are served from."""
    from audit.models import AuditTile

    stored = bytes(getattr(AuditTile.objects.get(level=level, index=index), column))
    altered = stored[:-1] + bytes([stored[-1] ^ 1])
    index_column = connection.ops.quote_name("index")
    _sql(f"UPDATE audit_audittile SET {column} = %s WHERE level = %s AND {index_column} = %s",  # noqa: S608
         [altered, level, index])
    report = audit_verify()
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problem
    assert f"tile {level}/{index} does not match" in report.problem
    with pytest.raises(CommandError, match=f"tile {level}/{index}"):
        call_command("audit_verify", "--no-progress")


def test_it_names_a_missing_tile(narrow_tiles):
    _sql(f"DELETE FROM audit_audittile WHERE level = 0 AND {connection.ops.quote_name('index')} = 3")  # noqa: S608
    report = audit_verify()
    assert (report.ok, report.first_bad_seq) == (False, 13), report.problem
    assert "tile 0/3 is not stored" in report.problem


def test_batched_macs_equal_one_stdlib_hmac_per_entry_for_each_format():
    import hmac
    import os

    leaves = [os.urandom(32) for _ in range(5)]
    for key in (b"k" * 32, b"a much longer key than one block of sha-256, which is sixty-four bytes long"):
        for label in (canonical.ENTRY_MAC_LABEL, canonical.CHAINED_MAC_LABEL):
            assert canonical.macs(leaves, key, label) == [hmac.digest(key, label + leaf, "sha256").hex()
                                                          for leaf in leaves]
        assert canonical.macs(leaves, key) != canonical.macs(leaves, key, canonical.CHAINED_MAC_LABEL)

"""The checkpointer's tail rewind: nothing the service signs holds a row it did not write.

A process with the database and the service's code but another MAC key can integrate an entry of
its own inline (SQLite writers integrate in their own transaction): the row passes every database
guard, and its MAC verifies under that process's key. The tree cannot drop a leaf once a checkpoint
over it is signed, so the row must never get under one. Before it signs (audit.services
.audit_checkpoint_create), the checkpointer, which holds the real key, checks every entry past the
latest signed checkpoint (the unsigned tail). When one fails, in the checkpointer's transaction and
under the head's lock:

  1. the tree is rewound to the latest signed size: the tail's rows, the tiles that reach past it,
     the tail's entries in the holder logs and their tiles are deleted, and the global head and the
     holder logs' heads are put back where the signed tree has them. The database lets those rows
     go only while this transaction holds a marker row (AuditTailRewind) and only past the latest
     signed checkpoint (audit.triggers): under a signed checkpoint nothing is ever deleted;
  2. the tail's entries go through integration again, in their order (audit.outbox.integrate_pending):
     each one's MAC is checked again; those that fail are set aside, with an `audit.entry_set_aside`
     alarm each, and the genuine ones take the next positions again. An entry carries no position
     (canonical.ENTRY_VERSION), so its bytes, MAC and leaf hash do not change, only its seq;
  3. an `audit.tail_rewound` event records the rewind: the sizes, and the old seqs it dropped.

Events are referred to by their event id everywhere outside the trail (the consent ledger, the
state row, holder checkpoints' head events, set-asides), and positions past the signed size were
never signed, exported, witnessed or served as tiles, so nothing outside the tree names them.

Entries in the chained format (canonical.CHAINED_VERSION) carry their seq in their bytes and cannot
move: the rewind stops after the last of them in the tail. A foreign row before one of them (which
the service's own code cannot write after the format change) cannot be rewound: the checkpointer
refuses to sign (Unrewindable) and names it.
"""

import hashlib
import uuid
from contextlib import contextmanager
from hmac import compare_digest

from audit import canonical, outbox, tiles, triggers
from audit.holder_logs import HolderTileReader, subjects_of
from audit.keys import mac_key
from audit.merkle import CompactRange, decompose
from audit.models import AuditCheckpoint, AuditTailRewind
from core.errors import ServiceError

REWOUND_ACTION = "audit.tail_rewound"
_MAX_TILE_LEVEL = 6  # as the database guard: a tile above level 5 would cover 2**56 leaves


class Unrewindable(ServiceError):
    """A row the service did not write that the rewind cannot take out of the unsigned tail."""

    def __init__(self, seqs: list[int]):
        self.seqs = seqs
        super().__init__("audit_chain_broken", f"The trail holds events the service did not write (seq "
                         f"{', '.join(map(str, seqs[:10]))}) before events in the chained format, which cannot "
                         "move; no checkpoint is signed over them. Run manage.py audit_verify.")


def rewind_unsigned_tail(cursor, *, now) -> int:
    """Checks every entry past the latest signed checkpoint under the service's MAC key; when one fails,
    rewinds the tree to the signed size and integrates the tail's genuine entries again (see the module
    docstring). In the caller's transaction (the checkpointer's, before it signs), under the head's
    lock. Returns the size up to which the tree is now checked (the head), so the caller checks only
    what it appends after this before signing."""
    size, _, _ = outbox.lock_head(cursor)
    signed = _signed_size(cursor)
    if size <= signed:
        return size
    cursor.execute("SELECT seq, event_id, canonical, mac, subject_id FROM audit_auditevent WHERE seq > %s "
                   "ORDER BY seq", [signed])
    rows = [(seq, event_id or "", bytes(body), mac or "", subject) for seq, event_id, body, mac, subject
            in cursor.fetchall()]
    bodies = [row[2] for row in rows]
    expected = canonical.stored_macs(bodies, [hashlib.sha256(b"\x00" + body).digest() for body in bodies],
                                     mac_key())
    forged = [row[0] for row, mac in zip(rows, expected, strict=True) if not row[3] or not compare_digest(mac, row[3])]
    if not forged:
        return size
    base = max([signed] + [row[0] for row in rows if not canonical.is_entry(row[2])])
    if forged[0] <= base:
        raise Unrewindable([seq for seq in forged if seq <= base])
    tail = [row for row in rows if row[0] > base]
    # Set aside where it sat by an older version of the service: it stays that set-aside, not a new one.
    known = set(outbox.in_tree_set_asides().values())
    _rewind_to(cursor, base, subjects_of(row[4] for row in tail))
    again = [outbox.Entry(None, event_id, body, mac) for seq, event_id, body, mac, _ in tail if seq not in known]
    record = canonical.event_fields(
        action=REWOUND_ACTION, actor_kind="system", actor_id="consentsvc", subject_id=None, object_type="audit_tree",
        object_id=base, purpose="", outcome="error", request_id="", event_id=uuid.uuid4(),
        details={"from_size": size, "to_size": base, "dropped_seqs": forged[: canonical.MAX_DETAIL_LIST]})
    events = outbox.integrate_pending(cursor=cursor, own=again + outbox.entries_for([record], now), read_queue=False)
    outbox.forget_verified_tail()
    return base + len(events)  # each one verified by integration


def _signed_size(cursor) -> int:
    cursor.execute("SELECT MAX(tree_size) FROM audit_auditcheckpoint")
    return cursor.fetchone()[0] or 0


def _rewind_to(cursor, base: int, holders: list[int]) -> None:
    """Step 1: the tree, the holder logs of `holders` and the heads as they were at `base` entries."""
    AuditTailRewind.objects.create(from_size=outbox.lock_head(cursor)[0], to_size=base)
    sizes = _holder_sizes(cursor, base, holders)
    for subject in holders:
        for level in range(_MAX_TILE_LEVEL):
            cursor.execute('DELETE FROM audit_holderlogtile WHERE subject_id = %s AND level = %s AND "index" >= %s',
                           [subject, level, sizes[subject] >> (tiles.HEIGHT * (level + 1))])
        cursor.execute("DELETE FROM audit_holderlogentry WHERE subject_id = %s AND seq > %s", [subject, base])
    for level in range(_MAX_TILE_LEVEL):
        cursor.execute('DELETE FROM audit_audittile WHERE level = %s AND "index" >= %s',
                       [level, base >> (tiles.HEIGHT * (level + 1))])
    with _link_child_index(cursor):
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [base])
    # The door closes before anything is written again.
    cursor.execute("DELETE FROM audit_audittailrewind")

    tree = _compact_range(tiles.TileReader(base))
    checkpoint = AuditCheckpoint.objects.filter(tree_size=base).values_list("root_hash", flat=True).first()
    if checkpoint is not None and checkpoint != tree.root().hex():
        raise ServiceError("audit_chain_broken", f"The tree rewound to {base} entries does not have the root "
                                                 "signed at that size; nothing was changed.")
    cursor.execute("SELECT hash FROM audit_auditevent WHERE seq = %s", [base])
    last = cursor.fetchone()
    cursor.execute("UPDATE audit_audithead SET size = %s, last_hash = %s, compact_range = %s WHERE id = 1",
                   [base, last[0] if last else canonical.GENESIS_HASH, tree.to_bytes()])
    for subject in holders:
        size = sizes[subject]
        cursor.execute("SELECT signed_size FROM audit_holderlog WHERE subject_id = %s", [subject])
        row = cursor.fetchone()
        if row is not None and row[0] > size:
            raise ServiceError("audit_chain_broken", f"Holder {subject}'s log was signed at {row[0]} entries, past "
                                                     f"the {size} the signed trail holds; nothing was changed.")
        if size == 0:
            cursor.execute("DELETE FROM audit_holderlog WHERE subject_id = %s AND signed_size = 0", [subject])
            continue
        compact = _compact_range(HolderTileReader(subject, size)).to_bytes()
        cursor.execute("UPDATE audit_holderlog SET size = %s, compact_range = %s, appended = '' WHERE subject_id = %s",
                       [size, compact, subject])


@contextmanager
def _link_child_index(cursor):
    """SQLite: deleting an event looks up the row whose link key names it; without an index on the key
    (dropped in migration 0018 because every append paid for it) that is a scan of the trail per
    deleted row. The rewind builds the index for its deletes and drops it again, in its transaction."""
    if cursor.db.vendor != "sqlite":
        yield
        return
    cursor.execute(triggers.SQLITE_LINK_CHILD_INDEX)
    yield
    cursor.execute(f"DROP INDEX {triggers.SQLITE_LINK_CHILD_INDEX_NAME}")


def _holder_sizes(cursor, base: int, holders: list[int]) -> dict[int, int]:
    """How many entries each holder's log has among the first `base` global entries."""
    sizes = dict.fromkeys(holders, 0)
    for subject in holders:
        cursor.execute("SELECT COUNT(*) FROM audit_holderlogentry WHERE subject_id = %s AND seq <= %s",
                       [subject, base])
        sizes[subject] = cursor.fetchone()[0]
    return sizes


def _compact_range(reader: tiles.TileReader) -> CompactRange:
    """The right edge of the reader's tree, read from its tiles: O(log n) reads."""
    return CompactRange(reader.size, [reader.perfect(level, first >> level)
                                      for first, level in decompose(0, reader.size)])

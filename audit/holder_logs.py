"""Holder logs: for each account, a Merkle tree of the global entries about it (docs/holder-log.md).

An entry of the global trail whose subject_id is S is also the next entry of S's log, with the
same bytes and so the same leaf hash. integrate() appends them, for every holder a batch touches,
in the step that integrates the batch into the global tree (audit.outbox.integrate_pending: the same
code on SQLite and PostgreSQL, inline or by the sequencer, under the head's lock). The touched
holders' heads are read with the global head's lock and written with the global head, and each
log's new entries go in that same statement (audit.outbox.write_heads): a pass spends no statement on the holder
logs except for a tile that fills (docs/holder-log.md, "Storage and cost"). No tree is rebuilt.

Storage (audit.models): HolderLog (the head: size, compact range, the opaque log id, the size of
its newest checkpoint), HolderLogEntry (holder index -> global seq: the bytes and leaf hashes are
the global event's, stored once), HolderLogTile (full tiles, as AuditTile), HolderCheckpoint
(signed notes, each with the `audit.holder_head` event that commits it into the global trail;
audit.services.audit_checkpoint_create appends those).
"""

import hmac
import json
from collections import defaultdict

from django.conf import settings
from django.db import connection

from audit import integrate as tlog
from audit.merkle import CompactRange, ProofError, append_one
from audit.models import HolderCheckpoint, HolderLog, HolderLogEntry, HolderLogTile
from audit.notes import Checkpoint, NoteError, open_checkpoint, sign_checkpoint
from audit.tiles import TileReader
from core import signing

LOG_ID_LABEL = b"consentsvc-holder-log-id/v1\n"
HEAD_ACTION = "audit.holder_head"
HEAD_OBJECT_TYPE = "holder_log"
_CHUNK = 500


def log_id_for(subject_id: int, key: bytes) -> str:
    """The log's opaque id: the first 16 bytes of HMAC-SHA256(key, label || decimal user id), in hex.
    Computed when the log is created and stored with it (never recomputed)."""
    return hmac.new(key, LOG_ID_LABEL + str(int(subject_id)).encode(), "sha256").hexdigest()[:32]


def origin_for(log_id: str) -> str:
    return f"{settings.AUDIT_CHECKPOINT_ORIGIN}/holder/{log_id}"


# -- integration --------------------------------------------------------------------------------------


def _in_list(count: int) -> str:
    return ", ".join(["%s"] * count)


def _heads(cursor, subjects: list[int]) -> dict[int, tuple[int, bytes]]:
    heads: dict[int, tuple[int, bytes]] = {}
    if cursor.db.vendor == "postgresql":  # one statement, the subjects as one array
        cursor.execute("SELECT subject_id, size, compact_range FROM audit_holderlog WHERE subject_id = ANY(%s)",
                       [subjects])
        return {row[0]: (row[1], bytes(row[2])) for row in cursor.fetchall()}
    for start in range(0, len(subjects), _CHUNK):
        part = subjects[start : start + _CHUNK]
        cursor.execute(f"SELECT subject_id, size, compact_range FROM audit_holderlog "  # noqa: S608
                       f"WHERE subject_id IN ({_in_list(len(part))})", part)
        heads.update((row[0], (row[1], bytes(row[2]))) for row in cursor.fetchall())
    return heads


def entries_reader(cursor, subject_id: int):
    """read_entries for audit.integrate over one holder's stored log (for a tile that fills)."""

    def read(level: int, start: int, end: int) -> list[bytes]:
        if end <= start:
            return []
        if level == 0:
            cursor.execute('SELECT h.seq, e.hash FROM audit_holderlogentry h JOIN audit_auditevent e ON e.seq = h.seq '
                           'WHERE h.subject_id = %s AND h."index" >= %s AND h."index" < %s ORDER BY h."index"',
                           [subject_id, start, end])
            rows = cursor.fetchall()
            if len(rows) != end - start:
                raise ProofError(f"holder {subject_id}: entries {start}..{end - 1} are not all stored")
            return [bytes.fromhex(row[1]) for row in rows]
        cursor.execute('SELECT "index", root FROM audit_holderlogtile WHERE subject_id = %s AND level = %s '
                       'AND "index" >= %s AND "index" < %s ORDER BY "index"', [subject_id, level - 1, start, end])
        rows = cursor.fetchall()
        if [row[0] for row in rows] != list(range(start, end)):
            raise ProofError(f"holder {subject_id}: tiles {start}..{end - 1} of level {level - 1} are not all stored")
        return [bytes(row[1]) for row in rows]

    return read


# "index" is quoted: a keyword on both databases.
_ENTRY_SQL = 'INSERT INTO audit_holderlogentry (subject_id, "index", seq) VALUES (%s, %s, %s)'
_TILE_SQL = 'INSERT INTO audit_holderlogtile (subject_id, level, "index", hashes, root) VALUES (%s, %s, %s, %s, %s)'
# `appended` names the global seqs this upsert appends: the database writes them as the log's last
# entries in this same statement (audit.triggers, migration 0015).
_HEAD_SQL = ("INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size, appended) "
             "VALUES (%s, %s, %s, %s, 0, %s) ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, "
             "compact_range = excluded.compact_range, appended = excluded.appended")
_HEAD_VALUES = "(%s, %s, %s, %s, 0, %s)"
# Before migration 0015 (the backfill of migration 0014): no `appended`, the entries written apart.
_HEAD_SQL_0014 = ("INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size) "
                  "VALUES (%s, %s, %s, %s, 0) ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, "
                  "compact_range = excluded.compact_range")


def subjects_of(subject_ids) -> list[int]:
    """The holders a batch touches, once each, in first-seen order."""
    return list(dict.fromkeys(subject for subject in subject_ids if subject is not None))


def integrate(cursor, sequenced: list[tuple[int, int | None, bytes]], key: bytes,
              heads: dict[int, tuple[int, bytes]] | None = None, read_for=(), *, write: bool = True,
              entries_apart: bool = False) -> list[tuple]:
    """Appends (seq, subject_id, leaf hash) of newly integrated global entries, in seq order, to
    their holders' logs. In integration's transaction, under the global head's lock (which is what
    serialises the holder logs' heads too). Returns the new heads' rows (subject_id, log_id, size,
    compact range, appended): one per holder log that grew.

    heads: the heads (size, compact range) of the holders in `read_for`, as the caller read them
    under the lock (audit.outbox.lock_head_reading); the others are read here. Tiles that fill are
    written here. The heads are written here unless `write` is false: then the caller writes them
    with the global head, in one statement that writes the logs' new entries too
    (audit.outbox.write_heads); here each head's upsert writes them (`appended`, audit.triggers).
    entries_apart: write the entries in a statement of their own (the schema of migration 0014)."""
    by_subject: dict[int, list[tuple[int, bytes]]] = {}
    for seq, subject, leaf in sequenced:
        if subject is not None:
            items = by_subject.get(subject)
            if items is None:
                by_subject[subject] = [(seq, leaf)]
            else:
                items.append((seq, leaf))
    if not by_subject:
        return []
    heads = dict(heads or {})
    read = set(read_for)
    unread = [subject for subject in by_subject if subject not in read]
    if unread:
        heads.update(_heads(cursor, unread))
    entry_rows, tile_rows, head_rows = [], [], []
    width = tlog.WIDTH
    for subject, items in by_subject.items():
        head = heads.get(subject)
        size, compact = head if head is not None else (0, b"")
        if len(items) == 1 and size % width != width - 1:
            # The common case (a batch names most holders once): one leaf that fills no tile.
            seq, leaf = items[0]
            new_size, new_compact = size + 1, append_one(size, compact, leaf)
            appended = f"[{seq}]"
        else:
            leaves = [leaf for _, leaf in items]
            tree = CompactRange.from_bytes(size, compact)
            tree.extend(leaves)
            new_size, new_compact = tree.size, tree.to_bytes()
            appended = json.dumps([seq for seq, _ in items])
            if (size % width) + len(leaves) >= width:
                for tile in tlog.filled_tiles(size, leaves, entries_reader(cursor, subject)):
                    tile_rows.append((subject, tile.level, tile.index, tile.hashes, tile.root))
        if entries_apart:
            entry_rows += [(subject, size + offset, seq) for offset, (seq, _) in enumerate(items)]
        log_id = log_id_for(subject, key) if head is None else ""
        row = (subject, log_id, new_size, new_compact)
        head_rows.append(row if entries_apart else (*row, appended))
    _write_rows(cursor, entry_rows, tile_rows, head_rows if write else [], entries_apart)
    return head_rows


def _write_rows(cursor, entry_rows, tile_rows, head_rows, entries_apart: bool) -> None:
    head_sql, values = (_HEAD_SQL_0014, "(%s, %s, %s, %s, 0)") if entries_apart else (_HEAD_SQL, _HEAD_VALUES)
    if cursor.db.vendor == "postgresql":
        if entry_rows:
            with cursor.cursor.copy('COPY audit_holderlogentry (subject_id, "index", seq) FROM STDIN') as copy:
                for row in entry_rows:
                    copy.write_row(row)
        if tile_rows:
            with cursor.cursor.copy('COPY audit_holderlogtile (subject_id, level, "index", hashes, root) '
                                    'FROM STDIN') as copy:
                for row in tile_rows:
                    copy.write_row(row)
        for start in range(0, len(head_rows), _CHUNK):
            part = head_rows[start : start + _CHUNK]
            cursor.execute(head_sql.replace(f"VALUES {values}", f"VALUES {', '.join([values] * len(part))}"),
                           [value for row in part for value in row])
        return
    if entry_rows:
        cursor.executemany(_ENTRY_SQL, entry_rows)
    if tile_rows:
        cursor.executemany(_TILE_SQL, tile_rows)
    if head_rows:
        cursor.executemany(head_sql, head_rows)


def backfill(cursor, key: bytes, chunk: int = 20_000) -> int:
    """Builds the holder logs of every event already in the trail (migration 0014); idempotent:
    does nothing once any holder log exists. Returns how many entries it added."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_holderlog)")
    if cursor.fetchone()[0]:
        return 0
    done, after = 0, 0
    while True:
        cursor.execute("SELECT seq, subject_id, hash FROM audit_auditevent WHERE seq > %s ORDER BY seq LIMIT %s",
                       [after, chunk])
        rows = cursor.fetchall()
        if not rows:
            return done
        integrate(cursor, [(row[0], row[1], bytes.fromhex(row[2])) for row in rows], key, entries_apart=True)
        done += sum(1 for row in rows if row[1] is not None)
        after = rows[-1][0]


# -- checkpoints ----------------------------------------------------------------------------------------


def grown(cursor) -> list[tuple[int, str, int, bytes]]:
    """(subject_id, log_id, size, compact range) of every holder log past its newest checkpoint."""
    cursor.execute("SELECT subject_id, log_id, size, compact_range FROM audit_holderlog WHERE size > signed_size "
                   "ORDER BY subject_id")
    return [(row[0], row[1], row[2], bytes(row[3])) for row in cursor.fetchall()]


def any_grown() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_holderlog WHERE size > signed_size)")
        return bool(cursor.fetchone()[0])


def sign(log_id: str, size: int, root: bytes) -> str:
    """A holder checkpoint note: origin <AUDIT_CHECKPOINT_ORIGIN>/holder/<log id>, signed by the audit key
    under the global key name."""
    return sign_checkpoint(Checkpoint(origin=origin_for(log_id), tree_size=size, root_hash=root),
                           key=signing.private_key("AUDIT_SIGNING_KEY"), key_name=settings.AUDIT_CHECKPOINT_ORIGIN)


def store_checkpoints(cursor, rows: list[HolderCheckpoint]) -> None:
    """Stores the holder checkpoints and moves their logs' signed size (the caller appends their heads)."""
    HolderCheckpoint.objects.bulk_create(rows)
    cursor.executemany("UPDATE audit_holderlog SET signed_size = %s WHERE subject_id = %s AND signed_size < %s",
                       [(row.tree_size, row.subject_id, row.tree_size) for row in rows])


# -- reads ---------------------------------------------------------------------------------------------


class HolderTileReader(TileReader):
    """The tiles of one holder's log of `size` entries."""

    def __init__(self, subject_id: int, size: int):
        super().__init__(size)
        self.subject_id = subject_id

    def _stored_tile(self, level: int, index: int) -> bytes | None:
        return (HolderLogTile.objects.filter(subject_id=self.subject_id, level=level, index=index)
                .values_list("hashes", flat=True).first())

    def _read_entries(self, level: int, start: int, end: int) -> list[bytes]:
        with connection.cursor() as cursor:
            return entries_reader(cursor, self.subject_id)(level, start, end)


def latest_checkpoint(subject_id: int) -> HolderCheckpoint | None:
    return HolderCheckpoint.objects.filter(subject_id=subject_id).order_by("-tree_size").first()


def entry_bundle(subject_id: int, first: int, count: int) -> list[bytes]:
    """The canonical bytes of the holder's entries [first, first + count)."""
    with connection.cursor() as cursor:
        cursor.execute('SELECT h."index", e.canonical FROM audit_holderlogentry h JOIN audit_auditevent e '
                       'ON e.seq = h.seq WHERE h.subject_id = %s AND h."index" >= %s AND h."index" < %s '
                       'ORDER BY h."index"', [subject_id, first, first + count])
        rows = cursor.fetchall()
    if [row[0] for row in rows] != list(range(first, first + count)):
        raise ProofError(f"holder entries {first}..{first + count - 1} are not all stored")
    return [bytes(row[1]) for row in rows]


def entry_seqs(subject_id: int, first: int, count: int) -> list[int]:
    """The global seqs of the holder's entries [first, first + count)."""
    return list(HolderLogEntry.objects.filter(subject_id=subject_id, index__gte=first, index__lt=first + count)
                .values_list("seq", flat=True))


def log_of(subject_id: int) -> HolderLog | None:
    return HolderLog.objects.filter(subject_id=subject_id).first()


# -- verification (a cross-check of audit_verify) ------------------------------------------------------


_MAX_PROBLEMS = 100

_MISPLACED_SQL = """
WITH expected AS (
    SELECT subject_id, seq, ROW_NUMBER() OVER (PARTITION BY subject_id ORDER BY seq) - 1 AS pos
    FROM audit_auditevent WHERE subject_id IS NOT NULL AND seq <= %s
)
SELECT x.subject_id, x.pos, x.seq, h.seq FROM expected x
LEFT JOIN audit_holderlogentry h ON h.subject_id = x.subject_id AND h."index" = x.pos
WHERE h.seq IS NULL OR h.seq <> x.seq
UNION ALL
SELECT h.subject_id, h."index", NULL, h.seq FROM audit_holderlogentry h
LEFT JOIN expected x ON x.subject_id = h.subject_id AND x.pos = h."index"
WHERE x.seq IS NULL
ORDER BY 1, 2
LIMIT %s
"""


def problems(head_size: int | None = None):
    """Every way the holder logs disagree with the trail, one message each (audit_verify runs it):
    an entry missing from its holder's log, one that is not the global entry at its place, one the
    trail does not have; a head, a stored tile or a signed holder checkpoint whose root is not the
    root of the holder's global entries; a checkpoint note that does not verify; a committed head
    event that names another size or root than the checkpoint it commits."""
    with connection.cursor() as cursor:
        if head_size is None:
            cursor.execute("SELECT size FROM audit_audithead WHERE id = 1")
            row = cursor.fetchone()
            head_size = row[0] if row else 0
        cursor.execute(_MISPLACED_SQL, [head_size, _MAX_PROBLEMS])
        for subject, position, seq, stored in cursor.fetchall():
            if stored is None:
                yield f"holder {subject}: global seq {seq} is missing from their log (entry {position})"
            elif seq is None:
                yield f"holder {subject}: entry {position} (seq {stored}) is not a global entry about them there"
            else:
                yield f"holder {subject}: entry {position} is seq {stored}, the trail has seq {seq} there"
        heads = {row[0]: (row[1], row[2], bytes(row[3])) for row in _all(cursor, "SELECT subject_id, log_id, size, "
                                                                          "compact_range FROM audit_holderlog")}
        committed = {}
        for event_id, body in _all(cursor, "SELECT event_id, canonical FROM audit_auditevent WHERE action = %s "
                                            "AND seq <= %s", [HEAD_ACTION, head_size]):
            committed[event_id] = json.loads(bytes(body))["details"]
    checkpoints: dict[int, list[HolderCheckpoint]] = defaultdict(list)
    for checkpoint in HolderCheckpoint.objects.order_by("subject_id", "tree_size"):
        checkpoints[checkpoint.subject_id].append(checkpoint)
    stored_tiles: dict[int, dict] = defaultdict(dict)
    for subject, level, index, hashes in HolderLogTile.objects.values_list("subject_id", "level", "index", "hashes"):
        stored_tiles[subject][(level, index)] = bytes(hashes)
    key = signing.public_key("AUDIT_SIGNING_KEY")
    name = settings.AUDIT_CHECKPOINT_ORIGIN
    for subject, leaves in _leaves_by_subject(head_size):
        log_id, size, compact = heads.pop(subject, ("", 0, b""))
        tree = CompactRange()
        for checkpoint in checkpoints.pop(subject, []):
            if checkpoint.tree_size > len(leaves):
                yield f"holder {subject}: checkpoint at {checkpoint.tree_size} is past their {len(leaves)} entries"
                continue
            tree.extend(leaves[tree.size : checkpoint.tree_size])
            root = tree.root()
            if checkpoint.root_hash != root.hex():
                yield f"holder {subject}: checkpoint at {checkpoint.tree_size} has a root their entries do not make"
            try:
                opened = open_checkpoint(checkpoint.note, public_key=key, key_name=name)
                if (opened.origin, opened.tree_size, opened.root_hash) != (origin_for(log_id), checkpoint.tree_size,
                                                                           root):
                    yield f"holder {subject}: the checkpoint note at {checkpoint.tree_size} signs another log or tree"
            except NoteError as exc:
                yield f"holder {subject}: the checkpoint note at {checkpoint.tree_size} does not verify ({exc})"
            details = committed.get(checkpoint.head_event_id)
            if details is not None and details != {"holder": subject, "origin": origin_for(log_id),
                                                   "root": checkpoint.root_hash, "size": checkpoint.tree_size}:
                yield f"holder {subject}: the head committed for checkpoint {checkpoint.tree_size} names another log"
        tree.extend(leaves[tree.size :])
        if size != len(leaves) or compact != tree.to_bytes():
            yield f"holder {subject}: their log's head ({size} entries) is not the {len(leaves)} entries about them"
        expected = {(t.level, t.index): t.hashes for t in tlog.filled_tiles(0, leaves, lambda *_: [])}
        stored = stored_tiles.pop(subject, {})
        for place in sorted(set(expected) | set(stored)):
            if expected.get(place) != stored.get(place):
                yield f"holder {subject}: tile {place[0]}/{place[1]} is not their entries' tile"
    for subject in sorted(set(heads) | set(checkpoints) | set(stored_tiles)):
        yield f"holder {subject}: a log, checkpoint or tile with no global entry about them"


def _all(cursor, sql: str, params=()):
    cursor.execute(sql, params)
    while rows := cursor.fetchmany(2000):
        yield from rows


def _leaves_by_subject(head_size: int, chunk: int = 50_000):
    """(subject, its leaf hashes in order), one subject at a time, read from the trail in chunks."""
    after: tuple[int, int] | None = None
    current, leaves = None, []
    with connection.cursor() as cursor:
        while True:
            keyset = "" if after is None else " AND (subject_id > %s OR (subject_id = %s AND seq > %s))"
            params = [head_size] + ([] if after is None else [after[0], after[0], after[1]]) + [chunk]
            cursor.execute("SELECT subject_id, seq, hash FROM audit_auditevent WHERE subject_id IS NOT NULL "  # noqa: S608
                           f"AND seq <= %s{keyset} ORDER BY subject_id, seq LIMIT %s", params)
            rows = cursor.fetchall()
            for subject, _, leaf in rows:
                if subject != current:
                    if current is not None:
                        yield current, leaves
                    current, leaves = subject, []
                leaves.append(bytes.fromhex(leaf))
            if len(rows) < chunk:
                break
            after = (rows[-1][0], rows[-1][1])
    if current is not None:
        yield current, leaves

"""The audit queue, sequencing and integration: one code path on SQLite and PostgreSQL, as in Tessera.

Writers (audit.services.audit_append_many) add entries, each MAC'd under the audit MAC key, in
their own transaction and take no lock on the log's head: to the queue (audit_auditoutbox), or,
inline, straight to the integration below in the same transaction.

integrate_pending() then, under the head's lock (a row lock on PostgreSQL; SQLite's write lock):
  1. verify: every entry's bytes must be an entry in canonical form and its MAC must verify under
     the key; one that fails, or whose event id is already in the trail (a replay), is never
     integrated: it is set aside (AuditSetAside) with its reason and raised as an
     `audit.entry_set_aside` event, and audit_verify fails until an operator acknowledges it;
  2. sequence: the entries that pass take the next positions, in queue order, as one batch, and
     the trail's rows that hold them are written (store_sequenced);
  3. integrate: integrate_holder_logs appends each entry about a holder to that holder's log
     (audit.holder_logs; their heads were read with the global head's lock); audit.integrate.integrate
     (a pure function over leaf hashes and tiles) gives the new tiles, the roots at checkpoint sizes
     and the new head; integrate_sequenced writes the tiles, the signed checkpoints every N and the
     head, with the holder logs' heads and entries in the same statement (write_heads); then the
     batch leaves the queue (dequeue).

Where it runs:
- inline (AUDIT_SEQUENCER=inline, and always on SQLite, whose writer already holds the write lock):
  in the writer's transaction, over what waits in the queue and the writer's own entries;
- outbox (PostgreSQL): after the commit, by this process's sequencer thread (or the committing
  request) when no other process is at it (an advisory lock); the periodic checkpoint job
  (audit.jobs.checkpoint, every AUDIT_CHECKPOINT_SECONDS / 2) too, as a backstop. The lag is one batch's work.

Only integrated entries are in the trail's table: listings, counts, exports, tiles and
checkpoints read nothing else. Pending entries are found by event id (pending_by_ids) once their
MAC verifies. What the queue does not protect against: someone with the database deleting a
pending row in the instant before it is integrated; the trail's protections start at integration.
"""

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from hmac import compare_digest

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit import canonical, holder_logs, tiles
from audit.integrate import integrate
from audit.keys import mac_key
from audit.merkle import CompactRange
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditSetAside, built_event, built_events
from audit.notes import Checkpoint, sign_checkpoint
from core import signing

logger = logging.getLogger(__name__)

_ADVISORY_KEY = 0x61756469  # "audi": one sequencer at a time, across processes
BATCH = 5000
GATHER_SECONDS = 0.005
KEEP_CONNECTION_SECONDS = 1.0
SET_ASIDE_ACTION = "audit.entry_set_aside"
ACKNOWLEDGED_ACTION = "audit.set_aside_acknowledged"


def enabled() -> bool:
    """Whether writers leave their entries in the queue for the sequencer (else they integrate inline)."""
    return settings.AUDIT_SEQUENCER == "outbox" and connection.vendor == "postgresql"


@dataclass(slots=True)
class Entry:
    """An entry to integrate: its bytes and MAC as written, its fields once they are known to be an entry."""

    queued_id: int | None  # its row in the queue; None for a writer's own entry, integrated inline
    event_id: str
    body: bytes
    mac: str
    valid: canonical.ValidEvent | None = None
    time_text: str = ""


# -- writers ---------------------------------------------------------------------------------------


def entries_for(prepared: list[canonical.ValidEvent], now) -> list[Entry]:
    """The writer's entries: bytes and MACs, in the writer's own transaction."""
    time_text = canonical.format_time(now)
    bodies = [canonical.encode_entry(valid, time=time_text) for valid in prepared]
    macs = canonical.macs([canonical.leaf_hash(body) for body in bodies], mac_key())
    return [Entry(None, valid.fields["event_id"], body, mac, valid, time_text)
            for valid, body, mac in zip(prepared, bodies, macs, strict=True)]


def queue_write(prepared: list[canonical.ValidEvent], now) -> list[AuditEvent]:
    """Adds the writer's entries to the queue in its transaction, and asks for integration at commit."""
    entries = entries_for(prepared, now)
    rows = [(entry.event_id, entry.body, entry.mac) for entry in entries]
    with connection.cursor() as cursor:
        if len(rows) == 1 or connection.vendor != "postgresql":  # one round trip; COPY takes three
            cursor.executemany("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)", rows)
        else:
            with cursor.cursor.copy("COPY audit_auditoutbox (event_id, body, mac) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    # Once per transaction (Django forgets the hook with a rollback).
    if not any(func is _after_commit for _, func, _ in connection.run_on_commit):
        transaction.on_commit(_after_commit)
    return [_unsequenced(valid, now) for valid in prepared]


def integrate_inline(prepared: list[canonical.ValidEvent], now) -> list[AuditEvent]:
    """The writer's entries verified, sequenced and integrated in its own transaction. (It leaves the
    queue to the sequencer and the periodic checkpoint job: reading it here would cost every append a
    query, and inline writers put nothing there.)"""
    own = entries_for(prepared, now)
    with connection.cursor() as cursor:
        events = integrate_pending(cursor=cursor, own=own, read_queue=False)
    wanted = {entry.event_id for entry in own}
    return [event for event in events if event.event_id in wanted]


def _after_commit() -> None:
    if settings.AUDIT_SEQUENCER_THREAD:
        _sequencer().wake()
        return
    try:
        integrate_when_free()
    except Exception:  # the request has committed; a later run (or the periodic checkpoint job) integrates
        logger.exception("audit integration failed; it will be retried")


# -- verify, sequence, integrate ----------------------------------------------------------------------


_LOCK_HEAD_SQL = {
    # On SQLite every transaction is IMMEDIATE: the write lock is already held.
    "sqlite": "SELECT size, last_hash, compact_range FROM audit_audithead WHERE id = 1",
    "postgresql": "SELECT size, last_hash, compact_range FROM audit_audithead WHERE id = 1 FOR UPDATE",
}
_UPDATE_HEAD_SQL = "UPDATE audit_audithead SET size = %s, last_hash = %s, compact_range = %s WHERE id = 1"


def lock_head(cursor) -> tuple[int, str, bytes]:
    """The head (size, last leaf hash, compact range), locked until the transaction ends."""
    sql = _LOCK_HEAD_SQL.get(cursor.db.vendor, _LOCK_HEAD_SQL["postgresql"])
    cursor.execute(sql)
    row = cursor.fetchone()
    if row is None:
        # Only after a flush of the tables (tests); the migration creates the row.
        # ignore_conflicts makes two first writers agree on one row.
        AuditHead.objects.bulk_create([AuditHead(pk=1)], ignore_conflicts=True)
        cursor.execute(sql)
        row = cursor.fetchone()
    return row[0], row[1], bytes(row[2])


_LOCK_READING_SQL = {
    # (The subjects as parameters, not a JSON array through json_each: cheaper for the one or few
    # holders of a request's append, and a batch's list is cut at _SQLITE_IN_MAX.)
    "sqlite": "SELECT NULL, size, last_hash, compact_range FROM audit_audithead WHERE id = 1 UNION ALL "
              "SELECT subject_id, size, NULL, compact_range FROM audit_holderlog WHERE subject_id IN ({})",
    # `seen`, the head as this statement's snapshot has it, tells whether the row lock waited for
    # an integration that committed after the snapshot: then the holder heads read with it may be
    # older than the head, and they are read again (audit.holder_logs.integrate reads what is unread).
    "postgresql": "SELECT h.size, h.last_hash, h.compact_range, (SELECT size FROM audit_audithead WHERE id = 1), "
                  "(SELECT json_agg(json_build_array(l.subject_id, l.size, encode(l.compact_range, 'hex'))) "
                  "FROM audit_holderlog l WHERE l.subject_id = ANY(%s)) FROM audit_audithead h WHERE h.id = 1 "
                  "FOR UPDATE OF h",
}


_SQLITE_IN_MAX = 2000  # well under SQLite's 32,766 parameters since 3.32


def lock_head_reading(cursor, subjects: list[int]):
    """lock_head, and in the same statement the heads (size, compact range) of the holder logs of
    `subjects` (those that exist). Returns (size, last hash, compact range, holder heads, the
    subjects whose heads were read): none when they could not be read soundly with the lock (see
    _LOCK_READING_SQL), and audit.holder_logs.integrate reads them then."""
    if not subjects:
        return (*lock_head(cursor), {}, [])
    if cursor.db.vendor == "postgresql":
        cursor.execute(_LOCK_READING_SQL["postgresql"], [subjects])
        row = cursor.fetchone()
        if row is None or row[3] != row[0]:
            return (*lock_head(cursor), {}, []) if row is None else (row[0], row[1], bytes(row[2]), {}, [])
        heads = {subject: (size, bytes.fromhex(compact)) for subject, size, compact in (row[4] or [])}
        return row[0], row[1], bytes(row[2]), heads, subjects
    if len(subjects) > _SQLITE_IN_MAX:  # the others are read by audit.holder_logs.integrate
        subjects = subjects[:_SQLITE_IN_MAX]
    cursor.execute(_LOCK_READING_SQL["sqlite"].format(", ".join(["%s"] * len(subjects))), subjects)
    rows = cursor.fetchall()
    head = next((row for row in rows if row[0] is None), None)
    if head is None:
        return (*lock_head(cursor), {}, [])
    heads = {row[0]: (row[1], bytes(row[3])) for row in rows if row[0] is not None}
    return head[1], head[2], bytes(head[3]), heads, subjects


def _as_entry(entry: Entry) -> str | None:
    """Fills entry.valid from its bytes; the reason it is refused, or None when it is an entry in
    canonical form for its queue row's event id. (The MAC is checked apart, for the whole batch at
    once.) canonical.parse_entry reads the fields and checks the form in one pass, without encoding
    the entry again (its docstring says why that is sound)."""
    if entry.valid is not None:
        return None
    parsed = canonical.parse_entry(entry.body)
    if parsed is None or parsed[0].fields["event_id"] != entry.event_id:
        return AuditSetAside.Reason.NOT_AN_ENTRY
    try:
        if parse_datetime(parsed[1]) is None:
            return AuditSetAside.Reason.NOT_AN_ENTRY
    except ValueError:  # a time of the right shape that is no time (month 13)
        return AuditSetAside.Reason.NOT_AN_ENTRY
    entry.valid, entry.time_text = parsed
    return None


def _taken_event_ids(cursor, event_ids: list[str]) -> set[str]:
    if cursor.db.vendor == "postgresql":  # one statement for the batch, the ids as one array
        cursor.execute("SELECT event_id FROM audit_auditevent WHERE event_id = ANY(%s)", [event_ids])
        return {row[0] for row in cursor.fetchall()}
    taken: set[str] = set()
    for start in range(0, len(event_ids), 500):
        part = event_ids[start : start + 500]
        cursor.execute(f"SELECT event_id FROM audit_auditevent WHERE event_id IN ({', '.join(['%s'] * len(part))})",  # noqa: S608
                       part)
        taken.update(row[0] for row in cursor.fetchall())
    return taken


def verify(cursor, entries: list[Entry], leaves: list[bytes], key: bytes) -> dict[int, str]:
    """Step 1: which entries must not be integrated, by index, with the reason."""
    refused: dict[int, str] = {}
    expected = canonical.macs(leaves, key)
    for index, (entry, mac) in enumerate(zip(entries, expected, strict=True)):
        if not entry.mac or not compare_digest(mac, entry.mac):
            refused[index] = AuditSetAside.Reason.MAC_INVALID
        elif reason := _as_entry(entry):
            refused[index] = reason
    # A queued entry whose event id is in the trail already: a replay of a genuine entry. (A writer's
    # own entries have fresh ids; a taken one fails the unique constraint, as an error of the caller.)
    queued = [entry.event_id for index, entry in enumerate(entries)
              if entry.queued_id is not None and index not in refused]
    if queued:
        taken = _taken_event_ids(cursor, queued)
        for index, entry in enumerate(entries):
            if entry.queued_id is not None and index not in refused and entry.event_id in taken:
                refused[index] = AuditSetAside.Reason.EVENT_ID_TAKEN
    return refused


def sequence(first_seq: int, entries: list[Entry]) -> list[tuple[int, Entry]]:
    """Step 2: positions for the verified entries, in order, from first_seq on."""
    return list(enumerate(entries, start=first_seq))


def checkpoint_for(size: int, root: bytes, when) -> AuditCheckpoint:
    """A signed checkpoint over the first `size` entries, whose tree has this root."""
    origin = settings.AUDIT_CHECKPOINT_ORIGIN
    note = sign_checkpoint(Checkpoint(origin=origin, tree_size=size, root_hash=root),
                           key=signing.private_key("AUDIT_SIGNING_KEY"), key_name=origin)
    return AuditCheckpoint(tree_size=size, root_hash=root.hex(), note=note, created_at=when)


_EVENT_FIELDS = list(AuditEvent._meta.concrete_fields)
_ROW_ORDER = ["seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id", "purpose",
              "outcome", "request_id", "details", "canonical", "prev_hash", "hash", "event_id", "mac"]
if [f.attname for f in _EVENT_FIELDS] != _ROW_ORDER:
    raise RuntimeError("audit.outbox builds AuditEvent rows in an order the model no longer has")
_COLUMNS = ", ".join(connection.ops.quote_name(f.column) for f in _EVENT_FIELDS)
_INSERT_SQL = f"INSERT INTO audit_auditevent ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(_EVENT_FIELDS))})"  # noqa: S608
_COPY_SQL = f"COPY audit_auditevent ({_COLUMNS}) FROM STDIN"


def _insert(cursor, rows: list[list]) -> None:
    """Writes the rows without bulk_create, whose per-field SQL compilation costs more than the
    database's own work here: COPY on PostgreSQL, executemany on SQLite."""
    if cursor.db.vendor == "postgresql" and len(rows) > 1:
        with cursor.cursor.copy(_COPY_SQL) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(_INSERT_SQL, rows)


def integrate_pending(*, cursor=None, own: list[Entry] = (), limit: int = BATCH,
                      read_queue: bool = True) -> list[AuditEvent]:
    """Verifies, sequences and integrates up to `limit` queued entries (oldest first) and `own` (a
    writer's, inline), in the caller's transaction or one of its own. Returns the integrated events,
    the alarms for set-aside entries included."""
    if cursor is None:
        with transaction.atomic(), connection.cursor() as cursor:
            return integrate_pending(cursor=cursor, own=own, limit=limit, read_queue=read_queue)
    # The holder logs the writer's own entries touch: their heads are read with the global head's.
    subjects = holder_logs.subjects_of(entry.valid.fields["subject_id"] for entry in own if entry.valid)
    size, last_hash, compact, holder_heads, subjects = lock_head_reading(cursor, subjects)
    queued = read_queued(cursor, limit) if read_queue else []
    entries = queued + list(own)
    if not entries:
        return []
    key = mac_key()
    leaves = leaf_hashes(entries)
    refused = verify(cursor, entries, leaves, key)  # 1. verify
    if refused:
        entries, leaves = _set_aside(entries, leaves, refused, timezone.now(), key)
    sequenced = sequence(size + 1, entries)  # 2. sequence: positions, and the rows that hold them
    events = store_sequenced(cursor, sequenced, leaves, last_hash)
    # 3. integrate: each holder's own log, then tiles, checkpoints and the head (with the holder logs' heads)
    holder_rows = integrate_holder_logs(cursor, events, leaves, key, holder_heads, subjects)
    integrate_sequenced(cursor, size, compact, leaves, events, holder_rows)
    dequeue(cursor, [entry.queued_id for entry in queued])
    return events


def read_queued(cursor, limit: int) -> list[Entry]:
    """Up to `limit` queued entries, oldest first."""
    cursor.execute("SELECT id, event_id, body, mac FROM audit_auditoutbox ORDER BY id LIMIT %s", [limit])
    return [Entry(row[0], row[1], bytes(row[2]), row[3]) for row in cursor.fetchall()]


def leaf_hashes(entries: list[Entry]) -> list[bytes]:
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + entry.body).digest() for entry in entries]


def dequeue(cursor, queued_ids: list[int]) -> None:
    """Deletes integrated (or set-aside) entries from the queue, in the integration's transaction."""
    if cursor.db.vendor == "postgresql" and queued_ids:  # one statement, the ids as one array
        cursor.execute("DELETE FROM audit_auditoutbox WHERE id = ANY(%s)", [queued_ids])
        return
    for start in range(0, len(queued_ids), 500):
        part = queued_ids[start : start + 500]
        cursor.execute(f"DELETE FROM audit_auditoutbox WHERE id IN ({', '.join(['%s'] * len(part))})", part)  # noqa: S608


def _set_aside(entries: list[Entry], leaves: list[bytes], refused: dict[int, str], now,
               key: bytes) -> tuple[list[Entry], list[bytes]]:
    """Keeps the refused entries apart, and appends an alarm event for each after the entries that pass."""
    rows = AuditSetAside.objects.bulk_create([
        AuditSetAside(queued_id=entries[index].queued_id or 0, event_id=entries[index].event_id[:200],
                      body=entries[index].body, mac=(entries[index].mac or "")[:200], reason=reason, set_aside_at=now)
        for index, reason in sorted(refused.items())
    ])
    logger.error("audit integration: %d entr%s set aside (%s)", len(rows), "y" if len(rows) == 1 else "ies",
                 ", ".join(sorted({row.reason for row in rows})))
    alarms = [canonical.event_fields(action=SET_ASIDE_ACTION, actor_kind="system", actor_id="consentsvc",
                                     subject_id=None, object_type="audit_set_aside", object_id=row.pk, purpose="",
                                     outcome="error", details={"code": row.reason}, request_id="",
                                     event_id=uuid.uuid4())
              for row in rows]
    kept = [(entry, leaf) for index, (entry, leaf) in enumerate(zip(entries, leaves, strict=True))
            if index not in refused]
    alarm_entries = entries_for(alarms, now)
    kept += [(entry, canonical.leaf_hash(entry.body)) for entry in alarm_entries]
    return [entry for entry, _ in kept], [leaf for _, leaf in kept]


def store_sequenced(cursor, sequenced: list[tuple[int, Entry]], leaves: list[bytes],
                    last_hash: str) -> list[AuditEvent]:
    """Step 2's storage: the trail's rows of the sequenced entries (each with its seq, its leaf hash
    and the link the database's INSERT guard checks). Returns them as events."""
    if not sequenced:
        return []
    adapt = cursor.db.ops.adapt_datetimefield_value
    times: dict[str, tuple] = {}  # a batch's entries share a few times: parse each once
    rows, values = [], []
    hexes = [leaf.hex() for leaf in leaves]
    links = [last_hash, *hexes[:-1]]  # the database's INSERT guard links each row to the one before
    for (seq, entry), leaf_hex, link in zip(sequenced, hexes, links, strict=True):
        moment = times.get(entry.time_text)
        if moment is None:
            parsed = parse_datetime(entry.time_text)
            moment = times[entry.time_text] = (parsed, adapt(parsed))
        f = entry.valid.fields
        row = [seq, moment[0], f["actor_kind"], f["actor_id"], f["action"], f["subject_id"], f["object_type"],
               f["object_id"], f["purpose"], f["outcome"], f["request_id"], f["details"], entry.body, link,
               leaf_hex, f["event_id"], entry.mac]
        values.append(row)
        row = list(row)
        row[1] = moment[1]
        row[11] = entry.valid.details_json.decode()
        rows.append(row)
    _insert(cursor, rows)
    return built_events(values, cursor.db.alias)


def integrate_sequenced(cursor, size: int, compact: bytes, leaves: list[bytes], events: list[AuditEvent],
                        holder_rows: list[tuple] | None = None) -> None:
    """Step 3: the tree of `size` leaves (its compact range) extended by the sequenced leaves: writes
    the tiles they fill, the signed checkpoints every N, and the head, with the new heads of the
    holder logs that grew (holder_rows, from integrate_holder_logs) in the same statement."""
    if not leaves:
        return
    every = settings.AUDIT_CHECKPOINT_EVERY
    end = size + len(leaves)
    checkpoint_sizes = range((size // every + 1) * every, end + 1, every)
    done = integrate(tree=CompactRange.from_bytes(size, compact), leaf_hashes=leaves,
                     read_entries=tiles.read_entries, roots_at=checkpoint_sizes)
    tiles.store_tiles(done.tiles)
    if done.roots_at:
        # This batch was just verified; what the tree holds since the last signed checkpoint is checked
        # again before signing, for rows another process integrated (see unsigned_forgeries): over one
        # of those nothing is signed here; the checkpointer rewinds them out of the tree (audit.rewind).
        signed = _latest_checkpoint_size(cursor)
        forged = unsigned_forgeries(cursor, signed, size) if size > signed else []
        if forged:
            logger.error("audit: not signing a checkpoint over seq %s: not MAC'd by this service", forged[:10])
        else:
            moments = {seq: event.time for seq, event in zip(range(size + 1, end + 1), events, strict=True)}
            AuditCheckpoint.objects.bulk_create([checkpoint_for(at, root, moments[at])
                                                 for at, root in done.roots_at.items()])
    write_heads(cursor, (end, leaves[-1].hex(), done.tree.to_bytes()), holder_rows or [])


def integrate_holder_logs(cursor, events: list[AuditEvent], leaves: list[bytes], key: bytes,
                          heads: dict[int, tuple[int, bytes]] | None = None, read_for=()) -> list[tuple]:
    """Step 3, for the holder logs: each integrated entry about a holder is also appended to that
    holder's own log, in this same step (audit.holder_logs, docs/holder-log.md). `heads`: those of
    the holders in `read_for`, read with the global head. Returns the holder logs' new heads, which
    integrate_sequenced writes with the global head (their entries with them)."""
    return holder_logs.integrate(cursor, [(event.seq, event.subject_id, leaf)
                                          for event, leaf in zip(events, leaves, strict=True)],
                                 key, heads, read_for, write=False)


_HEADS_WRITE_SQL = ("INSERT INTO audit_headwrite (subject_id, log_id, size, compact_range, appended, last_hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s)")
# PostgreSQL: the same writes set-based, in one statement: the holder heads as arrays (unnest), the
# global head, the upserts and the logs' new entries as data-modifying parts of one statement. The
# upsert leaves `appended` empty, so its trigger (for the view's row-by-row path) writes nothing:
# the entries are inserted here, at the same indexes (size - n .. size - 1). A plpgsql trigger call
# per holder, as through the view, cost a third of a sequencer's pass over 1,000 holders.
_PG_HEADS_WRITE_SQL = """
WITH r AS (
    SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::bytea[], %s::text[])
        AS r(subject_id, log_id, size, compact_range, appended)
), head AS (
    UPDATE audit_audithead SET size = %s, last_hash = %s, compact_range = %s WHERE id = 1
), logs AS (
    INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size, appended)
    SELECT subject_id, log_id, size, compact_range, 0, '' FROM r
    ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, compact_range = excluded.compact_range,
        appended = ''
)
INSERT INTO audit_holderlogentry (subject_id, "index", seq)
SELECT r.subject_id, r.size - jsonb_array_length(r.appended::jsonb) + a.ord - 1, a.seq::bigint
FROM r, jsonb_array_elements_text(r.appended::jsonb) WITH ORDINALITY AS a(seq, ord)
"""


def write_heads(cursor, head: tuple[int, str, bytes], holder_rows: list[tuple]) -> None:
    """The global head (size, last leaf hash, compact range) and the holder logs' new heads, with
    their new entries, in one statement: on SQLite rows of the view audit_headwrite, which its
    trigger writes (audit.triggers); on PostgreSQL one set-based statement (_PG_HEADS_WRITE_SQL)."""
    if not holder_rows:
        cursor.execute(_UPDATE_HEAD_SQL, list(head))
        return
    size, last_hash, compact = head
    if cursor.db.vendor == "postgresql":
        columns = list(zip(*holder_rows, strict=True))
        cursor.execute(_PG_HEADS_WRITE_SQL, [list(column) for column in columns] + [size, last_hash, compact])
        return
    rows = [(None, None, size, compact, None, last_hash)]
    rows += [(subject, log_id, tree_size, tree, appended, None) for subject, log_id, tree_size, tree, appended
             in holder_rows]
    cursor.executemany(_HEADS_WRITE_SQL, rows)


def _latest_checkpoint_size(cursor) -> int:
    cursor.execute("SELECT MAX(tree_size) FROM audit_auditcheckpoint")
    return cursor.fetchone()[0] or 0


def unsigned_forgeries(cursor, after: int, upto: int) -> list[int]:
    """Seqs in (after, upto] whose MAC does not verify under this process's key. Checked before the
    service signs a checkpoint over them: a process with the database and the service's code but
    another MAC key could integrate its own entries inline; the service never signs those."""
    cursor.execute("SELECT seq, canonical, mac FROM audit_auditevent WHERE seq > %s AND seq <= %s ORDER BY seq",
                   [after, upto])
    rows = cursor.fetchall()
    bodies = [bytes(row[1]) for row in rows]
    leaves = [hashlib.sha256(b"\x00" + body).digest() for body in bodies]
    expected = canonical.stored_macs(bodies, leaves, mac_key())
    return [row[0] for row, mac in zip(rows, expected, strict=True) if not row[2] or not compare_digest(mac, row[2])]


def _head_size(cursor) -> int:
    cursor.execute("SELECT size FROM audit_audithead WHERE id = 1")
    row = cursor.fetchone()
    return row[0] if row else 0


def in_tree_set_asides() -> dict[int, int]:
    """Set-aside id -> seq of the entries set aside where they sat in the tree (by a version of the
    service before audit.rewind) that are still there: the event at that seq has their leaf hash.
    (After a rewind the seq holds another event, or none.) One query while there are none."""
    rows = list(AuditSetAside.objects.filter(seq__isnull=False).values_list("pk", "seq", "body"))
    if not rows:
        return {}
    present = dict(AuditEvent.unchecked.filter(seq__in=[seq for _, seq, _ in rows]).values_list("seq", "hash"))
    return {pk: seq for pk, seq, body in rows if present.get(seq) == canonical.leaf_hash(bytes(body)).hex()}


def set_aside_in_tree() -> dict[int, bool]:
    """Entries found in the tree without a valid MAC and set aside where they sit: seq -> whether an
    operator has acknowledged it (a genuine `audit.set_aside_acknowledged` event)."""
    rows = in_tree_set_asides()
    if not rows:
        return {}
    acknowledged = {int(object_id) for object_id in AuditEvent.objects.filter(
        action=ACKNOWLEDGED_ACTION, object_type="audit_set_aside", object_id__in=[str(pk) for pk in rows],
    ).values_list("object_id", flat=True)}
    return {seq: pk in acknowledged for pk, seq in rows.items()}


_VERIFIED_TAIL: dict[str, tuple[int, int, str, tuple[int, ...]]] = {}  # alias -> (signed, upto, its hash, forged)


def untrusted_seqs() -> list[int]:
    """Seqs in the tree the service does not vouch for, so that no listing, count or export holds
    them: the entries set aside where they sit, and any row after the latest signed checkpoint whose
    MAC does not verify (one integrated inline by a process with another key, not yet set aside).

    The rows after the latest checkpoint are checked once each per process: what was checked is
    remembered with the hash at its end, so a request reads only what was integrated since (a few
    rows, or none): one query while nothing new is there, two or three when there is (one more while
    an older version's set-aside sits in the tree)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT h.size, h.last_hash, (SELECT MAX(tree_size) FROM audit_auditcheckpoint), "
                       "EXISTS (SELECT 1 FROM audit_auditsetaside WHERE seq IS NOT NULL) "
                       "FROM audit_audithead h WHERE h.id = 1")
        row = cursor.fetchone()
        head, last_hash, signed, in_place = (row[0], row[1], row[2] or 0, row[3]) if row else (0, "", 0, False)
        found = set(in_tree_set_asides().values()) if in_place else set()
        if head > signed:
            found.update(_unsigned_forged_tail(cursor, signed, head, last_hash))
    return sorted(found)


def forget_verified_tail() -> None:
    """After a rewind (audit.rewind): the tail this process checked is gone."""
    _VERIFIED_TAIL.pop(connection.alias, None)


def _unsigned_forged_tail(cursor, signed: int, head: int, last_hash: str) -> tuple[int, ...]:
    alias = connection.alias
    cached = _VERIFIED_TAIL.get(alias)
    if cached is not None and cached[:3] == (signed, head, last_hash):
        return cached[3]
    start, forged = signed, ()
    if cached is not None and cached[0] == signed and cached[1] < head:
        cursor.execute("SELECT hash FROM audit_auditevent WHERE seq = %s", [cached[1]])
        at = cursor.fetchone()
        if at is not None and at[0] == cached[2]:  # the same trail, grown since: check only what is new
            start, forged = cached[1], cached[3]
    forged = forged + tuple(unsigned_forgeries(cursor, start, head))
    _VERIFIED_TAIL[alias] = (signed, head, last_hash, forged)
    return forged


def set_aside_foreign_rows() -> list[AuditSetAside]:
    """Sets aside, where they sit, the rows after the latest signed checkpoint whose MAC does not
    verify, with an `audit.entry_set_aside` alarm each, in a transaction of its own (so that a
    checkpoint refused because of them leaves them named). Only for rows the rewind cannot take out
    (audit.rewind.Unrewindable): no checkpoint is ever signed over them. Returns the rows newly set aside."""
    with transaction.atomic(), connection.cursor() as cursor:
        size, _, _ = lock_head(cursor)
        signed = _latest_checkpoint_size(cursor)
        forged = unsigned_forgeries(cursor, signed, size) if size > signed else []
        known = set(in_tree_set_asides().values()) if forged else set()
        new = [seq for seq in forged if seq not in known]
        if not new:
            return []
        now = timezone.now()
        rows = AuditSetAside.objects.bulk_create([
            AuditSetAside(queued_id=0, seq=event.seq, event_id=event.event_id, body=bytes(event.canonical),
                          mac=event.mac or "", reason=AuditSetAside.Reason.MAC_INVALID, set_aside_at=now)
            for event in AuditEvent.unchecked.filter(seq__in=new).order_by("seq")
        ])
        logger.error("audit: %d entr%s in the tree set aside: their MAC does not verify (seq %s)", len(rows),
                     "y" if len(rows) == 1 else "ies", ", ".join(str(row.seq) for row in rows[:10]))
        alarms = [canonical.event_fields(action=SET_ASIDE_ACTION, actor_kind="system", actor_id="consentsvc",
                                         subject_id=None, object_type="audit_set_aside", object_id=row.pk,
                                         purpose="", outcome="error", details={"code": row.reason, "seq": row.seq},
                                         request_id="", event_id=uuid.uuid4())
                  for row in rows]
        integrate_pending(cursor=cursor, own=entries_for(alarms, now), read_queue=False)
    return rows


def integrate_when_free() -> int:
    """Integrates everything queued unless another process is already doing it. Returns how many."""
    if connection.vendor != "postgresql":  # SQLite: the write lock serialises integrations
        done = 0
        # Look before taking the write lock: the queue is empty nearly always on SQLite (writers
        # integrate inline), and this runs every few seconds beside them.
        while _queued() and (events := integrate_pending()):
            done += len(events)
        return done
    done = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY])
        got = cursor.fetchone()[0]
    while got:
        try:
            while True:
                events = integrate_pending()
                done += len(events)
                if not events:
                    break
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_KEY])
        # A row committed by a request that found the lock taken just before we let it go: look again.
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_auditoutbox)")
            if not cursor.fetchone()[0]:
                break
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY])
            got = cursor.fetchone()[0]
    return done


def _queued() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_auditoutbox)")
        return bool(cursor.fetchone()[0])


class _SequencerThread:
    """One per process: integrates the queue when woken by a commit, so a request's commit is its
    only round trip. While commits keep coming it works in batches, one after the other; the lag is
    the batch in hand plus this one."""

    def __init__(self):
        self._wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        from django.db import close_old_connections

        while True:
            woken = self._wanted.wait(settings.AUDIT_CHECKPOINT_SECONDS)
            self._wanted.clear()
            if not woken:  # an idle look, only while this process still sequences in the background
                if not (enabled() and settings.AUDIT_SEQUENCER_THREAD):
                    continue
            else:
                # Let the commits right behind this one land first: one integration (and one commit
                # of the trail) for several requests' entries, for a few milliseconds of lag.
                time.sleep(GATHER_SECONDS)
            try:
                integrate_when_free()
            except Exception:  # noqa: BLE001 (keep the thread; the next wake or the periodic checkpoint job retries)
                logger.exception("audit integration failed; it will be retried")
                close_old_connections()
                connection.close()
            # No commit within a moment: idle, hold no connection. (While commits keep waking the
            # thread it keeps its connection: opening one per commit costs more than integrating.)
            if not woken or not self._wanted.wait(KEEP_CONNECTION_SECONDS):
                connection.close()


_thread_lock = threading.Lock()
_thread: _SequencerThread | None = None


def _sequencer() -> _SequencerThread:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread._thread.is_alive():
            _thread = _SequencerThread()
        return _thread


def _unsequenced(valid: canonical.ValidEvent, moment) -> AuditEvent:
    """The event as it will be once integrated, without what integration gives it (seq, link, hash, MAC)."""
    f = valid.fields
    return built_event([None, moment, f["actor_kind"], f["actor_id"], f["action"], f["subject_id"], f["object_type"],
                        f["object_id"], f["purpose"], f["outcome"], f["request_id"], f["details"], b"", "", "",
                        f["event_id"], None])


def pending_entry(event_id: str, body: bytes, mac: str) -> AuditEvent | None:
    """The pending event a queue row holds, when its MAC verifies and it is an entry in canonical
    form for that event id; else None."""
    entry = Entry(0, event_id, body, mac)
    if not canonical.mac_ok(body, canonical.leaf_hash(body), mac, mac_key()) or not canonical.is_entry(body) \
            or _as_entry(entry) is not None:
        return None
    return _unsequenced(entry.valid, parse_datetime(entry.time_text))


def pending_by_ids(event_ids: set[str]) -> dict[str, AuditEvent]:
    """Genuine entries still in the queue (MAC valid, an entry in canonical form), by id, without a seq.
    None when writers integrate inline (SQLite always, PostgreSQL with AUDIT_SEQUENCER=inline): then
    no writer of this service leaves entries in the queue (what waits there is set aside), and the
    lookup is not worth a query on every consent read."""
    if not event_ids or not enabled():
        return {}
    ids = sorted(event_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id, body, mac FROM audit_auditoutbox WHERE event_id IN "  # noqa: S608
                       f"({', '.join(['%s'] * len(ids))})", ids)
        rows = cursor.fetchall()
    if not rows:
        return {}
    key = mac_key()
    found = {}
    for event_id, body, mac in rows:
        entry = Entry(0, event_id, bytes(body), mac)
        if not canonical.mac_ok(entry.body, canonical.leaf_hash(entry.body), mac, key) or not canonical.is_entry(
                entry.body) or _as_entry(entry) is not None:
            continue
        found[event_id] = _unsequenced(entry.valid, parse_datetime(entry.time_text))
    return found


"""Writes to the audit trail. Call inside the same transaction.atomic() as the action.

Appends take the chain head's row lock (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite every transaction is IMMEDIATE, so the write lock is held from BEGIN).
The lock is held until the caller's transaction ends, so append the event as the
last write of the transaction where you can.
"""

import hashlib
import inspect
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from audit import canonical, notes, outbox
from audit.context import current_request_id
from audit.keys import event_macs, mac_key
from audit.merkle import CompactRange
from audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditHead, built_event
from audit.notes import Checkpoint, sign_checkpoint
from audit.tiles import store_filled_tiles
from core import signing
from core.errors import ServiceError, register_code

register_code(
    "audit_event_invalid",
    500,
    "An audit event was refused because it was malformed or would carry content; nothing was changed.",
)
register_code("audit_log_empty", 409, "The audit trail has no events yet.")


@dataclass
class EventInput:
    action: str
    actor_kind: str
    actor_id: str | int | None = None
    subject_id: int | None = None
    object_type: str = ""
    object_id: str | int = ""
    purpose: str = ""
    outcome: str = "allowed"
    details: dict | None = None
    request_id: str | None = None
    # Generated here when not given, so the caller knows it before the event is appended
    # (a consent entry names its event in the same transaction).
    event_id: uuid.UUID | str | None = None

    def __post_init__(self):
        if self.event_id is None:
            self.event_id = uuid.uuid4()


def audit_append(
    *,
    action: str,
    actor_kind: str,
    actor_id: str | int | None = None,
    subject_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    purpose: str = "",
    outcome: str = "allowed",
    details: dict | None = None,
    request_id: str | None = None,
    event_id: uuid.UUID | str | None = None,
) -> AuditEvent:
    event = EventInput(
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        subject_id=subject_id,
        object_type=object_type,
        object_id=object_id,
        purpose=purpose,
        outcome=outcome,
        details=details,
        request_id=request_id,
        event_id=event_id,
    )
    return audit_append_many(events=[event])[0]


_INPUT_FIELDS = tuple(f.name for f in fields(EventInput))
# _validated passes each field by name: a field added to one side only must not go unnoticed.
if set(inspect.signature(canonical.event_fields).parameters) != set(_INPUT_FIELDS):
    raise ImproperlyConfigured("audit.services._validated no longer passes every EventInput field on")


def _validated(event: EventInput) -> canonical.ValidEvent:
    request_id = event.request_id
    try:
        return canonical.event_fields(
            action=event.action, actor_kind=event.actor_kind, actor_id=event.actor_id, subject_id=event.subject_id,
            object_type=event.object_type, object_id=event.object_id, purpose=event.purpose, outcome=event.outcome,
            details=event.details, request_id=current_request_id() if request_id is None else request_id,
            event_id=event.event_id,
        )
    except canonical.InvalidEvent as exc:
        raise ServiceError("audit_event_invalid", str(exc)) from exc


_LOCK_HEAD_SQL = {
    # On SQLite every transaction is IMMEDIATE: the write lock is already held.
    "sqlite": "SELECT size, last_hash, compact_range FROM audit_audithead WHERE id = 1",
    "postgresql": "SELECT size, last_hash, compact_range FROM audit_audithead WHERE id = 1 FOR UPDATE",
}
_UPDATE_HEAD_SQL = "UPDATE audit_audithead SET size = %s, last_hash = %s, compact_range = %s WHERE id = 1"


class _Head(NamedTuple):
    size: int
    last_hash: str
    compact_range: bytes


def _lock_head(cursor=None) -> _Head:
    """The chain head, locked until the transaction ends. Plain SQL: appends one at a time spend
    more time compiling ORM queries than the database spends running them."""
    sql = _LOCK_HEAD_SQL.get(connection.vendor, _LOCK_HEAD_SQL["postgresql"])
    with nullcontext(cursor) if cursor is not None else connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
        if row is None:
            # Only after a flush of the tables (tests); the migration creates the row.
            # ignore_conflicts makes two first writers agree on one row.
            AuditHead.objects.bulk_create([AuditHead(pk=1)], ignore_conflicts=True)
            cursor.execute(sql)
            row = cursor.fetchone()
    return _Head(row[0], row[1], bytes(row[2]))


def _checkpoint_for(tree: CompactRange, when) -> AuditCheckpoint:
    origin = settings.AUDIT_CHECKPOINT_ORIGIN
    root = tree.root()
    note = sign_checkpoint(
        Checkpoint(origin=origin, tree_size=tree.size, root_hash=root),
        key=signing.private_key("AUDIT_SIGNING_KEY"),
        key_name=origin,
    )
    return AuditCheckpoint(tree_size=tree.size, root_hash=root.hex(), note=note, created_at=when)


_EVENT_FIELDS = list(AuditEvent._meta.concrete_fields)
# The order rows are built in below; checked against the model at import.
_ROW_ORDER = ["seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id", "purpose",
              "outcome", "request_id", "details", "canonical", "prev_hash", "hash", "event_id", "mac"]
if [f.attname for f in _EVENT_FIELDS] != _ROW_ORDER:
    raise ImproperlyConfigured("audit.services builds AuditEvent rows in an order the model no longer has")
_INSERT_SQL = "INSERT INTO {table} ({columns}) VALUES ({values})".format(  # noqa: S608 (model names only)
    table=AuditEvent._meta.db_table,
    columns=", ".join(connection.ops.quote_name(f.column) for f in _EVENT_FIELDS),
    values=", ".join("%s" for _ in _EVENT_FIELDS),
)


_COPY_SQL = "COPY {table} ({columns}) FROM STDIN".format(
    table=AuditEvent._meta.db_table,
    columns=", ".join(connection.ops.quote_name(f.column) for f in _EVENT_FIELDS),
)


def _insert(cursor, rows: list[list]) -> None:
    """Writes the rows without bulk_create, whose per-field SQL compilation costs more than the
    database's own work here: COPY on PostgreSQL, executemany on SQLite. The column list
    comes from the model, so it cannot drift."""
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(_COPY_SQL) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(_INSERT_SQL, rows)


def audit_append_many(*, events: list[EventInput]) -> list[AuditEvent]:
    """Appends the events in order, as one batch, in the caller's transaction.

    Inline (SQLite, and PostgreSQL with AUDIT_SEQUENCER=inline): the events take their seq now,
    under the chain head's lock, held until the caller's transaction ends. With the outbox
    (AUDIT_SEQUENCER=outbox, PostgreSQL): they are written, MAC'd, to the outbox in the caller's
    transaction without any shared lock, and the sequencer gives them their seq in batches after
    the commit (audit.outbox); the returned events then have no seq yet."""
    prepared = [_validated(event) for event in events]
    if not prepared:
        return []
    if outbox.enabled():
        return outbox.outbox_write(prepared, timezone.now())
    now = timezone.now()
    # No savepoint of its own: the events belong to the caller's transaction, and if appending them
    # fails, the action they record must not commit without them (the whole transaction rolls back).
    with transaction.atomic(savepoint=False):
        return _integrate([(valid, now) for valid in prepared])


def _integrate(items: list[tuple[canonical.ValidEvent, object]]) -> list[AuditEvent]:
    """Gives the events the next seqs, after the head: rows, tiles, checkpoints every N, the head.
    Call inside a transaction; it takes the head's lock."""
    with connection.cursor() as cursor:  # one cursor for the statements of the append
        return _integrate_with(cursor, items)


def _integrate_with(cursor, items: list[tuple[canonical.ValidEvent, object]]) -> list[AuditEvent]:
    every = settings.AUDIT_CHECKPOINT_EVERY
    head = _lock_head(cursor)
    tree = CompactRange.from_bytes(head.size, bytes(head.compact_range))
    prev_hash = head.last_hash
    seq = head.size
    bodies: list[bytes] = []
    leaves: list[bytes] = []
    leaf_hexes: list[str] = []
    moments = []
    last_moment = time_text = None
    encode = canonical.encode
    sha256 = hashlib.sha256
    for valid, moment in items:
        if moment is not last_moment:
            last_moment, time_text = moment, canonical.format_time(moment)
        seq += 1
        body = encode(valid, seq=seq, time=time_text, prev_hash=prev_hash)
        leaf = sha256(b"\x00" + body).digest()
        prev_hash = leaf.hex()  # the next event links to this one
        bodies.append(body)
        leaves.append(leaf)
        leaf_hexes.append(prev_hash)
        moments.append(moment)
    macs = event_macs(leaves, mac_key())
    adapt = connection.ops.adapt_datetimefield_value
    rows: list[list] = []
    events_out: list[AuditEvent] = []
    last_moment = db_time = None
    links = [head.last_hash, *leaf_hexes[:-1]]
    for offset, ((valid, moment), body, leaf_hex, link, mac) in enumerate(
            zip(items, bodies, leaf_hexes, links, macs, strict=True), start=head.size + 1):
        f = valid.fields
        row = [offset, moment, f["actor_kind"], f["actor_id"], f["action"], f["subject_id"], f["object_type"],
               f["object_id"], f["purpose"], f["outcome"], f["request_id"], f["details"], body, link,
               leaf_hex, f["event_id"], mac]
        events_out.append(built_event(row, connection.alias))
        if moment is not last_moment:
            last_moment, db_time = moment, adapt(moment)
        row[1] = db_time
        row[11] = valid.details_json.decode()
        rows.append(row)
    # The tree, a run of leaves at a time, with a signed checkpoint at every multiple of N.
    checkpoints: list[AuditCheckpoint] = []
    done = 0
    for size in range((head.size // every + 1) * every, seq + 1, every):
        tree.extend(leaves[done : size - head.size])
        done = size - head.size
        checkpoints.append(_checkpoint_for(tree, moments[done - 1]))
    tree.extend(leaves[done:])
    _insert(cursor, rows)
    store_filled_tiles(head.size, leaves)
    if checkpoints:
        AuditCheckpoint.objects.bulk_create(checkpoints)
    cursor.execute(_UPDATE_HEAD_SQL, [seq, prev_hash, tree.to_bytes()])
    return events_out


def audit_checkpoint_create() -> AuditCheckpoint:
    """Signs a checkpoint over every event so far (or returns the one already at that size),
    the outbox's included (those of the caller's transaction too)."""
    with transaction.atomic():
        if outbox.enabled():
            outbox.integrate_pending()
        head = _lock_head()
        if head.size == 0:
            raise ServiceError("audit_log_empty", "There are no audit events to checkpoint yet.")
        existing = AuditCheckpoint.objects.filter(tree_size=head.size).first()
        if existing is not None:
            return existing
        checkpoint = _checkpoint_for(CompactRange.from_bytes(head.size, bytes(head.compact_range)), timezone.now())
        AuditCheckpoint.objects.bulk_create([checkpoint])
    return checkpoint


def audit_checkpoint_if_due() -> AuditCheckpoint | None:
    """Signs a checkpoint when events were added since the latest one; None when there is nothing new.
    Run every few seconds (audit_checkpoint --every), it bounds how long a new event goes unsigned,
    and so how far back anyone could roll the trail without a signed checkpoint showing it."""
    if outbox.enabled():
        outbox.integrate_when_free()
    head = AuditHead.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    latest = AuditCheckpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
    if head <= latest:
        return None
    return audit_checkpoint_create()


register_code("audit_cosignature_invalid", 400,
              "The note carries no valid cosignature by a configured witness, or one that does not verify.")
register_code("audit_checkpoint_unknown", 404, "The service never signed a checkpoint with that body.")


def audit_cosignature_add(*, note: str) -> list[AuditCosignature]:
    """Stores the witness cosignatures (C2SP tlog-cosignature) on one of our signed checkpoints.

    The note's body must be a checkpoint this service signed; every signature line by a configured
    witness must verify; lines by others are passed over. A witness cosigns a tree size once: a
    second cosignature by it on the same size is not stored again."""
    from audit.selectors import audit_witnesses

    try:
        body, _ = notes.split_note(note)
        cosignatures = notes.open_cosignatures(note, audit_witnesses())
    except notes.NoteError as exc:
        raise ServiceError("audit_cosignature_invalid", str(exc)) from exc
    checkpoint = next((cp for cp in AuditCheckpoint.objects.filter(tree_size=_size_of(body))
                       if notes.split_note(cp.note)[0] == body), None)
    if checkpoint is None:
        raise ServiceError("audit_checkpoint_unknown", "This service signed no checkpoint with that body.")
    if not cosignatures:
        raise ServiceError("audit_cosignature_invalid", "The note carries no cosignature by a configured witness.")
    now = timezone.now()
    rows = [AuditCosignature(tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash, witness=c.cosigner,
                             timestamp=c.timestamp, line=c.line, received_at=now) for c in cosignatures]
    with transaction.atomic():
        AuditCosignature.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def _size_of(body: str) -> int:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ServiceError("audit_cosignature_invalid", "The note's body is not a checkpoint.")
    return int(lines[1])


EXPORT_FORMATS = ("csv", "jsonl")


def audit_export_begin(*, fmt: str, filters: dict, actor_kind: str, actor_id: str | int | None,
                       request_id: str | None = None) -> AuditCheckpoint:
    """Records the export as an audit event, then signs the checkpoint the export will cover.

    The export itself streams afterwards (audit.export.export_stream) and covers
    the events up to this checkpoint, its own `audit.exported` event included.
    """
    if fmt not in EXPORT_FORMATS:
        raise ServiceError("invalid_request", f"format must be one of {', '.join(EXPORT_FORMATS)}.")
    described = {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in filters.items()
        if value not in (None, "")
    }
    with transaction.atomic():
        audit_append(action="audit.exported", actor_kind=actor_kind, actor_id=actor_id, object_type="audit_export",
                     details={"format": fmt, "filters": described}, request_id=request_id)
        return audit_checkpoint_create()

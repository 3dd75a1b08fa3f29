"""Writes to the audit trail. Call inside the same transaction.atomic() as the action.

An append writes MAC'd entries in the caller's transaction; sequencing and integration
(audit.outbox) give them their place in the tree, inline or after the commit.
"""

import inspect
import uuid
from dataclasses import dataclass, fields

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from audit import canonical, holder_logs, notes, outbox, rewind
from audit.context import current_request_id
from audit.merkle import CompactRange
from audit.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditEvent,
    AuditHead,
    AuditOutbox,
    AuditSetAside,
    HolderCheckpoint,
)
from audit.selectors import audit_witnesses
from core import actions, uow
from core.errors import ServiceError, register_code
from core.uow import Actor

register_code(
    "audit_event_invalid",
    500,
    "An audit event was refused because it was malformed or would carry content; nothing was changed.",
)
register_code("audit_log_empty", 409, "The audit trail has no events yet.")
register_code("audit_set_aside_unknown", 404, "No entry was set aside with that id.")


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
    if not actions.is_registered(event.action):
        # Every action is declared once by the app that does it (core.actions): an action no app
        # declared is a typo or a word no page can tell, so it is not recorded.
        raise ServiceError("audit_event_invalid", f"action {event.action!r} is not registered: declare it in the "
                                                  "actions.py of the app that records it (see core.actions)")
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


def audit_append_many(*, events: list[EventInput]) -> list[AuditEvent]:
    """Appends the events in order, as one batch, in the caller's transaction: each one an entry
    MAC'd under the audit MAC key (audit.outbox), taking no lock on the log's head.

    Inline (SQLite, and PostgreSQL with AUDIT_SEQUENCER=inline): the entries are verified,
    sequenced and integrated in this transaction, after any still queued; the returned events have
    their seq. With the queue (AUDIT_SEQUENCER=outbox, PostgreSQL): they wait in the queue, and
    the sequencer integrates them in batches after the commit; the returned events have no seq yet."""
    prepared = [_validated(event) for event in events]
    if not prepared:
        return []
    now = timezone.now()
    if outbox.enabled():
        return outbox.queue_write(prepared, now)
    # No savepoint of its own: the events belong to the caller's transaction, and if appending them
    # fails, the action they record must not commit without them (the whole transaction rolls back).
    with transaction.atomic(savepoint=False):
        return outbox.integrate_inline(prepared, now)


def audit_checkpoint_create(*, holder_heads: bool = False) -> AuditCheckpoint:
    """Signs a checkpoint over every event so far (or returns the one already at that size),
    the outbox's included (those of the caller's transaction too).

    Before signing, every entry past the latest signed checkpoint is checked under the service's MAC
    key; when one fails (a process with another key integrated it inline), the tree is rewound to the
    signed size and the tail's genuine entries integrated again without it (audit.rewind): it is set
    aside, with an alarm that audit_verify names until an operator acknowledges it (manage.py
    audit_acknowledge), and the checkpoint signed here never holds it. A foreign row the rewind cannot
    take out (before events in the chained format) is set aside where it sits, and nothing is signed.

    With `holder_heads` (the periodic checkpoint, manage.py audit_checkpoint), first signs a
    checkpoint of every holder log that grew and commits its head into the trail (an
    `audit.holder_head` event each), so the global checkpoint includes them: after the rewind, so no
    holder checkpoint holds a row the service did not write either."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            outbox.integrate_pending(cursor=cursor)
            checked = rewind.rewind_unsigned_tail(cursor, now=timezone.now())
            if holder_heads:
                _commit_holder_heads(cursor)
            size, _, compact = outbox.lock_head(cursor)
            if size == 0:
                raise ServiceError("audit_log_empty", "There are no audit events to checkpoint yet.")
            existing = AuditCheckpoint.objects.filter(tree_size=size).first()
            if existing is not None:
                return existing
            # What was appended since the rewind looked (the holder heads): integrated here, so never
            # foreign, but checked all the same before the signature.
            if size > checked and (forged := outbox.unsigned_forgeries(cursor, checked, size)):
                raise rewind.Unrewindable(forged)
            checkpoint = outbox.checkpoint_for(size, CompactRange.from_bytes(size, compact).root(), timezone.now())
            AuditCheckpoint.objects.bulk_create([checkpoint])
            return checkpoint
    except rewind.Unrewindable:
        # Set aside in a transaction of its own (a savepoint inside the caller's), so that the refusal
        # leaves them named, with their alarms, for audit_verify and audit_acknowledge.
        outbox.set_aside_foreign_rows()
        raise


def _commit_holder_heads(cursor) -> int:
    """Signs a checkpoint of every holder log past its newest one, and appends an `audit.holder_head`
    event for each (docs/holder-log.md), integrated before this returns. Returns how many."""
    grown = holder_logs.grown(cursor)
    if not grown:
        return 0
    now = timezone.now()
    rows, heads = [], []
    for subject_id, log_id, size, compact in grown:
        root = CompactRange.from_bytes(size, compact).root()
        event_id = str(uuid.uuid4())
        rows.append(HolderCheckpoint(subject_id=subject_id, tree_size=size, root_hash=root.hex(),
                                     note=holder_logs.sign(log_id, size, root), head_event_id=event_id,
                                     created_at=now))
        heads.append((event_id, log_id, {"holder": subject_id, "origin": holder_logs.origin_for(log_id),
                                          "root": root.hex(), "size": size}))
    holder_logs.store_checkpoints(cursor, rows)
    with uow.events_write(actor=uow.Actor.system()) as unit:
        unit.record_many([unit.event(action=holder_logs.HEAD_ACTION, object_type=holder_logs.HEAD_OBJECT_TYPE,
                                     object_id=log_id, details=details, event_id=event_id, request_id="")
                          for event_id, log_id, details in heads])
    if outbox.enabled():  # queued: integrate them here, under the head's lock, before signing over them
        ids = [event_id for event_id, _, _ in heads]
        while outbox.integrate_pending(cursor=cursor) and AuditOutbox.objects.filter(event_id__in=ids[-500:]).exists():
            pass
    return len(rows)


def audit_checkpoint_if_due() -> AuditCheckpoint | None:
    """Signs a checkpoint when events were added since the latest one; None when there is nothing new.
    Run every few seconds (the periodic audit.jobs.checkpoint), it bounds how long a new event goes unsigned,
    and so how far back anyone could roll the trail without a signed checkpoint showing it."""
    outbox.integrate_when_free()
    head = AuditHead.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    latest = AuditCheckpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
    if head <= latest and not holder_logs.any_grown():
        return None
    return audit_checkpoint_create(holder_heads=True)


register_code("audit_cosignature_invalid", 400,
              "The note carries no valid cosignature by a configured witness, or one that does not verify.")
register_code("audit_checkpoint_unknown", 404, "The service never signed a checkpoint with that body.")


def audit_cosignature_add(*, note: str) -> list[AuditCosignature]:
    """Stores the witness cosignatures (C2SP tlog-cosignature) on one of our signed checkpoints.

    The note's body must be a checkpoint this service signed; every signature line by a configured
    witness must verify; lines by others are passed over. A witness cosigns a tree size once: a
    second cosignature by it on the same size is not stored again."""
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


def audit_export_begin(*, fmt: str, filters: dict, actor: Actor, request_id: str | None = None) -> AuditCheckpoint:
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
        audit_append(action="audit.exported", actor_kind=actor.kind, actor_id=actor.id, object_type="audit_export",
                     details={"format": fmt, "filters": described}, request_id=request_id)
        return audit_checkpoint_create()


def audit_set_aside_acknowledge(*, ids: list[int] | None, actor: Actor) -> list[AuditSetAside]:
    """Records that an operator saw the set-aside entries (all not yet acknowledged when `ids` is
    None): one `audit.set_aside_acknowledged` event each, in the trail, so the acknowledgement is
    as genuine as the alarm. The entries stay set aside."""
    acknowledged = set(AuditEvent.objects.filter(action=outbox.ACKNOWLEDGED_ACTION, object_type="audit_set_aside")
                       .values_list("object_id", flat=True))
    rows = AuditSetAside.objects.all() if ids is None else AuditSetAside.objects.filter(pk__in=ids)
    found = list(rows.order_by("id"))
    if ids is not None and (missing := sorted(set(ids) - {row.pk for row in found})):
        raise ServiceError("audit_set_aside_unknown", f"No entry was set aside with id {missing[0]}.")
    todo = [row for row in found if str(row.pk) not in acknowledged]
    if todo:
        with transaction.atomic():
            audit_append_many(events=[
                EventInput(action=outbox.ACKNOWLEDGED_ACTION, actor_kind=actor.kind, actor_id=actor.id,
                           object_type="audit_set_aside", object_id=row.pk, details={"code": row.reason})
                for row in todo])
        outbox.integrate_when_free()  # with the queue, the acknowledgement counts once integrated
    return todo

"""Reads of the audit trail."""

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, F, Func, JSONField, Q, QuerySet, Subquery, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate

from audit import canonical, merkle, notes, outbox, tiles
from audit.canonical import ACTOR_KINDS
from audit.integrity import event_is_genuine
from audit.keys import mac_key
from audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditHead, AuditOutbox, HolderCheckpoint
from audit.notes import NoteError, open_checkpoint
from core import actions, prepared, signing
from core.errors import ServiceError, register_code

register_code("audit_proof_out_of_range", 400, "The sizes or seq asked for are not inside the audit trail.")
register_code("audit_chain_broken", 409, "The audit trail is damaged; run manage.py audit_verify.")


def audit_events_for_subject(
    *, subject_id: int, since: datetime | None = None, until: datetime | None = None, action: str | None = None
) -> QuerySet[AuditEvent]:
    """Every event about one data subject, newest first."""
    events = AuditEvent.objects.filter(subject_id=subject_id)
    if since is not None:
        events = events.filter(time__gte=since)
    if until is not None:
        events = events.filter(time__lt=until)
    if action:
        events = events.filter(action=action)
    return events.order_by("-seq")


def action_categories() -> dict[str, str]:
    """The categories an auditor can filter by, with their labels: the one table of the action
    registry (core.actions), which every app declares its actions into."""
    return {c.key: c.auditor for c in actions.categories()}


def audit_filter_q(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    subject_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    category: str | None = None,
    outcome: str | None = None,
) -> Q:
    """The auditor filters as a Q. `actor` is "<kind>:<id>", a kind alone ("support"), or an id alone;
    `category` is a key of action_categories(): the actions declared in it."""
    q = Q()
    if since is not None:
        q &= Q(time__gte=since)
    if until is not None:
        q &= Q(time__lt=until)
    if subject_id is not None:
        q &= Q(subject_id=subject_id)
    if actor:
        kind, sep, actor_id = actor.partition(":")
        if sep:
            q &= Q(actor_kind=kind, actor_id=actor_id)
        elif actor in ACTOR_KINDS:
            q &= Q(actor_kind=actor)
        else:
            q &= Q(actor_id=actor)
    if action:
        q &= Q(action=action)
    if category:
        q &= Q(action__in=actions.names_in(category))
    if outcome:
        q &= Q(outcome=outcome)
    return q


def audit_events_filtered(*, max_seq: int | None = None, **filters) -> QuerySet[AuditEvent]:
    """Events matching the auditor filters (see audit_filter_q), oldest first, up to the chain head:
    the service moves the head with every event it appends, so a row beyond it is never genuine and
    is not counted. (Rows that fail their MAC or column check are left out as they are read, see
    AuditEventQuerySet; counting those would mean checking every row: audit_verify does.)"""
    head = audit_head().size
    events = AuditEvent.objects.filter(audit_filter_q(**filters), seq__lte=head if max_seq is None else min(max_seq,
                                                                                                         head))
    # Rows the service did not MAC are left out of the count too, not only of the rows read.
    if untrusted := outbox.untrusted_seqs():
        events = events.exclude(seq__in=untrusted)
    return events.order_by("seq")


def audit_event_by_id(*, event_id) -> AuditEvent | None:
    """The genuine event with this id (MAC valid, columns as its canonical bytes say), or None:
    a row written into the table without the service's key is never returned. An event still in
    the outbox (written, committed or in the caller's transaction, not yet integrated) is returned
    with seq None."""
    return audit_events_by_ids(event_ids=[event_id]).get(canonical.normalise_event_id(event_id))


# The consent read path checks the bindings of a holder's few standing entries on every call:
# compiled once per count of ids (see core.prepared); longer lists go through the ORM.
_PREPARED_IDS_MAX = 8
_EVENTS_BY_ID = prepared.PreparedQuery(
    lambda *, event_ids: AuditEvent.unchecked.filter(event_id__in=event_ids).values(*prepared.field_names(AuditEvent)),
    event_ids=(AuditEvent._meta.get_field("event_id"),),
)


def audit_events_by_ids(*, event_ids, pending: bool = True) -> dict[str, AuditEvent]:
    """The genuine events among these ids, by id (the UUID as text). Ids that are not UUIDs match nothing.

    `pending=False` when the caller knows the events are integrated (it read them in the trail in an
    earlier statement: an event never leaves it): the outbox is not read."""
    wanted = set()
    for event_id in event_ids:
        try:
            wanted.add(canonical.normalise_event_id(event_id))
        except canonical.InvalidEvent:
            continue
    if not wanted:
        return {}
    # The outbox first: an event only ever moves from the outbox into the trail, so a move committed
    # between the two reads finds it in the second. Read the other way round, a consent just given
    # could be found in neither and refused.
    found = outbox.pending_by_ids(wanted) if pending else {}
    wanted -= set(found)
    if not wanted:
        return found
    if len(wanted) <= _PREPARED_IDS_MAX:
        key = mac_key()
        events = (prepared.instance(AuditEvent, row) for row in _EVENTS_BY_ID.rows(event_ids=sorted(wanted)))
        found.update((event.event_id, event) for event in events if event_is_genuine(event, key))
    else:
        found.update((event.event_id, event) for event in AuditEvent.objects.filter(event_id__in=wanted))
    return found


def audit_newest(*, subject_id, purpose, actions: tuple[str, ...], object_type: str, column: str) -> Subquery:
    """An expression for another app's query: `column` ("seq" or "event_id") of the newest event in
    the trail about `subject_id` for `purpose` whose action is one of `actions`, on an object of
    `object_type` (subject and purpose may be OuterRefs).

    The row is not checked here (SQL cannot check a MAC): a caller that holds the id of the event
    it expects to be the newest fetches it with audit_events_by_ids, which returns only a genuine
    event, and compares seqs. A forged newer row makes them differ, so the caller refuses rather
    than trusts. Events still pending (no seq yet) are newer than every integrated one."""
    if column not in ("seq", "event_id"):
        raise ValueError(f"audit_newest reads seq or event_id, not {column!r}")
    newest = AuditEvent.unchecked.filter(subject_id=subject_id, purpose=purpose, action__in=actions,
                                         object_type=object_type)
    return Subquery(newest.order_by("-seq").values(column)[:1])


def audit_pending_newest(*, subject_id, purpose, actions: tuple[str, ...], object_type: str) -> Subquery | None:
    """An expression for another app's query: the newest entry still waiting in the queue about
    `subject_id` for `purpose` whose action is one of `actions` on an object of `object_type`, as
    "<event id> <mac> <body in hex>" (open it with pending_entry), or NULL when none waits.

    While the sequencer lags, such an entry is newer than every integrated one, so a caller that
    decides from the newest event must look here too. SQL cannot check the MAC: pending_entry does,
    and a caller refuses when the newest waiting entry is not genuine. None on SQLite, whose writers
    integrate inline (nothing of theirs waits in the queue)."""
    if connection.vendor != "postgresql":
        return None
    # A cheap byte search first (entries are canonical JSON), then the JSON of the few that match.
    marker = canonical.dumps({"object_type": object_type})[1:-1].decode()
    document = Cast(Func(F("body"), Value("UTF8"), function="convert_from", output_field=TextField()), JSONField())
    rows = (AuditOutbox.objects
            .annotate(hit=Func(F("body"), template=f"position(convert_to('{marker}', 'UTF8') in %(expressions)s) > 0",
                               output_field=BooleanField()))
            .filter(hit=True)
            .annotate(document=document)
            .annotate(d_subject=KT("document__subject_id"), d_purpose=KT("document__purpose"),
                      d_action=KT("document__action"), d_object_type=KT("document__object_type"))
            .filter(d_subject=Cast(subject_id, TextField()), d_purpose=purpose, d_action__in=actions,
                    d_object_type=object_type)
            .annotate(packed=RawSQL("event_id || ' ' || mac || ' ' || encode(body, 'hex')", []))
            .order_by("-id"))
    return Subquery(rows.values("packed")[:1], output_field=TextField())


def pending_entry(packed: str | None) -> AuditEvent | None | bool:
    """The genuine pending event `packed` (see audit_pending_newest) holds; None when nothing waits;
    False when what waits is not an entry under the service's MAC key."""
    if not packed:
        return None
    try:
        event_id, mac, body_hex = packed.split(" ")
        found = outbox.pending_entry(event_id, bytes.fromhex(body_hex), mac)
    except ValueError:
        return False
    return found if found is not None else False


def audit_witnesses() -> list[notes.Cosigner]:
    """The witnesses configured in AUDIT_WITNESSES (audit.E005 refuses a malformed one at start)."""
    return [notes.cosigner_from_vkey(vkey) for vkey in settings.AUDIT_WITNESSES]


def audit_cosigned_note(checkpoint: AuditCheckpoint) -> str:
    """The checkpoint's signed note with the stored witness cosignatures on it added."""
    lines = list(AuditCosignature.objects.filter(tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash)
                 .order_by("witness").values_list("line", flat=True))
    return checkpoint.note + "".join(f"{line}\n" for line in lines)


def audit_checkpoint_witnessed_latest() -> tuple[AuditCheckpoint, list[str]] | None:
    """The latest checkpoint a configured witness cosigned, with the witnesses' names."""
    names = [witness.name for witness in audit_witnesses()]
    latest = (AuditCosignature.objects.filter(witness__in=names).order_by("-tree_size")
              .values_list("tree_size", flat=True).first())
    if latest is None:
        return None
    checkpoint = AuditCheckpoint.objects.filter(tree_size=latest).first()
    if checkpoint is None:
        return None
    witnesses = list(AuditCosignature.objects.filter(tree_size=latest, witness__in=names)
                     .values_list("witness", flat=True))
    return checkpoint, witnesses


def audit_entry_bundle(*, first_seq: int, count: int) -> list[bytes]:
    """The canonical bytes of `count` events from `first_seq` on, as stored (a tlog-tiles entry bundle:
    a client checks them against the level 0 tile and the signed root)."""
    rows = list(AuditEvent.unchecked.filter(seq__gte=first_seq, seq__lt=first_seq + count).order_by("seq")
                .values_list("seq", "canonical"))
    if [seq for seq, _ in rows] != list(range(first_seq, first_seq + count)):
        raise ServiceError("audit_chain_broken", f"events {first_seq}..{first_seq + count - 1} are not all there.")
    refuse_untrusted(range(first_seq, first_seq + count))
    return [bytes(body) for _, body in rows]


register_code("audit_entry_set_aside", 404, "The entry bundle holds an entry the service did not write; it serves "
                                            "no bytes of it (its leaf hash is in the level 0 tile).")


def refuse_untrusted(seqs: range | list[int]) -> None:
    """Refuses (audit_entry_set_aside) when any of the seqs is one the service does not vouch for: its
    bytes are never served (outbox.untrusted_seqs)."""
    wanted = set(seqs)
    if bad := sorted(wanted.intersection(outbox.untrusted_seqs())):
        raise ServiceError("audit_entry_set_aside", f"seq {bad[0]} holds an entry the service did not write.")


def audit_untrusted_seqs() -> list[int]:
    """Seqs in the tree the service does not vouch for (outbox.untrusted_seqs): counts leave them out."""
    return outbox.untrusted_seqs()


def audit_head() -> AuditHead:
    return AuditHead.objects.filter(pk=1).first() or AuditHead(pk=1)


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-tree_size").first()


def audit_leaf_hashes(*, first_seq: int = 1, last_seq: int) -> Iterator[bytes]:
    """The leaf hashes of events first_seq..last_seq, in order, streamed."""
    rows = (
        AuditEvent.objects.filter(seq__gte=first_seq, seq__lte=last_seq)
        .order_by("seq")
        .values_list("seq", "hash")
        .iterator(chunk_size=5000)
    )
    expected = first_seq
    for seq, leaf in rows:
        if seq != expected:
            raise ServiceError("audit_chain_broken", f"seq {expected} is missing from the audit trail.")
        yield bytes.fromhex(leaf)
        expected += 1
    if expected != last_seq + 1:
        raise ServiceError("audit_chain_broken", f"seq {expected} is missing from the audit trail.")


def _signed_note(tree_size: int) -> str | None:
    checkpoint = AuditCheckpoint.objects.filter(tree_size=tree_size).first()
    return checkpoint.note if checkpoint else None


def _default_size() -> int:
    latest = audit_checkpoint_latest()
    return latest.tree_size if latest else audit_head().size


def audit_inclusion_proof(*, seq: int, tree_size: int | None = None) -> dict:
    """RFC 9162 inclusion proof of event `seq` in the tree of the first `tree_size` events
    (by default the latest checkpoint's size), read from the stored tiles: O(log n) reads. The
    root is computed; `checkpoint` is the signed note for that size when there is one."""
    size = _default_size() if tree_size is None else tree_size
    if not 1 <= seq <= size or size > audit_head().size:
        raise ServiceError("audit_proof_out_of_range", f"seq {seq} is not inside a tree of {size} events.")
    reader = tiles.TileReader(size)
    try:
        leaf = reader.perfect(0, seq - 1)
        proof = reader.inclusion_proof(seq - 1)
        root = reader.root()
    except merkle.ProofError as exc:
        raise ServiceError("audit_chain_broken", str(exc)) from exc
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": size,
        "leaf_hash": leaf.hex(),
        "root_hash": root.hex(),
        "proof": [node.hex() for node in proof],
        "checkpoint": _signed_note(size),
    }


def audit_consistency_proof(*, first: int, second: int | None = None) -> dict:
    """RFC 9162 consistency proof from the tree of `first` events to the tree of `second`
    (by default the latest checkpoint's size), with both roots and their signed notes, read from
    the stored tiles: O(log n) reads."""
    second = _default_size() if second is None else second
    if not 1 <= first <= second or second > audit_head().size:
        raise ServiceError("audit_proof_out_of_range", f"no consistency proof from {first} to {second} events.")
    reader = tiles.TileReader(second)
    try:
        proof = reader.consistency_proof(first)
        first_root = reader.range_root(0, first)
        second_root = reader.root()
    except merkle.ProofError as exc:
        raise ServiceError("audit_chain_broken", str(exc)) from exc
    return {
        "first": first,
        "second": second,
        "first_root": first_root.hex(),
        "second_root": second_root.hex(),
        "proof": [node.hex() for node in proof],
        "first_checkpoint": _signed_note(first),
        "second_checkpoint": _signed_note(second),
    }


def audit_daily_counts(*, start: date, end: date, **filters) -> list[tuple[date, dict[str, int]]]:
    """Events per day (UTC) and outcome, from `start` to `end` inclusive, days without events included."""
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    q = audit_filter_q(**{**filters, "since": max(since, filters.get("since") or since),
                          "until": min(until, filters.get("until") or until)})
    events = AuditEvent.objects.filter(q, seq__lte=audit_head().size)  # no row beyond the head is genuine
    if untrusted := outbox.untrusted_seqs():  # nor one the service did not MAC: it is not counted
        events = events.exclude(seq__in=untrusted)
    rows = (
        events.annotate(day=TruncDate("time", tzinfo=UTC))
        .values("day", "outcome")
        .annotate(n=Count("seq"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["day"], {})[row["outcome"]] = row["n"]
    days = (end - start).days + 1
    return [(start + timedelta(days=i), counts.get(start + timedelta(days=i), {})) for i in range(days)]


def audit_chain_status(*, tail: int = 1000) -> dict:
    """A quick health check for the page: the head, the latest checkpoint and its signature, and
    whether the last `tail` events hash and link up to the head. audit_verify checks everything."""
    head = audit_head()
    latest = audit_checkpoint_latest()
    status = {"size": head.size, "last_hash": head.last_hash, "checkpoint": latest, "signature_ok": None,
              "tail_checked": 0, "tail_ok": True, "problem": ""}
    if latest is not None:
        try:
            opened = open_checkpoint(latest.note, public_key=signing.public_key("AUDIT_SIGNING_KEY"),
                                     key_name=settings.AUDIT_CHECKPOINT_ORIGIN)
            status["signature_ok"] = opened.tree_size == latest.tree_size and opened.root_hash.hex() == latest.root_hash
        except NoteError as exc:
            status["signature_ok"] = False
            status["problem"] = str(exc)
    rows = list(
        AuditEvent.objects.filter(seq__gt=head.size - tail, seq__lte=head.size)
        .order_by("seq")
        .values_list("seq", "canonical", "prev_hash", "hash")
    )
    expected_seq = head.size - len(rows) + 1
    prev = None
    for seq, body, prev_hash, leaf in rows:
        ok = seq == expected_seq and hashlib.sha256(b"\x00" + bytes(body)).hexdigest() == leaf
        if not ok or (prev is not None and prev_hash != prev):
            status["tail_ok"] = False
            status["problem"] = f"seq {seq} does not hash or link correctly; run a full verification"
            break
        prev, expected_seq = leaf, expected_seq + 1
    if status["tail_ok"] and head.size and (len(rows) != min(tail, head.size) or prev != head.last_hash):
        status["tail_ok"] = False
        status["problem"] = "the last events do not reach the chain head; run a full verification"
    status["tail_checked"] = len(rows)
    return status


def holder_commitment(*, subject_id: int) -> dict | None:
    """The newest head of the holder's log committed into the trail (its `audit.holder_head` event)
    that the newest signed global checkpoint includes, with an RFC 9162 inclusion proof of that
    event in the checkpoint's tree (docs/holder-log.md). None when there is none yet."""
    checkpoint = audit_checkpoint_latest()
    if checkpoint is None:
        return None
    heads = HolderCheckpoint.objects.filter(subject_id=subject_id).order_by("-tree_size")
    for head in heads[:20]:
        found = (AuditEvent.unchecked.filter(event_id=head.head_event_id, seq__lte=checkpoint.tree_size)
                 .values_list("seq", "canonical").first())
        if found is None:
            continue  # not yet integrated, or after the newest global checkpoint: an older head is
        seq, body = found[0], bytes(found[1])
        reader = tiles.TileReader(checkpoint.tree_size)
        try:
            proof = reader.inclusion_proof(seq - 1)
        except merkle.ProofError as exc:
            raise ServiceError("audit_chain_broken", str(exc)) from exc
        return {
            "holder_checkpoint": head.note,
            "global_checkpoint": audit_cosigned_note(checkpoint),
            "leaf_index": seq - 1,
            "entry": base64.b64encode(body).decode(),
            "inclusion_proof": [base64.b64encode(node).decode() for node in proof],
        }
    return None

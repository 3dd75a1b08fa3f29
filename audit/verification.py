"""audit_verify: recompute every hash and root and check every signature, naming the first bad event.

Reads with raw chunked cursors (no model instances), so it runs at a steady rate
with flat memory on logs of any size.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

from django.conf import settings
from django.db import connection

from audit import canonical
from audit.canonical import GENESIS_HASH
from audit.merkle import CompactRange
from audit.models import AuditCheckpoint
from audit.notes import NoteError, open_checkpoint
from audit.selectors import audit_head
from consentsvc import signing

_COLUMNS = (
    "seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type",
    "object_id", "purpose", "outcome", "request_id", "details", "canonical", "prev_hash", "hash",
)
# (column index, canonical key) of the columns compared as they are.
_PLAIN = tuple((_COLUMNS.index(name), name) for name in (
    "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id", "purpose", "outcome",
    "request_id", "prev_hash",
))
_CANONICAL_KEYS = {"action", "actor_id", "actor_kind", "details", "object_id", "object_type", "outcome", "prev_hash",
                   "purpose", "request_id", "seq", "subject_id", "time", "v"}
_CHUNK = 5000


@dataclass
class VerifyReport:
    ok: bool = True
    events: int = 0
    checkpoints: int = 0
    root_hash: str = ""
    first_bad_seq: int | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, problem: str) -> "VerifyReport":
        self.ok = False
        self.first_bad_seq = seq
        self.problem = problem
        return self


def _time_text(value) -> str:
    """The column's time in the canonical form, from what the driver returns (text on SQLite)."""
    if isinstance(value, str):
        text = value.replace(" ", "T")[:26]
        return (text if len(text) == 26 else text[:19] + ".000000") + "Z"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _details(value):
    return json.loads(value) if isinstance(value, str) else value


def _compare_columns(row, body: bytes, time_text: str) -> str:
    """Which column disagrees with the canonical bytes, or "" when they agree."""
    try:
        event = json.loads(body)
    except ValueError:
        return "its canonical bytes are not JSON"
    if not isinstance(event, dict):
        return "its canonical bytes are not a JSON object"
    if event.get("seq") != row[0]:
        return f"its canonical bytes say seq {event.get('seq')} (moved)"
    for index, name in _PLAIN:
        if row[index] != event.get(name):
            return f"column {name} differs from the canonical bytes"
    if time_text != event.get("time"):
        return "column time differs from the canonical bytes"
    if _details(row[11]) != event.get("details"):
        return "column details differs from the canonical bytes"
    if set(event) != _CANONICAL_KEYS or event["v"] != canonical.CANONICAL_VERSION:
        return "its canonical bytes do not hold exactly the event's fields, version 1"
    return ""


def _rows(max_seq: int):
    sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_auditevent WHERE seq <= %s ORDER BY seq"  # noqa: S608
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [max_seq])
        while True:
            chunk = cursor.fetchmany(_CHUNK)
            if not chunk:
                return
            yield chunk


def audit_verify(*, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Checks the whole trail. Stops at the first problem and names its seq."""
    report = VerifyReport()
    head = audit_head()
    origin = settings.AUDIT_CHECKPOINT_ORIGIN
    public_key = signing.public_key("AUDIT_SIGNING_KEY")

    checkpoints = list(AuditCheckpoint.objects.filter(tree_size__lte=head.size).order_by("tree_size"))
    beyond = AuditCheckpoint.objects.filter(tree_size__gt=head.size).order_by("tree_size").first()
    if beyond is not None:
        return report.fail(beyond.tree_size, f"a checkpoint claims {beyond.tree_size} events; the head has {head.size}")
    opened = []
    for cp in checkpoints:
        try:
            parsed = open_checkpoint(cp.note, public_key=public_key, key_name=origin)
        except NoteError as exc:
            return report.fail(cp.tree_size, f"checkpoint at {cp.tree_size}: {exc}")
        if parsed.tree_size != cp.tree_size or parsed.root_hash.hex() != cp.root_hash or parsed.origin != origin:
            return report.fail(cp.tree_size, f"checkpoint at {cp.tree_size}: its columns differ from its signed note")
        opened.append(parsed)
    pending = iter(opened)
    next_cp = next(pending, None)

    tree = CompactRange()
    sha256 = hashlib.sha256
    expected = 1
    prev = GENESIS_HASH
    last_time = last_time_text = None
    for chunk in _rows(head.size):
        for row in chunk:
            (seq, moment, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome,
             request_id, details, body, prev_hash, leaf_hex) = row
            if seq != expected:
                return report.fail(expected, f"seq {expected} is missing (the next event is seq {seq})")
            body = bytes(body)
            leaf = sha256(b"\x00" + body).digest()
            if leaf.hex() != leaf_hex:
                return report.fail(seq, f"seq {seq}: its hash does not match its canonical bytes")
            if prev_hash != prev:
                return report.fail(seq, f"seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
                                        f"(one of them was altered)")
            if moment != last_time:
                last_time, last_time_text = moment, _time_text(moment)
            # Fast path: the columns, encoded, are the canonical bytes. Anything else (a changed
            # column, or details stored in another JSON spelling, as PostgreSQL's jsonb does)
            # goes through the field-by-field comparison, which names the difference.
            if isinstance(details, str):
                try:
                    rebuilt = canonical.encode_parts(
                        action=action, actor_id=actor_id, actor_kind=actor_kind, details_json=details.encode(),
                        object_id=object_id, object_type=object_type, outcome=outcome, prev_hash=prev_hash,
                        purpose=purpose, request_id=request_id, seq=seq, subject_id=subject_id, time=last_time_text,
                    )
                except (TypeError, AttributeError):
                    rebuilt = None
            else:
                rebuilt = None
            if rebuilt != body:
                problem = _compare_columns(row, body, last_time_text)
                if problem:
                    return report.fail(seq, f"seq {seq}: {problem}")
            tree.append(leaf)
            prev = leaf_hex
            expected += 1
            if next_cp is not None and next_cp.tree_size == seq:
                if tree.root() != next_cp.root_hash:
                    return report.fail(seq, f"the signed checkpoint at {seq} does not match the events up to it")
                report.checkpoints += 1
                next_cp = next(pending, None)
        report.events = expected - 1
        if progress:
            progress(len(chunk))

    size = expected - 1
    if size != head.size:
        return report.fail(size + 1, f"seq {size + 1} is missing: the head says there are {head.size} events")
    if head.last_hash != prev:
        return report.fail(size, f"seq {size}: the chain head's hash does not match the last event")
    if bytes(head.compact_range) != tree.to_bytes():
        return report.fail(size, "the chain head's Merkle state does not match the events")
    report.root_hash = tree.root().hex()
    return report

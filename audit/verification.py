"""audit_verify: recompute every hash and root and check every signature, naming the first bad event.

Reads with raw chunked cursors (no model instances), so it runs at a steady rate
with flat memory on logs of any size.
"""

import hashlib
import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit import canonical
from audit.canonical import GENESIS_HASH
from audit.merkle import CompactRange
from audit.models import AuditCheckpoint
from audit.notes import NoteError, open_checkpoint
from audit.selectors import audit_head
from audit.streaming import prefetched
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
    """The column's time in the canonical form, from what the driver returns."""
    if isinstance(value, str):
        text = value.replace(" ", "T")[:26]
        return (text if len(text) == 26 else text[:19] + ".000000") + "Z"
    if value.utcoffset():
        value = value.astimezone(UTC)
    text = value.isoformat()  # faster than strftime; leaves out ".000000"
    return (text[:26] if value.microsecond else text[:19] + ".000000") + "Z"


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


def _generic_rows(max_seq: int):
    """Chunks of (seq, canonical bytes, prev_hash, hash, True or what is wrong with the columns).

    Fast path: the columns, encoded, are the canonical bytes. Anything else (a changed column,
    or details stored in another JSON spelling) goes through the field-by-field comparison,
    which names the difference."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_auditevent WHERE seq <= %s ORDER BY seq"  # noqa: S608
    encode_parts = canonical.encode_parts
    last_time = last_time_text = None
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [max_seq])
        while chunk := cursor.fetchmany(_CHUNK):
            out = []
            for row in chunk:
                (seq, moment, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome,
                 request_id, details, body, prev_hash, leaf_hex) = row
                body = bytes(body)
                if moment != last_time:
                    last_time, last_time_text = moment, _time_text(moment)
                rebuilt = None
                if isinstance(details, str):
                    try:
                        rebuilt = encode_parts(
                            action=action, actor_id=actor_id, actor_kind=actor_kind, details_json=details.encode(),
                            object_id=object_id, object_type=object_type, outcome=outcome, prev_hash=prev_hash,
                            purpose=purpose, request_id=request_id, seq=seq, subject_id=subject_id,
                            time=last_time_text,
                        )
                    except (TypeError, AttributeError):
                        rebuilt = None
                check = True if rebuilt == body else (_compare_columns(row, body, last_time_text) or True)
                out.append((seq, body, prev_hash, leaf_hex, check))
            yield out


# On PostgreSQL, Python compares the canonical bytes around the details with the columns (as
# the generic path does), and PostgreSQL compares the details: it parses just that slice of the
# canonical bytes, found from the columns' lengths, and compares it with the jsonb column.
# (Parsing whole events as jsonb in PostgreSQL costs more than Python's json does.) Canonical bytes
# that are not UTF-8 make the query fail, and the generic path then names the event.
_EMPTY_HEAD, _EMPTY_TAIL = canonical.encode_edges(
    action="", actor_id="", actor_kind="", object_id="", object_type="", outcome="", prev_hash="", purpose="",
    request_id="", seq="", subject_id="", time="",
)
_HEAD_LEN = f"({len(_EMPTY_HEAD)} + length(action) + length(actor_id) + length(actor_kind))"
_TAIL_LEN = (
    f"({len(_EMPTY_TAIL)} + length(object_id) + length(object_type) + length(outcome) + length(prev_hash)"
    " + length(purpose) + length(request_id) + length(seq::text) + length(COALESCE(subject_id::text, 'null'))"
    " + length(t))"
)
_PG_SQL = f"""
SELECT seq, c, prev_hash, hash, action, actor_id, actor_kind, object_id, object_type, outcome, purpose,
       request_id, subject_id, t,
       COALESCE(substr(c, {_HEAD_LEN} + 1, length(c) - {_HEAD_LEN} - {_TAIL_LEN})::jsonb = details, false)
FROM (SELECT *, convert_from(canonical, 'UTF8') AS c,
             to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
      FROM audit_auditevent WHERE seq <= %s ORDER BY seq OFFSET 0) AS e
ORDER BY seq
"""  # noqa: S608 (constants only)


def _pg_rows(max_seq: int):
    single = f"SELECT {', '.join(_COLUMNS)} FROM audit_auditevent WHERE seq = %s"  # noqa: S608
    with connection.cursor() as setup:
        # Walk the primary key in order rather than sort first: rows then stream from the first
        # fetch and PostgreSQL's work overlaps ours, whatever the table's statistics say.
        setup.execute("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
        enable_sort = setup.fetchone()[0]
    with connection.chunked_cursor() as cursor:
        cursor.execute(_PG_SQL, [max_seq])
        with connection.cursor() as setup:
            setup.execute("SELECT set_config('enable_sort', %s, true)", [enable_sort])
        for chunk in prefetched(lambda: cursor.fetchmany(_CHUNK)):
            out = []
            for (seq, text, prev_hash, leaf_hex, action, actor_id, actor_kind, object_id, object_type, outcome,
                 purpose, request_id, subject_id, time_text, details_ok) in chunk:
                body = text.encode()  # the canonical bytes travel as text: half the size of bytea's hex
                # canonical.encode_edges written out: this loop is verification's hot path.
                head = f'{{"action":"{action}","actor_id":"{actor_id}","actor_kind":"{actor_kind}","details":'.encode()
                tail = (
                    f',"object_id":"{object_id}","object_type":"{object_type}","outcome":"{outcome}",'
                    f'"prev_hash":"{prev_hash}","purpose":"{purpose}","request_id":"{request_id}","seq":{seq},'
                    f'"subject_id":{"null" if subject_id is None else subject_id},"time":"{time_text}","v":1}}'
                ).encode()
                check = True
                if not (details_ok and len(body) > len(head) + len(tail) and body.startswith(head)
                        and body.endswith(tail)):
                    with connection.cursor() as one:
                        one.execute(single, [seq])
                        row = one.fetchone()
                    check = (_compare_columns(row, bytes(body), _time_text(row[1]))
                             or "its columns differ from its canonical bytes")
                out.append((seq, body, prev_hash, leaf_hex, check))
            yield out


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
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic(), closing(_pg_rows(head.size)) as chunks:
                return _walk(report, chunks, head, opened, progress)
        except DatabaseError:  # canonical bytes PostgreSQL cannot parse: the slower path names the event
            report = VerifyReport()
    with closing(_generic_rows(head.size)) as chunks:
        return _walk(report, chunks, head, opened, progress)


def _walk(report: VerifyReport, chunks, head, opened: list, progress) -> VerifyReport:
    pending = iter(opened)
    next_cp = next(pending, None)
    tree = CompactRange()
    sha256 = hashlib.sha256
    expected = 1
    prev = GENESIS_HASH
    for chunk in chunks:
        for seq, body, prev_hash, leaf_hex, check in chunk:
            if seq != expected:
                return report.fail(expected, f"seq {expected} is missing (the next event is seq {seq})")
            leaf = sha256(b"\x00" + body).digest()
            if leaf.hex() != leaf_hex:
                return report.fail(seq, f"seq {seq}: its hash does not match its canonical bytes")
            if prev_hash != prev:
                return report.fail(seq, f"seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
                                        f"(one of them was altered)")
            if check is not True:
                return report.fail(seq, f"seq {seq}: {check}")
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

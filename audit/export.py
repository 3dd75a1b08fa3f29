"""Streaming exports of the audit trail: CSV for spreadsheets, JSON Lines for verification.

A JSON Lines export is one JSON object per line (sorted keys, no whitespace):

    {"checkpoint": <signed note>, "filters": {...}, "format": "consentsvc-audit-export/1", ...,
     "tree_size": N, "type": "header"}
    {"event": <the canonical bytes, verbatim>, "hash": "<hex leaf hash>", "seq": n, "type": "event"}
    {"first": a, "last": b, "subtrees": [[level, "<hex>"], ...], "type": "gap"}
    ...
    {"events": k, "type": "end"}

Every seq from 1 to N is covered exactly once, by an event line or by a gap line
holding the Merkle roots of the aligned subtrees of the events left out, so a
verifier rebuilds the checkpoint's root from the file alone
(tools/verify_audit_export.py). Memory stays flat: rows come from a chunked
cursor and a gap needs only O(log N) hashes.
"""

import csv
import io
import json
import operator
import re
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.models import BinaryField, Case, F, Q, Value, When

from audit import canonical, outbox
from audit.merkle import node_hash
from audit.models import AuditCheckpoint, AuditEvent
from audit.selectors import audit_filter_q
from audit.sentences import account_names
from audit.streaming import prefetched
from core import actions

FORMAT = "consentsvc-audit-export/2"  # /2: event lines carry their seq (entries hold no position)
CSV_COLUMNS = ("seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id",
               "purpose", "outcome", "request_id", "details", "event_id", "prev_hash", "hash")
_CHUNK_ROWS = 2000
_FLUSH_BYTES = 1 << 16


_dumps = canonical.dumps


class _GapBuilder:
    """Collects the leaves of a run of left-out events into maximal aligned subtrees."""

    __slots__ = ("first", "stack")

    def __init__(self, first_seq: int):
        self.first = first_seq
        self.stack: list[list] = []  # [start index, level, hash]

    def add(self, index: int, leaf: bytes) -> None:
        stack = self.stack
        stack.append([index, 0, leaf])
        while len(stack) > 1:
            left, right = stack[-2], stack[-1]
            level = left[1]
            if right[1] != level or left[0] % (2 << level):
                break
            stack[-2:] = [[left[0], level + 1, node_hash(left[2], right[2])]]

    def line(self, last_seq: int) -> bytes:
        subtrees = [[level, node.hex()] for _, level, node in self.stack]
        return _dumps({"first": self.first, "last": last_seq, "subtrees": subtrees, "type": "gap"}) + b"\n"


def _buffered(lines: Iterator[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for line in lines:
        buffer += line
        if len(buffer) >= _FLUSH_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def jsonl_lines(*, checkpoint: AuditCheckpoint, filters: dict) -> Iterator[bytes]:
    """The JSON Lines export of the events matching `filters` among the first checkpoint.tree_size."""
    size = checkpoint.tree_size
    q = audit_filter_q(**filters)
    header = {
        "checkpoint": checkpoint.note,
        "filters": _header_filters(filters),
        "format": FORMAT,
        "key_name": settings.AUDIT_CHECKPOINT_ORIGIN,
        "root_hash": checkpoint.root_hash,
        "tree_size": size,
        "type": "header",
    }
    yield _dumps(header) + b"\n"
    base = AuditEvent.objects.filter(seq__lte=size).order_by("seq")
    if untrusted := outbox.untrusted_seqs():  # a row the service did not MAC is a gap: its hash, never its event
        q &= ~Q(seq__in=untrusted)
    if q:
        rows = base.annotate(
            body=Case(When(q, then=F("canonical")), default=Value(None), output_field=BinaryField())
        ).values_list("seq", "hash", "body")
    else:
        rows = base.values_list("seq", "hash", "canonical")
    exported = 0
    gap: _GapBuilder | None = None
    fromhex = bytes.fromhex
    for seq, leaf_hex, body in rows.iterator(chunk_size=_CHUNK_ROWS):
        if body is None:
            if gap is None:
                gap = _GapBuilder(seq)
            gap.add(seq - 1, fromhex(leaf_hex))
            continue
        if gap is not None:
            yield gap.line(seq - 1)
            gap = None
        exported += 1
        yield b'{"event":%s,"hash":"%s","seq":%d,"type":"event"}\n' % (bytes(body), leaf_hex.encode(), seq)
    if gap is not None:
        yield gap.line(size)
    yield _dumps({"events": exported, "type": "end"}) + b"\n"


def _csv_layout(*, entry: bool) -> re.Pattern:
    """The canonical bytes as appends write them (canonical.entry_edges, or encode_edges for the
    chained format), with a group per field. String fields match only the characters a code may
    hold, so a matched field never needs CSV quoting; the details are the canonical JSON between
    the edges."""
    names = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "prev_hash",
             "purpose", "request_id", "seq", "subject_id", "time")
    if entry:
        names = tuple(name for name in names if name not in ("prev_hash", "seq"))
    marks = {name: f"\x00{name}\x00" for name in names}
    head, tail = (canonical.entry_edges if entry else canonical.encode_edges)(**marks)
    pattern = re.escape(head + b"\x00details\x00" + tail)
    groups = {"seq": rb"(?P<seq>[0-9]+)", "subject_id": rb"(?P<subject_id>null|[0-9]+)",
              "details": rb"(?P<details>\{.*?\})"}
    for name in (*names, "details"):
        mark = re.escape(f"\x00{name}\x00".encode())
        pattern = pattern.replace(mark, groups.get(name, rf"(?P<{name}>[A-Za-z0-9_.:/+-]*)".encode()))
    return re.compile(pattern + rb"\Z", re.DOTALL)


_CSV_LAYOUT = _csv_layout(entry=False)
_CSV_GROUPS = tuple(_CSV_LAYOUT.groupindex[name] for name in CSV_COLUMNS[:-1])
_ENTRY_LAYOUT = _csv_layout(entry=True)
_ENTRY_GROUPS = tuple(_ENTRY_LAYOUT.groupindex[name] for name in CSV_COLUMNS[1:-2])
_CSV_ROW = b",".join([b"%s"] * len(CSV_COLUMNS)) + b"\n"


def _csv_line_parsed(seq: int, body: bytes, leaf_hex: str) -> bytes:
    """One CSV row, the general way: parse the canonical bytes, write with the csv module. An entry
    holds no position: its seq is the row's, and it has no prev_hash."""
    out = io.StringIO()
    event = json.loads(body.decode())
    event["details"] = canonical.ENCODER.encode(event["details"])
    event.setdefault("seq", seq)
    event.setdefault("prev_hash", "")
    csv.writer(out, lineterminator="\n").writerow((*operator.itemgetter(*CSV_COLUMNS[:-1])(event), leaf_hex))
    return out.getvalue().encode()


def _csv_line(seq: int, body: bytes, leaf_hex: str) -> bytes:
    """One CSV row from the canonical bytes: cut at the fields when they are laid out as appends
    write them (what the parsed way would write, without parsing), else the parsed way."""
    if canonical.is_entry(body):
        match = _ENTRY_LAYOUT.match(body)
        if match is None:
            return _csv_line_parsed(seq, body, leaf_hex)
        (time, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome, request_id,
         details, event_id) = match.group(*_ENTRY_GROUPS)
        seq_text, prev_hash = b"%d" % seq, b""
    else:
        match = _CSV_LAYOUT.match(body)
        if match is None:
            return _csv_line_parsed(seq, body, leaf_hex)
        (seq_text, time, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome,
         request_id, details, event_id, prev_hash) = match.group(*_CSV_GROUPS)
    if b'"' in details or b"," in details or b"\n" in details or b"\r" in details:
        details = b'"' + details.replace(b'"', b'""') + b'"'
    return _CSV_ROW % (seq_text, time, actor_kind, actor_id, action, b"" if subject_id == b"null" else subject_id,
                       object_type, object_id, purpose, outcome, request_id, details, event_id, prev_hash,
                       leaf_hex.encode())


# For _csv_chunk: the entry layout with a subject of null as a group that does not match (an empty
# cell), and an entry's row: its seq is the row's, the details (which hold quotes, but for {}) quoted,
# no prev_hash. _ENTRY_CELLS picks a match's groups from time to request_id, then event_id, details.
_ENTRY_CHUNK_LAYOUT = re.compile(_ENTRY_LAYOUT.pattern.replace(rb"(?P<subject_id>null|[0-9]+)",
                                                               rb"(?:null|(?P<subject_id>[0-9]+))"), re.DOTALL)
_ENTRY_CELLS = operator.itemgetter(*(_ENTRY_CHUNK_LAYOUT.groupindex[name] - 1
                                     for name in (*CSV_COLUMNS[1:11], "event_id", "details")))
_ENTRY_ROW = b"%d," + b",".join([b"%s"] * 10) + b',"%s",%s,,%s\n'


def _csv_chunk(chunk: list[tuple]) -> bytes:
    """The CSV rows of a chunk of (seq, canonical bytes, leaf hex), exactly as _csv_line writes each,
    in one loop with the fewest Python steps an entry laid out as appends write it allows (one match,
    one format); anything else (the chained format, another layout) goes through _csv_line."""
    out = []
    append = out.append
    match, cells, row = _ENTRY_CHUNK_LAYOUT.match, _ENTRY_CELLS, _ENTRY_ROW
    for seq, body, leaf_hex in chunk:
        found = match(body)
        if found is None:
            append(_csv_line(seq, bytes(body), leaf_hex))
            continue
        *fields, event_id, details = cells(found.groups(b""))
        if details == b"{}":  # the one details cell the csv module leaves unquoted (no quote, comma, break)
            append(_csv_line(seq, bytes(body), leaf_hex))
            continue
        append(row % (seq, *fields, details.replace(b'"', b'""'), event_id, leaf_hex.encode()))
    return b"".join(out)


def csv_lines(*, checkpoint: AuditCheckpoint, filters: dict, usernames: bool = False) -> Iterator[bytes]:
    """The CSV export: one row per matching event, the columns of CSV_COLUMNS, and with `usernames`
    USERNAME_COLUMNS after them.

    Values come from the canonical bytes (what was hashed), not from the query columns. Usernames are
    looked up as the file is written (the trail holds ids only): an account erased since has none."""
    yield (",".join(CSV_COLUMNS + (USERNAME_COLUMNS if usernames else ())) + "\n").encode()
    query = (
        AuditEvent.objects.filter(audit_filter_q(**filters), seq__lte=checkpoint.tree_size)
        .exclude(seq__in=outbox.untrusted_seqs())
        .order_by("seq")
        .values_list("seq", "canonical", "hash")
    )
    for chunk in _raw_chunks(query):
        if usernames:
            yield _csv_chunk_named(chunk)
        else:
            yield _csv_chunk(chunk)


USERNAME_COLUMNS = ("actor_username", "subject_username")
_PERSON_KINDS = ("holder", "auditor", "support")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(name: str) -> str:
    """A username as a CSV cell a spreadsheet shows as text (never a formula), quoted when needed."""
    if name.startswith(_FORMULA_START):
        name = "'" + name
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([name])
    return out.getvalue()


def _csv_chunk_named(chunk: list[tuple]) -> bytes:
    """A chunk of rows with the usernames of their actor and subject: one query for the chunk."""
    people = []
    for _, body, _ in chunk:
        event = json.loads(bytes(body))
        actor = str(event["actor_id"]) if event.get("actor_kind") in _PERSON_KINDS else ""
        subject = "" if event.get("subject_id") is None else str(event["subject_id"])
        people.append((actor, subject))
    names = account_names({i for pair in people for i in pair})
    rows = []
    for (seq, body, leaf_hex), (actor, subject) in zip(chunk, people, strict=True):
        line = _csv_line(seq, bytes(body), leaf_hex)[:-1]
        rows.append(b"%s,%s,%s\n" % (line, _csv_text(names.get(actor, "")).encode(),
                                     _csv_text(names.get(subject, "")).encode()))
    return b"".join(rows)


def _raw_chunks(query) -> Iterator[list[tuple]]:
    """The query's rows as the driver returns them, a chunk at a time, from a chunked (server-side
    on PostgreSQL) cursor; on PostgreSQL the next chunk is fetched while this one is written out."""
    sql, params = query.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            yield from prefetched(lambda: cursor.fetchmany(_CHUNK_ROWS))
        else:
            yield from iter(lambda: cursor.fetchmany(_CHUNK_ROWS), [])


def export_stream(*, fmt: str, checkpoint: AuditCheckpoint, filters: dict, usernames: bool = False) -> Iterator[bytes]:
    if fmt == "jsonl":
        return _buffered(jsonl_lines(checkpoint=checkpoint, filters=filters))
    return _buffered(csv_lines(checkpoint=checkpoint, filters=filters, usernames=usernames))


def _header_filters(filters: dict) -> dict:
    """The filters as the offline verifier checks them: a category is written as the actions in it."""
    written = {key: _filter_text(value) for key, value in filters.items()
               if value not in (None, "") and key != "category"}
    if filters.get("category"):
        written["actions"] = actions.names_in(filters["category"])
    return written


def _filter_text(value):
    return value.isoformat() if hasattr(value, "isoformat") else value

"""Streaming exports of the audit trail: CSV for spreadsheets, JSON Lines for verification.

A JSON Lines export is one JSON object per line (sorted keys, no whitespace):

    {"checkpoint": <signed note>, "filters": {...}, "format": "consentsvc-audit-export/1", ...,
     "tree_size": N, "type": "header"}
    {"event": <the canonical bytes, verbatim>, "hash": "<hex leaf hash>", "type": "event"}
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
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.models import BinaryField, Case, F, Value, When

from audit import canonical
from audit.merkle import node_hash
from audit.models import AuditCheckpoint, AuditEvent
from audit.selectors import ACTION_CATEGORIES, audit_filter_q
from audit.streaming import prefetched

FORMAT = "consentsvc-audit-export/1"
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
        yield b'{"event":' + bytes(body) + b',"hash":"' + leaf_hex.encode() + b'","type":"event"}\n'
    if gap is not None:
        yield gap.line(size)
    yield _dumps({"events": exported, "type": "end"}) + b"\n"


def csv_lines(*, checkpoint: AuditCheckpoint, filters: dict) -> Iterator[bytes]:
    """The CSV export: one row per matching event, the columns of CSV_COLUMNS.

    Values come from the canonical bytes (what was hashed), not from the query columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    query = (
        AuditEvent.objects.filter(audit_filter_q(**filters), seq__lte=checkpoint.tree_size)
        .order_by("seq")
        .values_list("canonical", "hash")
    )
    rows = _raw_rows(query)
    loads = json.loads
    pick = operator.itemgetter(*CSV_COLUMNS[:-1])
    encode = canonical.ENCODER.encode
    for count, (body, leaf_hex) in enumerate(rows):
        event = loads(bytes(body).decode())
        event["details"] = encode(event["details"])
        writer.writerow((*pick(event), leaf_hex))
        if count % 500 == 499:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _raw_rows(query) -> Iterator[tuple]:
    """The query's rows as the driver returns them, from a chunked (server-side on PostgreSQL)
    cursor; on PostgreSQL the next chunk is fetched while this one is written out."""
    sql, params = query.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            chunks = prefetched(lambda: cursor.fetchmany(_CHUNK_ROWS))
        else:
            chunks = iter(lambda: cursor.fetchmany(_CHUNK_ROWS), [])
        for chunk in chunks:
            yield from chunk


def export_stream(*, fmt: str, checkpoint: AuditCheckpoint, filters: dict) -> Iterator[bytes]:
    lines = jsonl_lines if fmt == "jsonl" else csv_lines
    return _buffered(lines(checkpoint=checkpoint, filters=filters))


def _header_filters(filters: dict) -> dict:
    """The filters as the offline verifier checks them: a category is written as its action prefixes."""
    written = {key: _filter_text(value) for key, value in filters.items()
               if value not in (None, "") and key != "category"}
    if filters.get("category"):
        written["action_prefixes"] = list(ACTION_CATEGORIES[filters["category"]][1])
    return written


def _filter_text(value):
    return value.isoformat() if hasattr(value, "isoformat") else value

"""audit_verify: recompute every hash, MAC and root and check every signature, naming every problem.

Reads raw rows in chunks (no model instances), so it runs at a steady rate with flat
memory on logs of any size. Each chunk is first checked as a whole, with list operations
that run in C; only a chunk with a problem is walked event by event, to name each bad seq
and why. Both formats are verified: entries (v 3, no position inside) and the chained events
written before them (v 2), each under the MAC label of its format (audit.canonical).

Each row's columns are checked against its canonical bytes by the database where it can: on SQLite
in the same statement, on PostgreSQL by a second connection in the same snapshot while Python hashes
(bench/README.md, "Audit trail: where the time goes").
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC
from hmac import compare_digest
from itertools import islice

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit import canonical, tiles
from audit.canonical import GENESIS_HASH
from audit.holder_logs import problems as holder_log_problems
from audit.keys import mac_key
from audit.merkle import CompactRange
from audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditSetAside
from audit.notes import Checkpoint, NoteError, checkpoint_body, open_checkpoint, open_cosignatures
from audit.outbox import ACKNOWLEDGED_ACTION, SET_ASIDE_ACTION, set_aside_in_tree
from audit.selectors import audit_head, audit_witnesses
from core import signing

_COLUMNS = (
    "seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type",
    "object_id", "purpose", "outcome", "request_id", "details", "canonical", "prev_hash", "hash", "event_id", "mac",
)
# (column index, canonical key) of the columns compared as they are.
_PLAIN = tuple((_COLUMNS.index(name), name) for name in (
    "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id", "purpose", "outcome",
    "request_id", "prev_hash", "event_id",
))
_ENTRY_PLAIN = tuple((index, name) for index, name in _PLAIN if name != "prev_hash")
# Rows per chunk. Smaller chunks stay in the CPU's caches: on the benchmark machine 1,000 verified
# ~200k events/s on SQLite and PostgreSQL where 5,000 gave ~160k and 20,000 ~100k (PostgreSQL).
_CHUNK = 1000
# How the bytes of an entry (v 3) end, as canonical.is_entry reads them: the format's last key.
_ENTRY_END_BYTES = b',"v":3}'


@dataclass
class VerifyReport:
    ok: bool = True
    events: int = 0
    checkpoints: int = 0
    root_hash: str = ""
    first_bad_seq: int | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    # Seqs of rows that are not genuine events (no valid MAC, or beyond the chain head).
    forged_seqs: list[int] = field(default_factory=list)
    # Checkpoints vouched for by witnesses, checked against the events like the signed ones.
    witnessed: int = 0
    # Problems found by the cross-checks other apps register (register_check), by check name.
    cross_checks: dict[str, list[str]] = field(default_factory=dict)
    # Every problem found, in the order found: {"kind", "seq", "message"}. `problem` and
    # `first_bad_seq` are the first one's.
    problems: list[dict] = field(default_factory=list)
    # Entries integration set aside that no operator has acknowledged yet (audit_acknowledge).
    unacknowledged: list[int] = field(default_factory=list)
    # Seqs of rows set aside where they sit in the tree and acknowledged: noted, not failed.
    acknowledged_seqs: set[int] = field(default_factory=set)

    def fail(self, seq: int | None, problem: str, kind: str = "trail") -> "VerifyReport":
        if self.ok:
            self.first_bad_seq = seq
            self.problem = problem
        self.ok = False
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"kind": kind, "seq": seq, "message": problem})
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append({"kind": "trail", "seq": None,
                                  "message": f"more than {MAX_PROBLEMS} problems; the rest are not listed"})
        return self

    def as_dict(self) -> dict:
        return {"ok": self.ok, "events": self.events, "checkpoints": self.checkpoints, "witnessed": self.witnessed,
                "root_hash": self.root_hash, "problems": self.problems, "forged_seqs": self.forged_seqs,
                "unacknowledged_set_aside": self.unacknowledged, "cross_checks": self.cross_checks,
                "notes": self.notes}


MAX_PROBLEMS = 1000


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
    entry = canonical.is_entry(body)
    if not entry and event.get("seq") != row[0]:
        return f"its canonical bytes say seq {event.get('seq')} (moved)"
    for index, name in _ENTRY_PLAIN if entry else _PLAIN:
        if row[index] != event.get(name):
            return f"column {name} differs from the canonical bytes"
    if time_text != event.get("time"):
        return "column time differs from the canonical bytes"
    if _details(row[11]) != event.get("details"):
        return "column details differs from the canonical bytes"
    keys, version = ((canonical.ENTRY_KEYS, canonical.ENTRY_VERSION) if entry
                     else (canonical.CHAINED_KEYS, canonical.CHAINED_VERSION))
    if set(event) != keys or event["v"] != version:
        return f"its canonical bytes do not hold exactly the event's fields, version {version}"
    return ""


@dataclass(slots=True)
class _Chunk:
    """Consecutive rows in seq order, as columns, so most checks are list operations that run in C."""

    seqs: list[int]
    bodies: list[bytes]  # the canonical bytes, as stored
    prev_hashes: list[str]
    hashes: list[str]
    macs: list[str | None]
    problems: dict[int, str]  # row index -> how that row's columns disagree with its canonical bytes


def _generic_rows(max_seq: int):
    """Chunks of rows from a plain chunked cursor (SQLite, and PostgreSQL's fallback).

    Fast path: the columns, encoded, are the canonical bytes. Anything else (a changed column,
    or details stored in another JSON spelling) goes through the field-by-field comparison,
    which names the difference."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_auditevent WHERE seq <= %s ORDER BY seq"  # noqa: S608
    encode_parts, entry_parts = canonical.encode_parts, canonical.entry_parts
    last_time = last_time_text = None
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [max_seq])
        while rows := cursor.fetchmany(_CHUNK):
            chunk = _Chunk([], [], [], [], [], {})
            for index, row in enumerate(rows):
                (seq, moment, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome,
                 request_id, details, body, prev_hash, leaf_hex, event_id, mac) = row
                body = bytes(body)
                if moment != last_time:
                    last_time, last_time_text = moment, _time_text(moment)
                rebuilt = None
                if isinstance(details, str):
                    try:
                        if canonical.is_entry(body):
                            rebuilt = entry_parts(
                                action=action, actor_id=actor_id, actor_kind=actor_kind, details_json=details.encode(),
                                event_id=event_id, object_id=object_id, object_type=object_type, outcome=outcome,
                                purpose=purpose, request_id=request_id, subject_id=subject_id, time=last_time_text,
                            )
                        else:
                            rebuilt = encode_parts(
                                action=action, actor_id=actor_id, actor_kind=actor_kind, details_json=details.encode(),
                                event_id=event_id, object_id=object_id, object_type=object_type, outcome=outcome,
                                prev_hash=prev_hash, purpose=purpose, request_id=request_id, seq=seq,
                                subject_id=subject_id, time=last_time_text,
                            )
                    except (TypeError, AttributeError):
                        rebuilt = None
                if rebuilt != body and (problem := _compare_columns(row, body, last_time_text)):
                    chunk.problems[index] = problem
                chunk.seqs.append(seq)
                chunk.bodies.append(body)
                chunk.prev_hashes.append(prev_hash)
                chunk.hashes.append(leaf_hex)
                chunk.macs.append(mac)
            yield chunk


# SQLite: SQLite itself writes each row's columns out as canonical bytes (one printf() per row,
# the template taken from canonical.encode_edges so it cannot drift from appends' encoding) and
# compares them with the stored bytes; Python gets five columns and a flag instead of seventeen.
# This is the generic path's fast check (the columns, encoded, are the canonical bytes), run in C:
# any disagreement hands the whole check to the generic path, which names the event and the column.
_SQLITE_VALUES = {
    "subject_id": "COALESCE(subject_id, 'null')",
    # Django stores a time as 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC); any other length is no match.
    "time": "CASE length(time) WHEN 26 THEN replace(time, ' ', 'T') || 'Z' "
            "WHEN 19 THEN replace(time, ' ', 'T') || '.000000Z' END",
}


def _sqlite_check_sql() -> str:
    """True when a row's columns, written out in its format's layout, are its canonical bytes.

    A CASE on the format (the bytes' last key, as canonical.is_entry reads it), not an OR of the two
    layouts: in a result column SQLite evaluates both sides of an OR, so every row paid for two
    printf()s, and the check cost about twice as much (bench/README.md)."""
    is_entry = f"substr(canonical, -{len(_ENTRY_END_BYTES)}) = x'{_ENTRY_END_BYTES.hex()}'"
    return (f"CASE WHEN {is_entry} THEN {_sqlite_layout_sql(entry=True)} "
            f"ELSE {_sqlite_layout_sql(entry=False)} END")


def _sqlite_layout_sql(*, entry: bool) -> str:
    """The expression that is true when a row's columns, written out in the canonical layout, are
    its canonical bytes. Every "%" is doubled twice: once for printf(), once more for Django's
    SQLite cursor (which turns "%%" into "%", and a lone "%s" into a parameter)."""
    names = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "prev_hash",
             "purpose", "request_id", "seq", "subject_id", "time")
    if entry:
        names = tuple(name for name in names if name not in ("prev_hash", "seq"))
    marks = {name: f"\x00{name}\x00" for name in names}
    head, tail = (canonical.entry_edges if entry else canonical.encode_edges)(**marks)
    template = (head + b"\x00details\x00" + tail).decode().replace("%", "%%%%").replace("'", "''")
    args = [_SQLITE_VALUES.get(piece, piece) for piece in template.split("\x00")[1::2]]
    for name in (*names, "details"):
        template = template.replace(f"\x00{name}\x00", "%%s")
    return f"canonical = CAST(printf('{template}', {', '.join(args)}) AS BLOB)"


_SQLITE_SQL = (
    f"SELECT seq, canonical, prev_hash, hash, mac, {_sqlite_check_sql()} "  # noqa: S608 (constants)
    "FROM audit_auditevent WHERE seq <= %s ORDER BY seq"
)


def _sqlite_rows(max_seq: int):
    """Chunks of rows, each row's columns checked against its canonical bytes inside SQLite (a flag
    in the same statement); raises _ColumnsDisagree at the first chunk that disagrees.

    (A second connection checking the columns in a thread while this one hashes was tried: SQLite
    runs it without the GIL, yet both together were slower than this on the benchmark machine.)"""
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE_SQL, [max_seq])
        while rows := cursor.fetchmany(_CHUNK):
            seqs, bodies, prev_hashes, hashes, macs, agree = map(list, zip(*rows, strict=True))
            if not all(agree):
                raise _ColumnsDisagree
            yield _Chunk(seqs, bodies, prev_hashes, hashes, macs, {})


# PostgreSQL inside a caller's transaction (whose rows a second connection could not see; on its
# own transaction audit_verify checks the columns apart, see _pg_rows_checked_apart): the rows
# stream in binary, and each chunk is checked as a whole.
#
# Python compares the canonical bytes around the details with the columns (the generic path's
# check, in two halves), and PostgreSQL compares the details: it parses just that slice of the
# canonical bytes, cut at the columns' lengths in bytes, and compares it with the jsonb column.
# Any disagreement (or a slice PostgreSQL cannot parse, which fails the query) hands the whole
# check to the generic path, which names the first bad seq and what is wrong with it. Every leaf
# hash, link, seq, root and signature is computed and checked in Python, from the stored bytes.
#
# Measured with bench/audit_bench.py --only verify (103k events, 2 cores shared with the server):
# - the slice is cut from the bytea at byte offsets (octet_length reads a header) rather than from
#   the whole canonical text at character offsets (length() and substr() count characters): with
#   no convert_from of the whole event either, the server's time fell from ~7 to ~4.5 us an event;
# - binary results bring the canonical bytes as they are: no hex, no encode();
# - stream() rather than a named cursor fetched ahead in a thread: PostgreSQL keeps sending while
#   Python checks the chunk before, instead of waiting for each FETCH;
# - COPY TO STDOUT was tried and was slower: psycopg hands COPY data over one row per Python
#   generator step (~2 us an event), and Python then had to compare the details itself (parse,
#   encode canonically: ~1.5 us), which made Python the bottleneck.
_EMPTY_HEAD, _EMPTY_TAIL = canonical.encode_edges(
    action="", actor_id="", actor_kind="", event_id="", object_id="", object_type="", outcome="", prev_hash="",
    purpose="", request_id="", seq="", subject_id="", time="",
)
_, _EMPTY_ENTRY_TAIL = canonical.entry_edges(
    action="", actor_id="", actor_kind="", event_id="", object_id="", object_type="", outcome="", purpose="",
    request_id="", subject_id="", time="",
)
_HEAD_BYTES = f"({len(_EMPTY_HEAD)} + octet_length(action) + octet_length(actor_id) + octet_length(actor_kind))"
_ENTRY_TAIL_BYTES = (
    "(octet_length(event_id) + octet_length(object_id) + octet_length(object_type) + octet_length(outcome)"
    " + octet_length(purpose) + octet_length(request_id) + octet_length(subject) + octet_length(t))"
)
_TAIL_BYTES = (
    f"(CASE WHEN is_entry THEN {len(_EMPTY_ENTRY_TAIL)} + {_ENTRY_TAIL_BYTES} "
    f"ELSE {len(_EMPTY_TAIL)} + {_ENTRY_TAIL_BYTES} + octet_length(prev_hash) + octet_length(seq::text) END)"
)
_ENTRY_END = "\\x" + _ENTRY_END_BYTES.hex()
_PG_SQL = f"""
SELECT seq, canonical, prev_hash, hash, mac, event_id, action, actor_id, actor_kind, object_id, object_type, outcome,
       purpose, request_id, subject, t,
       COALESCE(convert_from(substring(canonical FROM {_HEAD_BYTES} + 1
                                       FOR octet_length(canonical) - {_HEAD_BYTES} - {_TAIL_BYTES}), 'UTF8')::jsonb
                = details, false),
       is_entry
FROM (SELECT *, COALESCE(subject_id::text, 'null') AS subject,
             to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t,
             substring(canonical FROM octet_length(canonical) - 6) = '{_ENTRY_END}'::bytea AS is_entry
      FROM audit_auditevent WHERE seq <= %s ORDER BY seq OFFSET 0) AS e
ORDER BY seq
"""  # noqa: S608 (constants only)


def _format_template(edge: bytes, fields: dict[str, str]) -> str:
    """One of canonical.encode_edges' halves as a str.format() template over `fields` (name ->
    the placeholder given to encode_edges), so the check cannot drift from appends' encoding."""
    text = edge.decode().replace("{", "{{").replace("}", "}}")
    for index, mark in enumerate(fields.values()):
        text = text.replace(mark, f"{{{index}}}")
    return text


def _edge_templates() -> tuple[str, str, str]:
    head_fields = ("action", "actor_id", "actor_kind")
    tail_fields = ("event_id", "object_id", "object_type", "outcome", "prev_hash", "purpose", "request_id", "seq",
                   "subject_id", "time")
    marks = {name: f"\x00{name}\x00" for name in head_fields + tail_fields}
    head, tail = canonical.encode_edges(**marks)
    entry_marks = {name: mark for name, mark in marks.items() if name not in ("prev_hash", "seq")}
    _, entry_tail = canonical.entry_edges(**entry_marks)
    # The entry template takes the same arguments as the chained one and leaves prev_hash and seq out.
    entry_fields = {name: (marks[name] if name in entry_marks else f"\x00unused-{name}\x00") for name in tail_fields}
    return (_format_template(head, {name: marks[name] for name in head_fields}),
            _format_template(tail, {name: marks[name] for name in tail_fields}),
            _format_template(entry_tail, entry_fields))


_HEAD_TEXT, _TAIL_TEXT, _ENTRY_TAIL_TEXT = _edge_templates()


class _ColumnsDisagree(Exception):
    """A row's columns disagree with its canonical bytes: the generic path names the difference."""


def _pg_chunk(rows: list[tuple]) -> _Chunk:
    (seqs, bodies, prev_hashes, hashes, macs, event_ids, actions, actor_ids, actor_kinds, object_ids, object_types,
     outcomes, purposes, request_ids, subjects, times, details_ok, entries) = map(list, zip(*rows, strict=True))
    heads = map(str.encode, map(_HEAD_TEXT.format, actions, actor_ids, actor_kinds))
    columns = (event_ids, object_ids, object_types, outcomes, prev_hashes, purposes, request_ids, seqs, subjects, times)
    if all(entries):
        tails = map(str.encode, map(_ENTRY_TAIL_TEXT.format, *columns))
    elif not any(entries):
        tails = map(str.encode, map(_TAIL_TEXT.format, *columns))
    else:
        tails = [(_ENTRY_TAIL_TEXT if entry else _TAIL_TEXT).format(*values).encode()
                 for entry, *values in zip(entries, *columns, strict=True)]
    # (The slice between head and tail is not empty: PostgreSQL refuses the query otherwise.)
    if not (all(details_ok) and all(map(bytes.startswith, bodies, heads)) and all(map(bytes.endswith, bodies, tails))):
        raise _ColumnsDisagree
    return _Chunk(seqs, bodies, prev_hashes, hashes, macs, {})


def _pg_rows(max_seq: int):
    import psycopg  # only on PostgreSQL, like Django's backend

    with connection.cursor() as setup:
        # Walk the primary key in order rather than sort first: rows then stream from the first
        # one, whatever the table's statistics say. (Local to audit_verify's transaction.)
        setup.execute("SET LOCAL enable_sort = off")
    # psycopg's own cursor, for binary results (Django's give text). stream() keeps PostgreSQL
    # sending while Python checks the chunk before (no round trip per chunk), and gets rows in
    # chunks of _CHUNK where libpq can (version 17 on), else one at a time.
    # closing(): a stream stopped early holds the connection's lock until it is closed (psycopg
    # then cancels the query), so close it before anything else uses the connection.
    size = _CHUNK if psycopg.pq.version() >= 170000 else 1
    with (connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor,
          closing(cursor.stream(_PG_SQL, [max_seq], binary=True, size=size)) as stream):
        while rows := list(islice(stream, _CHUNK)):
            yield _pg_chunk(rows)


# PostgreSQL, when audit_verify owns its transaction (not inside another one): the whole column
# check runs in the server, on a second connection, in a thread, while Python streams just the five
# columns it hashes (seq, canonical, prev_hash, hash, mac) and checks leaves, MACs, links and tiles.
# One set-based query rebuilds each row's canonical bytes around the details from its columns (the
# layout taken from canonical.encode_edges, as on SQLite), compares the details slice as jsonb, and
# returns only how many rows it read and whether every one agreed. Both connections read the same
# snapshot (exported by the first, imported by the second), so the rows checked are the rows hashed;
# a row count that differs, an error, or any disagreement hands the check to the generic path, which
# names the event and the column. Python's share of the column check (~2.8 us an event, the format
# calls and the eighteen-column rows of _pg_rows) moves to the server's other core.
def _pg_concat(template: str, values: dict[str, str]) -> str:
    """A SQL text expression: `template` (literal text with \x00name\x00 marks) with each mark
    replaced by its column expression. NULL anywhere makes the whole NULL (no match)."""
    pieces = template.split("\x00")
    parts = []
    for index, piece in enumerate(pieces):
        if index % 2:
            parts.append(values[piece])
        elif piece:
            parts.append("'" + piece.replace("'", "''").replace("%", "%%") + "'")
    return " || ".join(parts)


def _pg_check_sql() -> str:
    names = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "prev_hash",
             "purpose", "request_id", "seq", "subject_id", "time")
    values = {name: name for name in names}
    values.update(seq="seq::text", subject_id="COALESCE(subject_id::text, 'null')",
                  time="""to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""")
    marks = {name: f"\x00{name}\x00" for name in names}
    head, tail = canonical.encode_edges(**marks)
    _, entry_tail = canonical.entry_edges(**{k: v for k, v in marks.items() if k not in ("prev_hash", "seq")})
    head_sql = _pg_concat(head.decode(), values)
    tail_sql = (f"CASE WHEN substring(canonical FROM octet_length(canonical) - {len(_ENTRY_END_BYTES) - 1}) "
                f"= '{_ENTRY_END}'::bytea THEN {_pg_concat(entry_tail.decode(), values)} "
                f"ELSE {_pg_concat(tail.decode(), values)} END")
    agree = """COALESCE(substring(canonical FROM 1 FOR octet_length(head)) = head
        AND substring(canonical FROM octet_length(canonical) - octet_length(tail) + 1) = tail
        AND convert_from(substring(canonical FROM octet_length(head) + 1
                                   FOR octet_length(canonical) - octet_length(head) - octet_length(tail)),
                         'UTF8')::jsonb = details, false)"""
    return f"""
SELECT count(*), COALESCE(bool_and({agree}), true)
FROM (SELECT canonical, details, convert_to({head_sql}, 'UTF8') AS head, convert_to({tail_sql}, 'UTF8') AS tail
      FROM audit_auditevent WHERE seq <= %s) AS e
"""  # noqa: S608 (constants only)


_PG_CHECK_SQL = _pg_check_sql()
_PG_HASHED_SQL = "SELECT seq, canonical, prev_hash, hash, mac FROM audit_auditevent WHERE seq <= %s ORDER BY seq"


def _pg_check_columns(params: dict, snapshot: str, max_seq: int, result: dict) -> None:
    """In a thread, on a connection of its own: the column check of every row up to `max_seq`, in
    the snapshot `snapshot`. Sets result["rows"] and result["agree"], or result["error"]."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(**params, autocommit=False) as conn:
            result["connection"] = conn  # for the walk to cancel the query if it stops early
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            result["rows"], result["agree"] = conn.execute(_PG_CHECK_SQL, [max_seq]).fetchone()
            del result["connection"]
            conn.rollback()
    except Exception as exc:  # noqa: BLE001 (reported to the walk, which takes the generic path)
        result["error"] = exc


def _pg_rows_checked_apart(max_seq: int):
    """Chunks of the five hashed columns, while a thread checks every row's columns (above); raises
    _ColumnsDisagree after the last chunk if that check did not see the same rows all agree. Must run
    as the first statements of a transaction of its own (the snapshot is exported from it)."""
    import threading

    import psycopg

    with connection.cursor() as setup:
        setup.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        setup.execute("SET LOCAL enable_sort = off")
        setup.execute("SELECT pg_export_snapshot()")
        snapshot = setup.fetchone()[0]
    result: dict = {}
    checker = threading.Thread(target=_pg_check_columns, name="audit-verify-columns", daemon=True,
                               args=(connection.get_connection_params(), snapshot, max_seq, result))
    checker.start()
    rows_read, walked = 0, False
    size = _CHUNK if psycopg.pq.version() >= 170000 else 1
    try:
        with (connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor,
              closing(cursor.stream(_PG_HASHED_SQL, [max_seq], binary=True, size=size)) as stream):
            while rows := list(islice(stream, _CHUNK)):
                seqs, bodies, prev_hashes, hashes, macs = map(list, zip(*rows, strict=True))
                rows_read += len(seqs)
                yield _Chunk(seqs, bodies, prev_hashes, hashes, macs, {})
        walked = True
    finally:
        if not walked and (checking := result.get("connection")) is not None:
            checking.cancel()  # the walk stopped early: the check's answer is not wanted
        checker.join()  # before the transaction (and the snapshot it exported) ends
    if "error" in result or result.get("rows") != rows_read or not result.get("agree"):
        raise _ColumnsDisagree


CrossCheck = Callable[[], Iterable[str]]
_CROSS_CHECKS: dict[str, CrossCheck] = {}


def register_check(name: str, check: CrossCheck) -> None:
    """Adds a cross-check to audit_verify, so other apps can check their records against the trail
    without this app importing them. `check()` yields one message per problem (naming the record
    and the event's seq or id); audit_verify fails when any check yields one. Registering a name
    again replaces its check (apps' ready() may run more than once in tests)."""
    _CROSS_CHECKS[name] = check


def registered_checks() -> dict[str, CrossCheck]:
    return dict(_CROSS_CHECKS)


_MAX_LISTED = 100


def _rows_beyond_head(size: int) -> list[int]:
    """Seqs of rows past the chain head: the service writes the head with its rows, so none is genuine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM audit_auditevent WHERE seq > %s ORDER BY seq LIMIT %s", [size, _MAX_LISTED])
        return [row[0] for row in cursor.fetchall()]


def _run_cross_checks(report: VerifyReport, extra: dict[str, CrossCheck] | None = None) -> VerifyReport:
    for name, check in {**_CROSS_CHECKS, **(extra or {})}.items():
        try:
            problems = [str(problem) for problem in check()]
        except Exception as exc:  # noqa: BLE001 (a broken check is a failed verification, not a crash)
            problems = [f"the check could not run: {type(exc).__name__}: {exc}"]
        if problems:
            report.cross_checks[name] = problems
            for problem in problems:
                report.fail(None, f"{name}: {problem}", kind=f"cross-check: {name}")
    return report


def _set_aside_problems(report: VerifyReport, head_size: int) -> None:
    """Each entry integration set aside, until an operator acknowledges it (audit_acknowledge). The
    alarm events are in the trail, so a set-aside row deleted with the guards dropped is still named."""
    acknowledged, alarmed = set(), set()
    # Model instances: only genuine events (MAC verified) count, and only those the head covers.
    for event in AuditEvent.objects.filter(action__in=[ACKNOWLEDGED_ACTION, SET_ASIDE_ACTION],
                                           object_type="audit_set_aside", seq__lte=head_size):
        if event.object_id.isdigit():
            (acknowledged if event.action == ACKNOWLEDGED_ACTION else alarmed).add(int(event.object_id))
    reasons = dict(AuditSetAside.objects.values_list("id", "reason"))
    for set_aside_id in sorted(set(reasons) | alarmed):
        if set_aside_id in acknowledged:
            continue
        report.unacknowledged.append(set_aside_id)
        reason = reasons.get(set_aside_id)
        what = f"({reason})" if reason else "(its row is gone from audit_auditsetaside)"
        report.fail(None, f"entry set aside #{set_aside_id} {what} is not acknowledged: integration refused an "
                          f"entry the service did not write; see it, then run manage.py audit_acknowledge "
                          f"{set_aside_id}", kind="set_aside")


def _witnessed(report: VerifyReport, head_size: int, public_key, origin: str,
               extra_notes: Iterable[str]) -> list[Checkpoint]:
    """The checkpoints witnesses vouched for: stored cosignatures by configured witnesses (each one
    verified) and notes kept outside the database (a witness's state) signed by this log. One that
    does not verify, or claims more events than the trail holds, is a problem (and left out)."""
    witnesses = {witness.name: witness for witness in audit_witnesses()}
    found: list[Checkpoint] = []
    for cosig in AuditCosignature.objects.order_by("tree_size"):
        witness = witnesses.get(cosig.witness)
        if witness is None:
            report.notes.append(f"cosignature by {cosig.witness} at {cosig.tree_size}: not a configured witness")
            continue
        checkpoint = Checkpoint(origin=origin, tree_size=cosig.tree_size, root_hash=bytes.fromhex(cosig.root_hash))
        note = f"{checkpoint_body(checkpoint)}\n{cosig.line}\n"
        try:
            if not open_cosignatures(note, [witness]):
                raise NoteError("it is not by that witness's key")
        except NoteError as exc:
            report.fail(cosig.tree_size, f"the cosignature by {cosig.witness} at {cosig.tree_size}: {exc}",
                        kind="witness")
            continue
        found.append(checkpoint)
    for note in extra_notes:
        try:
            found.append(open_checkpoint(note, public_key=public_key, key_name=origin))
        except NoteError as exc:
            report.fail(None, f"a witnessed checkpoint given to the verifier: {exc}", kind="witness")
    report.witnessed = len(found)
    beyond = max((cp.tree_size for cp in found), default=0)
    if beyond > head_size:
        report.fail(head_size + 1, f"the trail does not extend the witnessed checkpoint at {beyond}: it holds "
                                   f"{head_size} events (the tail was removed or rolled back)", kind="witness")
    return [cp for cp in found if cp.tree_size <= head_size]


def audit_verify(*, progress: Callable[[int], None] | None = None,
                 witnessed_notes: Iterable[str] = (), holder_logs: bool = False) -> VerifyReport:
    """Checks the whole trail against its signed and witnessed checkpoints (the stored cosignatures,
    and `witnessed_notes` kept outside the database, e.g. a witness's last checkpoint), the entries
    integration set aside, then the cross-checks registered by other apps. Names every problem.
    With `holder_logs`, also checks every holder log against the trail (audit.holder_logs.problems,
    the check "holder logs"): a second read of the trail, by holder, so not by default."""
    report = _verify_chain(progress, list(witnessed_notes))
    head_size = audit_head().size
    beyond = _rows_beyond_head(head_size)
    for seq in beyond:
        report.forged_seqs.append(seq)
        report.fail(seq, f"seq {seq} lies beyond the chain head: the service did not integrate it (forged)",
                    kind="forged")
    _set_aside_problems(report, head_size)
    return _run_cross_checks(report, {"holder logs": lambda: holder_log_problems(head_size)} if holder_logs else {})


def _verify_chain(progress, witnessed_notes: list[str]) -> VerifyReport:
    report = VerifyReport(acknowledged_seqs={seq for seq, done in set_aside_in_tree().items() if done})
    head = audit_head()
    origin = settings.AUDIT_CHECKPOINT_ORIGIN
    public_key = signing.public_key("AUDIT_SIGNING_KEY")

    checkpoints = list(AuditCheckpoint.objects.order_by("tree_size"))
    opened = []
    for cp in checkpoints:
        if cp.tree_size > head.size:
            report.fail(cp.tree_size, f"a checkpoint claims {cp.tree_size} events; the head has {head.size}",
                        kind="checkpoint")
            continue
        try:
            parsed = open_checkpoint(cp.note, public_key=public_key, key_name=origin)
        except NoteError as exc:
            report.fail(cp.tree_size, f"checkpoint at {cp.tree_size}: {exc}", kind="checkpoint")
            continue
        if parsed.tree_size != cp.tree_size or parsed.root_hash.hex() != cp.root_hash or parsed.origin != origin:
            report.fail(cp.tree_size, f"checkpoint at {cp.tree_size}: its columns differ from its signed note",
                        kind="checkpoint")
            continue
        opened.append(parsed)
    witnessed = _witnessed(report, head.size, public_key, origin, witnessed_notes)
    opened = sorted(opened + witnessed, key=lambda cp: cp.tree_size)
    stored_tiles = _stored_tiles(head.size)
    fast = {"postgresql": _pg_rows, "sqlite": _sqlite_rows}.get(connection.vendor)
    if fast is not None:
        reported = 0
        saved = (report.ok, report.first_bad_seq, report.problem, len(report.problems), len(report.forged_seqs))

        def counted(count: int) -> None:
            nonlocal reported
            reported += count
            if progress:
                progress(count)

        try:
            if connection.vendor == "postgresql":
                if not connection.in_atomic_block:  # a transaction of its own: the check runs apart
                    fast = _pg_rows_checked_apart
                with transaction.atomic():
                    with closing(fast(head.size)) as chunks:
                        report = _walk(report, chunks, head, opened, counted, stored_tiles)
                    # Verification only reads. Rolling back undoes enable_sort, and ends cleanly a
                    # transaction whose stream psycopg cancelled.
                    transaction.set_rollback(True)
            else:  # no transaction: on SQLite it would take the write lock (IMMEDIATE) for the whole walk
                with closing(fast(head.size)) as chunks:
                    report = _walk(report, chunks, head, opened, counted, stored_tiles)
            return report
        except (DatabaseError, _ColumnsDisagree):  # the slower path names the event and what is wrong with it
            report.ok, report.first_bad_seq, report.problem = saved[:3]
            del report.problems[saved[3]:]
            del report.forged_seqs[saved[4]:]
            report.checkpoints = report.events = 0
            if progress and reported:
                progress(-reported)  # the slower path counts again from the start
    with closing(_generic_rows(head.size)) as chunks:
        return _walk(report, chunks, head, opened, progress, stored_tiles)


def _stored_tiles(size: int) -> dict[tuple[int, int], tuple[bytes, bytes]]:
    """The stored full tiles of a tree of `size` leaves, as (level, index) -> (SHA-256 of the tile's
    hashes, its root): 64 bytes a tile (one per 256 events), read before the walk, which recomputes
    every tile from the events and compares. Tiles past the size (appended since) are left out."""
    found = {}
    level, full = 0, size >> tiles.HEIGHT
    index = connection.ops.quote_name("index")
    hashes = "sha256(hashes)" if connection.vendor == "postgresql" else "hashes"
    sql = f"SELECT {index}, {hashes}, root FROM audit_audittile WHERE level = %s AND {index} < %s"  # noqa: S608
    sha256 = hashlib.sha256
    while full:
        with connection.cursor() as cursor:
            cursor.execute(sql, [level, full])
            while rows := cursor.fetchmany(_CHUNK):
                for index, hashes, root in rows:
                    digest = bytes(hashes) if connection.vendor == "postgresql" else sha256(hashes).digest()
                    found[(level, index)] = (digest, bytes(root))
        level, full = level + 1, full >> tiles.HEIGHT
    return found


class _TreeWalk:
    """The Merkle tree of the leaves walked so far, built a tile at a time: each full tile is hashed
    once, checked against the stored one (its hashes and root), and its root goes into the tree and
    into the tile above it. Leaves after the last full tile wait in `pending`."""

    def __init__(self, stored: dict[tuple[int, int], tuple[bytes, bytes]]):
        self.tree = CompactRange()  # the leaves of the full level-0 tiles
        self.pending: list[bytes] = []
        self.above: list[list[bytes]] = []  # entries of the partial tile at level 1, 2, ...
        self.stored = stored
        self.height, self.width = tiles.HEIGHT, tiles.WIDTH

    @property
    def size(self) -> int:
        return self.tree.size + len(self.pending)

    def root_at(self, size: int) -> bytes:
        """The root of the first `size` leaves, for a size past the last full tile."""
        tree = CompactRange(self.tree.size, self.tree.nodes)
        tree.extend(self.pending[: size - self.tree.size])
        return tree.root()

    def whole(self) -> CompactRange:
        tree = CompactRange(self.tree.size, self.tree.nodes)
        tree.extend(self.pending)
        return tree

    def fold(self, upto: int) -> list[tuple[int, str]]:
        """Hashes and checks the full tiles that end at or before leaf `upto`; (seq, problem) of each mismatch."""
        width = self.width
        problems = []
        while len(self.pending) >= width and self.tree.size + width <= upto:
            group = self.pending[:width]
            del self.pending[:width]
            root = tiles.perfect_root(group)
            problem = self._check(0, self.tree.size // width, group, root)
            if problem:
                problems.append(problem)
            self.tree.append_subtree(self.height, root)
            level, entry = 1, root
            while True:
                if len(self.above) < level:
                    self.above.append([])
                entries = self.above[level - 1]
                entries.append(entry)
                if len(entries) < width:
                    break
                entry = tiles.perfect_root(entries)
                index = (self.tree.size >> (self.height * (level + 1))) - 1
                problem = self._check(level, index, entries, entry)
                if problem:
                    problems.append(problem)
                entries.clear()
                level += 1
        return problems

    def _check(self, level: int, index: int, entries: list[bytes], root: bytes) -> tuple[int, str] | None:
        stored = self.stored.get((level, index))
        first_seq = (index << (self.height * (level + 1))) + 1
        if stored is None:
            return first_seq, f"tile {level}/{index} is not stored (proofs cannot be served from tiles)"
        if stored[0] != hashlib.sha256(b"".join(entries)).digest() or stored[1] != root:
            return first_seq, (f"tile {level}/{index} does not match the events it covers from seq {first_seq} "
                               f"(a stored tile was altered)")
        return None


def _walk(report: VerifyReport, chunks, head, opened: list, progress, stored_tiles) -> VerifyReport:
    pending = iter(opened)
    next_cp = next(pending, None)
    walk = _TreeWalk(stored_tiles)  # walk.size is also the number of events verified so far
    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    expected = 1  # the next seq
    key = mac_key()

    def add(leaves: list[bytes]) -> None:
        """Adds the leaves to the tree, checking the signed checkpoints they reach and the tiles they fill."""
        nonlocal next_cp
        walk.pending += leaves
        while next_cp is not None and next_cp.tree_size <= walk.size:
            for problem in walk.fold(next_cp.tree_size):
                report.fail(*problem, kind="tile")
            if walk.root_at(next_cp.tree_size) != next_cp.root_hash:
                report.fail(next_cp.tree_size, f"the signed checkpoint at {next_cp.tree_size} does not "
                                               f"match the events up to it", kind="checkpoint")
            else:
                report.checkpoints += 1
            next_cp = next(pending, None)
        for problem in walk.fold(walk.size):
            report.fail(*problem, kind="tile")

    for chunk in chunks:
        leaves = [sha256(b"\x00" + body).digest() for body in chunk.bodies]
        count = len(leaves)
        # The whole chunk at once: the same checks as the loop below, as list operations.
        macs = canonical.stored_macs(chunk.bodies, leaves, key)
        if (not chunk.problems
                and chunk.seqs == list(range(expected, expected + count))
                and list(map(bytes.hex, leaves)) == chunk.hashes
                and macs == chunk.macs
                and chunk.prev_hashes[:1] == [prev] and chunk.prev_hashes[1:] == chunk.hashes[:-1]):
            add(leaves)
            prev = chunk.hashes[-1]
            expected += count
        else:
            # Something in this chunk is wrong: go event by event to name each problem.
            for index, (seq, leaf, prev_hash, leaf_hex, mac, stored_mac) in enumerate(
                    zip(chunk.seqs, leaves, chunk.prev_hashes, chunk.hashes, macs, chunk.macs, strict=True)):
                if seq != expected:
                    report.fail(expected, f"seq {expected} is missing (the next event is seq {seq})")
                if leaf.hex() != leaf_hex:
                    report.fail(seq, f"seq {seq}: its hash does not match its canonical bytes")
                if prev_hash != prev:
                    report.fail(seq, f"seq {seq}: prev_hash does not match the hash of the event before it "
                                     f"(one of them was altered)")
                if (not stored_mac or not compare_digest(mac, stored_mac)) and seq in report.acknowledged_seqs:
                    report.notes.append(f"seq {seq}: not written by the service; set aside where it sits, and "
                                        f"acknowledged")
                elif not stored_mac or not compare_digest(mac, stored_mac):
                    report.forged_seqs.append(seq)
                    report.fail(seq, f"seq {seq}: its MAC does not verify: the row was not written by the "
                                     f"service (forged)", kind="forged")
                elif index in chunk.problems:
                    report.fail(seq, f"seq {seq}: {chunk.problems[index]}")
                add([leaf])
                prev, expected = leaf_hex, seq + 1
        report.events = walk.size
        if progress:
            progress(count)

    size = walk.size
    if expected - 1 != head.size:
        report.fail(expected, f"seq {expected} is missing: the head says there are {head.size} events")
    if size and head.last_hash != prev:
        report.fail(size, f"seq {size}: the chain head's hash does not match the last event", kind="head")
    tree = walk.whole()
    if bytes(head.compact_range) != tree.to_bytes():
        report.fail(size, "the chain head's Merkle state does not match the events", kind="head")
    report.root_hash = tree.root().hex()
    return report

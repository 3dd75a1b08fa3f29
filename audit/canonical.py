"""An audit entry's bytes, its leaf and node hashes and its MAC, and the rules that keep content out of it.

The one place these are defined (no Django): the service, tools/verify_audit_export.py and
tools/witness.py all import it.

The canonical bytes are what gets hashed and stored; they are never rebuilt from the columns
later. They are JSON with sorted keys, no whitespace, UTF-8, and only integers, strings, booleans,
null, lists and objects (no floats: there is no single canonical form for them, and coordinates
are floats). Two formats, told apart by "v":

- entry (v 3, written now): the event alone, with no position. Its position (seq) comes from
  sequencing; the Merkle tree, signed checkpoints and witnesses prove order.
- chained (v 2, written before): the event with its seq and the previous event's hash inside.
  Events written so keep their bytes and stay verifiable; the tree continues across the change.

Both are leaves of the same RFC 9162 tree: leaf hash SHA-256(0x00 || bytes). The MAC is
HMAC-SHA256 under the audit MAC key over a label and the leaf hash (which commits to every byte),
with a label per format, so a MAC of one format never passes for the other. The same rules are
written out for auditors in docs/auditors.md.
"""

import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

ENTRY_VERSION = 3
CHAINED_VERSION = 2
CANONICAL_VERSION = ENTRY_VERSION  # what appends write
GENESIS_HASH = "0" * 64

ENTRY_MAC_LABEL = b"consentsvc-audit-entry-mac/v3\n"
CHAINED_MAC_LABEL = b"consentsvc-audit-event-mac/v1\n"  # the chained format's (v 2) label

ACTOR_KINDS = ("holder", "auditor", "support", "service", "system")
OUTCOMES = ("allowed", "denied", "error")

# Ids, codes, purposes, hashes, ISO dates: letters, digits and a few separators,
# starting with a letter, digit or underscore (so no CSV cell starts a formula).
# No spaces, no "@": free text and email addresses cannot pass.
CODE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/+-]{0,127}$"
_CODE = re.compile(CODE_PATTERN)
# What the audit filters accept for an action: a code that could be (part of) an action name.
ACTION_FILTER_PATTERN = r"^[a-z0-9_][a-z0-9_.]{0,63}$"
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# Detail keys that name content (invariant 7). Ids, counts and codes only.
DISALLOWED_DETAIL_KEYS = frozenset(
    {
        "address", "body", "bytes", "caption", "captions", "comment", "content", "coordinates",
        "data", "description", "email", "emails", "exif", "filename", "gps", "image", "label",
        "labels", "lat", "latitude", "location", "lon", "long", "longitude", "message", "name",
        "note", "password", "place", "reason", "text", "thumbnail", "title", "token", "username",
    }
)
_DISALLOWED_KEY_SUFFIXES = ("_email", "_text", "_caption", "_label", "_labels", "_lat", "_lon", "_name", "_bytes")

MAX_DETAILS_BYTES = 8192
# The subject_id column's range (a 64-bit integer): an entry outside it could not be stored, and one
# queued would stop every integration after it.
SUBJECT_MIN, SUBJECT_MAX = -(2**63), 2**63 - 1
MAX_DETAIL_LIST = 1000


class InvalidEvent(ValueError):
    """An event that is malformed or would carry content; nothing is appended."""


ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value) -> bytes:
    return ENCODER.encode(value).encode()


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || canonical bytes)."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def is_entry(body: bytes) -> bool:
    """Whether stored bytes are in the entry format (v 3) rather than the chained one (v 2): both
    end with their "v", the last key in sorted order."""
    return body.endswith(b',"v":3}')


@lru_cache(maxsize=8)
def _mac_base(key: bytes, label: bytes) -> hmac.HMAC:
    # HMAC.copy() is the standard library's way to MAC many messages that share a prefix
    # (here the label) without setting the key up again for each.
    return hmac.new(key, label, "sha256")


def macs(leaves: list[bytes], key: bytes, label: bytes = ENTRY_MAC_LABEL) -> list[str]:
    """The hex MAC of each leaf hash: HMAC-SHA256(key, label || leaf)."""
    base = _mac_base(key, label)
    out = []
    append = out.append
    for leaf in leaves:
        mac = base.copy()
        mac.update(leaf)
        append(mac.hexdigest())
    return out


def mac(leaf: bytes, key: bytes, label: bytes = ENTRY_MAC_LABEL) -> str:
    return macs([leaf], key, label)[0]


def stored_macs(bodies: list[bytes], leaves: list[bytes], key: bytes) -> list[str]:
    """The MAC each stored event must carry, whatever its format (the label follows its "v")."""
    entry_macs = macs(leaves, key, ENTRY_MAC_LABEL)
    if all(body.endswith(b',"v":3}') for body in bodies):
        return entry_macs
    chained = macs(leaves, key, CHAINED_MAC_LABEL)
    return [e if is_entry(body) else c for body, e, c in zip(bodies, entry_macs, chained, strict=True)]


def mac_ok(body: bytes, leaf: bytes, stored: str | None, key: bytes) -> bool:
    if not stored:
        return False
    label = ENTRY_MAC_LABEL if is_entry(body) else CHAINED_MAC_LABEL
    return hmac.compare_digest(mac(leaf, key, label), stored)


def format_time(value: datetime) -> str:
    """2026-12-07T04:09:15.123456Z: the moment in UTC, to the microsecond (written in every entry, and
    read back for every event the ORM returns, audit.integrity)."""
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime's %Y is not zero-padded there (glibc), isoformat's is
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as that strftime from year 1000 on, in about a third of its time.
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


_KNOWN_CODES: set[str] = set()  # strings already found to be codes: appends repeat them a lot
_KNOWN_KEYS: set[str] = set()  # detail keys already accepted
_KNOWN_ACTIONS: set[str] = set()  # actions already accepted
_KNOWN_CODES_MAX = 50_000


def _check_code(field: str, value: str) -> str:
    if isinstance(value, str) and (value in _KNOWN_CODES or value == ""):
        return value
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise InvalidEvent(f"{field} must be an id or code (letters, digits, _.:/+-; no spaces), got {value!r}")
    if len(_KNOWN_CODES) < _KNOWN_CODES_MAX:
        _KNOWN_CODES.add(value)
    return value


def _check_detail_value(path: str, value, depth: int):
    if value is None or isinstance(value, int):  # bool is an int
        return value
    if isinstance(value, float):
        raise InvalidEvent(f"details.{path}: floats are not allowed (no coordinates; use integer counts)")
    if isinstance(value, str):
        return _check_code(f"details.{path}", value)
    if isinstance(value, list | tuple):
        if len(value) > MAX_DETAIL_LIST:
            raise InvalidEvent(f"details.{path}: at most {MAX_DETAIL_LIST} items")
        return [_check_detail_value(f"{path}[]", item, depth + 1) for item in value]
    if isinstance(value, dict):
        if depth >= 1:
            raise InvalidEvent(f"details.{path}: nested too deeply")
        return _check_details(value, depth + 1, prefix=f"{path}.")
    raise InvalidEvent(f"details.{path}: {type(value).__name__} is not allowed")


def _check_details(details: dict, depth: int = 0, prefix: str = "") -> dict:
    checked = {}
    for key, value in details.items():
        if key in _KNOWN_KEYS:
            checked[key] = _check_detail_value(f"{prefix}{key}", value, depth)
            continue
        if not isinstance(key, str) or not _DETAIL_KEY.fullmatch(key):
            raise InvalidEvent(f"details key {prefix}{key!r} must be lower_snake_case")
        if key in DISALLOWED_DETAIL_KEYS or key.endswith(_DISALLOWED_KEY_SUFFIXES):
            raise InvalidEvent(f"details key {prefix}{key!r} names content; audit events carry ids, counts, codes")
        checked[key] = _check_detail_value(f"{prefix}{key}", value, depth)
        if len(_KNOWN_KEYS) < _KNOWN_CODES_MAX:
            _KNOWN_KEYS.add(key)
    return checked


def event_fields(
    *,
    action: str,
    actor_kind: str,
    actor_id,
    subject_id,
    object_type: str,
    object_id,
    purpose: str,
    outcome: str,
    details: dict | None,
    request_id: str,
    event_id,
) -> "ValidEvent":
    """Validates one event's fields and returns them normalised (ids as strings), details encoded."""
    if action not in _KNOWN_ACTIONS:
        if not isinstance(action, str) or len(action) > 64 or not _ACTION.fullmatch(action):
            raise InvalidEvent(f"action must look like 'area.verb' in lower case, got {action!r}")
        if len(_KNOWN_ACTIONS) < _KNOWN_CODES_MAX:
            _KNOWN_ACTIONS.add(action)
    if actor_kind not in ACTOR_KINDS:
        raise InvalidEvent(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}, got {actor_kind!r}")
    if outcome not in OUTCOMES:
        raise InvalidEvent(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if subject_id is not None and (isinstance(subject_id, bool) or not isinstance(subject_id, int)
                                   or not SUBJECT_MIN <= subject_id <= SUBJECT_MAX):
        raise InvalidEvent(f"subject_id must be a user id or None, got {subject_id!r}")
    actor = "" if actor_id is None else actor_id
    if isinstance(actor, bool):
        raise InvalidEvent("actor_id must be an id")
    obj = object_id
    if isinstance(obj, bool):
        raise InvalidEvent("object_id must be an id")
    details = {} if details is None else details
    if not isinstance(details, dict):
        raise InvalidEvent("details must be a dict")
    checked = _check_details(details)
    details_json = dumps(checked)
    if len(details_json) > MAX_DETAILS_BYTES:
        raise InvalidEvent(f"details are larger than {MAX_DETAILS_BYTES} bytes")
    known = _KNOWN_CODES
    actor = actor if actor.__class__ is str else str(actor)
    obj = obj if obj.__class__ is str else str(obj)
    request_id = request_id or ""
    return ValidEvent({
        "event_id": str(event_id) if event_id.__class__ is uuid.UUID else normalise_event_id(event_id),
        "action": action,
        "actor_kind": actor_kind,
        # Codes already seen need no second look (the checks below are the same, in _check_code).
        "actor_id": actor if actor in known else _check_code("actor_id", actor),
        "subject_id": subject_id,
        "object_type": object_type if object_type in known else _check_code("object_type", object_type),
        "object_id": obj if obj in known else _check_code("object_id", obj),
        "purpose": purpose if purpose in known else _check_code("purpose", purpose),
        "outcome": outcome,
        "request_id": request_id if request_id in known else _check_code("request_id", request_id),
        "details": checked,
    }, details_json)


def normalise_event_id(value) -> str:
    """An event id as the canonical bytes hold it: a UUID in lower-case hex with dashes."""
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise InvalidEvent(f"event_id must be a UUID, got {value!r}") from exc


@dataclass(slots=True)
class ValidEvent:
    fields: dict  # column name -> value, details as a dict
    details_json: bytes  # the canonical encoding of the details


def encode_entry(event: ValidEvent, *, time: str) -> bytes:
    """An entry's bytes (v 3): every field of the event and its time; no position.

    Equal to dumps() of the whole event (sorted keys, compact), written out by hand because
    appends are hot (see encode_chained)."""
    f = event.fields
    return entry_parts(
        action=f["action"], actor_id=f["actor_id"], actor_kind=f["actor_kind"], details_json=event.details_json,
        event_id=f["event_id"], object_id=f["object_id"], object_type=f["object_type"], outcome=f["outcome"],
        purpose=f["purpose"], request_id=f["request_id"], subject_id=f["subject_id"], time=time,
    )


def entry_parts(*, action, actor_id, actor_kind, details_json: bytes, event_id, object_id, object_type, outcome,
                purpose, request_id, subject_id, time) -> bytes:
    head, tail = entry_edges(
        action=action, actor_id=actor_id, actor_kind=actor_kind, event_id=event_id, object_id=object_id,
        object_type=object_type, outcome=outcome, purpose=purpose, request_id=request_id, subject_id=subject_id,
        time=time,
    )
    return head + details_json + tail


def entry_edges(*, action, actor_id, actor_kind, event_id, object_id, object_type, outcome, purpose, request_id,
                subject_id, time) -> tuple[bytes, bytes]:
    """An entry's bytes before and after the details value."""
    subject = "null" if subject_id is None else str(subject_id)
    head = f'{{"action":"{action}","actor_id":"{actor_id}","actor_kind":"{actor_kind}","details":'
    tail = (
        f',"event_id":"{event_id}","object_id":"{object_id}","object_type":"{object_type}","outcome":"{outcome}",'
        f'"purpose":"{purpose}","request_id":"{request_id}",'
        f'"subject_id":{subject},"time":"{time}","v":{ENTRY_VERSION}}}'
    )
    return head.encode(), tail.encode()


# What each field of an entry may hold, as encode_entry writes it: what event_fields accepts, in
# the one JSON spelling the encoder gives it. Every string is a code (no character that JSON escapes),
# so the bytes between the quotes are the value itself.
_ENTRY_FIELD_PATTERNS = {
    "action": r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+",
    "actor_kind": "|".join(ACTOR_KINDS),
    "outcome": "|".join(OUTCOMES),
    "event_id": "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",  # str(uuid.UUID)
    "subject_id": "null|0|-?[1-9][0-9]{0,18}",  # str(int): no "-0", no leading zero, no bool, no float
    "time": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z",  # format_time
}
_CODE_OR_EMPTY = CODE_PATTERN[1:-1].join(("(?:", ")?"))


def _entry_regex() -> "re.Pattern[str]":
    """encode_entry's layout, each field a group and the details a lazy `{...}`, taken from
    entry_edges itself so the two cannot drift."""
    names = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "purpose",
             "request_id", "subject_id", "time")
    head, tail = entry_edges(**{name: f"\x00{name}\x00" for name in names})
    pieces = (head + b"\x00details\x00" + tail).decode().split("\x00")
    patterns = {**_ENTRY_FIELD_PATTERNS, "details": r"\{.*?\}"}
    pattern = "".join(
        re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>{patterns.get(piece, _CODE_OR_EMPTY)})"
        for index, piece in enumerate(pieces)
    )
    return re.compile(pattern, re.DOTALL)


_ENTRY_RE = _entry_regex()


def _no_float(text: str):
    raise ValueError(f"{text} is not an integer")  # the service writes no floats (see event_fields)


_DETAILS_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
_CANONICAL_DETAILS: dict[str, dict] = {}  # details already found canonical (flat ones only) -> their value
_CANONICAL_DETAILS_MAX = 10_000


def parse_entry(body: bytes) -> tuple[ValidEvent, str] | None:
    """The event and time of bytes that are an entry in canonical form, or None when they are not.

    Sound without encoding again: the layout is encode_entry's, each field restricted to what
    event_fields lets through (strings are codes, which JSON writes between quotes as they are), and
    the details slice must be the canonical encoding of its own value (dumps(loads(d)) == d, and no
    floats, which event_fields refuses); so
    when it matches, encode_entry(fields) gives back exactly `body`. (tests/audit/test_outbox.py
    checks this against encode_entry, and refuses near-misses.)"""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    match = _ENTRY_RE.fullmatch(text)
    if match is None:
        return None
    fields = match.groupdict()
    if len(fields["action"]) > 64:
        return None
    details_text = fields["details"]
    details = _CANONICAL_DETAILS.get(details_text)
    if details is not None:
        details = dict(details)  # flat, immutable values: a copy the caller may change
    else:
        try:
            details = _DETAILS_DECODER.decode(details_text)
        except ValueError:
            return None
        if not isinstance(details, dict) or dumps(details).decode() != details_text:
            return None
        if len(_CANONICAL_DETAILS) < _CANONICAL_DETAILS_MAX and all(
                value is None or isinstance(value, int | str) for value in details.values()):
            _CANONICAL_DETAILS[details_text] = dict(details)
    subject = fields["subject_id"]
    subject = None if subject == "null" else int(subject)
    if subject is not None and not SUBJECT_MIN <= subject <= SUBJECT_MAX:
        return None
    fields["subject_id"] = subject
    fields["details"] = details
    time = fields.pop("time")
    return ValidEvent(fields, details_text.encode()), time


ENTRY_KEYS = frozenset({"action", "actor_id", "actor_kind", "details", "event_id", "object_id", "object_type",
                        "outcome", "purpose", "request_id", "subject_id", "time", "v"})
CHAINED_KEYS = ENTRY_KEYS | {"prev_hash", "seq"}


def encode_chained(event: ValidEvent, *, seq: int, time: str, prev_hash: str) -> bytes:
    """The chained format's bytes (v 2), as events were written before entries: every field, its place
    in the chain, and the hash before it. Only verification and tests write it now.

    Equal to dumps() of the whole event (sorted keys, compact), written out by hand because
    appends are hot: every string here is an enumerated value, a validated code (no quotes,
    backslashes or control characters), a generated time or a hex hash, so none needs escaping.
    """
    f = event.fields
    return encode_parts(
        action=f["action"], actor_id=f["actor_id"], actor_kind=f["actor_kind"], details_json=event.details_json,
        event_id=f["event_id"], object_id=f["object_id"], object_type=f["object_type"], outcome=f["outcome"],
        prev_hash=prev_hash, purpose=f["purpose"], request_id=f["request_id"], seq=seq, subject_id=f["subject_id"],
        time=time,
    )


def encode_parts(*, action, actor_id, actor_kind, details_json: bytes, event_id, object_id, object_type, outcome,
                 prev_hash, purpose, request_id, seq, subject_id, time) -> bytes:
    head, tail = encode_edges(
        action=action, actor_id=actor_id, actor_kind=actor_kind, event_id=event_id, object_id=object_id,
        object_type=object_type, outcome=outcome, prev_hash=prev_hash, purpose=purpose, request_id=request_id, seq=seq,
        subject_id=subject_id, time=time,
    )
    return head + details_json + tail


def encode_edges(*, action, actor_id, actor_kind, event_id, object_id, object_type, outcome, prev_hash, purpose,
                 request_id, seq, subject_id, time) -> tuple[bytes, bytes]:
    """The chained format's bytes before and after the details value."""
    subject = "null" if subject_id is None else str(subject_id)
    head = f'{{"action":"{action}","actor_id":"{actor_id}","actor_kind":"{actor_kind}","details":'
    tail = (
        f',"event_id":"{event_id}","object_id":"{object_id}","object_type":"{object_type}","outcome":"{outcome}",'
        f'"prev_hash":"{prev_hash}","purpose":"{purpose}","request_id":"{request_id}","seq":{seq},'
        f'"subject_id":{subject},"time":"{time}","v":{CHAINED_VERSION}}}'
    )
    return head.encode(), tail.encode()

"""The canonical encoding of an audit event, and the rules that keep content out of it.

The canonical bytes are what gets hashed and stored; they are never rebuilt from
the columns later. They are JSON with sorted keys, no whitespace, UTF-8, and only
integers, strings, booleans, null, lists and objects (no floats: there is no
single canonical form for them, and coordinates are floats). The same rules are
written out for auditors in docs/auditors.md.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

CANONICAL_VERSION = 2
GENESIS_HASH = "0" * 64

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
MAX_DETAIL_LIST = 1000


class InvalidEvent(ValueError):
    """An event that is malformed or would carry content; nothing is appended."""


ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value) -> bytes:
    return ENCODER.encode(value).encode()


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || canonical bytes). Also the event's chain hash."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_KNOWN_CODES: set[str] = set()  # strings already found to be codes: appends repeat them a lot
_KNOWN_KEYS: set[str] = set()  # detail keys already accepted
_KNOWN_ACTIONS: set[str] = set()  # actions already accepted
_KNOWN_CODES_MAX = 50_000


def _check_code(field: str, value: str) -> str:
    if isinstance(value, str) and (value in _KNOWN_CODES or value == ""):
        return value
    if not isinstance(value, str) or not _CODE.match(value):
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
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
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
        if not isinstance(action, str) or len(action) > 64 or not _ACTION.match(action):
            raise InvalidEvent(f"action must look like 'area.verb' in lower case, got {action!r}")
        if len(_KNOWN_ACTIONS) < _KNOWN_CODES_MAX:
            _KNOWN_ACTIONS.add(action)
    if actor_kind not in ACTOR_KINDS:
        raise InvalidEvent(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}, got {actor_kind!r}")
    if outcome not in OUTCOMES:
        raise InvalidEvent(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if subject_id is not None and (isinstance(subject_id, bool) or not isinstance(subject_id, int)):
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


def encode(event: ValidEvent, *, seq: int, time: str, prev_hash: str) -> bytes:
    """The canonical bytes of one event: every field, its place in the chain, and the hash before it.

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
    """The canonical bytes before and after the details value."""
    subject = "null" if subject_id is None else str(subject_id)
    head = f'{{"action":"{action}","actor_id":"{actor_id}","actor_kind":"{actor_kind}","details":'
    tail = (
        f',"event_id":"{event_id}","object_id":"{object_id}","object_type":"{object_type}","outcome":"{outcome}",'
        f'"prev_hash":"{prev_hash}","purpose":"{purpose}","request_id":"{request_id}","seq":{seq},'
        f'"subject_id":{subject},"time":"{time}","v":{CANONICAL_VERSION}}}'
    )
    return head.encode(), tail.encode()

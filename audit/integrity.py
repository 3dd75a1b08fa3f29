"""Whether one stored event is genuine: written by the service, as its columns say.

An event is genuine when its MAC (under the key outside the database) verifies over the hash of
its canonical bytes (with the label of its format, audit.canonical), that hash is the stored one,
and every column agrees with the canonical bytes. Integration verifies every entry before it enters
the trail; this check on reading also catches a row written with the database's guards dropped.
The ORM hides events that are not genuine (see audit.models.AuditEventQuerySet); audit_verify
names them by seq.
"""

import json
from operator import attrgetter

from audit import canonical
from audit.keys import mac_key

_PLAIN = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "purpose",
          "request_id", "subject_id")
# The columns above as one tuple: read in one call, compared with the canonical bytes' values at once
# (a generator over the names cost about a fifth of the check, which runs for every event listed).
_plain_columns = attrgetter(*_PLAIN)


def event_is_genuine(event, key: bytes | None = None) -> bool:
    body = bytes(event.canonical or b"")
    leaf = canonical.leaf_hash(body)
    if leaf.hex() != event.hash or not canonical.mac_ok(body, leaf, event.mac, key or mac_key()):
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    if canonical.is_entry(body):
        if set(parsed) != canonical.ENTRY_KEYS or parsed.get("v") != canonical.ENTRY_VERSION:
            return False
    elif (set(parsed) != canonical.CHAINED_KEYS or parsed.get("v") != canonical.CHAINED_VERSION
          or parsed.get("seq") != event.seq or parsed.get("prev_hash") != event.prev_hash):
        return False
    if tuple(map(parsed.get, _PLAIN)) != _plain_columns(event):
        return False
    if event.time is None or parsed.get("time") != canonical.format_time(event.time):
        return False
    return parsed.get("details") == event.details

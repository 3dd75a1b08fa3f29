"""Whether one stored event is genuine: written by the service, as its columns say.

An event is genuine when its MAC (under the key outside the database) verifies over the hash
of its canonical bytes, that hash is the stored one, and every column agrees with the canonical
bytes. The ORM hides events that are not (see audit.models.AuditEventQuerySet), so a row written
straight into the table is never shown as an event; audit_verify names it by seq.
"""

import json

from audit import canonical
from audit.keys import leaf_of, mac_key, mac_matches

_PLAIN = ("action", "actor_id", "actor_kind", "event_id", "object_id", "object_type", "outcome", "prev_hash",
          "purpose", "request_id", "seq", "subject_id")


def event_is_genuine(event, key: bytes | None = None) -> bool:
    body = bytes(event.canonical or b"")
    leaf = leaf_of(body)
    if leaf.hex() != event.hash or not mac_matches(leaf, event.mac, key or mac_key()):
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    if not isinstance(parsed, dict) or parsed.get("v") != canonical.CANONICAL_VERSION:
        return False
    if any(parsed.get(name) != getattr(event, name) for name in _PLAIN):
        return False
    if event.time is None or parsed.get("time") != canonical.format_time(event.time):
        return False
    return parsed.get("details") == event.details

#!/usr/bin/env python3
"""Check a consentsvc audit export (JSON Lines) offline, against the audit public key.

Needs only Python 3.11+ and the `cryptography` package: no Django, no database. It runs from a
copy of the repository (or of tools/ with audit/canonical.py, merkle.py and notes.py beside it):
the entry format, hashes and notes are the service's own Django-free modules, not a copy.

    python verify_audit_export.py export.jsonl --public-key audit-public-key.pem

Exit status 0 and "OK ..." when every line checks out; 1 and the first problem otherwise.
What is checked (docs/auditors.md explains each step):
  * every line is exactly the canonical JSON of its content (sorted keys, no whitespace),
    so not one byte can change unnoticed;
  * the header's checkpoint is a C2SP signed note by the given Ed25519 key, naming the
    export's origin, tree size and root hash;
  * every event's hash is SHA-256(0x00 || its canonical bytes), and its line's seq is its place;
  * an entry (v 3) holds exactly the event's fields and no position; an event in the chained
    format written before entries (v 2) also says its own seq, and neighbouring chained events
    link (each one's prev_hash is the hash of the one before);
  * event and gap lines cover seq 1..tree size exactly once, in order, and the RFC 9162
    Merkle root rebuilt from them equals the signed root;
  * exported events match the filters written in the header.
"""

import argparse
import json
import os
import sys
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# The entry format, leaf and node hashes, Merkle tree and signed notes come from the service's own
# Django-free modules (audit.canonical, audit.merkle, audit.notes), one copy for both.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from audit import canonical  # noqa: E402
from audit.merkle import CompactRange, ProofError  # noqa: E402
from audit.notes import NoteError  # noqa: E402
from audit.notes import open_checkpoint as open_note  # noqa: E402

FORMATS = ("consentsvc-audit-export/1", "consentsvc-audit-export/2")
GENESIS_HASH = canonical.GENESIS_HASH
LINE_KEYS = {
    "header": {"checkpoint", "filters", "format", "key_name", "root_hash", "tree_size", "type"},
    "event": {"event", "hash", "seq", "type"},
    "gap": {"first", "last", "subtrees", "type"},
    "end": {"events", "type"},
}
# "actions" is how a category is written (the actions declared in it); "action_prefixes", how exports
# made before the action registry wrote one.
FILTER_KEYS = {"since", "until", "subject_id", "actor", "action", "actions", "action_prefixes", "outcome"}


class Invalid(ValueError):
    pass


def canonical_json(value) -> bytes:
    return canonical.dumps(value)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid("the public key is not an Ed25519 key")
    return key


def open_checkpoint(note: str, key: Ed25519PublicKey, key_name: str) -> tuple[str, int, bytes]:
    """Verifies a C2SP signed note by `key` named `key_name`; returns (origin, tree size, root hash)."""
    try:
        checkpoint = open_note(note, public_key=key, key_name=key_name)
    except NoteError as exc:
        raise Invalid(f"the checkpoint: {exc}") from exc
    return checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _matches(event: dict, filters: dict) -> bool:
    if "since" in filters and _parse_time(event["time"]) < _parse_time(filters["since"]):
        return False
    if "until" in filters and _parse_time(event["time"]) >= _parse_time(filters["until"]):
        return False
    if "subject_id" in filters and event["subject_id"] != filters["subject_id"]:
        return False
    if "action" in filters and event["action"] != filters["action"]:
        return False
    if "action_prefixes" in filters and not event["action"].startswith(tuple(filters["action_prefixes"])):
        return False
    if "actions" in filters and event["action"] not in filters["actions"]:
        return False
    if "outcome" in filters and event["outcome"] != filters["outcome"]:
        return False
    actor = filters.get("actor")
    if actor:
        kind, sep, actor_id = actor.partition(":")
        if sep:
            return (event["actor_kind"], event["actor_id"]) == (kind, actor_id)
        if actor in ("holder", "auditor", "support", "service", "system"):
            return event["actor_kind"] == actor
        return event["actor_id"] == actor
    return True


def _hex32(value) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or bytes.fromhex(value).hex() != value:
        raise Invalid(f"{value!r} is not a lower-case hex SHA-256")
    return bytes.fromhex(value)


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(f"{value!r} is not a whole number")
    return value


def verify(lines, key: Ed25519PublicKey) -> dict:
    """Checks an export given as an iterable of lines (bytes). Returns a summary or raises Invalid."""
    try:
        return _verify(lines, key)
    except (KeyError, TypeError, AttributeError) as exc:
        raise Invalid(f"a line is missing a field or has one of the wrong type ({exc!r})") from exc
    except ValueError as exc:
        if isinstance(exc, Invalid):
            raise
        raise Invalid(str(exc)) from exc


def _verify(lines, key: Ed25519PublicKey) -> dict:
    tree = CompactRange()
    header: dict | None = None
    exported = 0
    prev_hash: str | None = None  # the hash of the event just before, when it is in the file
    ended = False
    for number, raw in enumerate(lines, start=1):
        where = f"line {number}"
        if ended:
            raise Invalid(f"{where}: there is content after the end line")
        if not raw.endswith(b"\n"):
            raise Invalid(f"{where}: the file is truncated (no final newline)")
        try:
            item = json.loads(raw)
        except ValueError as exc:
            raise Invalid(f"{where}: not JSON") from exc
        if not isinstance(item, dict) or canonical_json(item) + b"\n" != raw:
            raise Invalid(f"{where}: not in canonical form (a byte was changed, added or removed)")
        kind = item.get("type")
        keys = LINE_KEYS.get(kind)
        if kind == "event" and header is not None and header["format"] == FORMATS[0]:
            keys = keys - {"seq"}  # /1: every event was chained and carried its seq
            item = {**item, "seq": item.get("event", {}).get("seq") if isinstance(item.get("event"), dict) else None}
            if set(item) - {"seq"} != keys:
                raise Invalid(f"{where}: a {kind!r} line must have exactly the fields {sorted(keys)}")
        elif set(item) != keys:
            raise Invalid(f"{where}: a {kind!r} line must have exactly the fields {sorted(LINE_KEYS.get(kind, ()))}")
        if header is None:
            if kind != "header" or item.get("format") not in FORMATS:
                raise Invalid(f"{where}: the file does not start with a {FORMATS[-1]} header")
            origin, size, root = open_checkpoint(item["checkpoint"], key, item["key_name"])
            if (origin, size, root.hex()) != (item["key_name"], item["tree_size"], item["root_hash"]):
                raise Invalid(f"{where}: the header disagrees with its signed checkpoint")
            filters = item["filters"]
            if not isinstance(filters, dict) or not set(filters) <= FILTER_KEYS:
                raise Invalid(f"{where}: the header's filters may only be {sorted(FILTER_KEYS)}")
            header = {"origin": origin, "tree_size": size, "root": root, "filters": item["filters"],
                      "format": item["format"]}
            continue
        if kind == "event":
            event = item["event"]
            seq = _int(item["seq"])
            if not isinstance(event, dict):
                raise Invalid(f"{where}: the event is not an object")
            # An entry (v 3) holds no position: its place is the line's seq, proved by the tree. An
            # event in the chained format (v 2, written before entries) also carries its seq and the
            # hash of the event before it, which must agree.
            if event.get("v") == canonical.ENTRY_VERSION:
                if set(event) != canonical.ENTRY_KEYS:
                    raise Invalid(f"{where}: the entry does not have exactly the fields "
                                  f"{sorted(canonical.ENTRY_KEYS)}")
            elif event.get("v") == canonical.CHAINED_VERSION:
                if set(event) != canonical.CHAINED_KEYS:
                    raise Invalid(f"{where}: the event does not have exactly the fields "
                                  f"{sorted(canonical.CHAINED_KEYS)}")
                if event["seq"] != seq:
                    raise Invalid(f"{where}: the event says seq {event['seq']}, the line seq {seq}")
                expected_prev = GENESIS_HASH if seq == 1 else prev_hash
                if expected_prev is not None and event.get("prev_hash") != expected_prev:
                    raise Invalid(f"{where}: seq {seq}: prev_hash is not the hash of seq {seq - 1}")
            else:
                raise Invalid(f"{where}: the event's format version {event.get('v')!r} is not 2 or 3")
            body = canonical_json(event)
            leaf = canonical.leaf_hash(body)
            if leaf != _hex32(item["hash"]):
                raise Invalid(f"{where}: seq {seq}: the hash does not match the event's canonical bytes")
            if seq != tree.size + 1:
                raise Invalid(f"{where}: expected seq {tree.size + 1}, found seq {seq}")
            if not _matches(event, header["filters"]):
                raise Invalid(f"{where}: seq {seq} does not match the export's filters")
            tree.append(leaf)
            prev_hash = item["hash"]
            exported += 1
        elif kind == "gap":
            first, last = _int(item["first"]), _int(item["last"])
            if first != tree.size + 1 or last < first:
                raise Invalid(f"{where}: expected a gap starting at seq {tree.size + 1}, found {first}..{last}")
            for level, node in item["subtrees"]:
                try:
                    tree.append_subtree(_int(level), _hex32(node))
                except ProofError as exc:
                    raise Invalid(f"{where}: {exc}") from exc
            if tree.size != last:
                covered, wanted = tree.size - first + 1, last - first + 1
                raise Invalid(f"{where}: the gap's subtrees cover {covered} events, not {wanted}")
            prev_hash = None
        elif kind == "end":
            if item.get("events") != exported:
                raise Invalid(f"{where}: the end line counts {item.get('events')} events; the file has {exported}")
            ended = True
        else:
            raise Invalid(f"{where}: unknown line type {kind!r}")
        if tree.size > header["tree_size"]:
            raise Invalid(f"{where}: the file goes beyond the checkpoint's {header['tree_size']} events")
    if header is None:
        raise Invalid("the file is empty")
    if not ended:
        raise Invalid("the file is truncated (no end line)")
    if tree.size != header["tree_size"]:
        raise Invalid(f"the file covers {tree.size} events; the checkpoint covers {header['tree_size']}")
    if tree.root() != header["root"]:
        raise Invalid("the Merkle root rebuilt from the file does not match the signed checkpoint")
    return {"events": exported, "tree_size": header["tree_size"], "root": header["root"].hex(),
            "origin": header["origin"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Verify a consentsvc audit export (JSON Lines) offline.")
    parser.add_argument("export", help="the .jsonl file (- for standard input)")
    parser.add_argument("--public-key", required=True,
                        help="the audit signing key, PEM (from /api/v1/audit/public-key/)")
    args = parser.parse_args(argv)
    try:
        with open(args.public_key, "rb") as handle:
            key = load_public_key(handle.read())
        stream = sys.stdin.buffer if args.export == "-" else open(args.export, "rb")  # noqa: SIM115
        with stream:
            summary = verify(stream, key)
    except (Invalid, KeyError, TypeError, ValueError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {summary['events']} events verified against the signed checkpoint of {summary['origin']} "
          f"at {summary['tree_size']} events, root {summary['root']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check a consentsvc audit export (JSON Lines) offline, against the audit public key.

Needs only Python 3.11+ and the `cryptography` package: no Django, no database.

    python verify_audit_export.py export.jsonl --public-key audit-public-key.pem

Exit status 0 and "OK ..." when every line checks out; 1 and the first problem otherwise.
What is checked (docs/auditors.md explains each step):
  * every line is exactly the canonical JSON of its content (sorted keys, no whitespace),
    so not one byte can change unnoticed;
  * the header's checkpoint is a C2SP signed note by the given Ed25519 key, naming the
    export's origin, tree size and root hash;
  * every event's hash is SHA-256(0x00 || its canonical bytes) and its seq is its place;
  * neighbouring events link: each one's prev_hash is the hash of the one before;
  * event and gap lines cover seq 1..tree size exactly once, in order, and the RFC 9162
    Merkle root rebuilt from them equals the signed root;
  * exported events match the filters written in the header.
"""

import argparse
import base64
import hashlib
import json
import sys
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "consentsvc-audit-export/1"
GENESIS_HASH = "0" * 64
LINE_KEYS = {
    "header": {"checkpoint", "filters", "format", "key_name", "root_hash", "tree_size", "type"},
    "event": {"event", "hash", "type"},
    "gap": {"first", "last", "subtrees", "type"},
    "end": {"events", "type"},
}
FILTER_KEYS = {"since", "until", "subject_id", "actor", "action", "action_prefixes", "outcome"}
EVENT_KEYS = {"action", "actor_id", "actor_kind", "details", "event_id", "object_id", "object_type", "outcome",
              "prev_hash", "purpose", "request_id", "seq", "subject_id", "time", "v"}


class Invalid(ValueError):
    pass


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """RFC 9162 Merkle tree right edge: one perfect subtree root per set bit of `size`."""

    def __init__(self):
        self.size = 0
        self.nodes: list[bytes] = []

    def append_subtree(self, level: int, node: bytes) -> None:
        if self.size % (1 << level):
            raise Invalid(f"a subtree of 2^{level} leaves cannot start at leaf {self.size}")
        size = self.size >> level
        while size & 1:
            node = _node(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1 << level

    def root(self) -> bytes:
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = _node(node, root)
        return root


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid("the public key is not an Ed25519 key")
    return key


def open_checkpoint(note: str, key: Ed25519PublicKey, key_name: str) -> tuple[str, int, bytes]:
    """Verifies a C2SP signed note by `key` named `key_name`; returns (origin, tree size, root hash)."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise Invalid("the checkpoint is not a signed note")
    body += "\n"
    raw_key = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(key_name.encode() + b"\n\x01" + raw_key).digest()[:4]
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Invalid("a signature line does not start with an em dash")
        name, _, blob = line[2:].rpartition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise Invalid("a signature is not base64") from exc
        if base64.b64encode(raw).decode() != blob:
            raise Invalid("a signature is not in canonical base64")
        if name != key_name or raw[:4] != key_id or len(raw) != 68:
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature as exc:
            raise Invalid("the checkpoint signature does not verify with this public key") from exc
        verified = True
    if not verified:
        raise Invalid(f"the checkpoint carries no signature by {key_name!r} with this public key")
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise Invalid("the checkpoint body is not origin, tree size, root hash")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32 or base64.b64encode(root).decode() != lines[2]:
        raise Invalid("the checkpoint root hash is not 32 bytes")
    return lines[0], int(lines[1]), root


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
    header = None
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
        if set(item) != LINE_KEYS.get(kind):
            raise Invalid(f"{where}: a {kind!r} line must have exactly the fields {sorted(LINE_KEYS.get(kind, ()))}")
        if header is None:
            if kind != "header" or item.get("format") != FORMAT:
                raise Invalid(f"{where}: the file does not start with a {FORMAT} header")
            origin, size, root = open_checkpoint(item["checkpoint"], key, item["key_name"])
            if (origin, size, root.hex()) != (item["key_name"], item["tree_size"], item["root_hash"]):
                raise Invalid(f"{where}: the header disagrees with its signed checkpoint")
            filters = item["filters"]
            if not isinstance(filters, dict) or not set(filters) <= FILTER_KEYS:
                raise Invalid(f"{where}: the header's filters may only be {sorted(FILTER_KEYS)}")
            header = {"origin": origin, "tree_size": size, "root": root, "filters": item["filters"]}
            continue
        if kind == "event":
            event = item["event"]
            if not isinstance(event, dict) or set(event) != EVENT_KEYS:
                raise Invalid(f"{where}: the event does not have exactly the fields {sorted(EVENT_KEYS)}")
            body = canonical_json(event)
            leaf = hashlib.sha256(b"\x00" + body).digest()
            seq = _int(event["seq"])
            if leaf != _hex32(item["hash"]):
                raise Invalid(f"{where}: seq {seq}: the hash does not match the event's canonical bytes")
            if seq != tree.size + 1:
                raise Invalid(f"{where}: expected seq {tree.size + 1}, found seq {seq}")
            expected_prev = GENESIS_HASH if seq == 1 else prev_hash
            if expected_prev is not None and event.get("prev_hash") != expected_prev:
                raise Invalid(f"{where}: seq {seq}: prev_hash is not the hash of seq {seq - 1}")
            if not _matches(event, header["filters"]):
                raise Invalid(f"{where}: seq {seq} does not match the export's filters")
            tree.append_subtree(0, leaf)
            prev_hash = item["hash"]
            exported += 1
        elif kind == "gap":
            first, last = _int(item["first"]), _int(item["last"])
            if first != tree.size + 1 or last < first:
                raise Invalid(f"{where}: expected a gap starting at seq {tree.size + 1}, found {first}..{last}")
            for level, node in item["subtrees"]:
                tree.append_subtree(_int(level), _hex32(node))
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

"""Checking a holder's log and its commitment into the global trail (docs/holder-log.md), without Django.

One copy for the service's /me/access/ page (which checks the commitment it shows), tools/monitor.py
(which checks heads as it replays the trail, and a holder's download with --holder) and the tests.
The phone checks the same things with code of its own (camera_roll_sync/tlog.py): it trusts nothing
of the server's, not even this.
"""

import base64
import json
from dataclasses import dataclass

from audit import canonical, merkle, notes

BUNDLE_FORMAT = "consentsvc-holder-log/1"
HOLDER_HEAD = "audit.holder_head"
HEAD_DETAILS = frozenset({"holder", "origin", "root", "size"})


class Invalid(ValueError):
    """Something signed, committed or proved does not check out."""


def parse_vkey(vkey: str):
    """A note verifier key <name>+<hex key id>+<base64(0x01 || public key)> -> (name, Ed25519 public key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    name, _, rest = vkey.strip().partition("+")
    key_hex, _, blob = rest.partition("+")
    try:
        raw = base64.b64decode(blob, validate=True)
        wanted = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise Invalid(f"not a verifier key: {vkey!r}") from exc
    if not name or len(raw) != 33 or raw[:1] != notes.ED25519_ALG:
        raise Invalid(f"not an Ed25519 note verifier key: {vkey!r}")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if notes.key_id(name, key) != wanted:
        raise Invalid(f"the verifier key's id does not match its name and key: {vkey!r}")
    return name, key


def open_note(note: str, key_name: str, key, what: str) -> notes.Checkpoint:
    try:
        return notes.open_checkpoint(note, public_key=key, key_name=key_name)
    except notes.NoteError as exc:
        raise Invalid(f"{what}: {exc}") from exc


def holder_origin(global_origin: str, log_id: str) -> str:
    return f"{global_origin}/holder/{log_id}"


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def b64(value, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{what} is not base64") from exc


def read_entry(body: bytes, where: str) -> dict:
    """An entry's fields; it must be canonical JSON (any other spelling would hash differently)."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise Invalid(f"{where} is not JSON") from exc
    if not isinstance(event, dict) or canonical.dumps(event) != body:
        raise Invalid(f"{where} is not an entry in canonical form")
    return event


@dataclass(frozen=True)
class Head:
    holder: int
    log_id: str
    origin: str
    size: int
    root: bytes


def read_head(event: dict, global_origin: str, where: str) -> Head:
    """An audit.holder_head event's head, checked against docs/holder-log.md."""
    details = event.get("details")
    if event.get("action") != HOLDER_HEAD:
        raise Invalid(f"{where} is not an audit.holder_head")
    if not isinstance(details, dict) or set(details) != HEAD_DETAILS:
        raise Invalid(f"{where}: an audit.holder_head whose details are not holder, origin, root and size")
    holder, origin, root, size = details["holder"], details["origin"], details["root"], details["size"]
    log_id = event.get("object_id")
    if not (is_int(holder) and is_int(size) and size >= 0 and isinstance(root, str) and len(root) == 64):
        raise Invalid(f"{where}: an audit.holder_head with a malformed holder, size or root")
    try:
        root_bytes = bytes.fromhex(root)
    except ValueError as exc:
        raise Invalid(f"{where}: an audit.holder_head whose root is not hex") from exc
    if event.get("subject_id") is not None or event.get("object_type") != "holder_log":
        raise Invalid(f"{where}: an audit.holder_head must have no subject and name a holder_log")
    if not isinstance(log_id, str) or origin != holder_origin(global_origin, log_id):
        raise Invalid(f"{where}: the head's origin {origin!r} is not {global_origin}/holder/<its object_id>")
    return Head(holder=holder, log_id=log_id, origin=origin, size=size, root=root_bytes)


@dataclass(frozen=True)
class Commitment:
    head: Head
    holder_checkpoint: notes.Checkpoint
    global_checkpoint: notes.Checkpoint
    leaf_index: int


def verify_commitment(commitment: dict, vkey: str) -> Commitment:
    """Checks GET /api/v1/me/tlog/commitment/'s answer (or a download's copy) under the key `vkey`: both
    notes signed, the entry the head of the holder checkpoint, included at leaf_index in the global one."""
    try:
        return _verify_commitment(commitment, vkey)
    except (KeyError, TypeError, AttributeError) as exc:
        raise Invalid(f"the commitment lacks a field or has one of the wrong type ({exc!r})") from exc


def _verify_commitment(commitment: dict, vkey: str) -> Commitment:
    key_name, key = parse_vkey(vkey)
    body = b64(commitment["entry"], "the commitment's entry")
    head = read_head(read_entry(body, "the commitment's entry"), key_name, "the commitment's entry")
    holder = open_note(commitment["holder_checkpoint"], key_name, key, "the holder checkpoint")
    if (holder.origin, holder.tree_size, holder.root_hash) != (head.origin, head.size, head.root):
        raise Invalid("the committed entry is not the head of the holder checkpoint")
    global_checkpoint = open_note(commitment["global_checkpoint"], key_name, key, "the global checkpoint")
    if global_checkpoint.origin != key_name:
        raise Invalid(f"the global checkpoint's origin is {global_checkpoint.origin!r}, not {key_name!r}")
    index = commitment["leaf_index"]
    if not is_int(index):
        raise Invalid("the commitment's leaf_index is not a number")
    proof = [b64(node, "an inclusion proof node") for node in commitment["inclusion_proof"]]
    try:
        merkle.verify_inclusion(index, global_checkpoint.tree_size, canonical.leaf_hash(body), proof,
                                global_checkpoint.root_hash)
    except merkle.ProofError as exc:
        raise Invalid(f"the head is not included in the signed global checkpoint: {exc}") from exc
    return Commitment(head=head, holder_checkpoint=holder, global_checkpoint=global_checkpoint, leaf_index=index)


@dataclass(frozen=True)
class BundleSummary:
    origin: str
    holder: int
    size: int
    leaf_index: int
    global_size: int


def verify_bundle(bundle: dict, vkey: str) -> BundleSummary:
    """Checks a holder's downloaded log (format consentsvc-holder-log/1): its entries make the committed
    holder checkpoint's root and are all about the holder the head names, and the commitment checks out."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise Invalid(f"not a holder log file ({BUNDLE_FORMAT})")
    try:
        committed = verify_commitment(bundle["commitment"], vkey)
        bodies = [b64(entry, f"entry {i}") for i, entry in enumerate(bundle["entries"])]
    except (KeyError, TypeError) as exc:
        raise Invalid(f"the file lacks a field or has one of the wrong type ({exc!r})") from exc
    head = committed.head
    if len(bodies) != head.size:
        raise Invalid(f"the file holds {len(bodies)} entries but its committed head has {head.size}")
    if merkle.root_of(canonical.leaf_hash(body) for body in bodies) != head.root:
        raise Invalid("the entries do not make the committed head's root: one was left out, added, changed or moved")
    for i, body in enumerate(bodies):
        subject = read_entry(body, f"entry {i}").get("subject_id")
        if subject != head.holder:
            raise Invalid(f"entry {i} is about {subject!r}, not holder {head.holder}")
    return BundleSummary(origin=head.origin, holder=head.holder, size=head.size, leaf_index=committed.leaf_index,
                         global_size=committed.global_checkpoint.tree_size)

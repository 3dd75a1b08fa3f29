"""C2SP tlog-checkpoint bodies in C2SP signed notes, with Ed25519 (no Django).

    <origin>\n<tree size>\n<base64 root hash>\n
    \n
    — <key name> <base64(key id || signature)>\n

The key id is the first four bytes of SHA-256(key name || "\n" || 0x01 || public key);
the signature covers the body (the first three lines, each ending in a newline).
"""

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_ALG = b"\x01"
SIGNATURE_PREFIX = "\u2014 "


class NoteError(ValueError):
    """A note that is malformed or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALG + _raw_public(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The note verifier key string: <name>+<hex key id>+<base64(0x01 || public key)>."""
    return f"{name}+{key_id(name, public_key).hex()}+{base64.b64encode(ED25519_ALG + _raw_public(public_key)).decode()}"


def checkpoint_body(checkpoint: Checkpoint) -> str:
    if not checkpoint.origin or "\n" in checkpoint.origin:
        raise NoteError("origin must be one non-empty line")
    return f"{checkpoint.origin}\n{checkpoint.tree_size}\n{base64.b64encode(checkpoint.root_hash).decode()}\n"


def sign_checkpoint(checkpoint: Checkpoint, *, key: Ed25519PrivateKey, key_name: str) -> str:
    body = checkpoint_body(checkpoint)
    signature = key.sign(body.encode())
    blob = base64.b64encode(key_id(key_name, key.public_key()) + signature).decode()
    return f"{body}\n{SIGNATURE_PREFIX}{key_name} {blob}\n"


def open_checkpoint(note: str, *, public_key: Ed25519PublicKey, key_name: str) -> Checkpoint:
    """Verifies the note's signature by this key and parses its checkpoint body."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("a signed note is a body, a blank line and signature lines")
    body += "\n"
    wanted = key_id(key_name, public_key)
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("signature lines start with an em dash and a space")
        name, _, blob = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise NoteError("signature is not base64") from exc
        if base64.b64encode(raw).decode() != blob:
            raise NoteError("signature is not canonical base64")
        if name != key_name or raw[:4] != wanted or len(raw) != 68:
            continue
        try:
            public_key.verify(raw[4:], body.encode())
        except InvalidSignature as exc:
            raise NoteError("the checkpoint signature does not verify") from exc
        verified = True
    if not verified:
        raise NoteError(f"the note has no signature by {key_name}")
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint body has an origin, a size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise NoteError("tree size must be a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except ValueError as exc:
        raise NoteError("root hash is not base64") from exc
    if len(root_hash) != 32 or base64.b64encode(root_hash).decode() != root:
        raise NoteError("root hash is not 32 bytes")
    return Checkpoint(origin=origin, tree_size=int(size), root_hash=root_hash)


# -- C2SP tlog-cosignature (Ed25519, cosignature/v1) -------------------------------------------

COSIGNATURE_ALG = b"\x04"


@dataclass(frozen=True)
class Cosigner:
    """A witness as a note verifier key: <name>+<hex key id>+<base64(0x04 || public key)>."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def vkey(self) -> str:
        raw = base64.b64encode(COSIGNATURE_ALG + _raw_public(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_ALG + _raw_public(public_key)).digest()[:4]


def cosigner_from_vkey(vkey: str) -> Cosigner:
    name, sep1, rest = vkey.strip().partition("+")
    key_hex, sep2, blob = rest.partition("+")
    if not (sep1 and sep2 and name) or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a witness key looks like <name>+<key id>+<base64 key>, got {vkey!r}")
    try:
        raw = base64.b64decode(blob, validate=True)
        key_id = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise NoteError(f"witness key {name}: the key id or key is not hex / base64") from exc
    if len(raw) != 33 or raw[:1] != COSIGNATURE_ALG or len(key_id) != 4:
        raise NoteError(f"witness key {name}: not an Ed25519 cosignature/v1 key (type 0x04)")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if cosigner_key_id(name, public_key) != key_id:
        raise NoteError(f"witness key {name}: the key id does not match the name and key")
    return Cosigner(name=name, key_id=key_id, public_key=public_key)


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def sign_cosignature(body: str, *, key: Ed25519PrivateKey, name: str, timestamp: int) -> str:
    """The signature line a witness adds to a checkpoint note."""
    signature = key.sign(cosignature_message(body, timestamp))
    blob = cosigner_key_id(name, key.public_key()) + timestamp.to_bytes(8, "big") + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}"


@dataclass(frozen=True)
class Cosignature:
    cosigner: str
    timestamp: int
    line: str


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's body (ending in a newline) and its signature lines."""
    body, sep, signatures = note.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("a signed note is a body, a blank line and signature lines")
    lines = signatures[:-1].split("\n")
    if any(not line.startswith(SIGNATURE_PREFIX) for line in lines):
        raise NoteError("signature lines start with an em dash and a space")
    return body + "\n", lines


def open_cosignatures(note: str, cosigners: list[Cosigner]) -> list[Cosignature]:
    """The valid cosignatures on the note by these cosigners. A line by a known cosigner that does
    not verify is an error; lines by others (the log, unknown witnesses) are passed over."""
    body, lines = split_note(note)
    found = []
    for line in lines:
        name, _, blob = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise NoteError("signature is not base64") from exc
        for cosigner in cosigners:
            if name != cosigner.name or raw[:4] != cosigner.key_id:
                continue
            if len(raw) != 4 + 8 + 64:
                raise NoteError(f"the cosignature by {name} is not a timestamped Ed25519 signature")
            timestamp = int.from_bytes(raw[4:12], "big")
            if timestamp >= 1 << 63:
                raise NoteError(f"the cosignature by {name} has an impossible timestamp")
            try:
                cosigner.public_key.verify(raw[12:], cosignature_message(body, timestamp))
            except InvalidSignature as exc:
                raise NoteError(f"the cosignature by {name} does not verify") from exc
            found.append(Cosignature(cosigner=name, timestamp=timestamp, line=line))
    return found

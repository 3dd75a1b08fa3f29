"""The encrypted blob format, streamed with constant memory.

A blob is a small fixed header followed by a Cobblestone stream (the C2SP chunked
AEAD construction, ``cryptography.cobblestone``) under a random per-blob key:

    magic "CSVB" | version 1 | algorithm 1 | account id (u64) | key id (16)
    | object uid (16) | variant (u8) | wrapped blob key (nonce 12 + key 32 + tag 16)

The key id names the key that wraps the blob key: the account's data key, or, for a
media item stored since items have their own keys, that item's key (vault.keys.ItemKey,
itself kept only wrapped on the item's row, never in a blob, so deleting the row leaves
no key in any copy of the blob). The blob key is wrapped (AES-256-GCM) by that key with the header
fields before it as associated data, and the Cobblestone context is the whole
header, so a blob moved to another account, item or variant, a header with one
changed byte, a changed or reordered chunk, and a truncated stream all fail. The
header fields are checked against what the caller expects first, so a swapped blob
is named as such instead of failing as a bad tag.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.keys import KEY_BYTES, NONCE_BYTES, DataKey

MAGIC = b"CSVB"
VERSION = 1
ALG_COBBLESTONE256 = 1
VARIANTS = {"original": 1, "thumbnail": 2, "output": 3, "export": 4, "source": 5, "partial": 6}
_PREFIX = struct.Struct(">4sBBQ16s16sB")
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + 16
HEADER_BYTES = _PREFIX.size + WRAPPED_KEY_BYTES
_BLOB_KEY_AAD = b"consentsvc.vault.blob-key.v1\x00"
_CONTEXT = b"consentsvc.vault.blob.v1\x00"
# Plaintext is fed to Cobblestone in pieces of this size; output is written as it comes.
CHUNK_BYTES = 1024 * 1024


class BlobIntegrityError(Exception):
    """The blob is not the one asked for, was changed, or was cut short. Nothing from it may be trusted."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class BlobHeader:
    account_id: int
    key_id: uuid.UUID
    object_uid: uuid.UUID
    variant: str
    wrapped_key: bytes

    def prefix(self) -> bytes:
        return _PREFIX.pack(
            MAGIC,
            VERSION,
            ALG_COBBLESTONE256,
            self.account_id,
            self.key_id.bytes,
            self.object_uid.bytes,
            VARIANTS[self.variant],
        )

    def encode(self) -> bytes:
        return self.prefix() + self.wrapped_key


def _variant_code(variant: str) -> int:
    if variant not in VARIANTS:
        raise ValueError(f"unknown blob variant {variant!r}")
    return VARIANTS[variant]


def parse_header(raw: bytes) -> BlobHeader:
    if len(raw) < HEADER_BYTES:
        raise BlobIntegrityError("truncated", "The blob is truncated: its header is incomplete.")
    magic, version, alg, account_id, key_id, object_uid, variant = _PREFIX.unpack_from(raw)
    if magic != MAGIC:
        raise BlobIntegrityError("not_a_blob", "This is not a vault blob (bad magic).")
    if version != VERSION or alg != ALG_COBBLESTONE256:
        raise BlobIntegrityError("unknown_version", f"Unknown blob version {version} / algorithm {alg}.")
    names = {code: name for name, code in VARIANTS.items()}
    if variant not in names:
        raise BlobIntegrityError("unknown_version", f"Unknown blob variant code {variant}.")
    return BlobHeader(
        account_id=account_id,
        key_id=uuid.UUID(bytes=key_id),
        object_uid=uuid.UUID(bytes=object_uid),
        variant=names[variant],
        wrapped_key=bytes(raw[_PREFIX.size : HEADER_BYTES]),
    )


class BlobEncryptor:
    """Header first, then ciphertext as plaintext arrives: ``header``, ``update(data)``, ``finalize()``."""

    def __init__(self, *, data_key: DataKey, object_uid: uuid.UUID, variant: str):
        _variant_code(variant)
        blob_key = Cobblestone256Encryptor.generate_key()
        prefix = BlobHeader(data_key.user_id, data_key.key_id, object_uid, variant, b"").prefix()
        nonce = os.urandom(NONCE_BYTES)
        wrapped = nonce + AESGCM(data_key.key).encrypt(nonce, blob_key, _BLOB_KEY_AAD + prefix)
        self.header = prefix + wrapped
        self._cipher = Cobblestone256Encryptor(blob_key, _CONTEXT + self.header)

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(data)

    def finalize(self) -> bytes:
        return self._cipher.finalize()


def encrypt_stream(
    *, data_key: DataKey, object_uid: uuid.UUID, variant: str, chunks: Iterable[bytes]
) -> Iterator[bytes]:
    """Yield the blob (header, then ciphertext) for a stream of plaintext chunks."""
    encryptor = BlobEncryptor(data_key=data_key, object_uid=object_uid, variant=variant)
    yield encryptor.header
    for chunk in chunks:
        for start in range(0, len(chunk), CHUNK_BYTES):
            out = encryptor.update(chunk[start : start + CHUNK_BYTES])
            if out:
                yield out
    yield encryptor.finalize()


def encrypt_bytes(*, data_key: DataKey, object_uid: uuid.UUID, variant: str, data: bytes) -> bytes:
    return b"".join(encrypt_stream(data_key=data_key, object_uid=object_uid, variant=variant, chunks=[data]))


def _open_header(header: BlobHeader, raw: bytes, *, data_key: DataKey, object_uid: uuid.UUID, variant: str):
    if header.account_id != data_key.user_id:
        raise BlobIntegrityError("wrong_owner", "The blob belongs to another account.")
    if header.object_uid != object_uid or header.variant != variant:
        raise BlobIntegrityError("wrong_object", "The blob belongs to another item or variant (swapped blob).")
    if header.key_id != data_key.key_id:
        raise BlobIntegrityError("wrong_key", "The blob was encrypted under another (destroyed?) key.")
    wrapped = header.wrapped_key
    try:
        blob_key = AESGCM(data_key.key).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _BLOB_KEY_AAD + header.prefix()
        )
    except InvalidTag:
        raise BlobIntegrityError("tampered", "The blob's key does not open: its header was changed.") from None
    return Cobblestone256Decryptor(blob_key, _CONTEXT + raw[:HEADER_BYTES])


def decrypt_stream(
    *, data_key: DataKey, object_uid: uuid.UUID, variant: str, chunks: Iterable[bytes]
) -> Iterator[bytes]:
    """Yield verified plaintext; raises BlobIntegrityError at the point the blob proves bad.

    Every chunk yielded has passed its own tag, but only the end proves nothing was cut
    off: a consumer that streams to a client must abort (not finish) the response if
    this raises after the first chunk.
    """
    buffered = b""
    decryptor = None
    for chunk in chunks:
        if decryptor is None:
            buffered += chunk
            if len(buffered) < HEADER_BYTES:
                continue
            header = parse_header(buffered)
            decryptor = _open_header(header, buffered, data_key=data_key, object_uid=object_uid, variant=variant)
            chunk, buffered = buffered[HEADER_BYTES:], b""
        try:
            out = decryptor.update(chunk)
        except InvalidTag:
            raise BlobIntegrityError("tampered", "The blob was changed: a chunk failed its check.") from None
        if out:
            yield out
    if decryptor is None:
        parse_header(buffered)  # raises: too short to hold a header
        raise AssertionError("unreachable")
    try:
        out = decryptor.finalize()
    except InvalidTag:
        raise BlobIntegrityError("tampered", "The blob failed its final check: it was truncated or changed.") from None
    if out:
        yield out


def decrypt_bytes(*, data_key: DataKey, object_uid: uuid.UUID, variant: str, blob: bytes) -> bytes:
    return b"".join(decrypt_stream(data_key=data_key, object_uid=object_uid, variant=variant, chunks=[blob]))

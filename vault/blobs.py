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

Cobblestone seals fixed-size segments (16 KiB of plaintext each, the last one shorter, maybe
empty) at offsets known in advance, so a range of plaintext can be read without decrypting what
comes before it (``decrypt_range``, for a video that seeks): the stream's key, base nonce and key
commitment are derived as the specification says, the commitment checked, the last segment
opened (which proves the length), then only the segments that hold the range.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

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
# Cobblestone-256's layout (c2sp.org/chunked-encryption): a salt and a key commitment, then each
# segment of SEGMENT_BYTES of plaintext sealed with AES-256-GCM (a tag of 16 bytes), the last
# segment shorter than SEGMENT_BYTES (empty when the plaintext fills the one before).
_SALT_BYTES = 24
_COMMITMENT_BYTES = 32
_STREAM_PREFIX_BYTES = _SALT_BYTES + _COMMITMENT_BYTES
SEGMENT_BYTES = 16 * 1024
_TAG_BYTES = 16
_SEALED_SEGMENT_BYTES = SEGMENT_BYTES + _TAG_BYTES
_DERIVATION = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00"
_GCM_NONCE_BYTES = 12


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
        # A chunk of at most CHUNK_BYTES goes in whole: slicing a bytearray (a request body's
        # piece, core.request_body) would copy it.
        pieces = (chunk,) if len(chunk) <= CHUNK_BYTES else (
            chunk[start : start + CHUNK_BYTES] for start in range(0, len(chunk), CHUNK_BYTES))
        for piece in pieces:
            out = encryptor.update(piece)
            if out:
                yield out
    yield encryptor.finalize()


def encrypt_bytes(*, data_key: DataKey, object_uid: uuid.UUID, variant: str, data: bytes) -> bytes:
    return b"".join(encrypt_stream(data_key=data_key, object_uid=object_uid, variant=variant, chunks=[data]))


def _open_header(header: BlobHeader, raw: bytes, *, data_key: DataKey, object_uid: uuid.UUID, variant: str):
    blob_key = _blob_key(header, data_key=data_key, object_uid=object_uid, variant=variant)
    return Cobblestone256Decryptor(blob_key, _CONTEXT + raw[:HEADER_BYTES])


def _blob_key(header: BlobHeader, *, data_key: DataKey, object_uid: uuid.UUID, variant: str) -> bytes:
    """The blob's own key, once its header is known to be the one asked for."""
    if header.account_id != data_key.user_id:
        raise BlobIntegrityError("wrong_owner", "The blob belongs to another account.")
    if header.object_uid != object_uid or header.variant != variant:
        raise BlobIntegrityError("wrong_object", "The blob belongs to another item or variant (swapped blob).")
    if header.key_id != data_key.key_id:
        raise BlobIntegrityError("wrong_key", "The blob was encrypted under another (destroyed?) key.")
    wrapped = header.wrapped_key
    try:
        return AESGCM(data_key.key).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _BLOB_KEY_AAD + header.prefix()
        )
    except InvalidTag:
        raise BlobIntegrityError("tampered", "The blob's key does not open: its header was changed.") from None


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


def plaintext_size(blob_size: int) -> int:
    """How many bytes of plaintext a blob of ``blob_size`` bytes holds (its last segment not yet
    opened: only that proves it); BlobIntegrityError for a size no blob can have."""
    sealed = blob_size - HEADER_BYTES - _STREAM_PREFIX_BYTES
    full, last = divmod(sealed, _SEALED_SEGMENT_BYTES) if sealed >= 0 else (0, -1)
    if last < _TAG_BYTES:
        raise BlobIntegrityError("truncated", "The blob is truncated: it ends inside a segment's tag or header.")
    return full * SEGMENT_BYTES + last - _TAG_BYTES


class _Segments:
    """Open segment ``index`` of a Cobblestone stream with the key and base nonce it derives."""

    def __init__(self, blob_key: bytes, context: bytes, prefix: bytes):
        derived = HKDFExpand(hashes.SHA512(), KEY_BYTES + _GCM_NONCE_BYTES + _COMMITMENT_BYTES,
                             _DERIVATION + prefix[:_SALT_BYTES] + context).derive(blob_key)
        if not constant_time.bytes_eq(derived[KEY_BYTES + _GCM_NONCE_BYTES :], prefix[_SALT_BYTES:]):
            raise BlobIntegrityError("tampered", "The blob's key commitment does not match: it was changed.")
        self._aead = AESGCM(derived[:KEY_BYTES])
        self._nonce = int.from_bytes(derived[KEY_BYTES : KEY_BYTES + _GCM_NONCE_BYTES], "big")

    def open(self, index: int, sealed: bytes) -> bytes:
        nonce = (self._nonce ^ index).to_bytes(_GCM_NONCE_BYTES, "big")
        try:
            return self._aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise BlobIntegrityError("tampered", "The blob was changed: a segment failed its check.") from None


def decrypt_range(
    *, data_key: DataKey, object_uid: uuid.UUID, variant: str, blob_size: int, start: int, end: int,
    read_from: Callable[[int, int], Iterable[bytes]],
) -> Iterator[bytes]:
    """Verified plaintext of bytes ``start`` to ``end`` (both included) of the blob, decrypting
    only the segments that hold them (and the last one, which proves the blob's length).

    ``read_from(offset, length)`` streams that many stored bytes from that offset (the caller may
    stop it early). The header, the key commitment, the last segment and the first segment of the
    range are checked before this returns, so a bad, swapped or cut blob fails here, before a
    response has begun; a later segment that fails raises BlobIntegrityError where it is.
    """
    size = plaintext_size(blob_size)
    if not 0 <= start <= end < size:
        raise BlobIntegrityError("truncated", f"Bytes {start}-{end} are not within the blob's {size} bytes.")
    head = _read_exactly(read_from(0, HEADER_BYTES + _STREAM_PREFIX_BYTES), HEADER_BYTES + _STREAM_PREFIX_BYTES)
    header = parse_header(head)
    blob_key = _blob_key(header, data_key=data_key, object_uid=object_uid, variant=variant)
    segments = _Segments(blob_key, _CONTEXT + head[:HEADER_BYTES], head[HEADER_BYTES:])
    last = size // SEGMENT_BYTES
    last_offset = _segment_offset(last)
    segments.open(last, _read_exactly(read_from(last_offset, blob_size - last_offset), blob_size - last_offset))
    first = start // SEGMENT_BYTES
    until = min(_segment_offset(end // SEGMENT_BYTES + 1), blob_size)
    source = iter(read_from(_segment_offset(first), until - _segment_offset(first)))

    def sealed_segments() -> Iterator[bytes]:
        pending, taken = bytearray(), 0
        for index in range(first, end // SEGMENT_BYTES + 1):
            want = min(_SEALED_SEGMENT_BYTES, blob_size - _segment_offset(index))
            while len(pending) - taken < want:
                chunk = next(source, b"")
                if not chunk:
                    raise BlobIntegrityError("truncated", "The blob ended before the range did.")
                del pending[:taken]
                taken = 0
                pending += chunk
            yield bytes(pending[taken : taken + want])
            taken += want

    sealed = sealed_segments()
    opened = segments.open(first, next(sealed))

    def plaintext() -> Iterator[bytes]:
        index, piece = first, opened
        try:
            while True:
                base = index * SEGMENT_BYTES
                yield piece[max(start - base, 0) : end + 1 - base]
                sealed_next = next(sealed, None)
                if sealed_next is None:
                    return
                index += 1
                piece = segments.open(index, sealed_next)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    return plaintext()


def _segment_offset(index: int) -> int:
    return HEADER_BYTES + _STREAM_PREFIX_BYTES + index * _SEALED_SEGMENT_BYTES


def _read_exactly(chunks: Iterable[bytes], amount: int) -> bytes:
    """The first ``amount`` bytes of a stream (which is closed after them)."""
    data = b""
    stream = iter(chunks)
    try:
        for chunk in stream:
            data += chunk
            if len(data) >= amount:
                return data[:amount]
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    raise BlobIntegrityError("truncated", "The blob is shorter than it says.")


def decrypt_bytes(*, data_key: DataKey, object_uid: uuid.UUID, variant: str, blob: bytes) -> bytes:
    return b"".join(decrypt_stream(data_key=data_key, object_uid=object_uid, variant=variant, chunks=[blob]))

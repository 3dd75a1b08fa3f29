"""Encrypted content of items and outputs: write, read as a verified stream, delete."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator

from core.uow import UnitOfWork
from vault import blobs, keys, ranges, storage
from vault.keys import DataKey

# What each item keeps: the file the service works from, its thumbnail, and (for a photo
# that arrived in a format it converts, HEIC) the file exactly as uploaded.
ITEM_VARIANTS = ("original", "thumbnail", "source")


def item_key(*, account: DataKey, item) -> DataKey:
    """The key an item's (or a derived output's) blobs are encrypted under: its own key, unwrapped
    by the account's media key, or the account key itself for one stored before they had their own.

    A wrapped item key that does not open (changed, or copied from another row) is a
    blobs.BlobIntegrityError, like a changed blob: nothing of the item may be trusted.
    """
    if item.item_key_id is None:
        return account
    try:
        return keys.item_key_open(account, item_uid=item.uid, key_id=item.item_key_id,
                                  wrapped=bytes(item.wrapped_item_key))
    except keys.KeyUnwrapError:
        raise blobs.BlobIntegrityError("item_key_invalid", "The item's key does not open: its row was changed.") \
            from None


def content_write(*, data_key: DataKey, uid: uuid.UUID, variant: str, chunks: Iterable[bytes],
                  atomic: bool = True) -> tuple[str, int]:
    """Encrypt and store (atomically unless ``atomic=False``: storage.blob_write); return (blob
    name, stored ciphertext bytes)."""
    name = storage.blob_name(user_id=data_key.user_id, key_id=data_key.folder_key_id, object_uid=uid, variant=variant)
    size = storage.blob_write(
        name=name, chunks=blobs.encrypt_stream(data_key=data_key, object_uid=uid, variant=variant, chunks=chunks),
        atomic=atomic,
    )
    return name, size


def content_seal(*, data_key: DataKey, uid: uuid.UUID, variant: str, data: bytes) -> tuple[str, bytes]:
    """The blob's name and the blob itself (encrypted), for a caller that stores it with storage.blob_write."""
    name = storage.blob_name(user_id=data_key.user_id, key_id=data_key.folder_key_id, object_uid=uid, variant=variant)
    return name, blobs.encrypt_bytes(data_key=data_key, object_uid=uid, variant=variant, data=data)


def content_stream(*, data_key: DataKey, uid: uuid.UUID, variant: str) -> Iterator[bytes]:
    """Verified plaintext in pieces; raises blobs.BlobIntegrityError if the blob is bad or missing.

    The header and the first chunk are checked before this returns, so a missing,
    swapped or damaged-at-the-start blob fails here, before a response has begun.
    """
    name = storage.blob_name(user_id=data_key.user_id, key_id=data_key.folder_key_id, object_uid=uid, variant=variant)
    try:
        source = storage.blob_read(name=name)
        head = next(source, b"")
    except FileNotFoundError:
        raise blobs.BlobIntegrityError("missing", "The blob is missing from storage.") from None

    def ciphertext():
        yield head
        yield from source

    plaintext = blobs.decrypt_stream(data_key=data_key, object_uid=uid, variant=variant, chunks=ciphertext())
    first = next(plaintext, None)

    def verified():
        if first is not None:
            yield first
        yield from plaintext

    return verified()


def content_range(*, data_key: DataKey, uid: uuid.UUID, variant: str, start: int, end: int) -> Iterator[bytes]:
    """Verified plaintext of bytes ``start`` to ``end`` (both included), as a player seeks.

    From the blob's first segment, the stream as content_stream decrypts it, cut after ``end``;
    from further on, only the segments that hold the range (and the last one, which proves the
    length) are read and decrypted (blobs.decrypt_range), so a seek near the end of a long clip
    costs a few segments, not the clip. Checked as content_stream is before this returns.
    """
    if start < blobs.SEGMENT_BYTES:
        return ranges.slice_stream(content_stream(data_key=data_key, uid=uid, variant=variant),
                                   ranges.ByteRange(start, end))
    name = storage.blob_name(user_id=data_key.user_id, key_id=data_key.folder_key_id, object_uid=uid, variant=variant)
    try:
        size = storage.blob_size(name=name)
        return blobs.decrypt_range(data_key=data_key, object_uid=uid, variant=variant, blob_size=size, start=start,
                                   end=end, read_from=lambda offset, length: storage.blob_read(
                                       name=name, offset=offset, length=length))
    except FileNotFoundError:
        raise blobs.BlobIntegrityError("missing", "The blob is missing from storage.") from None


def content_read(*, data_key: DataKey, uid: uuid.UUID, variant: str) -> bytes:
    return b"".join(content_stream(data_key=data_key, uid=uid, variant=variant))


def names_for(*, user_id: int, key_id: uuid.UUID, uid: uuid.UUID, variants: Iterable[str]) -> list[str]:
    return [storage.blob_name(user_id=user_id, key_id=key_id, object_uid=uid, variant=v) for v in variants]


def item_names(item) -> list[str]:
    """Every blob the item has: the file as uploaded only when one was kept (no needless delete request)."""
    variants = ITEM_VARIANTS if item.source_content_type else ITEM_VARIANTS[:2]
    return names_for(user_id=item.owner_id, key_id=item.key.key_id, uid=item.uid, variants=variants)


def delete_names(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            storage.blob_delete(name=name)


def key_folder_prune(*, user_id: int, key_id: uuid.UUID) -> None:
    """Remove the key's folder, and the account's, where they are empty (a destroyed key's folder
    made again by a write that raced the shred, whose file is gone)."""
    storage.folder_prune(folder=storage.key_folder(user_id=user_id, key_id=key_id))
    storage.folder_prune(folder=storage.account_folder(user_id=user_id))


def delete_key_folder_after_commit(uow: UnitOfWork, *, key_id: uuid.UUID) -> None:
    """The destroyed key's folder goes once the unit that destroyed it has committed (never before)."""
    user_id = uow.user_id

    def delete():
        storage.folder_delete(folder=storage.key_folder(user_id=user_id, key_id=key_id))
        storage.folder_prune(folder=storage.account_folder(user_id=user_id))
        # A data export waiting under the destroyed key is unreadable now too: it goes as well.
        exports_folder = storage.exports_folder(user_id=user_id)
        storage.folder_delete(folder=f"{exports_folder}/{key_id.hex}")
        storage.folder_prune(folder=exports_folder)

    uow.after_commit(delete)

"""Encrypted storage for holders' data exports (the zip support.rights builds).

An export is sealed exactly like media (the
blob format of vault.blobs, variant "export") under the account's media data
key, so crypto-shredding the account's media also makes any waiting export
unreadable. Export blobs live under their own root, ``exports/<account>/<key
id>/<uid>.export``, outside ``vault/`` so that the media orphan sweep (which
knows only items and outputs) never mistakes a waiting export for an orphan.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator

from core.uow import Actor, account_write
from vault import blobs, keyring, keys, storage
from vault.gateway_core import OpenedContent, owner_source_open
from vault.models import AccountKey

VARIANT = "export"


def _folder(user_id: int) -> str:
    return storage.exports_folder(user_id=user_id)


def _name(*, user_id: int, key_id: uuid.UUID, export_uid: uuid.UUID) -> str:
    return f"{_folder(user_id)}/{key_id.hex}/{export_uid.hex}.{VARIANT}"


def export_store(*, user_id: int, export_uid: uuid.UUID, chunks: Iterable[bytes]) -> uuid.UUID:
    """Encrypt a stream of plaintext under the account's media key and store it; returns the key's id.

    Runs outside the account lock (it may take long): the caller keeps the export only if
    export_key_live() still says yes under the lock.
    """
    found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    if found is None:
        with account_write(user_id=user_id, actor=Actor.system()):
            found = keyring.data_key_get_or_create(user_id=user_id, scope=keys.SCOPE_MEDIA)
    _, data_key = found
    name = _name(user_id=user_id, key_id=data_key.key_id, export_uid=export_uid)
    storage.blob_write(
        name=name,
        chunks=blobs.encrypt_stream(data_key=data_key, object_uid=export_uid, variant=VARIANT, chunks=chunks),
    )
    return data_key.key_id


def export_key_live(*, user_id: int, key_id: uuid.UUID) -> bool:
    return AccountKey.objects.filter(user_id=user_id, key_id=key_id, scope=keys.SCOPE_MEDIA).exists()


def export_available(*, user_id: int, export_uid: uuid.UUID) -> bool:
    """Whether a stored export can still be opened (its key and its blob are both there)."""
    found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    if found is None:
        return False
    return storage.blob_exists(name=_name(user_id=user_id, key_id=found[1].key_id, export_uid=export_uid))


def export_open(*, user_id: int, export_uid: uuid.UUID) -> Iterator[bytes]:
    """Verified plaintext of a stored export, streamed.

    Raises FileNotFoundError when the key or the blob is gone (shredded, erased or
    deleted); a blob that proves bad on the way raises blobs.BlobIntegrityError,
    and a response streaming it must abort rather than finish.
    """
    found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    if found is None:
        raise FileNotFoundError("the account's media key is gone")
    _, data_key = found
    name = _name(user_id=user_id, key_id=data_key.key_id, export_uid=export_uid)
    if not storage.blob_exists(name=name):
        raise FileNotFoundError(name)
    return blobs.decrypt_stream(
        data_key=data_key, object_uid=export_uid, variant=VARIANT, chunks=storage.blob_read(name=name)
    )


def export_delete(*, user_id: int, export_uid: uuid.UUID) -> int:
    """Delete the export's blob under whatever key it was made; returns how many files went."""
    suffix = f"/{export_uid.hex}.{VARIANT}"
    removed = 0
    for name in storage.folder_list(folder=_folder(user_id)):
        if name.endswith(suffix):
            with contextlib.suppress(FileNotFoundError):
                storage.blob_delete(name=name)
                removed += 1
    return removed


def exports_delete_all(*, user_id: int) -> int:
    """Delete every export blob of the account (erase)."""
    return storage.folder_delete(folder=_folder(user_id))


def export_source_open(*, user_id: int, item_id: int) -> OpenedContent | None:
    """For the holder's data export: the file exactly as uploaded (a HEIC kept beside the JPEG the
    service works from), trash included; None when the item has none. Audited as the holder's read."""
    return owner_source_open(user_id=user_id, item_id=item_id, include_trashed=True)

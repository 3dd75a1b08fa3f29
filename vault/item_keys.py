"""Giving items stored before items had keys of their own a key each (``manage.py vault_item_keys``).

Such an item's blobs are under the account key, so a trash purge deletes its files but a
surviving copy of them (a backup, an old object version) still opens with the account key,
which lives on for the other photos. This re-encrypts each of them under a fresh item key
(vault.keys.ItemKey), after which a purge crypto-shreds it like any new item.

Per account, a batch at a time: the blobs are re-encrypted as a stream (constant memory)
under a fresh uid, so the new files never overwrite the old ones; then, under the account
lock, each row that is still there and unchanged switches to the new uid, the new wrapped
key and its metadata re-bound to that uid, with one audit event for the batch; the old
files go after commit. A crash or a race (the photo deleted, the account erased meanwhile)
leaves at worst files no row points at, which the orphan sweep removes. The account key is
not changed, and nothing decrypted leaves the vault. Safe to interrupt and run again.

Copies of the old files made before this ran are still under the account key: only an
account's withdrawal or erasure shreds those.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from core.uow import Actor, account_write
from vault import blobs, content, keyring, keys
from vault.meta import meta_rebind
from vault.models import AccountKey, MediaItem

log = logging.getLogger(__name__)
ACTOR = Actor.system("item_keys")


@dataclass
class _Rekeyed:
    item: MediaItem
    uid: uuid.UUID
    key: keys.ItemKey
    wrapped: bytes
    sealed_meta: bytes
    stored_bytes: int
    written: list[str]


def legacy_items_pending() -> int:
    return MediaItem.objects.filter(item_key_id__isnull=True).count()


def legacy_items_rekey(*, batch_size: int = 100, progress: Callable[[int], None] | None = None) -> dict:
    """Give every item without a key of its own one. Returns {"items": done, "skipped": left as they were}."""
    done = skipped = 0
    after = 0
    while True:
        batch = list(MediaItem.objects.filter(item_key_id__isnull=True, pk__gt=after).select_related("key")
                     .order_by("pk")[:batch_size])
        if not batch:
            return {"items": done, "skipped": skipped}
        after = max(item.pk for item in batch)
        by_account: dict[int, list[MediaItem]] = {}
        for item in batch:
            by_account.setdefault(item.owner_id, []).append(item)
        for user_id, items in by_account.items():
            moved = _rekey_account(user_id=user_id, items=items)
            done += moved
            skipped += len(items) - moved
            if progress is not None:
                progress(len(items))


def _rekey_account(*, user_id: int, items: list[MediaItem]) -> int:
    prepared: list[_Rekeyed] = []
    try:
        for item in items:
            found = _reencrypt(item)
            if found is not None:
                prepared.append(found)
        if not prepared:
            return 0
        with account_write(user_id=user_id, actor=ACTOR) as uow:
            moved = []
            for new in prepared:
                item = new.item
                # Only a row that is still there, unchanged, under the same live account key.
                updated = MediaItem.objects.filter(
                    pk=item.pk, uid=item.uid, key_id=item.key_id, item_key_id__isnull=True,
                    key__in=AccountKey.objects.filter(pk=item.key_id, key_id=item.key.key_id),
                ).update(uid=new.uid, sealed_meta=new.sealed_meta, item_key_id=new.key.key_id,
                         wrapped_item_key=new.wrapped, stored_bytes=new.stored_bytes)
                if updated:
                    moved.append(new)
                    new.written = []  # the row points at them now: keep them
            if moved:
                uow.record(uow.event(action="media.rekeyed", object_type="account", object_id=user_id,
                                     details={"items": len(moved)}))
                old = [name for new in moved for name in content.item_names(new.item)]
                uow.after_commit(lambda: content.delete_names(old))
            return len(moved)
    finally:
        # Files of rows that changed meanwhile (or of a failed batch): no row points at them.
        content.delete_names([name for new in prepared for name in new.written])


def _reencrypt(item: MediaItem) -> _Rekeyed | None:
    """The item's blobs and metadata under a fresh uid and item key; None if it cannot be read now."""
    try:
        account = keyring.data_key_by_id(user_id=item.owner_id, key_id=item.key.key_id)
    except AccountKey.DoesNotExist:
        return None  # shredded meanwhile
    uid = uuid.uuid4()
    item_key, wrapped = keys.item_key_new(account, item_uid=uid)
    variants = ["original", "thumbnail"] + (["source"] if item.source_content_type else [])
    new = _Rekeyed(item=item, uid=uid, key=item_key, wrapped=wrapped, sealed_meta=b"", stored_bytes=0, written=[])
    try:
        for variant in variants:
            plaintext = content.content_stream(data_key=account, uid=item.uid, variant=variant)
            name, size = content.content_write(data_key=item_key, uid=uid, variant=variant, chunks=plaintext)
            new.written.append(name)
            new.stored_bytes += size
        new.sealed_meta = meta_rebind(data_key=account, sealed=bytes(item.sealed_meta), old_uid=item.uid, new_uid=uid)
    except (blobs.BlobIntegrityError, keys.KeyUnwrapError) as exc:
        # Unreadable (or deleted meanwhile): left as it is, for the gateway to report if it is read.
        log.warning("media %s not given its own key: %s", item.pk, exc)
        content.delete_names(new.written)
        return None
    except BaseException:
        content.delete_names(new.written)
        raise
    return new

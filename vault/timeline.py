"""The holder's sealed timeline index: every live item's capture time in one blob under the account key.

Capture times are sealed per item, so the database cannot sort or cut the photos page by them; opening
every item's metadata on each view grows with the library. The index (vault.models.TimelineIndex) keeps
them together, sealed under the account's media key and shredded with it. It is a cache checked on every
read against the live items' ids and uids, so adding, trashing, restoring and deleting need no hook:
what it lacks is opened from the items and what is gone is dropped, and it is sealed again in the
holder's unit of work when it changed.
"""

from __future__ import annotations

from datetime import datetime

from core.uow import Actor, account_write
from vault import keyring, keys
from vault.meta import meta_captured_at, timeline_open, timeline_seal
from vault.models import AccountKey, MediaItem, TimelineIndex


def _key(opened: dict, *, user_id: int, key_id) -> keys.DataKey:
    if key_id not in opened:
        opened[key_id] = keyring.data_key_by_id(user_id=user_id, key_id=key_id)
    return opened[key_id]


def capture_times(*, user_id: int) -> dict[int, datetime | None]:
    """Each live item's capture time, from the sealed timeline index (vault.models.TimelineIndex). The
    index is checked against the live items' ids and uids (one query, no decryption); only items it
    lacks have their metadata opened, and the index is sealed again when it changed. An index that
    does not open (another key, tampered) is rebuilt from the items."""
    live = dict(MediaItem.objects.filter(owner_id=user_id, trashed_at__isnull=True).values_list("id", "uid"))
    found = keyring.data_key_get(user_id=user_id)
    if found is None:
        return {}
    key_row, data_key = found
    index = TimelineIndex.objects.filter(owner_id=user_id).only("key_id", "sealed").first()
    known: dict = {}
    if index is not None and index.key_id == key_row.pk:
        try:
            known = timeline_open(data_key=data_key, sealed=index.sealed)
        except (keys.KeyUnwrapError, ValueError, TypeError):
            known = {}
    entries = {i: known[i] for i in live if i in known and known[i][0] == live[i].hex}
    missing = [i for i in live if i not in entries]
    opened_keys: dict = {}
    for start in range(0, len(missing), 500):
        chunk = MediaItem.objects.filter(owner_id=user_id, pk__in=missing[start:start + 500])
        for item_id, uid, sealed, key_id in chunk.values_list("id", "uid", "sealed_meta", "key__key_id"):
            data_key_of = _key(opened_keys, user_id=user_id, key_id=key_id)
            entries[item_id] = (uid.hex, meta_captured_at(data_key=data_key_of, uid=uid, sealed=sealed))
    if entries.keys() != known.keys() or missing:
        with account_write(user_id=user_id, actor=Actor.holder(user_id)):
            if AccountKey.objects.filter(pk=key_row.pk, key_id=data_key.key_id).exists():  # not shredded meanwhile
                sealed = timeline_seal(data_key=data_key, entries=entries)
                TimelineIndex.objects.update_or_create(owner_id=user_id, defaults={"key": key_row, "sealed": sealed})
    return {item_id: captured for item_id, (_, captured) in entries.items()}

"""The trash: a photo the holder deletes waits here, restorable, before it is destroyed.

Moving a photo to the trash takes it out of every read but the holder's own at once
(vault.gateway skips trashed items) and deletes what was made from it, as excluding does.
It can be restored for TRASH_DAYS; then housekeeping (``vault_purge``) deletes it for
good: its row now, with the sealed metadata and the item's own key (vault.keys.ItemKey,
kept only there, wrapped under the account key), and its encrypted blobs after commit.
"Empty trash" does the same at once. The account key stays (other photos use it), but
without the item key it opens nothing of this photo: a copy of its ciphertext that
outlives the delete (a backup, an old object version) is unreadable. That is the
crypto-shred of one item. (Photos stored before items had their own keys are under the
account key itself; for them the purge deletes the blobs and the row, and only the
account's withdrawal or erasure shreds their ciphertext.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.errors import ServiceError
from core.uow import Actor, UnitOfWork, account_write
from vault import content
from vault.messages import MediaTrashed
from vault.models import MediaItem
from vault.outputs import outputs_delete_for_items
from vault.selectors import media_get

MAX_BATCH = 500  # photos in one bulk request
MAX_ID = 2**63 - 1


def purge_due_at(trashed_at: datetime) -> datetime:
    return trashed_at + timedelta(days=settings.TRASH_DAYS)


def _record(uow: UnitOfWork, items, *, action: str, details: dict) -> None:
    uow.record_many([uow.event(action=action, object_type="media", object_id=item.pk, details=details)
                     for item in items])


def _clean_ids(item_ids) -> list[int]:
    try:
        ids = sorted({int(i) for i in item_ids})
    except (TypeError, ValueError):
        raise ServiceError("invalid_request", "Item ids are whole numbers.") from None
    if not ids:
        raise ServiceError("invalid_request", "Choose at least one photo.")
    if ids[0] < 1 or ids[-1] > MAX_ID:
        raise ServiceError("not_found", "No such media item.")  # no row can have it
    if len(ids) > MAX_BATCH:
        raise ServiceError("invalid_request", f"At most {MAX_BATCH} photos at a time.")
    return ids


def media_trash(*, user_id: int, item_ids) -> int:
    """Move the holder's items to the trash; every output made from them is deleted now.

    All or nothing: an id that is not one of the holder's live items is a 404 and nothing moves.
    Returns how many outputs were deleted."""
    ids = _clean_ids(item_ids)
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        items = list(MediaItem.objects.select_for_update().filter(owner_id=user_id, pk__in=ids,
                                                                  trashed_at__isnull=True))
        if len(items) != len(ids):
            raise ServiceError("not_found", "No such media item.")
        MediaItem.objects.filter(pk__in=ids).update(trashed_at=timezone.now())
        outputs = outputs_delete_for_items(uow, item_ids=ids, cause="source_trashed")
        uow.publish(MediaTrashed(user_id=user_id, item_ids=tuple(ids)))
        _record(uow, items, action="media.trashed", details={"outputs": outputs, "days": settings.TRASH_DAYS})
    return outputs


def media_restore(*, user_id: int, item_id) -> MediaItem:
    """Take an item out of the trash: it is one of the holder's photos again (outputs made before stay gone)."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        item = media_get(user_id=user_id, item_id=item_id, include_trashed=True)
        item = MediaItem.objects.select_for_update().get(pk=item.pk)
        if item.trashed_at is None:
            return item
        item.trashed_at = None
        item.save(update_fields=["trashed_at"])
        _record(uow, [item], action="media.restored", details={})
    return item


def _destroy(uow: UnitOfWork, items: list[MediaItem], *, cause: str) -> int:
    """Inside the account's unit of work: rows now, blobs after commit, one event each."""
    if not items:
        return 0
    names = []
    for item in items:
        names += content.item_names(item)
    # Outputs went when the items went to the trash; none can have been made since, but be sure.
    outputs_delete_for_items(uow, item_ids=[i.pk for i in items], cause=cause)
    MediaItem.objects.filter(pk__in=[i.pk for i in items]).delete()
    _record(uow, items, action="media.deleted", details={"cause": cause})
    uow.after_commit(lambda: content.delete_names(names))
    return len(items)


def trash_empty(*, user_id: int, item_ids=None) -> int:
    """Destroy what is in the holder's trash now (all of it, or the given items of it)."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        found = MediaItem.objects.select_for_update().select_related("key").filter(
            owner_id=user_id, trashed_at__isnull=False)
        if item_ids is None:
            return _destroy(uow, list(found), cause="trash_emptied")
        ids = _clean_ids(item_ids)
        items = list(found.filter(pk__in=ids))
        if len(items) != len(ids):
            raise ServiceError("not_found", "No such item in the trash.")
        return _destroy(uow, items, cause="trash_emptied")


def trash_purge_due(*, now: datetime | None = None) -> int:
    """Housekeeping: destroy every item that has been in a trash for TRASH_DAYS. Idempotent."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRASH_DAYS)
    destroyed = 0
    owners = (MediaItem.objects.filter(trashed_at__lte=cutoff).values_list("owner_id", flat=True)
              .distinct().order_by("owner_id"))
    for owner_id in list(owners):
        with account_write(user_id=owner_id, actor=Actor.system("trash_purge")) as uow:
            items = list(MediaItem.objects.select_for_update().select_related("key").filter(
                owner_id=owner_id, trashed_at__lte=cutoff))
            destroyed += _destroy(uow, items, cause="trash_expired")
    return destroyed

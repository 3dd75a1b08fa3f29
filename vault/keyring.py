"""Account data keys in the database: create, load (unwrap), destroy, re-wrap."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import prepared
from core.uow import Actor, account_write
from vault import keys
from vault.models import AccountKey


def _data_key(row: AccountKey) -> keys.DataKey:
    raw = keys.unwrap_data_key(
        user_id=row.user_id, key_id=row.key_id, scope=row.scope, master_id=row.master_key_id, wrapped=bytes(row.wrapped)
    )
    return keys.DataKey(user_id=row.user_id, key_id=row.key_id, scope=row.scope, key=raw)


# Every upload and every read of media loads the account's key (see core.prepared).
_KEY = prepared.PreparedQuery(
    lambda *, user_id, scope: AccountKey.objects.filter(user_id=user_id, scope=scope).order_by("pk")
    .values(*prepared.field_names(AccountKey))[:1],
    user_id=AccountKey._meta.get_field("user"),
)


def data_key_get(*, user_id: int, scope: str = keys.SCOPE_MEDIA) -> tuple[AccountKey, keys.DataKey] | None:
    rows = _KEY.rows(user_id=user_id, scope=scope)
    if not rows:
        return None
    row = prepared.instance(AccountKey, rows[0])
    return row, _data_key(row)


def data_key_by_id(*, user_id: int, key_id: uuid.UUID) -> keys.DataKey:
    return _data_key(AccountKey.objects.get(user_id=user_id, key_id=key_id))


def data_key_of(*, row: AccountKey, user_id: int) -> keys.DataKey:
    """The data key of an account key row the caller already read (with the row that points at
    it), as data_key_by_id would find it: the row must be this account's."""
    if row.user_id != user_id:
        raise AccountKey.DoesNotExist(f"account key {row.key_id} is not account {user_id}'s")
    return _data_key(row)


def data_key_get_or_create(*, user_id: int, scope: str = keys.SCOPE_MEDIA) -> tuple[AccountKey, keys.DataKey]:
    found = data_key_get(user_id=user_id, scope=scope)
    if found is not None:
        return found
    key_id = uuid.uuid4()
    raw = keys.new_data_key()
    master_id, wrapped = keys.wrap_data_key(user_id=user_id, key_id=key_id, scope=scope, key=raw)
    try:
        with transaction.atomic():
            row = AccountKey.objects.create(
                user_id=user_id, scope=scope, key_id=key_id, master_key_id=master_id, wrapped=wrapped
            )
    except IntegrityError:
        # Another request made the account's key first; use that one.
        found = data_key_get(user_id=user_id, scope=scope)
        if found is None:
            raise
        return found
    return row, keys.DataKey(user_id=user_id, key_id=key_id, scope=scope, key=raw)


def account_keys_rewrap(*, batch_size: int = 500, progress: Callable[[int], None] | None = None) -> int:
    """Re-wrap every account key not under the active master key. No blob is touched.

    Each account's keys are re-wrapped in its unit of work (its lock taken first, as a shred takes
    it) and commit on their own, so an interrupted run is resumed by running it again.
    """
    active = keys.master_keys().active_id
    actor = Actor.system("vault_rotate_master_key")
    done = 0
    while True:
        user_ids = list(AccountKey.objects.exclude(master_key_id=active).order_by("user_id")
                        .values_list("user_id", flat=True).distinct()[:batch_size])
        if not user_ids:
            return done
        for user_id in user_ids:
            with account_write(user_id=user_id, actor=actor) as uow:
                rows = list(AccountKey.objects.select_for_update().filter(user_id=user_id)
                            .exclude(master_key_id=active).order_by("pk"))
                now = timezone.now()
                before = sorted({row.master_key_id for row in rows})
                for row in rows:
                    raw = _data_key(row).key
                    row.master_key_id, row.wrapped = keys.wrap_data_key(
                        user_id=row.user_id, key_id=row.key_id, scope=row.scope, key=raw
                    )
                    row.rewrapped_at = now
                AccountKey.objects.bulk_update(rows, ["master_key_id", "wrapped", "rewrapped_at"])
                if rows:
                    uow.record(uow.event(action="key.rewrapped", object_type="account_key", object_id=user_id,
                                         details={"keys": len(rows), "from": before, "to": active}))
            done += len(rows)
            if progress is not None:
                progress(len(rows))


def account_keys_pending_rewrap() -> int:
    return AccountKey.objects.exclude(master_key_id=keys.master_keys().active_id).count()

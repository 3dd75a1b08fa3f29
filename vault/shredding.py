"""Crypto-shredding and purges: erasure, what a consent's end sets off, grace-period shreds, orphans.

Destroying an account's media key makes every blob under it unreadable at once; the
rows go in the same unit of work and the key's storage folder is deleted after commit.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from consent import purposes
from consent.selectors import consent_active_entry
from consent.services import consents_lapse
from core.uow import Actor, ConsentEnded, UnitOfWork, account_write
from vault import content, keys, storage
from vault.gateway import PURPOSE_FACES
from vault.models import AccountKey, DerivedOutput, Exclusion, MediaItem, ShredSchedule
from vault.outputs import outputs_delete
from vault.partials import live_segment_names, partials_delete_all, partials_expire

ORPHAN_AGE = timedelta(hours=1)


# ---------------------------------------------------------------- crypto-shredding


def _shred(uow: UnitOfWork) -> dict:
    """Destroy the account's media key: every blob under it is unreadable from here on.

    The key row goes and takes the items and outputs with it (the rows point at it);
    after commit the key's storage folder is deleted.
    """
    user_id = uow.user_id
    counts = {"items": 0, "outputs": 0, "keys": 0}
    # The faces key (invariant 11) goes with the media key: face data of photos that are gone.
    for row in AccountKey.objects.filter(user_id=user_id, scope__in=(keys.SCOPE_MEDIA, keys.SCOPE_FACES)):
        if row.scope == keys.SCOPE_FACES:
            row.delete()
            counts["keys"] += 1
            continue
        counts["items"] += MediaItem.objects.filter(key=row).count()
        counts["outputs"] += DerivedOutput.objects.filter(key=row).count()
        counts["keys"] += 1
        key_id = row.key_id
        row.delete()
        content.delete_key_folder_after_commit(uow, key_id=key_id)
    ShredSchedule.objects.filter(owner_id=user_id).delete()
    return counts


def faces_shred(*, user_id: int) -> int:
    """Destroy the account's faces key (face boxes, embeddings, people's names: invariant 11).

    The rows sealed under it point at it and go with it. Call inside the account's unit of work."""
    deleted = AccountKey.objects.filter(user_id=user_id, scope=keys.SCOPE_FACES).delete()[1]
    return deleted.get(AccountKey._meta.label, 0)


def media_erase_all(*, user_id: int, actor: Actor, case_id: int | None = None) -> dict:
    """Crypto-shred all of an account's cloud media, derived outputs and exclusions now."""
    with account_write(user_id=user_id, actor=actor) as uow:
        counts = _shred(uow)
        # Erasure leaves no location of the account (invariant 5): the holder's place and date
        # exclusions and the settings key they are sealed under go too. (A withdrawal keeps
        # them, so photos from an excluded place stay out if the holder opts in again.)
        counts["exclusions"] = Exclusion.objects.filter(owner_id=user_id).count()
        Exclusion.objects.filter(owner_id=user_id).delete()
        counts["keys"] += AccountKey.objects.filter(user_id=user_id, scope=keys.SCOPE_SETTINGS).delete()[0]
        details = dict(counts)
        if case_id is not None:
            details["case_id"] = case_id
        uow.record(uow.event(action="media.erased", object_type="account", object_id=user_id, details=details))
        return counts


def _due(days: int) -> datetime:
    return timezone.now() + timedelta(days=days)


def vault_on_consent_ended(uow: UnitOfWork, ended: ConsentEnded) -> None:
    """Deferred handler of every unit in which a consent ends (registered in VaultConfig.ready).

    Gateway access ends with the ledger entry itself (every read re-checks consent).
    A withdrawal deletes the outputs and unfinished uploads at once and shreds the media now or
    schedules it;
    a lapse keeps the library (the holder may still see and export it) and schedules
    the shred for LAPSE_GRACE_DAYS later, cancelled if they agree again before.
    """
    purpose, entry = ended.purpose, ended.entry
    details = {"consent_entry": str(entry.record_id)}
    if purpose == purposes.FACE_ANALYSIS or (
        purpose == purposes.CAMERA_ROLL and not ended.lapsed and settings.WITHDRAWAL_GRACE_DAYS > 0
    ):
        # Face data is biometric: it goes at once when face grouping ends (withdrawn or lapsed)
        # or the main toggle is withdrawn, whatever grace period the photos themselves get
        # (with none, _shred below takes the faces key with the media key).
        faces_shred(user_id=uow.user_id)
    if ended.lapsed:
        if purpose != purposes.CAMERA_ROLL:
            return
        due = _due(settings.LAPSE_GRACE_DAYS)
        ShredSchedule.objects.update_or_create(
            owner_id=uow.user_id, defaults={"due_at": due, "cause": ShredSchedule.Cause.LAPSE}
        )
        uow.record(uow.event(action="media.shred_scheduled", object_type="account", object_id=uow.user_id,
                             purpose=purpose,
                             details={**details, "cause": "lapse", "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        return
    if purpose == purposes.FACE_ANALYSIS:
        outputs_delete(uow, DerivedOutput.objects.filter(owner_id=uow.user_id, purpose=PURPOSE_FACES),
                       cause="consent_withdrawn")
        return
    if purpose != purposes.CAMERA_ROLL:
        return
    outputs_delete(uow, DerivedOutput.objects.filter(owner_id=uow.user_id), cause="consent_withdrawn")
    partials_delete_all(uow)
    if settings.WITHDRAWAL_GRACE_DAYS == 0:
        counts = _shred(uow)
        uow.record(uow.event(action="media.erased", object_type="account", object_id=uow.user_id, purpose=purpose,
                             details={**details, **counts}))
        return
    due = _due(settings.WITHDRAWAL_GRACE_DAYS)
    ShredSchedule.objects.update_or_create(
        owner_id=uow.user_id, defaults={"due_at": due, "cause": ShredSchedule.Cause.WITHDRAWAL}
    )
    uow.record(uow.event(action="media.shred_scheduled", object_type="account", object_id=uow.user_id,
                         purpose=purpose, details={**details, "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ")}))


def vault_purge_due(*, now: datetime | None = None) -> dict:
    """Shred what is due after a withdrawal's or a lapse's grace period, then sweep orphan blobs.

    One account per transaction; an account whose holder agreed again meanwhile keeps
    its library. Idempotent.
    """
    now = now or timezone.now()
    # Lapses an interrupted notice publish did not get to record yet, with their schedules.
    for purpose in purposes.GRANTABLE:
        consents_lapse(purpose=purpose)
    shredded = cancelled = 0
    actor = Actor.system("vault_purge")
    for schedule in list(ShredSchedule.objects.filter(due_at__lte=now).order_by("due_at")):
        with account_write(user_id=schedule.owner_id, actor=actor) as uow:
            current = ShredSchedule.objects.filter(pk=schedule.pk, due_at__lte=now).first()
            if current is None:
                continue
            if consent_active_entry(user_id=schedule.owner_id, purpose=purposes.CAMERA_ROLL) is not None:
                # Turned back on (or agreed again) within the grace period: the copies stay.
                ShredSchedule.objects.filter(pk=schedule.pk).delete()
                cancelled += 1
                continue
            counts = _shred(uow)
            uow.record(uow.event(action="media.erased", object_type="account", object_id=schedule.owner_id,
                                 purpose=purposes.CAMERA_ROLL,
                                 details={**counts, "cause": f"{current.cause}_grace_over"}))
            shredded += 1
    return {"shredded": shredded, "cancelled": cancelled, "expired_uploads": partials_expire(now=now),
            "orphans": orphans_sweep(now=now)}


# ---------------------------------------------------------------- orphan blobs


def _key_is_live(*, account: str, key_hex: str) -> bool:
    try:
        return AccountKey.objects.filter(key_id=uuid.UUID(key_hex), user_id=int(account)).exists()
    except ValueError:  # not a folder we made
        return True


def _young(st, names: list[str], now: datetime) -> bool:
    """Whether any of the files changed within ORPHAN_AGE (an upload or export may be writing)."""
    for name in names:
        with contextlib.suppress(FileNotFoundError, NotImplementedError):
            if now - st.get_modified_time(name) < ORPHAN_AGE:
                return True
    return False


def _key_folders(st) -> Iterator[tuple[str, str]]:
    try:
        account_dirs, _ = st.listdir(storage.ROOT)
    except (FileNotFoundError, NotADirectoryError):
        return
    for account in sorted(account_dirs):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            key_dirs, _ = st.listdir(f"{storage.ROOT}/{account}")
            for key_hex in sorted(key_dirs):
                yield account, key_hex


def orphans_sweep(*, now: datetime | None = None) -> int:
    """Delete blobs no row points at: a destroyed key's leftovers, or a crashed upload's.

    It walks the storage one key folder at a time and asks the database about that
    key right before deleting anything of it (a key made while the sweep runs is
    never mistaken for a dead one). Files younger than ORPHAN_AGE are left, in a
    dead key's folder too: an upload or export still in flight may be writing them.
    """
    now = now or timezone.now()
    st = storage.blob_storage()
    removed = 0
    for account, key_hex in _key_folders(st):
        key_folder = f"{storage.ROOT}/{account}/{key_hex}"
        names = storage.folder_list(folder=key_folder)
        if not _key_is_live(account=account, key_hex=key_hex):
            if names and _young(st, names, now):
                continue
            if not _key_is_live(account=account, key_hex=key_hex):  # re-checked right before deleting
                removed += storage.folder_delete(folder=key_folder)
            continue
        stale = [name for name in names if not _young(st, [name], now)]
        if not stale:
            continue
        wanted = _live_names(key_hex)  # read after the files were listed: a row made since is seen
        for name in stale:
            if name.rsplit("/", 1)[-1] in wanted:
                continue
            with contextlib.suppress(FileNotFoundError):
                st.delete(name)
                removed += 1
    return removed


def _live_names(key_hex: str) -> set[str]:
    names = set()
    for uid in MediaItem.objects.filter(key__key_id=uuid.UUID(key_hex)).values_list("uid", flat=True):
        names.update(f"{uid.hex}.{variant}" for variant in content.ITEM_VARIANTS)
    for uid in DerivedOutput.objects.filter(key__key_id=uuid.UUID(key_hex)).values_list("uid", flat=True):
        names.add(f"{uid.hex}.output")
    return names | live_segment_names(uuid.UUID(key_hex))

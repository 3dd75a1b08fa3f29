"""Crypto-shredding and purges: erasure, the withdrawal cascade, grace-period shreds, orphan blobs.

Destroying an account's media key makes every blob under it unreadable at once; the
rows go in the same transaction and the key's storage folder is deleted after commit.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from consent import purposes
from consent.selectors import consent_active_entry
from consent.services import account_lock
from vault import content, keys, storage
from vault.models import AccountKey, DerivedOutput, Exclusion, MediaItem, ShredSchedule
from vault.services import Actor, _outputs_delete

ORPHAN_AGE = timedelta(hours=1)


# ---------------------------------------------------------------- crypto-shredding


def _shred(*, user_id: int) -> dict:
    """Destroy the account's media key: every blob under it is unreadable from here on.

    The key row goes and takes the items and outputs with it (the rows point at it);
    after commit the key's storage folder is deleted. Call inside a transaction.
    """
    counts = {"items": 0, "outputs": 0, "keys": 0}
    for row in AccountKey.objects.select_for_update().filter(user_id=user_id, scope=keys.SCOPE_MEDIA):
        counts["items"] += MediaItem.objects.filter(key=row).count()
        counts["outputs"] += DerivedOutput.objects.filter(key=row).count()
        counts["keys"] += 1
        key_id = row.key_id
        row.delete()
        content.delete_key_folder_on_commit(user_id=user_id, key_id=key_id)
    ShredSchedule.objects.filter(owner_id=user_id).delete()
    return counts


@transaction.atomic
def media_erase_all(*, user_id: int, actor_kind: str, actor_id, case_id: int | None = None) -> dict:
    """Crypto-shred all of an account's cloud media, derived outputs and exclusions now."""
    # The same account lock consent changes take, so no upload commits halfway through.
    account_lock(user_id=user_id)
    counts = _shred(user_id=user_id)
    # Erasure leaves no location of the account (invariant 5): the holder's place and date
    # exclusions and the settings key they are sealed under go too. (A withdrawal keeps
    # them, so photos from an excluded place stay out if the holder opts in again.)
    counts["exclusions"] = Exclusion.objects.filter(owner_id=user_id).count()
    Exclusion.objects.filter(owner_id=user_id).delete()
    counts["keys"] += AccountKey.objects.filter(user_id=user_id, scope=keys.SCOPE_SETTINGS).delete()[0]
    details = dict(counts)
    if case_id is not None:
        details["case_id"] = case_id
    audit_append(
        action="media.erased",
        actor_kind=actor_kind,
        actor_id=actor_id,
        subject_id=user_id,
        object_type="account",
        object_id=user_id,
        details=details,
    )
    return counts


def on_consent_withdrawn(*, user_id: int, purpose: str, entry) -> None:
    """Receiver of consent.signals.consent_withdrawn, inside the withdrawal's transaction.

    Gateway access ends with the ledger entry itself (every read re-checks consent);
    here the outputs go at once and the media is shredded now or scheduled.
    """
    actor = Actor(entry.actor_kind, entry.actor_id)
    if purpose == purposes.FACE_ANALYSIS:
        from vault.gateway import PURPOSE_FACES

        _outputs_delete(
            DerivedOutput.objects.filter(owner_id=user_id, purpose=PURPOSE_FACES),
            actor=actor,
            user_id=user_id,
            cause="consent_withdrawn",
        )
        return
    if purpose != purposes.CAMERA_ROLL:
        return
    _outputs_delete(
        DerivedOutput.objects.filter(owner_id=user_id), actor=actor, user_id=user_id, cause="consent_withdrawn"
    )
    details = {"consent_entry": str(entry.record_id)}
    if settings.WITHDRAWAL_GRACE_DAYS == 0:
        counts = _shred(user_id=user_id)
        audit_append(
            action="media.erased",
            actor_kind=actor.kind,
            actor_id=actor.id,
            subject_id=user_id,
            object_type="account",
            object_id=user_id,
            purpose=purpose,
            details={**details, **counts},
        )
        return
    due = timezone.now() + timedelta(days=settings.WITHDRAWAL_GRACE_DAYS)
    ShredSchedule.objects.update_or_create(owner_id=user_id, defaults={"due_at": due})
    audit_append(
        action="media.shred_scheduled",
        actor_kind=actor.kind,
        actor_id=actor.id,
        subject_id=user_id,
        object_type="account",
        object_id=user_id,
        purpose=purpose,
        details={**details, "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


def vault_purge_due(*, now: datetime | None = None) -> dict:
    """Shred what is due after a withdrawal's grace period, then sweep orphan blobs. Idempotent."""
    now = now or timezone.now()
    shredded = cancelled = 0
    for schedule in list(ShredSchedule.objects.filter(due_at__lte=now).order_by("due_at")):
        with transaction.atomic():
            account_lock(user_id=schedule.owner_id)
            if not ShredSchedule.objects.filter(pk=schedule.pk, due_at__lte=now).exists():
                continue
            if consent_active_entry(user_id=schedule.owner_id, purpose=purposes.CAMERA_ROLL) is not None:
                # Turned back on within the grace period: the copies stay.
                ShredSchedule.objects.filter(pk=schedule.pk).delete()
                cancelled += 1
                continue
            counts = _shred(user_id=schedule.owner_id)
            audit_append(
                action="media.erased",
                actor_kind="system",
                actor_id="vault_purge",
                subject_id=schedule.owner_id,
                object_type="account",
                object_id=schedule.owner_id,
                purpose=purposes.CAMERA_ROLL,
                details={**counts, "cause": "withdrawal_grace_over"},
            )
            shredded += 1
    return {"shredded": shredded, "cancelled": cancelled, "orphans": orphans_sweep(now=now)}


def orphans_sweep(*, now: datetime | None = None) -> int:
    """Delete blobs no row points at: a destroyed key's leftovers, or a crashed upload's.

    Files younger than an hour may belong to an upload still in flight and are left.
    """
    now = now or timezone.now()
    st = storage.blob_storage()
    try:
        account_dirs, _ = st.listdir(storage.ROOT)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    live_keys = {k.hex: user for k, user in AccountKey.objects.values_list("key_id", "user_id")}
    removed = 0
    for account in account_dirs:
        folder = f"{storage.ROOT}/{account}"
        key_dirs, _ = st.listdir(folder)
        for key_hex in key_dirs:
            key_folder = f"{folder}/{key_hex}"
            if str(live_keys.get(key_hex)) != account:
                removed += storage.folder_delete(folder=key_folder)
                continue
            wanted = _live_names(key_hex)
            for name in storage.folder_list(folder=key_folder):
                if name.rsplit("/", 1)[-1] in wanted:
                    continue
                with contextlib.suppress(FileNotFoundError, NotImplementedError):
                    if now - st.get_modified_time(name) < ORPHAN_AGE:
                        continue
                    st.delete(name)
                    removed += 1
    return removed


def _live_names(key_hex: str) -> set[str]:
    names = set()
    for uid in MediaItem.objects.filter(key__key_id=uuid.UUID(key_hex)).values_list("uid", flat=True):
        names.update({f"{uid.hex}.original", f"{uid.hex}.thumbnail"})
    for uid in DerivedOutput.objects.filter(key__key_id=uuid.UUID(key_hex)).values_list("uid", flat=True):
        names.add(f"{uid.hex}.output")
    return names

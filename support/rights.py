"""The holder's rights: a copy of everything (Art. 15/20) and erasure of cloud media (Art. 17).

An export is built in the background and kept in the vault, encrypted under the
holder's key, until it is downloaded or expires (SUPPORT_EXPORT_DAYS, default
7). Asking for it, its completion, every download and its deletion are audited.
"""

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audit.context import reset_request_id, set_request_id
from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from core import jobs
from core.errors import ServiceError, register_code
from core.uow import Actor, UnitOfWork, account_write, events_write
from support import export_zip, selectors
from support.models import DataExport
from vault import exports as vault_exports
from vault import selectors as vault_selectors
from vault import shredding

logger = logging.getLogger(__name__)

register_code("export_not_ready", 409, "The export is still being made; try again in a moment.")
register_code("export_failed", 500, "The export could not be made; ask for a new one.")
register_code("export_expired", 410, "The export has expired and was deleted; ask for a new one.")
register_code("export_busy", 429, "An export is already being made for you; wait for it to finish.")


KEEP_EXPORTS = 3


def _export_days() -> int:
    return getattr(settings, "SUPPORT_EXPORT_DAYS", 7)


def held_summary(*, user_id: int) -> dict:
    return vault_selectors.media_summary(user_id=user_id)


def camera_roll_on(*, user_id: int) -> bool:
    """Whether Camera Roll Sharing Suggestions stands now (what an erase would turn off)."""
    return consent_selectors.consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is not None


def export_request(*, user) -> DataExport:
    """Queue a new export; the build starts once this transaction commits."""
    with account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as uow:
        busy = DataExport.objects.filter(
            holder=user, status__in=[DataExport.Status.PENDING, DataExport.Status.RUNNING]
        ).exists()
        if busy:
            raise ServiceError("export_busy", "An export is already being made for you; wait for it to finish.")
        # Each export is a whole copy: keep the newest few, not one per click.
        for older in DataExport.objects.select_for_update().filter(holder=user).order_by("-created_at")[
                KEEP_EXPORTS - 1:]:
            _export_delete(uow, older, why="replaced")
        now = timezone.now()
        export = DataExport.objects.create(holder=user, created_at=now,
                                           expires_at=now + timedelta(days=_export_days()))
        uow.record(uow.event(action="export.requested", object_type="data_export", object_id=export.pk))
        jobs.enqueue(export_build_job, str(export.pk))
        return export


def export_build(*, export_id: str | uuid.UUID) -> None:
    """Build the zip and hand it to the vault. Runs as a background job; safe to run twice.

    The zip is read and written outside the account lock; it is kept only if, under the
    lock, its row is still there and the key it was sealed under still stands (an erase
    or a withdrawal meanwhile wins, and the zip goes).
    """
    export = DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING).first()
    if export is None:
        return
    with account_write(user_id=export.holder_id, actor=SYSTEM):
        export = DataExport.objects.select_for_update().filter(pk=export_id, status=DataExport.Status.PENDING).first()
        if export is None:
            return
        export.status = DataExport.Status.RUNNING
        export.save(update_fields=["status"])
    token = set_request_id(f"export-{export.pk.hex}")
    try:
        stats = export_zip.ExportStats()
        chunks = export_zip.export_chunks(user_id=export.holder_id, expires_at=export.expires_at, stats=stats)
        key_id = vault_exports.export_store(user_id=export.holder_id, export_uid=export.pk,
                                            chunks=stats.counted(chunks))
        with account_write(user_id=export.holder_id, actor=SYSTEM) as uow:
            current = DataExport.objects.select_for_update().filter(pk=export.pk).first()
            if current is None or not vault_exports.export_key_live(user_id=export.holder_id, key_id=key_id):
                # Erased (or its key shredded) while it was being built: the zip must not outlive that.
                uow.after_commit(lambda: vault_exports.export_delete(user_id=export.holder_id, export_uid=export.pk))
                if current is not None:
                    _export_failed(uow, current, code="key_destroyed")
                return
            current.status = DataExport.Status.READY
            current.finished_at = timezone.now()
            current.size = stats.size
            current.item_count = stats.items
            current.blob_id = export.pk.hex
            current.save(update_fields=["status", "finished_at", "size", "item_count", "blob_id"])
            uow.record(uow.event(action="export.ready", object_type="data_export", object_id=export.pk,
                                 details={"items": stats.items, "outputs": stats.outputs}))
    except Exception as exc:
        logger.exception("export %s failed", export.pk)
        code = getattr(exc, "code", "") or type(exc).__name__
        with account_write(user_id=export.holder_id, actor=SYSTEM) as uow:
            current = DataExport.objects.select_for_update().filter(pk=export.pk).first()
            if current is not None:
                _export_failed(uow, current, code=code)
        try:
            vault_exports.export_delete(user_id=export.holder_id, export_uid=export.pk)
        except Exception:  # nothing was stored, or the key is gone
            logger.debug("no export blob to delete for %s", export.pk)
    finally:
        reset_request_id(token)


def _export_build_recover(export_id: str, attempts: int) -> bool:
    """An export whose build died with its worker is built again (its half-made zip was never
    stored), and one lost from the queue before a worker started it is sent again; after
    MAX_ATTEMPTS it fails as interrupted.

    Called outside any transaction (core.jobs' sweep): the export goes back in the queue, or
    fails, in the holder's unit of work, under the holder's lock."""
    holder_id = DataExport.objects.filter(pk=export_id).values_list("holder_id", flat=True).first()
    if holder_id is None:
        return False
    with account_write(user_id=holder_id, actor=SYSTEM) as uow:
        export = DataExport.objects.select_for_update().filter(
            pk=export_id, status__in=[DataExport.Status.PENDING, DataExport.Status.RUNNING]).first()
        if export is None:
            return False
        if attempts >= jobs.MAX_ATTEMPTS:
            _export_failed(uow, export, code="interrupted")
            uow.after_commit(lambda: vault_exports.export_delete(user_id=holder_id, export_uid=export.pk))
            return False
        if export.status == DataExport.Status.RUNNING:
            export.status = DataExport.Status.PENDING
            export.save(update_fields=["status"])
        jobs.enqueue(export_build_job, export_id)
        return True


@jobs.job(recover=_export_build_recover)
def export_build_job(export_id: str) -> None:
    """The background job: one export built, under a lease on it (a build whose worker dies is
    built again, core.jobs)."""
    export_build(export_id=export_id)


SYSTEM = Actor.system()


def _export_failed(uow: UnitOfWork, export: DataExport, *, code, now=None) -> None:
    export.status = DataExport.Status.FAILED
    export.finished_at = now or timezone.now()
    export.error_code = str(code)[:64]
    export.save(update_fields=["status", "finished_at", "error_code"])
    uow.record(uow.event(action="export.failed", object_type="data_export", object_id=export.pk, outcome="error",
                         details={"error": _code(code)}))


def _code(value) -> str:
    text = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in str(value))[:64]
    return text or "error"


@dataclass
class Download:
    filename: str
    size: int
    chunks: Iterator[bytes]


def export_download(*, user, export_id) -> Download:
    """The holder's own ready, unexpired export as a verified plaintext stream; audited."""
    export = selectors.export_get(user_id=user.pk, export_id=export_id)
    if export.expires_at <= timezone.now():
        raise ServiceError("export_expired", "This export has expired; ask for a new one.")
    if export.status == DataExport.Status.FAILED:
        raise ServiceError("export_failed", "This export could not be made; ask for a new one.")
    if export.status != DataExport.Status.READY:
        raise ServiceError("export_not_ready", "The export is still being made; try again in a moment.")
    try:
        chunks = vault_exports.export_open(user_id=user.pk, export_uid=export.pk)
    except FileNotFoundError:
        # Its key was shredded (consent withdrawn, media erased): the export went with it.
        with account_write(user_id=user.pk, actor=SYSTEM) as uow:
            gone = DataExport.objects.select_for_update().filter(pk=export.pk).first()
            if gone is not None:
                _export_delete(uow, gone, why="key_destroyed")
        raise ServiceError("export_expired", "This export is gone; ask for a new one.") from None
    with events_write(actor=Actor.holder(user.pk), user_id=user.pk) as uow:
        uow.record(uow.event(action="export.downloaded", object_type="data_export", object_id=export.pk))
    stamp = export.created_at.strftime("%Y%m%d-%H%M")
    return Download(filename=f"consentsvc-export-{stamp}.zip", size=export.size, chunks=chunks)


def exports_delete_all(uow: UnitOfWork) -> int:
    """Delete every export of the account (on erase), inside the erase's unit of work."""
    user_id = uow.user_id
    deleted = 0
    for export in DataExport.objects.select_for_update().filter(holder_id=user_id):
        _export_delete(uow, export, why="erased")
        deleted += 1
    # Also anything a build was still writing when the rows went.
    uow.after_commit(lambda: vault_exports.exports_delete_all(user_id=user_id))
    return deleted


def _export_delete(uow: UnitOfWork, export: DataExport, *, why: str) -> None:
    export_uid = export.pk
    holder_id = export.holder_id
    export.delete()
    uow.record(uow.event(action="export.deleted", subject_id=holder_id, object_type="data_export",
                         object_id=export_uid, details={"why": why}))
    uow.after_commit(lambda: vault_exports.export_delete(user_id=holder_id, export_uid=export_uid))


def exports_purge_expired(*, now=None) -> int:
    """Delete every export past its expiry (and ones whose build was lost). Idempotent."""
    now = now or timezone.now()
    purged = 0
    for export_id, holder_id in list(DataExport.objects.filter(expires_at__lte=now).values_list("pk", "holder_id")):
        with account_write(user_id=holder_id, actor=SYSTEM) as uow:
            export = DataExport.objects.select_for_update().filter(pk=export_id).first()
            if export is not None:
                _export_delete(uow, export, why="expired")
                purged += 1
    return purged


def cloud_media_erase(*, user, method: str = "web") -> dict:
    """Erase now: crypto-shred every cloud copy, derived output and waiting export of the holder, and
    turn Camera Roll Sharing Suggestions off (a withdrawal in the ledger, in the same unit), so nothing
    flows back until the holder turns it on again. Devices stay signed in: they see the feature off
    and stop (signing a device out is the devices page's job). `turned_off` is 1 when it was on."""
    with account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as uow:
        counts = dict(shredding.media_erase_all(user_id=user.pk, actor=uow.actor) or {})
        counts["exports"] = exports_delete_all(uow)
        entry = consent_services.consent_withdraw(user=user, purpose=purposes.CAMERA_ROLL, method=method,
                                                  actor=uow.actor)
        counts["turned_off"] = int(entry is not None)
        return counts

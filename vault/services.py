"""Writes to the vault: uploads, deletes, exclusions and outputs (crypto-shredding is in vault.shredding).

Every write shares one transaction with its audit event. Blobs are written before
the row that points at them commits and are deleted only after the rows that point
at them are gone, so a crash leaves at worst an unreadable orphan (swept by
``vault_purge``), never a row without its blob.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError

from consent import purposes
from consent.selectors import consent_active_entry
from consent.services import consent_guard
from core.errors import ServiceError, register_code
from core.uow import Actor, UnitOfWork, account_write, events_write
from vault import content, keyring, keys, storage, videos
from vault.images import image_prepare
from vault.messages import MediaUploaded
from vault.meta import DEDUP, ItemMeta, Place, meta_open, meta_seal, place_seal
from vault.models import AccountKey, Exclusion, MediaItem
from vault.outputs import outputs_delete_for_items
from vault.selectors import exclusion_get, exclusion_rules, media_get, media_meta, media_metas
from vault.trash import media_restore

log = logging.getLogger(__name__)

register_code("invalid_image", 400, "The file is not a readable image, or it is damaged.")
register_code("file_too_large", 413, "The file is larger than the upload limit.")
register_code("image_too_large", 413, "The image has too many pixels to decode safely (decompression bomb).")
register_code("consent_required", 403, "The holder has not granted this purpose under the current notice.")
register_code("media_unreadable", 500, "A stored blob failed its integrity check; it was not released.")
register_code("invalid_exclusion", 400, "The exclusion is not valid.")

MAX_LABELS = 50
MAX_LABEL_CHARS = 64


# ---------------------------------------------------------------- uploads


@dataclass(frozen=True)
class UploadResult:
    item: MediaItem
    meta: ItemMeta
    duplicate: bool


def _refuse_upload(*, user_id: int, code: str, method: str) -> None:
    with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
        uow.record(uow.event(action="media.upload_refused", object_type="media", purpose=purposes.CAMERA_ROLL,
                             outcome="denied", details={"code": code, "method": method}))


def upload_refused_audit(*, user_id: int, code: str, method: str) -> None:
    """Audit a refused upload (media.upload_refused) in its own transaction."""
    _refuse_upload(user_id=user_id, code=code, method=method)


def upload_refused(*, user_id: int, code: str, method: str) -> ServiceError:
    """Audit a refusal decided before the service ran (the upload handler's size limit)."""
    _refuse_upload(user_id=user_id, code=code, method=method)
    messages = {
        "file_too_large": f"The file is larger than {settings.VAULT_MAX_UPLOAD_BYTES} bytes.",
        "storage_full": "There is no room to store this photo now; nothing was kept. Try again later.",
    }
    return ServiceError(code, messages.get(code, "The upload was refused."))


def _clean_labels(labels) -> list[str]:
    if labels is None:
        return []
    if not isinstance(labels, list | tuple) or len(labels) > MAX_LABELS:
        raise ServiceError("invalid_request", f"labels must be a list of at most {MAX_LABELS} strings.")
    cleaned = []
    for label in labels:
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS:
            raise ServiceError(
                "invalid_request", f"Each label is a non-empty string of at most {MAX_LABEL_CHARS} characters."
            )
        if label.strip() not in cleaned:
            cleaned.append(label.strip())
    return cleaned


def media_upload(
    *,
    user_id: int,
    data: bytes,
    filename: str = "",
    declared_content_type: str = "",
    labels: list[str] | None = None,
    captured_at: datetime | None = None,
    method: str = "api",
    device_id: int | None = None,
    max_bytes: int | None = None,
) -> UploadResult:
    """Validate, encrypt and store one photo or video, only while camera-roll processing is consented.

    Consent is checked twice: cheaply before any work (so nothing is decoded for a
    holder who has not opted in), and under the account lock in the transaction that
    commits the item, which records the ledger entry that authorised it. `device_id` (the
    calling API token's id, never its name) lets the access history name the device.
    """
    try:
        labels = _clean_labels(labels)
        if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
            raise ServiceError("consent_required", "Camera Roll Sharing Suggestions is off for this account.")
        # One request's limit, unless the bytes came by a resumable upload (vault.partials: VIDEO_MAX_BYTES).
        max_bytes = max_bytes or settings.VAULT_MAX_UPLOAD_BYTES
        if len(data) > max_bytes:
            raise ServiceError("file_too_large", f"The file is larger than {max_bytes} bytes.")
        video = videos.is_video(data=data, filename=filename, declared_content_type=declared_content_type)
        if not video:
            prepared = image_prepare(data=data, filename=filename, declared_content_type=declared_content_type)
    except ServiceError as exc:
        _refuse_upload(user_id=user_id, code=exc.code, method=method)
        raise
    if video:
        return _video_upload(user_id=user_id, data=data, filename=filename, labels=labels,
                             captured_at=captured_at, method=method, device_id=device_id)
    # The pixels are decoded on another core while this thread encrypts and stores the original
    # (an account's first upload, or a duplicate, waits for the decode first: no key is made and
    # nothing is written for an image that turns out to be bad).
    decoding = _decode_elsewhere(prepared)
    early = None
    try:
        found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
        if found is not None and prepared.original is not None:
            tag = found[1].tag(bytes.fromhex(prepared.sha256), purpose=DEDUP)
            if not MediaItem.objects.filter(owner_id=user_id, dedup_tag=tag).exists():
                early = _original_write(key_row=found[0], data_key=found[1], tag=tag, original=prepared.original)
        processed = decoding.result()
    except ServiceError as exc:
        if early is not None:
            content.delete_names([early.name])
        _refuse_upload(user_id=user_id, code=exc.code, method=method)
        raise
    except BaseException:
        if early is not None:
            content.delete_names([early.name])
        raise
    when = processed.captured_at or captured_at
    for attempt in range(2):
        if early is not None:
            key_row, data_key, tag = early.key_row, early.data_key, early.tag
        else:
            try:
                key_row, data_key = _media_key(user_id=user_id)
            except ServiceError as exc:
                _refuse_upload(user_id=user_id, code=exc.code, method=method)
                raise
            tag = data_key.tag(bytes.fromhex(processed.sha256), purpose=DEDUP)
            existing = MediaItem.objects.filter(owner_id=user_id, dedup_tag=tag).select_related("key").first()
            if existing is not None:
                return _duplicate(user_id=user_id, item=existing, method=method, device_id=device_id)
        try:
            return _store(
                user_id=user_id,
                key_row=key_row,
                data_key=data_key,
                tag=tag,
                processed=processed,
                captured_at=when,
                labels=labels,
                method=method,
                device_id=device_id,
                filename=filename,
                early=early,
            )
        except _KeyGone:
            # The account key was shredded between our reading it and committing
            # (a withdrawal and a new grant in between): start over with a new key.
            early = None
            if attempt:
                raise ServiceError("consent_required", "Consent changed during the upload; try again.") from None
    raise AssertionError("unreachable")


def media_upload_received(*, user_id: int, upload, labels: list[str] | None = None,
                          captured_at: datetime | None = None, method: str = "api",
                          device_id: int | None = None) -> UploadResult:
    """One file of a multipart request (vault.uploads): a photo in memory goes to media_upload; a
    video spooled encrypted is streamed from its spool (vault.uploads.SpooledVideo), never held whole."""
    filename, declared = upload.name or "", upload.content_type or ""
    pieces = getattr(upload, "pieces", None)
    if pieces is None:
        return media_upload(user_id=user_id, data=upload.read(), filename=filename, declared_content_type=declared,
                            labels=labels, captured_at=captured_at, method=method, device_id=device_id)
    try:
        labels = _clean_labels(labels)
        if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
            raise ServiceError("consent_required", "Camera Roll Sharing Suggestions is off for this account.")
        if upload.size > settings.VAULT_MAX_UPLOAD_BYTES:
            raise ServiceError("file_too_large", f"The file is larger than {settings.VAULT_MAX_UPLOAD_BYTES} bytes.")
    except ServiceError as exc:
        _refuse_upload(user_id=user_id, code=exc.code, method=method)
        raise
    return video_upload_stream(user_id=user_id, open_source=pieces, filename=filename, labels=labels,
                               captured_at=captured_at, method=method, device_id=device_id)


def _video_upload(*, user_id: int, data: bytes, filename: str, labels: list[str], captured_at: datetime | None,
                  method: str, device_id: int | None) -> UploadResult:
    """A video sent in one request: stored as one sent by resumable upload is (video_upload_stream)."""
    piece = 1024 * 1024
    return video_upload_stream(
        user_id=user_id, open_source=lambda: (data[at : at + piece] for at in range(0, len(data), piece)),
        filename=filename, labels=labels, captured_at=captured_at, method=method, device_id=device_id,
    )


def video_upload_stream(*, user_id: int, open_source, filename: str = "", labels: list[str] | None = None,
                        captured_at: datetime | None = None, method: str = "api",
                        device_id: int | None = None) -> UploadResult:
    """A video, read in pieces from ``open_source()``, and never held whole by this process. When the
    account has its key already (always, for a resumable upload), the file is read once: each piece
    goes into the box and into the item's sealed source together (the box parses in its own process
    meanwhile); otherwise the box reads it first and ``open_source()`` is called again for the source,
    so a first upload that is refused makes no key.

    It is parsed in the box (vault.videos.BoxSession), whose remuxed copy (no place, no device
    metadata) is encrypted as it comes out of the pipe as the item's original; the poster is its
    thumbnail; the file byte for byte is its source, for the holder's own export only (as a HEIC's).
    Consent is checked before (by the caller) and again under the account lock in the transaction
    that commits the item. Every refusal is audited (media.upload_refused) and leaves nothing stored.
    """
    labels = labels or []
    written: list[str] = []
    uid = uuid.uuid4()
    early = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    source_stored = source_size = 0
    try:
        box = videos.BoxSession(open_source() if early is None else None)
        if early is not None:
            key_row, data_key = early
            item_key, wrapped_item_key = keys.item_key_new(data_key, item_uid=uid)
            box.start()
        with box:
            if early is not None:
                def giving():
                    for chunk in open_source():
                        box.give(chunk)
                        yield chunk

                written += content.names_for(user_id=user_id, key_id=item_key.folder_key_id, uid=uid,
                                             variants=["source"])
                _, source_stored = content.content_write(data_key=item_key, uid=uid, variant="source",
                                                         chunks=giving())
                source_size = box.size
                box.fed()
            sha256 = box.sha256
            if early is None:
                key_row, data_key = _media_key(user_id=user_id)
                item_key, wrapped_item_key = keys.item_key_new(data_key, item_uid=uid)
            tag = data_key.tag(bytes.fromhex(sha256), purpose=DEDUP)
            existing = MediaItem.objects.filter(owner_id=user_id, dedup_tag=tag).select_related("key").first()
            if existing is not None:
                box.abandon()
                content.delete_names(written)
                return _duplicate(user_id=user_id, item=existing, method=method, device_id=device_id)
            found = box.found
            written += content.names_for(user_id=user_id, key_id=item_key.folder_key_id, uid=uid,
                                         variants=["original", "thumbnail"] + (["source"] if early is None else []))
            _, stored_bytes = content.content_write(data_key=item_key, uid=uid, variant="original", chunks=box.remux())
            poster = box.poster()
        _, size = content.content_write(data_key=item_key, uid=uid, variant="thumbnail", chunks=[poster])
        stored_bytes += size + source_stored
        if early is None:
            def source():
                nonlocal source_size
                for chunk in open_source():
                    source_size += len(chunk)
                    yield chunk

            _, size = content.content_write(data_key=item_key, uid=uid, variant="source", chunks=source())
            stored_bytes += size
        if source_size != box.size:
            raise ServiceError(videos.VIDEO_PROBE_FAILED, "The upload changed while it was stored; nothing was kept.")
        has_location = found["lat"] is not None and found["lon"] is not None
        sealed = meta_seal(data_key=data_key, uid=uid, sha256=sha256, captured_at=found["captured_at"] or captured_at,
                           lat=found["lat"] if has_location else None, lon=found["lon"] if has_location else None,
                           labels=labels, filename=filename)
        with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
            entry = consent_guard(user_id=user_id, purpose=purposes.CAMERA_ROLL)
            if not AccountKey.objects.filter(pk=key_row.pk, key_id=data_key.key_id).exists():
                raise ServiceError("consent_required", "Consent changed during the upload; try again.")
            item = MediaItem.objects.create(
                owner_id=user_id, uid=uid, key=key_row, consent_entry=entry, dedup_tag=tag, sealed_meta=sealed,
                content_type=found["content_type"], width=found["width"], height=found["height"],
                size=found["remux_bytes"], thumbnail_size=len(poster), source_content_type=found["content_type"],
                source_size=source_size, stored_bytes=stored_bytes, has_location=has_location,
                duration_ms=found["duration_ms"], item_key_id=item_key.key_id, wrapped_item_key=wrapped_item_key,
            )
            uow.record(uow.event(
                action="media.uploaded", object_type="media", object_id=item.pk, purpose=purposes.CAMERA_ROLL,
                details={"consent_entry": str(entry.record_id), **_origin(method, device_id), "size": source_size},
            ))
            uow.publish(MediaUploaded(user_id=user_id))
    except IntegrityError:
        content.delete_names(written)
        existing = MediaItem.objects.filter(owner_id=user_id, dedup_tag=tag).select_related("key").first()
        if existing is None:
            raise
        return _duplicate(user_id=user_id, item=existing, method=method, device_id=device_id)
    except ServiceError as exc:
        content.delete_names(written)
        _refuse_upload(user_id=user_id, code=exc.code, method=method)
        raise
    except BaseException:
        content.delete_names(written)
        raise
    item.key = key_row
    return UploadResult(item=item, meta=meta_open(data_key=data_key, item=item), duplicate=False)


# A part larger than this is encrypted as it is written (content_write) rather than sealed whole in
# memory first (content_seal), so a clip is not held twice.
_SEAL_IN_MEMORY_BYTES = 4 * 1024 * 1024


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _in_background(function, /, *args, **kwargs) -> Future:
    """Run in a thread of this process work that holds no database connection and mostly waits
    outside the GIL (Pillow decoding, file writes and fsync)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked server process makes its own
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=8, thread_name_prefix="vault-upload"))
        return _pool[1].submit(function, *args, **kwargs)


def _settle_quietly(futures: list[Future]) -> None:
    for future in futures:
        future.exception()


def _decode_elsewhere(prepared) -> Future:
    return _in_background(prepared.decode)


def _settle(futures: list[Future]) -> None:
    """Wait for every write started (so a clean-up deletes what they wrote); raise the first error."""
    errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error


@dataclass(frozen=True)
class _Early:
    """The original, encrypted under a new item key and stored before the decode finished."""

    key_row: AccountKey
    data_key: keys.DataKey
    tag: str
    uid: uuid.UUID
    item_key: keys.ItemKey
    wrapped_item_key: bytes
    name: str
    size: int


def _original_write(*, key_row, data_key, tag, original: bytes) -> _Early:
    uid = uuid.uuid4()
    item_key, wrapped = keys.item_key_new(data_key, item_uid=uid)
    name, blob = content.content_seal(data_key=item_key, uid=uid, variant="original", data=original)
    try:
        size = storage.blob_write(name=name, chunks=[blob])
    except BaseException:
        content.delete_names([name])
        raise
    return _Early(key_row=key_row, data_key=data_key, tag=tag, uid=uid, item_key=item_key, wrapped_item_key=wrapped,
                  name=name, size=size)


class _KeyGone(Exception):
    pass


def media_key(*, user_id: int):
    """The account's media key, made under the account lock while consent stands (see _media_key)."""
    try:
        return _media_key(user_id=user_id)
    except ServiceError as exc:
        _refuse_upload(user_id=user_id, code=exc.code, method="api")
        raise


def _media_key(*, user_id: int):
    """The account's media key; a new one is made only under the account lock while consent stands,
    so an upload that loses its race with a withdrawal cannot bring a shredded key back."""
    found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    if found is not None:
        return found
    with account_write(user_id=user_id, actor=Actor.holder(user_id)):
        consent_guard(user_id=user_id, purpose=purposes.CAMERA_ROLL)
        return keyring.data_key_get_or_create(user_id=user_id, scope=keys.SCOPE_MEDIA)


def _origin(method: str, device_id: int | None) -> dict:
    return {"method": method, "device": device_id} if device_id else {"method": method}


def _duplicate(*, user_id: int, item: MediaItem, method: str, device_id: int | None = None) -> UploadResult:
    if item.trashed_at is not None and method == "web":
        # Trash: choosing a deleted photo again on the web means the holder wants it back. A phone's
        # background sync sending it again (after a reinstall or a re-consent) must not undo a deletion:
        # the photo stays in the trash and the answer says so.
        item = media_restore(user_id=user_id, item_id=item.pk)
    with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
        uow.record(uow.event(action="media.upload_duplicate", object_type="media", object_id=item.pk,
                             purpose=purposes.CAMERA_ROLL, details=_origin(method, device_id)))
    return UploadResult(item=item, meta=media_meta(item=item), duplicate=True)


def _store(*, user_id, key_row, data_key, tag, processed, captured_at, labels, method, device_id=None,
           filename="", early: _Early | None = None) -> UploadResult:
    if early is not None:  # the original is stored already
        uid, item_key, wrapped_item_key = early.uid, early.item_key, early.wrapped_item_key
        written, stored_bytes, parts = [early.name], early.size, []
    else:
        uid = uuid.uuid4()
        # The item's own key (vault.keys.ItemKey): its blobs are encrypted under it and it is kept only
        # wrapped on the item's row, so purging the one item later crypto-shreds it.
        item_key, wrapped_item_key = keys.item_key_new(data_key, item_uid=uid)
        written, stored_bytes, parts = [], 0, [("original", processed.data)]
    storing: list[Future] = []
    try:
        parts.append(("thumbnail", processed.thumbnail))
        if processed.source is not None:
            parts.append(("source", processed.source))
        streamed: list[Future] = []
        for variant, data in parts:
            if len(data) > _SEAL_IN_MEMORY_BYTES:
                written += content.names_for(user_id=user_id, key_id=item_key.folder_key_id, uid=uid,
                                             variants=[variant])
                streamed.append(_in_background(content.content_write, data_key=item_key, uid=uid, variant=variant,
                                               chunks=[data]))
                continue
            # Encrypted here; written and synced to disk in the background while the account's
            # rows are prepared below, and waited for before they commit.
            name, blob = content.content_seal(data_key=item_key, uid=uid, variant=variant, data=data)
            written.append(name)
            stored_bytes += len(blob)
            storing.append(_in_background(storage.blob_write, name=name, chunks=[blob]))
        storing += streamed
        # Large parts are written before the account's lock is taken (their size is known then).
        _settle(streamed)
        stored_bytes += sum(future.result()[1] for future in streamed)
        has_location = processed.lat is not None and processed.lon is not None
        sealed = meta_seal(
            data_key=data_key,
            uid=uid,
            sha256=processed.sha256,
            captured_at=captured_at,
            lat=processed.lat if has_location else None,
            lon=processed.lon if has_location else None,
            labels=labels,
            filename=filename,
        )
        with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
            entry = consent_guard(user_id=user_id, purpose=purposes.CAMERA_ROLL)
            if not AccountKey.objects.filter(pk=key_row.pk, key_id=data_key.key_id).exists():
                raise _KeyGone
            item = MediaItem.objects.create(
                owner_id=user_id,
                uid=uid,
                key=key_row,
                consent_entry=entry,
                dedup_tag=tag,
                sealed_meta=sealed,
                content_type=processed.content_type,
                width=processed.width,
                height=processed.height,
                size=len(processed.data),
                thumbnail_size=len(processed.thumbnail),
                source_content_type=processed.source_content_type if processed.source is not None else "",
                source_size=len(processed.source) if processed.source is not None else 0,
                stored_bytes=stored_bytes,
                has_location=has_location,
                duration_ms=getattr(processed, "duration_ms", None),
                item_key_id=item_key.key_id,
                wrapped_item_key=wrapped_item_key,
            )
            uow.record(uow.event(
                action="media.uploaded", object_type="media", object_id=item.pk, purpose=purposes.CAMERA_ROLL,
                details={"consent_entry": str(entry.record_id), **_origin(method, device_id), "size": item.size},
            ))
            uow.publish(MediaUploaded(user_id=user_id))
            _settle(storing)  # every blob of the item on disk before its row commits
    except IntegrityError:
        _settle_quietly(storing)
        content.delete_names(written)
        # The same photo committed by a concurrent request in the meantime.
        existing = MediaItem.objects.filter(owner_id=user_id, dedup_tag=tag).select_related("key").first()
        if existing is None:
            raise
        return _duplicate(user_id=user_id, item=existing, method=method, device_id=device_id)
    except ServiceError as exc:
        _settle_quietly(storing)
        content.delete_names(written)
        _refuse_upload(user_id=user_id, code=exc.code, method=method)
        raise
    except _KeyGone:
        # Shredded under us: what was written under the dead key goes with its folder.
        _settle_quietly(storing)
        content.delete_names(written)
        storage.folder_delete(folder=storage.key_folder(user_id=user_id, key_id=data_key.key_id))
        raise
    except BaseException:
        _settle_quietly(storing)
        content.delete_names(written)
        raise
    item.key = key_row
    return UploadResult(item=item, meta=meta_open(data_key=data_key, item=item), duplicate=False)


# ---------------------------------------------------------------- the holder's items


def media_delete(*, user_id: int, item_id: int) -> None:
    """Delete one item, its blobs and every output derived from it."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        item = media_get(user_id=user_id, item_id=item_id)
        item = MediaItem.objects.select_related("key").select_for_update().get(pk=item.pk)
        outputs = outputs_delete_for_items(uow, item_ids=[item.pk], cause="source_deleted")
        names = content.item_names(item)
        item_pk = item.pk
        item.delete()
        uow.record(uow.event(action="media.deleted", object_type="media", object_id=item_pk,
                             details={"outputs": outputs}))
        uow.after_commit(lambda: content.delete_names(names))


def media_set_excluded(*, user_id: int, item_id: int, excluded: bool) -> MediaItem:
    """Keep an item out of suggestions (or let it back in); excluding deletes what was made from it."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        item = media_get(user_id=user_id, item_id=item_id)
        if item.excluded == excluded:
            return item
        item.excluded = excluded
        item.save(update_fields=["excluded"])
        outputs = 0
        if excluded:
            outputs = outputs_delete_for_items(uow, item_ids=[item.pk], cause="source_excluded")
        uow.record(uow.event(action="media.excluded" if excluded else "media.included", object_type="media",
                             object_id=item.pk, details={"outputs": outputs}))
        return item


# ---------------------------------------------------------------- exclusions


def exclusion_create_date_range(*, user_id: int, start: date, end: date) -> Exclusion:
    if end < start:
        raise ServiceError("invalid_exclusion", "The end date is before the start date.")
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        exclusion = Exclusion.objects.create(owner_id=user_id, kind=Exclusion.Kind.DATE_RANGE, start=start, end=end)
        _after_exclusion_added(uow, exclusion=exclusion)
        return exclusion


def exclusion_create_place(*, user_id: int, name: str, lat: float, lon: float, radius_m: float) -> Exclusion:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ServiceError("invalid_exclusion", "Latitude is between -90 and 90, longitude between -180 and 180.")
    if not (1 <= radius_m <= 100_000):
        raise ServiceError("invalid_exclusion", "The radius is between 1 m and 100 km.")
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        key_row, data_key = keyring.data_key_get_or_create(user_id=user_id, scope=keys.SCOPE_SETTINGS)
        exclusion = Exclusion(owner_id=user_id, kind=Exclusion.Kind.PLACE, key=key_row)
        exclusion.sealed_place = place_seal(
            data_key=data_key, uid=exclusion.uid, place=Place(name=name.strip(), lat=lat, lon=lon, radius_m=radius_m)
        )
        exclusion.save()
        _after_exclusion_added(uow, exclusion=exclusion)
        return exclusion


def _after_exclusion_added(uow: UnitOfWork, *, exclusion: Exclusion) -> None:
    """Outputs made from media the new rule now excludes are deleted, as for an excluded item."""
    rules = exclusion_rules(user_id=uow.user_id)
    items = MediaItem.objects.filter(owner_id=uow.user_id, outputs__isnull=False).select_related("key").distinct()
    hit = [meta.id for meta in media_metas(items=items) if rules.reason(meta)]
    outputs = outputs_delete_for_items(uow, item_ids=hit, cause="source_excluded")
    uow.record(uow.event(action="exclusion.created", object_type="exclusion", object_id=exclusion.pk,
                         details={"kind": exclusion.kind, "outputs": outputs}))


def exclusion_delete(*, user_id: int, exclusion_id: int) -> None:
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        exclusion = exclusion_get(user_id=user_id, exclusion_id=exclusion_id)
        kind, pk = exclusion.kind, exclusion.pk
        exclusion.delete()
        uow.record(uow.event(action="exclusion.deleted", object_type="exclusion", object_id=pk,
                             details={"kind": kind}))

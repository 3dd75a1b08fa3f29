"""The one door decrypted media leaves the vault through (invariant 2).

Every read names a purpose and is checked at that moment: the purpose must be one a
holder can grant and is granted now (under the account lock every consent change
takes), and the item must not be excluded by the holder (the item itself, a date
range or a place). Every item released is audited, one ``media.read`` event each,
appended as a batch before anything is returned. ``advertising`` and
``model_training`` are never released and are audited as denials.

The implementation behind ``vault.gateway``, the narrow facade other apps import; nothing
outside ``vault`` imports this module (import-linter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from consent import purposes as consent_purposes
from consent.selectors import consent_active_entry
from consent.services import consent_guard
from core.errors import ServiceError
from core.uow import Actor, account_write, events_write
from vault import blobs, content, keyring, keys, ranges, selectors, videos
from vault.meta import ItemMeta, output_meta_open, output_meta_seal
from vault.models import DerivedOutput, MediaItem

PURPOSE_SUGGESTIONS = "sharing_suggestions"
PURPOSE_FACES = "face_grouping"
PURPOSE_OWNER = "owner_access"
# What each gateway purpose needs granted. The owner reading their own copies needs no consent.
PURPOSES: dict[str, tuple[str, ...]] = {
    PURPOSE_SUGGESTIONS: (consent_purposes.CAMERA_ROLL,),
    PURPOSE_FACES: (consent_purposes.CAMERA_ROLL, consent_purposes.FACE_ANALYSIS),
    PURPOSE_OWNER: (),
}
VARIANTS = ("original", "thumbnail")
GATEWAY = Actor.service("gateway")


class GatewayDenied(ServiceError):
    """The gateway refused: consent_required or purpose_not_grantable."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


@dataclass(frozen=True)
class ReleasedItem:
    meta: ItemMeta
    data: bytes


def _deny(*, user_id: int, purpose: str, action: str, code: str, message: str, count: int = 0) -> GatewayDenied:
    """Record the denial, durably: appended even when the caller's unit rolls back, and build the error."""
    with events_write(actor=GATEWAY, user_id=user_id, durable=True) as uow:
        uow.record(uow.event(action=action, object_type="media", purpose=_audit_purpose(purpose), outcome="denied",
                             details={"code": code, "requested": count}))
    return GatewayDenied(code, message)


def _audit_purpose(purpose: str) -> str:
    return (
        purpose if isinstance(purpose, str) and len(purpose) <= 64 and purpose.replace("_", "").isalnum() else "unknown"
    )


def _check_purpose(*, user_id: int, purpose: str, locked: bool = True) -> None:
    """Refuse what can never be granted, then check each consent it needs: under the account's
    unit of work with consent_guard, or (``locked=False``) as a first look before any read."""
    if purpose == PURPOSE_OWNER:
        raise _Refused("purpose_not_grantable", "owner_access is only for the holder's own reads.")
    if purpose not in PURPOSES:
        if purpose in consent_purposes.REFUSED:
            raise _Refused("purpose_not_grantable", f"{purpose!r} is never granted.")
        raise _Refused("purpose_not_grantable", f"{purpose!r} is not a gateway purpose.")
    for needed in PURPOSES[purpose]:
        if not locked:
            if consent_active_entry(user_id=user_id, purpose=needed) is None:
                label = consent_purposes.PURPOSE_LABELS[needed]
                raise _Refused("consent_required", f"{label} is off for this account.")
            continue
        try:
            consent_guard(user_id=user_id, purpose=needed)
        except ServiceError as exc:
            raise _Refused("consent_required", exc.message) from None


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class _Unreadable(Exception):
    def __init__(self, object_type: str, object_id: int, reason: str):
        super().__init__(reason)
        self.object_type, self.object_id, self.reason = object_type, object_id, reason


@contextmanager
def _refusals(*, user_id: int, purpose: str, action: str, count: int = 0):
    """A refusal or an unreadable blob inside becomes an audited GatewayDenied or media_unreadable."""
    try:
        yield
    except _Refused as exc:
        raise _deny(
            user_id=user_id, purpose=purpose, action=action, code=exc.code, message=exc.message, count=count
        ) from None
    except _Unreadable as exc:
        with events_write(actor=GATEWAY, user_id=user_id) as uow:
            uow.record(uow.event(action=action, object_type=exc.object_type, object_id=exc.object_id,
                                 purpose=purpose, outcome="error", details={"code": exc.reason}))
        raise ServiceError(
            "media_unreadable",
            f"Stored {exc.object_type} {exc.object_id} failed its integrity check; nothing was released.",
        ) from None


@contextmanager
def _guarded(*, user_id: int, purpose: str, action: str, count: int = 0):
    """The account's unit of work, the purpose checked first in it; refusals audited (_refusals)."""
    with (_refusals(user_id=user_id, purpose=purpose, action=action, count=count),
          account_write(user_id=user_id, actor=GATEWAY) as uow):
        _check_purpose(user_id=user_id, purpose=purpose)
        yield uow


def _usable(*, user_id: int, items) -> list[tuple[MediaItem, ItemMeta]]:
    rules = selectors.exclusion_rules(user_id=user_id)
    metas = selectors.media_metas(items=items)
    return [
        (item, meta)
        for item, meta in zip(items, metas, strict=True)
        # Trash: a deleted photo is out of every purpose's reads at once (vault.trash).
        if not item.excluded and item.trashed_at is None and not rules.reason(meta)
    ]


def _placeless(meta: ItemMeta) -> ItemMeta:
    """A video's metadata as a purpose gets it: without its place. Where a clip was filmed leaves the
    vault in the owner's export only (its byte-for-byte source); inside, it still excludes the video
    by place (_usable). Suggestions choose videos by their time."""
    return replace(meta, lat=None, lon=None) if meta.is_video else meta


def candidates(*, user_id: int, purpose: str) -> list[ItemMeta]:
    """Decrypted metadata of every item the purpose may use now (consented, not excluded)."""
    with _guarded(user_id=user_id, purpose=purpose, action="media.listed") as uow:
        # Photos only: no purpose is handed a whole video (its poster is a thumbnail, below).
        items = list(MediaItem.objects.filter(owner_id=user_id, duration_ms__isnull=True)
                     .select_related("key").order_by("id"))
        usable = [meta for _, meta in _usable(user_id=user_id, items=items)]
        uow.record(uow.event(action="media.listed", actor=GATEWAY, object_type="media", purpose=purpose,
                             details={"count": len(usable), "held": len(items)}))
    return usable


def video_candidates(*, user_id: int, purpose: str) -> list[ItemMeta]:
    """Decrypted metadata of every video the purpose may use now, without its place (_placeless): a
    video's content leaves only as time ranges (release_ranges)."""
    with _guarded(user_id=user_id, purpose=purpose, action="media.listed") as uow:
        items = list(MediaItem.objects.filter(owner_id=user_id, duration_ms__isnull=False)
                     .select_related("key").order_by("id"))
        usable = [_placeless(meta) for _, meta in _usable(user_id=user_id, items=items)]
        uow.record(uow.event(action="media.listed", actor=GATEWAY, object_type="media", purpose=purpose,
                             details={"count": len(usable), "held": len(items), "kind": "video"}))
    return usable


@dataclass(frozen=True)
class ReleasedRange:
    """A time range of a video: its frames (JPEGs, upright, in order) or a short muted MP4 (``clip``)."""

    meta: ItemMeta
    start_ms: int
    duration_ms: int
    frames: tuple[bytes, ...] = ()
    clip: bytes | None = None


MAX_RANGE_MS = 10_000
MAX_RANGE_FPS = 30
MAX_RANGE_SIDE = 1920


def release_ranges(*, user_id: int, purpose: str, ranges: list[tuple[int, int, int]], as_clip: bool = False,
                   fps: int = 12, max_side: int = 720) -> list[ReleasedRange]:
    """Time ranges of videos, ``(item_id, start_ms, duration_ms)`` each (at most MAX_RANGE_MS long),
    as frames or as short clips; checked and audited like release: one media.read per range released,
    appended before anything is returned. Ranges of items that are gone, excluded or not videos are
    left out. The decoding runs in the box (vault.videos), like an upload's."""
    if not (1 <= fps <= MAX_RANGE_FPS and 16 <= max_side <= MAX_RANGE_SIDE):
        raise ValueError(f"fps is 1 to {MAX_RANGE_FPS}, max_side 16 to {MAX_RANGE_SIDE}")
    wanted: dict[int, tuple[int, int]] = {}
    for item_id, start_ms, duration_ms in ranges:
        if start_ms < 0 or not 0 < duration_ms <= MAX_RANGE_MS:
            raise ValueError(f"a range starts at 0 or later and lasts 1 to {MAX_RANGE_MS} ms")
        wanted[int(item_id)] = (int(start_ms), int(duration_ms))
    kind = "clip" if as_clip else "frames"
    with _refusals(user_id=user_id, purpose=purpose, action="media.read", count=len(wanted)):
        _check_purpose(user_id=user_id, purpose=purpose, locked=False)
        items = list(MediaItem.objects.filter(owner_id=user_id, pk__in=wanted, duration_ms__isnull=False)
                     .select_related("key").order_by("id"))
        read = []
        data_keys: dict = {}
        for item, meta in _usable(user_id=user_id, items=items):
            start, length = wanted[meta.id]
            start = min(start, max(0, (meta.duration_ms or 0) - 1))
            if item.key_id not in data_keys:
                data_keys[item.key_id] = keyring.data_key_by_id(user_id=user_id, key_id=item.key.key_id)
            try:
                # The clip streams from storage into the box: never held whole here, however long.
                chunks = content.content_stream(data_key=content.item_key(account=data_keys[item.key_id], item=item),
                                                uid=item.uid, variant="original")
                parts = videos.video_range(chunks=chunks, start_ms=start, duration_ms=length, as_clip=as_clip,
                                           fps=fps, max_side=max_side)
            except blobs.BlobIntegrityError as exc:
                raise _Unreadable("media", item.pk, exc.reason) from None
            except ServiceError:
                raise _Unreadable("media", meta.id, "video_unreadable") from None
            read.append(ReleasedRange(meta=_placeless(meta), start_ms=start, duration_ms=length,
                                      frames=() if as_clip else tuple(parts), clip=parts[0] if as_clip else None))
    with _guarded(user_id=user_id, purpose=purpose, action="media.read", count=len(wanted)) as uow:
        items = list(MediaItem.objects.filter(owner_id=user_id, pk__in=[r.meta.id for r in read])
                     .select_related("key").order_by("id"))
        still = {meta.id for _, meta in _usable(user_id=user_id, items=items)}
        released = [r for r in read if r.meta.id in still]
        uow.record_many([
            uow.event(action="media.read", actor=GATEWAY, object_type="media", object_id=r.meta.id, purpose=purpose,
                      details={"variant": kind, "start_ms": r.start_ms, "duration_ms": r.duration_ms})
            for r in released
        ])
    return released


def held_count(*, user_id: int) -> int:
    """How many items the account holds, usable or not (no metadata): lets the suggestion
    engine tell "no photos yet" from "every photo is excluded" when candidates() is empty."""
    return MediaItem.objects.filter(owner_id=user_id, trashed_at__isnull=True).count()


def release(*, user_id: int, purpose: str, item_ids: list[int], variant: str = "original") -> list[ReleasedItem]:
    """Decrypted items for one account and purpose, re-checked now; one audit event per item, first.

    Items that are gone or excluded by now are left out (the caller sees fewer items).
    Blobs are read and decrypted before the account lock is taken (storage can be slow);
    under the lock, consent and every item are checked again, the reads are audited,
    and only then is anything returned.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    ids = sorted({int(i) for i in item_ids})
    with _refusals(user_id=user_id, purpose=purpose, action="media.read", count=len(ids)):
        _check_purpose(user_id=user_id, purpose=purpose, locked=False)
        # A video's original is never released whole; its poster (thumbnail) may be.
        items = MediaItem.objects.filter(owner_id=user_id, pk__in=ids)
        if variant == "original":
            items = items.filter(duration_ms__isnull=True)
        items = list(items.select_related("key").order_by("id"))
        read = _decrypt(user_id=user_id, usable=_usable(user_id=user_id, items=items), variant=variant)
    with _guarded(user_id=user_id, purpose=purpose, action="media.read", count=len(ids)) as uow:
        items = list(MediaItem.objects.filter(owner_id=user_id, pk__in=[r.meta.id for r in read])
                     .select_related("key").order_by("id"))
        still = {meta.id for _, meta in _usable(user_id=user_id, items=items)}
        released = [r for r in read if r.meta.id in still]
        uow.record_many([
            uow.event(action="media.read", actor=GATEWAY, object_type="media", object_id=r.meta.id, purpose=purpose,
                      details={"variant": variant})
            for r in released
        ])
    return released


def _decrypt(*, user_id: int, usable, variant: str) -> list[ReleasedItem]:
    data_keys: dict = {}
    released = []
    for item, meta in usable:
        if item.key_id not in data_keys:
            data_keys[item.key_id] = keyring.data_key_by_id(user_id=user_id, key_id=item.key.key_id)
        try:
            item_key = content.item_key(account=data_keys[item.key_id], item=item)
            data = content.content_read(data_key=item_key, uid=item.uid, variant=variant)
        except blobs.BlobIntegrityError as exc:
            raise _Unreadable("media", item.pk, exc.reason) from None
        released.append(ReleasedItem(meta=_placeless(meta), data=data))
    return released


@dataclass(frozen=True)
class OpenedContent:
    """A verified plaintext stream of one item for its owner; iterate ``chunks`` once."""

    meta: ItemMeta
    content_type: str
    size: int
    chunks: Iterator[bytes]


def owner_source_open(*, user_id: int, item_id: int, include_trashed: bool = False) -> OpenedContent | None:
    """The file exactly as the holder uploaded it, when the service works from a conversion of it
    (a HEIC kept beside its JPEG); None when the item has no such file. Owner access, audited.

    Not on the gateway's facade: no purpose's reads (release) can name it, and the suggestion
    engine, which sees nothing of vault but the facade, cannot reach it. The holder's data
    export opens it through vault.exports.
    """
    return _owner_open(user_id=user_id, item_id=item_id, variant="source", include_trashed=include_trashed)


def owner_open(*, user_id: int, item_id: int, variant: str = "original",
               include_trashed: bool = False) -> OpenedContent:
    """The holder reading their own item (purpose owner_access): audited, then streamed.

    The stream raises blobs.BlobIntegrityError if the blob proves bad on the way; a
    response streaming it must abort rather than finish.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    return _owner_open(user_id=user_id, item_id=item_id, variant=variant, include_trashed=include_trashed)


def _owner_open(*, user_id: int, item_id: int, variant: str, include_trashed: bool) -> OpenedContent | None:
    # Trash: the holder's own trash page still shows what is in it, to decide whether to restore it.
    item = selectors.media_get(user_id=user_id, item_id=item_id, include_trashed=include_trashed)
    item = MediaItem.objects.select_related("key").get(pk=item.pk)
    if variant == "source" and not item.source_content_type:
        return None
    meta = selectors.media_meta(item=item)
    data_key = keyring.data_key_by_id(user_id=user_id, key_id=item.key.key_id)
    try:
        item_key = content.item_key(account=data_key, item=item)
        chunks = content.content_stream(data_key=item_key, uid=item.uid, variant=variant)
    except blobs.BlobIntegrityError as exc:
        with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
            uow.record(uow.event(action="media.read", object_type="media", object_id=item.pk, purpose=PURPOSE_OWNER,
                                 outcome="error", details={"code": exc.reason}))
        raise ServiceError("media_unreadable", f"Stored media {item.pk} failed its integrity check.") from None
    # Audited before the first byte leaves (the stream above has only been checked, not sent).
    with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
        uow.record(uow.event(action="media.read", object_type="media", object_id=item.pk, purpose=PURPOSE_OWNER,
                             details={"variant": variant}))
    if variant == "original":
        return OpenedContent(meta=meta, content_type=item.content_type, size=item.size, chunks=chunks)
    if variant == "source":
        return OpenedContent(meta=meta, content_type=item.source_content_type, size=item.source_size, chunks=chunks)
    return OpenedContent(meta=meta, content_type="image/jpeg", size=item.thumbnail_size, chunks=chunks)


def output_store(
    *,
    user_id: int,
    purpose: str,
    kind: str,
    source_ids: list[int],
    data: bytes,
    content_type: str,
    meta: dict | None = None,
) -> int:
    """Encrypt and keep a derived output, if consent and every source still stand; returns its id.

    The blob is written first; the row (with its lineage) commits under consent_guard,
    so an output whose consent was withdrawn meanwhile, or whose source is gone or
    excluded by now, is refused (GatewayDenied) and its blob deleted.

    ``meta`` is a small JSON-able dict about the output that says something about the
    person (a suggestion's title names places and themes): it is sealed under the
    holder's data key on the output row (at most 2 KiB of JSON, meta.OUTPUT_META_MAX_BYTES), read
    back with outputs_meta(), and deleted with the output. It never goes into the audit.
    """
    source_ids = sorted({int(i) for i in source_ids})
    if not source_ids:
        raise ValueError("an output needs at least one source item")
    found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_MEDIA)
    if found is None:
        raise _deny(
            user_id=user_id,
            purpose=purpose,
            action="output.stored",
            code="consent_required",
            message="The account holds no media to derive from.",
            count=len(source_ids),
        )
    key_row, data_key = found
    output = DerivedOutput(
        owner_id=user_id, key=key_row, kind=kind, purpose=purpose, content_type=content_type, size=len(data)
    )
    if meta is not None:
        output.sealed_meta = output_meta_seal(data_key=data_key, uid=output.uid, meta=meta)
    # Its own key, like an item's: deleting the output crypto-shreds it (it shows its sources).
    output_key, output.wrapped_item_key = keys.item_key_new(data_key, item_uid=output.uid)
    output.item_key_id = output_key.key_id
    name, stored = content.content_write(data_key=output_key, uid=output.uid, variant="output", chunks=[data])
    try:
        with _guarded(user_id=user_id, purpose=purpose, action="output.stored", count=len(source_ids)) as uow:
            items = list(
                MediaItem.objects.filter(owner_id=user_id, pk__in=source_ids, key=key_row).select_related("key")
            )
            usable = _usable(user_id=user_id, items=items)
            if len(usable) != len(source_ids):
                raise _SourceGone
            output.stored_bytes = stored
            output.save()
            output.sources.set([item for item, _ in usable])
            uow.record(uow.event(action="output.stored", actor=GATEWAY, object_type="output", object_id=output.pk,
                                 purpose=purpose, details={"kind": kind, "sources": source_ids}))
    except _SourceGone:
        content.delete_names([name])
        raise _deny(
            user_id=user_id,
            purpose=purpose,
            action="output.stored",
            code="consent_required",
            message="A source item is gone or excluded; the output is discarded.",
            count=len(source_ids),
        ) from None
    except BaseException:
        content.delete_names([name])
        raise
    return output.pk


class _SourceGone(Exception):
    pass


def _output_get(*, user_id: int, output_id) -> DerivedOutput:
    try:
        return DerivedOutput.objects.select_related("key").get(owner_id=user_id, pk=int(output_id))
    except (DerivedOutput.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such output.") from None


def _output_read_event(output: DerivedOutput, *, outcome: str, details: dict) -> None:
    """The owner's read of an output, audited in its own transaction (also when the read failed)."""
    with events_write(actor=Actor.holder(output.owner_id), user_id=output.owner_id) as uow:
        uow.record(uow.event(action="output.read", object_type="output", object_id=output.pk,
                             purpose=PURPOSE_OWNER, outcome=outcome, details=details))


def output_open(*, user_id: int, output_id: int) -> bytes:
    """The holder reading one of their outputs (owner access, audited)."""
    output = _output_get(user_id=user_id, output_id=output_id)
    data_key = keyring.data_key_by_id(user_id=user_id, key_id=output.key.key_id)
    try:
        data = content.content_read(data_key=content.item_key(account=data_key, item=output), uid=output.uid,
                                    variant="output")
    except blobs.BlobIntegrityError as exc:
        _output_read_event(output, outcome="error", details={"code": exc.reason})
        raise ServiceError("media_unreadable", f"Stored output {output.pk} failed its integrity check.") from None
    _output_read_event(output, outcome="allowed", details={"kind": output.kind})
    return data


@dataclass(frozen=True)
class RangedOutput:
    """One of the holder's outputs, to serve in pieces (vault.ranges.ranged_response): its size,
    type and a strong ETag; ``open_range`` audits one read of a piece, then streams it."""

    output_id: int
    size: int
    content_type: str
    etag: str
    open_range: Callable[[ranges.ByteRange], Iterator[bytes]]


def output_ranged(*, user_id: int, output_id: int) -> RangedOutput:
    """The holder's own output, to be read a piece at a time (a recap's MP4 in a <video> that
    seeks). not_found for anything that is not theirs.

    Every piece read is one ``output.read`` event on the holder's trail (owner access, as a
    download is), written after the blob's header and first segment are checked and before
    the first byte leaves; the stream stops decrypting after the piece's last byte.
    """
    output = _output_get(user_id=user_id, output_id=output_id)

    def open_range(wanted: ranges.ByteRange) -> Iterator[bytes]:
        data_key = keyring.data_key_by_id(user_id=user_id, key_id=output.key.key_id)
        try:
            chunks = content.content_range(data_key=content.item_key(account=data_key, item=output),
                                           uid=output.uid, variant="output", start=wanted.start, end=wanted.end)
        except blobs.BlobIntegrityError as exc:
            _output_read_event(output, outcome="error", details={"code": exc.reason})
            raise ServiceError("media_unreadable", f"Stored output {output.pk} failed its integrity check.") \
                from None
        _output_read_event(output, outcome="allowed",
                           details={"kind": output.kind, "range": [wanted.start, wanted.end]})
        return chunks

    return RangedOutput(output_id=output.pk, size=output.size, content_type=output.content_type,
                        etag=f'"{output.uid.hex}"', open_range=open_range)


def owner_ranged(*, user_id: int, item_id: int) -> RangedOutput:
    """The holder's own item (the service's copy: for a video, the clip without its place), to be
    read a piece at a time by a <video> that seeks. Each piece is one media.read (owner_access)
    with its range, written before the first byte leaves; trash included, as the pages show it."""
    item = selectors.media_get(user_id=user_id, item_id=item_id, include_trashed=True)
    item = MediaItem.objects.select_related("key").get(pk=item.pk)

    def open_range(wanted: ranges.ByteRange) -> Iterator[bytes]:
        data_key = keyring.data_key_by_id(user_id=user_id, key_id=item.key.key_id)
        details = {"variant": "original", "range": [wanted.start, wanted.end]}
        try:
            chunks = content.content_range(data_key=content.item_key(account=data_key, item=item), uid=item.uid,
                                           variant="original", start=wanted.start, end=wanted.end)
        except blobs.BlobIntegrityError as exc:
            details = {"code": exc.reason}
            with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
                uow.record(uow.event(action="media.read", object_type="media", object_id=item.pk,
                                     purpose=PURPOSE_OWNER, outcome="error", details=details))
            raise ServiceError("media_unreadable", f"Stored media {item.pk} failed its integrity check.") from None
        with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
            uow.record(uow.event(action="media.read", object_type="media", object_id=item.pk, purpose=PURPOSE_OWNER,
                                 details=details))
        return chunks

    return RangedOutput(output_id=item.pk, size=item.size, content_type=item.content_type,
                        etag=f'"{item.uid.hex}"', open_range=open_range)


def output_shared_open(*, user_id: int, output_id: int, link_id: int) -> tuple[bytes, str]:
    """An output opened by anyone through one of the holder's share links: (bytes, content type).

    The consent the output was made under is checked now (a withdrawal kills every link at
    once, even before the link rows are gone) and the open is audited on the holder's trail
    (actor: the link, never the visitor), before anything is returned."""
    output = _output_get(user_id=user_id, output_id=output_id)
    with _guarded(user_id=user_id, purpose=output.purpose, action="output.shared_read") as uow:
        data_key = keyring.data_key_by_id(user_id=user_id, key_id=output.key.key_id)
        try:
            data = content.content_read(data_key=content.item_key(account=data_key, item=output), uid=output.uid,
                                        variant="output")
        except blobs.BlobIntegrityError as exc:
            raise _Unreadable("output", output.pk, exc.reason) from None
        uow.record(uow.event(action="output.shared_read", actor=Actor.service(f"share_link:{int(link_id)}"),
                             object_type="output", object_id=output.pk, purpose=output.purpose,
                             details={"kind": output.kind, "link": int(link_id)}))
    return data, output.content_type


def output_shared_ranged(*, user_id: int, output_id: int, link_id: int) -> RangedOutput:
    """An output opened through one of the holder's share links, to be read a piece at a time (a
    shared recap's MP4 that seeks). Each piece is checked as output_shared_open is: the consent the
    output was made under, now, under the account's lock, and one ``output.shared_read`` event (with
    the piece's range) before the first byte leaves."""
    output = _output_get(user_id=user_id, output_id=output_id)

    def open_range(wanted: ranges.ByteRange) -> Iterator[bytes]:
        with _guarded(user_id=user_id, purpose=output.purpose, action="output.shared_read") as uow:
            data_key = keyring.data_key_by_id(user_id=user_id, key_id=output.key.key_id)
            try:
                chunks = content.content_range(data_key=content.item_key(account=data_key, item=output),
                                               uid=output.uid, variant="output", start=wanted.start, end=wanted.end)
            except blobs.BlobIntegrityError as exc:
                raise _Unreadable("output", output.pk, exc.reason) from None
            uow.record(uow.event(action="output.shared_read", actor=Actor.service(f"share_link:{int(link_id)}"),
                                 object_type="output", object_id=output.pk, purpose=output.purpose,
                                 details={"kind": output.kind, "link": int(link_id),
                                          "range": [wanted.start, wanted.end]}))
        return chunks

    return RangedOutput(output_id=output.pk, size=output.size, content_type=output.content_type,
                        etag=f'"{output.uid.hex}"', open_range=open_range)


def outputs_meta(*, user_id: int, output_ids: Iterable[int]) -> dict[int, dict]:
    """The holder's own outputs' metadata (as passed to output_store), opened: {output id: meta}.

    Owner only: an id that is not one of the holder's outputs (another account's, deleted,
    never stored) is simply absent, so nothing tells those apart. An output stored without
    metadata maps to {}.

    Not audited when it opens: it releases no media and no output content, only what the
    holder's own service made up to describe their outputs, shown back to that holder (as
    the vault's own media page decrypts item metadata for its owner without an event). A
    list page reloads every few seconds while a pass runs; an event per load would bury the
    reads that matter (media.read, output.read) in the holder's access log. Metadata that
    fails to open (changed in the database, or copied from another row) is left out and
    audited, one output.read event with outcome "error" per output, like a blob that fails
    its integrity check.
    """
    ids = sorted({int(i) for i in output_ids})
    if not ids:
        return {}
    outputs = DerivedOutput.objects.filter(owner_id=user_id, pk__in=ids).select_related("key").order_by("id")
    data_keys: dict = {}
    opened: dict[int, dict] = {}
    failed: list[int] = []
    for output in outputs:
        if output.sealed_meta is None:
            opened[output.pk] = {}
            continue
        if output.key_id not in data_keys:
            data_keys[output.key_id] = keyring.data_key_by_id(user_id=user_id, key_id=output.key.key_id)
        try:
            opened[output.pk] = output_meta_open(data_key=data_keys[output.key_id], output=output)
        except keys.KeyUnwrapError:
            failed.append(output.pk)
    if failed:
        with events_write(actor=Actor.holder(user_id), user_id=user_id) as uow:
            uow.record_many([
                uow.event(action="output.read", object_type="output", object_id=pk, purpose=PURPOSE_OWNER,
                          outcome="error", details={"code": "sealed_meta_invalid"})
                for pk in failed
            ])
    return opened


def output_delete(*, user_id: int, output_id: int) -> None:
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        output = _output_get(user_id=user_id, output_id=output_id)
        names = content.names_for(user_id=user_id, key_id=output.key.key_id, uid=output.uid, variants=["output"])
        pk, kind, purpose = output.pk, output.kind, output.purpose
        output.delete()
        uow.record(uow.event(action="output.deleted", actor=Actor.holder(user_id), object_type="output", object_id=pk,
                             purpose=purpose, details={"kind": kind, "cause": "owner"}))
        uow.after_commit(lambda: content.delete_names(names))


# --------------------------------------------------------------------------- face data (invariant 11)
#
# Face boxes, embeddings and the names a holder gives people are sealed under the account's
# faces key (keys.SCOPE_FACES), which vault.shredding destroys when face grouping ends, when
# the main toggle is withdrawn and at erase; the suggestion engine keeps the sealed bytes on
# rows that point at that key (and at the photo), so they go with it. Sealing needs
# face_analysis granted now, inside the account's unit of work; so does opening.

_FACES = b"face-data"


@dataclass(frozen=True)
class FaceSealer:
    """Seals face data under the account's faces key. ``key_id`` is that key's row id, for the
    rows that keep the sealed bytes (they must point at it, so shredding the key takes them);
    ``uow`` is the account's unit of work the caller writes those rows and events in."""

    key_id: int
    uow: object
    _data_key: keys.DataKey

    def seal(self, payload: dict, *, binding: bytes) -> bytes:
        encoded = json.dumps(payload, separators=(",", ":")).encode()
        return self._data_key.seal(encoded, purpose=_FACES, binding=binding)


@contextmanager
def faces_sealing(*, user_id: int) -> Iterator[FaceSealer]:
    """The account's unit of work with face_analysis checked first, in which the caller seals
    face data and writes its rows: a withdrawal waits for it, then shreds them."""
    with _guarded(user_id=user_id, purpose=PURPOSE_FACES, action="faces.stored") as uow:
        key_row, data_key = keyring.data_key_get_or_create(user_id=user_id, scope=keys.SCOPE_FACES)
        yield FaceSealer(key_id=key_row.pk, uow=uow, _data_key=data_key)


def faces_open(*, user_id: int, sealed: Iterable[tuple[int, bytes, bytes]]) -> list[dict | None]:
    """Open face data sealed by faces_sealing: (key row id, binding, sealed bytes) each, in
    order; None for what does not open (another key, changed bytes). Only while face_analysis
    is granted (GatewayDenied otherwise, audited). Not audited when it opens, like
    outputs_meta: it is the holder's own grouping shown back to them, no media."""
    sealed = list(sealed)
    with _guarded(user_id=user_id, purpose=PURPOSE_FACES, action="faces.read"):
        found = keyring.data_key_get(user_id=user_id, scope=keys.SCOPE_FACES)
    if found is None:
        return [None for _ in sealed]
    key_row, data_key = found
    opened: list[dict | None] = []
    for key_id, binding, data in sealed:
        if key_id != key_row.pk:
            opened.append(None)
            continue
        try:
            opened.append(json.loads(data_key.open(bytes(data), purpose=_FACES, binding=binding)))
        except keys.KeyUnwrapError:
            opened.append(None)
    return opened

"""Resumable uploads (tus 1.0: core, creation, termination, expiration), encrypted while they arrive.

drf-tus was not used: it appends the received bytes in clear to a temporary file on local disk
(``tempfile.mkstemp``, then ``write_bytes_to_file`` at the offset), which breaks "nothing in
clear at rest" and cannot live on S3, and its last release predates Django 4 (it imports
``ugettext_lazy``). What tus needs from a server is small; it is here.

Every PATCH body is stored as it arrives as one or more encrypted *segments* (vault blobs of
variant ``partial``, under the account's media key, each with its own uid derived from the
upload's and a random nonce the row keeps), and the row's offset moves only once a segment is
on storage. So a killed connection or process leaves ciphertext and an offset that tells the
client where to resume, nothing readable, and a request racing another for the same segment
cannot overwrite or delete the winner's blob; shredding the media key (withdrawal, erase) makes
every segment unreadable and deletes its folder; housekeeping deletes what was not finished
within UPLOAD_PARTIAL_HOURS.

One PATCH may carry a whole file (hundreds of MB, minutes over a phone's link: the worker tells
gunicorn it is alive while bytes arrive, core.request_body). Each of its SEGMENT_BYTES is counted
as soon as it is stored, so a dropped connection keeps what arrived. When the upload ends under a
PATCH still streaming, the next segment finds no row to count it, is deleted, and the client is
told why: consent_required after a withdrawal (an erase is one too), upload_expired once the
upload was terminated or expired, upload_offset_mismatch only when another request counted a
segment first. Consent is also checked again before each further segment and, while a
segment's bytes arrive, once every CONSENT_RECHECK_SECONDS (a phone's link takes tens of seconds
for a segment).

When the last byte arrives, a video is streamed from the segments (decrypted in order) through
the box into its blobs without being held whole (vault.services.video_upload_stream: consent
checked again under the account lock); anything else goes to vault.services.media_upload as a
photo. The segments are deleted whatever the outcome.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from consent import purposes
from consent.selectors import consent_active_entry
from core import prepared
from core.errors import ServiceError, register_code
from core.uow import Actor, UnitOfWork, account_write
from vault import content, keyring, services, videos
from vault.models import AccountKey, PartialUpload

register_code("upload_offset_mismatch", 409, "Upload-Offset is not where the upload stands; HEAD it and resume.")
register_code("upload_expired", 410, "The resumable upload expired or was ended; start again.")

# What is stored and counted at a time of a PATCH's body. The larger, the less each byte pays for its
# segment's own work (the file's creation and fsyncs, the consent check, the unit of work that moves the
# offset: about 2 ms a segment); the smaller, the less a server that dies mid-segment has taken in for
# nothing (the client resumes from the last counted segment). A dropped connection loses nothing
# either way: what came is stored as a shorter segment. 32 MiB against 8: a 200 MB PATCH's transfer
# took 27 % less time (bench/README.md, "tus uploads").
SEGMENT_BYTES = 32 * 1024 * 1024
# While a segment's bytes arrive, consent is looked at again once this many seconds have passed: a
# phone's link brings a segment in tens of seconds, and a withdrawal stops the upload at once, not at
# the segment's end. Over a fast link a segment arrives in less, and nothing more is paid.
CONSENT_RECHECK_SECONDS = 1.0
_clock = time.monotonic
_META = b"partial-upload-meta"


def segment_uid(upload_uid: uuid.UUID, index: int, nonce: str = "") -> uuid.UUID:
    return uuid.uuid5(upload_uid, f"segment-{index}-{nonce}" if nonce else f"segment-{index}")


def _nonces(nonces: list[str], segments: int) -> list[str]:
    """Each segment's nonce ("" for one written before segments had them)."""
    kept = list(nonces)[:segments]
    return [""] * (segments - len(kept)) + kept


def segment_uids(upload: PartialUpload) -> list[uuid.UUID]:
    return [segment_uid(upload.uid, i, nonce)
            for i, nonce in enumerate(_nonces(upload.segment_nonces, upload.segments))]


def segment_names(upload: PartialUpload) -> list[str]:
    return [
        content.names_for(user_id=upload.owner_id, key_id=upload.key.key_id, uid=uid, variants=["partial"])[0]
        for uid in segment_uids(upload)
    ]


CONSENT_OFF = "Camera Roll Sharing Suggestions is off for this account."


def _consented(user_id: int) -> bool:
    """Camera-roll processing is consented now (checked at a PATCH's start, between and during its
    segments, and when a segment is not counted)."""
    return consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is not None


def _consent_off() -> ServiceError:
    return ServiceError("consent_required", CONSENT_OFF)


def _refuse(*, user_id: int, code: str, method: str, message: str) -> ServiceError:
    services.upload_refused_audit(user_id=user_id, code=code, method=method)
    return ServiceError(code, message)


def partial_create(*, user_id: int, length: int, filename: str = "", method: str = "api",
                   device_id: int | None = None, now: datetime | None = None) -> PartialUpload:
    """Start a resumable upload of ``length`` bytes, only while camera-roll processing is consented."""
    now = now or timezone.now()
    if not _consented(user_id):
        raise _refuse(user_id=user_id, code="consent_required", method=method, message=CONSENT_OFF)
    if length > settings.VIDEO_MAX_BYTES:
        raise _refuse(user_id=user_id, code="file_too_large", method=method,
                      message=f"The file is larger than {settings.VIDEO_MAX_BYTES} bytes.")
    if length <= 0:
        raise ServiceError("invalid_request", "Upload-Length is a positive number of bytes.")
    key_row, data_key = services.media_key(user_id=user_id)
    uid = uuid.uuid4()
    sealed = data_key.seal(json.dumps({"filename": filename}).encode(), purpose=_META, binding=uid.bytes)
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        upload = PartialUpload.objects.create(
            owner_id=user_id, uid=uid, key=key_row, length=length, sealed_meta=sealed, method=method,
            device_id=device_id, created_at=now, expires_at=now + timedelta(hours=settings.UPLOAD_PARTIAL_HOURS),
        )
        uow.record(uow.event(action="media.upload_started", object_type="upload", purpose=purposes.CAMERA_ROLL,
                             details={"method": method, "length": length}))
    return upload


# Every PATCH and HEAD reads the upload with the account key it is under (see core.prepared): one
# query compiled once, where the ORM compiled the join for each of an upload's PATCHes.
_UPLOAD = prepared.PreparedQuery(
    lambda *, user_id, uid: PartialUpload.objects.filter(owner_id=user_id, uid=uid)
    .values(*prepared.field_names(PartialUpload), *prepared.field_names(AccountKey, "key__"))[:1],
    user_id=PartialUpload._meta.get_field("owner"), uid=PartialUpload._meta.get_field("uid"),
)


def partial_get(*, user_id: int, uid: uuid.UUID, now: datetime | None = None) -> PartialUpload:
    now = now or timezone.now()
    rows = _UPLOAD.rows(user_id=user_id, uid=uid)
    if not rows:
        raise ServiceError("not_found", "No such upload.")
    upload = prepared.instance(PartialUpload, rows[0])
    upload.key = prepared.instance(AccountKey, rows[0], prefix="key__")
    if upload.expires_at <= now:
        raise ServiceError("upload_expired", "The upload expired; start again.")
    return upload


def partial_append(*, user_id: int, uid: uuid.UUID, offset: int, body: Iterator[bytes],
                   now: datetime | None = None) -> tuple[PartialUpload, services.UploadResult | None]:
    """Store the bytes of one PATCH from ``offset``; finish the upload when the last byte is in.

    Returns the upload and, when it finished, the upload result (a ServiceError if it was refused:
    the partial is gone either way)."""
    if not _consented(user_id):
        # Said before anything else: a phone stops at once on this code (the partial itself went
        # with the withdrawal's shred, so looking it up would only say not_found).
        raise _consent_off()
    upload = partial_get(user_id=user_id, uid=uid, now=now)
    if offset != upload.offset:
        raise ServiceError("upload_offset_mismatch", f"The upload stands at {upload.offset}, not {offset}.")
    data_key = keyring.data_key_of(row=upload.key, user_id=user_id)  # the row partial_get read
    body = iter(body)
    carried = b""  # a chunk's bytes past a segment's end, for the next segment
    too_long = False
    consent_gone = False
    recheck_at = _clock() + CONSENT_RECHECK_SECONDS
    segments_begun = 0

    def piece_of_segment():
        """The body's bytes for one segment, straight from the request into the cipher (no copy
        held): up to SEGMENT_BYTES, or up to where the body ends or goes past Upload-Length."""
        nonlocal carried, too_long, consent_gone, recheck_at
        left = min(SEGMENT_BYTES, upload.length - upload.offset)
        while left:
            chunk, carried = (carried, b"") if carried else (next(body, b""), b"")
            if not chunk:
                return
            if sent[0] and _clock() >= recheck_at:  # (a segment is never empty)
                recheck_at = _clock() + CONSENT_RECHECK_SECONDS
                if not _consented(user_id):
                    # The segment ends here, with what came before: counted if the row is still there
                    # (a lapse), deleted if it is not (a withdrawal); either way the answer is consent_required.
                    consent_gone = True
                    return
            if len(chunk) > left:
                chunk, carried = chunk[:left], chunk[left:]
            left -= len(chunk)
            sent[0] += len(chunk)
            yield chunk
        if upload.offset + sent[0] >= upload.length:
            # The upload is whole: anything more is past Upload-Length.
            extra = carried or next(body, b"")
            if extra:
                too_long = True
                carried = b""

    while not too_long:
        first = carried or next(body, b"")
        if not first:
            break
        if upload.offset >= upload.length:
            too_long = True
            break
        carried = first
        if segments_begun and not _consented(user_id):
            # Checked again before each further segment of a long PATCH (about 0.65 ms against about
            # 25 ms of CPU to store 32 MiB). A withdrawal would be seen anyway when no row is left to
            # count the segment, but only after a whole segment more of the phone's upload; and
            # consent also lapses with the row kept (a material notice, a consent state that fails
            # its checks), where nothing else would stop the rest of the file from being taken in.
            raise _consent_off()
        segments_begun += 1
        sent = [0]
        index = upload.segments
        # A name of its own: a request racing this one for the same segment writes another blob.
        nonce = uuid.uuid4().hex
        mine = segment_uid(upload.uid, index, nonce)
        # Written under its own name (atomic=False): nothing reads it before the row counts it.
        content.content_write(data_key=data_key, uid=mine, variant="partial", chunks=piece_of_segment(),
                              atomic=False)
        # The offset moves only once the segment is on storage: a crash in between leaves an
        # orphan segment (swept with the orphans), never an offset past what is kept. What
        # arrived before a dropped connection is kept too: the client resumes after it.
        nonces = _nonces(upload.segment_nonces, index) + [nonce]
        with account_write(user_id=user_id, actor=Actor.holder(user_id)):
            moved = PartialUpload.objects.filter(pk=upload.pk, segments=index).update(
                segments=index + 1, offset=upload.offset + sent[0], segment_nonces=nonces)
        if not moved:
            # Only this request's own blob goes (another request's segment may be the one counted).
            content.delete_names(content.names_for(user_id=user_id, key_id=upload.key.key_id, uid=mine,
                                                   variants=["partial"]))
            raise _not_counted(user_id=user_id, upload=upload)
        upload.segments, upload.offset, upload.segment_nonces = index + 1, upload.offset + sent[0], nonces
        if consent_gone:
            raise _consent_off()
    if too_long:
        raise ServiceError("invalid_request", "The body goes past Upload-Length.")
    if upload.offset < upload.length:
        return upload, None
    return upload, _finish(upload=upload, data_key=data_key)


def _not_counted(*, user_id: int, upload: PartialUpload) -> ServiceError:
    """Why the row did not count the segment this request stored, said so that the client knows what
    to do: consent withdrawn (the withdrawal, or an erase, deleted the row; a phone stops at once
    on consent_required), the upload ended (terminated, or expired and swept: start again), or
    another request counted a segment first (409: HEAD it and resume)."""
    if not AccountKey.objects.filter(key_id=upload.key.key_id).exists():
        # The key was destroyed (a withdrawal, an erase) and its folder deleted once that committed;
        # a segment begun after that made the folder again (storage._private_folders). The segment
        # is gone; its empty folders go now, not whenever the orphan sweep passes.
        content.key_folder_prune(user_id=user_id, key_id=upload.key.key_id)
    if not _consented(user_id):
        return _consent_off()
    if not PartialUpload.objects.filter(pk=upload.pk).exists():
        return ServiceError("upload_expired", "The upload was ended or expired; start again.")
    return ServiceError("upload_offset_mismatch", "Another request is appending to this upload.")


def _segments(upload: PartialUpload, data_key) -> Iterator[bytes]:
    for uid in segment_uids(upload):
        yield from content.content_stream(data_key=data_key, uid=uid, variant="partial")


def _finish(*, upload: PartialUpload, data_key) -> services.UploadResult:
    """The whole file is in: a video is streamed from the segments through the box to its blobs
    (never held whole here); anything else is one photo, handled as POST media/ handles it."""
    meta = json.loads(data_key.open(bytes(upload.sealed_meta), purpose=_META, binding=upload.uid.bytes))
    filename = meta.get("filename") or ""
    try:
        head = next(_segments(upload, data_key), b"")
        if videos.is_video(data=head[:64], filename=filename):
            return services.video_upload_stream(
                user_id=upload.owner_id, open_source=lambda: _segments(upload, data_key), filename=filename,
                method=upload.method, device_id=upload.device_id,
            )
        return services.media_upload(
            user_id=upload.owner_id, data=b"".join(_segments(upload, data_key)), filename=filename,
            method=upload.method, device_id=upload.device_id, max_bytes=settings.VIDEO_MAX_BYTES,
        )
    finally:
        _delete(upload)


def _delete(upload: PartialUpload, *, actor: Actor | None = None) -> None:
    """The upload's row goes in its holder's unit of work; its segments once that commits."""
    names = segment_names(upload)
    with account_write(user_id=upload.owner_id, actor=actor or Actor.holder(upload.owner_id)) as uow:
        PartialUpload.objects.filter(pk=upload.pk).delete()
        uow.after_commit(lambda: content.delete_names(names))


def partials_delete_all(uow: UnitOfWork) -> int:
    """Every unfinished upload of the unit's account, deleted in that unit (a withdrawal: without
    consent none can be finished, so none waits for the photos' grace period); the segments once it
    commits. Returns how many went."""
    uploads = list(PartialUpload.objects.select_related("key").filter(owner_id=uow.user_id))
    if not uploads:
        return 0
    names = [name for upload in uploads for name in segment_names(upload)]
    PartialUpload.objects.filter(pk__in=[upload.pk for upload in uploads]).delete()
    uow.after_commit(lambda: content.delete_names(names))
    return len(uploads)


def partial_delete(*, user_id: int, uid: uuid.UUID) -> None:
    """tus termination: the holder ends the upload; what was received is deleted."""
    upload = PartialUpload.objects.select_related("key").filter(owner_id=user_id, uid=uid).first()
    if upload is None:
        raise ServiceError("not_found", "No such upload.")
    _delete(upload)


def partials_expire(*, now: datetime | None = None) -> int:
    """Delete every resumable upload not finished within UPLOAD_PARTIAL_HOURS (housekeeping)."""
    now = now or timezone.now()
    expired = list(PartialUpload.objects.select_related("key").filter(expires_at__lte=now))
    for upload in expired:
        _delete(upload, actor=Actor.system())
    return len(expired)


def live_segment_names(key_id: uuid.UUID) -> set[str]:
    """The file names of every segment a live upload under this key holds (for the orphan sweep)."""
    names = set()
    for upload in PartialUpload.objects.filter(key__key_id=key_id).only("uid", "segments", "segment_nonces"):
        names.update(f"{uid.hex}.partial" for uid in segment_uids(upload))
    return names


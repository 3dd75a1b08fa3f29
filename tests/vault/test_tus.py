"""Resumable uploads (tus 1.0): resumed uploads end byte-identical, nothing readable is left by a
killed one, and partial uploads go on withdrawal and after UPLOAD_PARTIAL_HOURS."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import unit_of
from tests.vault.clips import PARIS, clip_bytes
from tests.vault.conftest import withdraw
from vault import exports, partials, shredding
from vault.models import MediaItem, PartialUpload

pytestmark = pytest.mark.django_db
TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def create(client, length: int, name: str = "IMG_0007.MOV"):
    meta = "filename " + base64.b64encode(name.encode()).decode()
    return client.post("/api/v1/media/uploads/", HTTP_UPLOAD_LENGTH=str(length), HTTP_UPLOAD_METADATA=meta, **TUS)


def patch(client, location: str, offset: int, data: bytes):
    return client.generic("PATCH", location, data, content_type="application/offset+octet-stream",
                          HTTP_UPLOAD_OFFSET=str(offset), **TUS)


def stored_files(tmp_path) -> list:
    root = tmp_path / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def clip():
    return clip_bytes(frames=30, metadata={"location": PARIS, "make": "Apple"})


def test_a_resumed_upload_ends_byte_identical(consented, api, clip, monkeypatch):
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)  # several segments for a small clip
    client = api(consented)
    created = create(client, len(clip))
    assert created.status_code == 201 and created["Tus-Resumable"] == "1.0.0"
    location = created["Location"]
    half = len(clip) // 2
    first = patch(client, location, 0, clip[:half])
    assert first.status_code == 204 and first["Upload-Offset"] == str(half)
    # The connection dropped; the client asks where to resume.
    head = client.head(location, **TUS)
    assert head.status_code == 200 and head["Upload-Offset"] == str(half)
    assert head["Upload-Length"] == str(len(clip))
    assert patch(client, location, 0, clip).status_code == 409  # not where the upload stands
    done = patch(client, location, half, clip[half:])
    assert done.status_code == 204 and done["Upload-Offset"] == str(len(clip))
    item = MediaItem.objects.get(pk=int(done["Media-Item-Id"]))
    assert item.content_type == "video/quicktime" and item.has_location
    opened = exports.export_source_open(user_id=consented.pk, item_id=item.pk)
    assert b"".join(opened.chunks) == clip
    assert not PartialUpload.objects.exists()
    assert client.head(location, **TUS).status_code == 404


def test_a_killed_upload_leaves_nothing_readable(consented, api, clip, tmp_path):
    client = api(consented)
    location = create(client, len(clip))["Location"]
    assert patch(client, location, 0, clip[:2000]).status_code == 204
    files = stored_files(tmp_path)
    assert files
    for path in files:  # ciphertext only
        raw = path.read_bytes()
        assert clip[:64] not in raw and b"ftyp" not in raw and b"Apple" not in raw
    assert PartialUpload.objects.get().offset == 2000
    # Nobody finishes it: housekeeping deletes it once UPLOAD_PARTIAL_HOURS have passed.
    assert shredding.vault_purge_due(now=timezone.now())["expired_uploads"] == 0
    later = timezone.now() + timedelta(hours=25)
    assert shredding.vault_purge_due(now=later)["expired_uploads"] == 1
    assert not PartialUpload.objects.exists() and not stored_files(tmp_path)


def test_withdrawal_shreds_partial_uploads(consented, api, clip, tmp_path, django_capture_on_commit_callbacks):
    client = api(consented)
    location = create(client, len(clip))["Location"]
    patch(client, location, 0, clip[:2000])
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert not PartialUpload.objects.exists() and not stored_files(tmp_path)
    assert client.head(location, **TUS).status_code == 404


def test_withdrawal_deletes_partial_uploads_at_once_whatever_the_grace_period(
        consented, api, clip, tmp_path, settings, django_capture_on_commit_callbacks):
    """With WITHDRAWAL_GRACE_DAYS the photos wait for the shred, but an unfinished upload cannot be
    finished without consent: it goes with the withdrawal (it stayed until UPLOAD_PARTIAL_HOURS)."""
    settings.WITHDRAWAL_GRACE_DAYS = 30
    client = api(consented)
    photo = client.post("/api/v1/media/", {"file": _jpeg()}, format="multipart")
    assert photo.status_code == 201
    kept = set(stored_files(tmp_path))
    location = create(client, len(clip))["Location"]
    assert patch(client, location, 0, clip[:2000]).status_code == 204
    assert set(stored_files(tmp_path)) > kept
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert not PartialUpload.objects.exists() and set(stored_files(tmp_path)) == kept
    assert MediaItem.objects.filter(owner=consented).count() == 1  # the photo waits for its grace period
    assert client.head(location, **TUS).status_code == 404


def test_erase_deletes_partial_uploads(consented, api, clip, tmp_path, django_capture_on_commit_callbacks):
    from support import rights

    client = api(consented)
    location = create(client, len(clip))["Location"]
    assert patch(client, location, 0, clip[:2000]).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        rights.cloud_media_erase(user=consented)
    assert not PartialUpload.objects.exists() and not stored_files(tmp_path)
    assert client.head(location, **TUS).status_code == 404


def _jpeg():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.vault.conftest import jpeg_bytes

    return SimpleUploadedFile("a.jpg", jpeg_bytes(), content_type="image/jpeg")


def test_a_hostile_clip_by_tus_is_refused_with_nothing_kept(consented, api, tmp_path,
                                                           django_capture_on_commit_callbacks):
    client = api(consented)
    data = b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 8
    location = create(client, len(data), name="bad.mp4")["Location"]
    with django_capture_on_commit_callbacks(execute=True):  # the segments go once the row's removal commits
        response = patch(client, location, 0, data)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_video"
    assert not PartialUpload.objects.exists() and not MediaItem.objects.exists() and not stored_files(tmp_path)
    refused = AuditEvent.objects.get(action="media.upload_refused", subject_id=consented.pk)
    assert refused.details["code"] == "invalid_video" and refused.outcome == "denied"


def test_only_the_holder_reaches_an_upload(consented, bob, api, clip):
    from tests.vault.conftest import grant

    location = create(api(consented), len(clip))["Location"]
    assert api(bob).head(location, **TUS).status_code == 404
    # Without consent bob is told so before anything is looked up (the same for any id).
    assert patch(api(bob), location, 0, clip[:10]).status_code == 403
    grant(bob)
    assert patch(api(bob), location, 0, clip[:10]).status_code == 404
    assert api().head(location, **TUS).status_code in (401, 403)
    assert PartialUpload.objects.get().offset == 0


def test_no_consent_no_upload_and_limits(alice, api, settings):
    assert create(api(alice), 100).status_code == 403
    from tests.vault.conftest import grant

    grant(alice)
    settings.VIDEO_MAX_BYTES = 50
    assert create(api(alice), 100).status_code == 413
    assert api(alice).post("/api/v1/media/uploads/", HTTP_UPLOAD_LENGTH="1").status_code == 412


def test_a_clip_larger_than_the_box_may_hold_is_accepted_and_exported_byte_identical(consented, settings):
    """The box parses from an encrypted spool, not from memory: a clip padded past its address-space
    limit (a QuickTime ``free`` atom after the movie, as a camera leaves) goes through, and the
    sealed source is the upload byte for byte. The web process never holds it whole either."""
    import hashlib
    import struct

    settings.VIDEO_PROBE_MEMORY_BYTES = 192 * 1024 * 1024
    head = clip_bytes(frames=30, metadata={"location": PARIS})
    padding = settings.VIDEO_PROBE_MEMORY_BYTES + 32 * 1024 * 1024
    atom = struct.pack(">I4s", 8 + padding, b"free")
    length = len(head) + len(atom) + padding
    piece = b"\0" * (4 * 1024 * 1024)

    def body():
        yield head + atom
        for at in range(0, padding, len(piece)):
            yield piece[: min(len(piece), padding - at)]

    expected = hashlib.sha256(head + atom)
    for chunk in list(body())[1:]:
        expected.update(chunk)
    upload = partials.partial_create(user_id=consented.pk, length=length, filename="IMG_0100.MOV")
    upload, result = partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=body())
    assert result is not None and not result.duplicate
    assert result.item.source_size == length and result.item.size < len(head) + 4096
    opened = exports.export_source_open(user_id=consented.pk, item_id=result.item.pk)
    exported = hashlib.sha256()
    size = 0
    for chunk in opened.chunks:
        exported.update(chunk)
        size += len(chunk)
    assert size == length and exported.hexdigest() == expected.hexdigest()


def test_a_body_past_upload_length_is_refused_after_what_fits(consented, api, clip, monkeypatch):
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)  # the body is streamed into several segments
    client = api(consented)
    location = create(client, len(clip))["Location"]
    refused = patch(client, location, 0, clip + b"more")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request"
    assert client.head(location, **TUS)["Upload-Offset"] == str(len(clip))
    assert not MediaItem.objects.exists()
    done = patch(client, location, len(clip), b"")  # what fits is whole: an empty PATCH finishes it
    item = MediaItem.objects.get(pk=int(done["Media-Item-Id"]))
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=item.pk).chunks) == clip


def test_a_terminated_upload_keeps_its_segments_until_the_removal_commits(consented, api, clip, tmp_path,
                                                                         django_capture_on_commit_callbacks):
    """Blobs go only after the unit that removed their row committed (core.uow.after_commit)."""
    client = api(consented)
    location = create(client, len(clip))["Location"]
    patch(client, location, 0, clip[:100])
    upload = PartialUpload.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        partials.partial_delete(user_id=consented.pk, uid=upload.uid)
    assert not PartialUpload.objects.exists()
    assert stored_files(tmp_path), "deleted before the row's removal committed"
    for callback in pending:
        callback()
    assert not stored_files(tmp_path)


def test_a_patch_racing_another_at_the_same_offset_leaves_the_winners_bytes(consented, clip):
    """Two PATCHes from one offset (a client retrying while its first request still runs): one wins,
    the other is refused (upload_offset_mismatch), and the winner's bytes stay whole, so the upload
    still ends byte-identical."""
    from core.errors import ServiceError

    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0300.MOV")

    def slow_body():
        yield clip[:500]
        # Meanwhile the retry of the same piece arrives and is stored whole.
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=iter([clip[:1000]]))
        yield clip[500:1000]

    with pytest.raises(ServiceError) as lost:
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=slow_body())
    assert lost.value.code == "upload_offset_mismatch"
    assert PartialUpload.objects.get().offset == 1000
    _, result = partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=1000, body=iter([clip[1000:]]))
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=result.item.pk).chunks) == clip


def test_an_upload_begun_before_segments_had_nonces_still_finishes(consented, clip):
    """A segment stored before migration 0011 is named by its index alone: it is still found."""
    from vault import content, keyring

    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0301.MOV")
    data_key = keyring.data_key_by_id(user_id=consented.pk, key_id=upload.key.key_id)
    content.content_write(data_key=data_key, uid=partials.segment_uid(upload.uid, 0), variant="partial",
                          chunks=[clip[:1000]])
    with unit_of(consented):
        PartialUpload.objects.filter(pk=upload.pk).update(segments=1, offset=1000)
    _, result = partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=1000, body=iter([clip[1000:]]))
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=result.item.pk).chunks) == clip


def test_a_patch_reads_its_upload_and_the_key_it_is_under_in_one_query(consented, api, clip):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from vault.models import AccountKey

    client = api(consented)
    location = create(client, len(clip))["Location"]
    key_table = AccountKey._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert patch(client, location, 0, clip[:500]).status_code == 204
    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and key_table in q["sql"]]
    assert len(reads) == 1 and PartialUpload._meta.db_table in reads[0], reads
    assert patch(client, location, 500, clip[500:]).status_code == 204  # and the upload finishes with it


def _pieces(clip: bytes, *, during: dict):
    """The clip in pieces of 500 bytes (segments of 1000), calling during[n] before the n-th piece."""
    for n, at in enumerate(range(0, len(clip), 500)):
        if n in during:
            during[n]()
        yield clip[at:at + 500]


def stored_folders(tmp_path) -> list:
    """Every account's and key's folder left under the blob storage's root."""
    root = tmp_path / "blobs" / "vault"
    return [p for p in root.rglob("*") if p.is_dir()] if root.exists() else []


@pytest.mark.parametrize("when", ["between-segments", "mid-segment", "right-after-the-check"])
def test_a_withdrawal_during_a_long_patch_answers_consent_required_and_leaves_nothing(
        consented, clip, tmp_path, monkeypatch, django_capture_on_commit_callbacks, when):
    """The holder turns the feature off while one PATCH streams the clip: the phone is told
    consent_required (it stops on that code), not that another request was appending; the segment
    being stored goes, and nothing of the destroyed key's folder is left (the withdrawal deleted it
    once it committed; a segment begun after that made it again)."""
    from core.errors import ServiceError

    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)
    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0400.MOV")

    def withdrawn():
        with django_capture_on_commit_callbacks(execute=True):
            withdraw(consented)
        assert not stored_files(tmp_path) and not stored_folders(tmp_path)

    during = {}
    if when == "right-after-the-check":  # the withdrawal commits between the second segment's check and its write
        checked = partials.consent_active_entry
        calls = []

        def check_then_withdraw(**kwargs):
            entry = checked(**kwargs)
            calls.append(entry)
            if len(calls) == 2:
                withdrawn()
            return entry

        monkeypatch.setattr(partials, "consent_active_entry", check_then_withdraw)
    else:
        during = {2 if when == "between-segments" else 3: withdrawn}
    with pytest.raises(ServiceError) as refused:
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=_pieces(clip, during=during))
    assert refused.value.code == "consent_required"
    assert not PartialUpload.objects.exists()
    assert not stored_files(tmp_path) and not stored_folders(tmp_path)


def test_a_withdrawal_during_a_patch_over_the_api_is_a_403(consented, api, clip, tmp_path, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)
    client = api(consented)
    location = create(client, len(clip))["Location"]

    def withdrawn():
        with django_capture_on_commit_callbacks(execute=True):
            withdraw(consented)

    # The body as it arrives, the holder withdrawing from another device while the second segment does.
    monkeypatch.setattr("vault.api_tus._body", lambda request: _pieces(clip, during={3: withdrawn}))
    refused = patch(client, location, 0, clip)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent_required"
    assert not stored_files(tmp_path)


@pytest.mark.parametrize("ending", ["terminated", "erased"])
@pytest.mark.parametrize("piece", [2, 3], ids=["between-segments", "mid-segment"])
def test_an_upload_ended_during_a_long_patch_says_why(
        consented, clip, tmp_path, monkeypatch, django_capture_on_commit_callbacks, piece, ending):
    """The upload is DELETEd (tus termination, from another request) while one PATCH streams it: the
    client is told the upload ended (410). An erase of the holder's cloud media also turns the
    feature off (a withdrawal in the ledger): consent_required. Nothing is left either way."""
    from core.errors import ServiceError
    from support import rights

    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)
    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0401.MOV")

    def ended():
        with django_capture_on_commit_callbacks(execute=True):
            if ending == "terminated":
                partials.partial_delete(user_id=consented.pk, uid=upload.uid)
            else:
                rights.cloud_media_erase(user=consented)

    with pytest.raises(ServiceError) as refused:
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0,
                                body=_pieces(clip, during={piece: ended}))
    expected = ("upload_expired", 410) if ending == "terminated" else ("consent_required", 403)
    assert (refused.value.code, refused.value.status) == expected
    assert not PartialUpload.objects.exists() and not stored_files(tmp_path)
    if ending == "erased":
        assert not stored_folders(tmp_path)


def test_consent_lapsing_during_a_long_patch_stops_it_at_the_next_segment(consented, clip, tmp_path, monkeypatch):
    """A material notice makes consent lapse without deleting the upload: the PATCH takes nothing more
    in after the segment it was storing, and what was counted stays until the upload expires."""
    from consent import purposes
    from consent import services as consent_services
    from core.errors import ServiceError

    monkeypatch.setattr(partials, "SEGMENT_BYTES", 1000)
    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0402.MOV")

    def lapsed():
        consent_services.notice_publish(purpose=purposes.CAMERA_ROLL, version="2", title="Camera Roll",
                                        text="What we do with your photos has changed.", material=True)

    with pytest.raises(ServiceError) as refused:
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0,
                                body=_pieces(clip, during={2: lapsed}))
    assert refused.value.code == "consent_required"
    assert PartialUpload.objects.get().offset == 1000 and len(stored_files(tmp_path)) == 1


@pytest.mark.parametrize("ending", ["withdrawn", "lapsed"])
def test_a_slow_patch_stops_within_a_second_of_its_link_when_consent_goes_mid_segment(
        consented, tmp_path, monkeypatch, django_capture_on_commit_callbacks, ending):
    """A phone's link brings a segment (32 MiB) in tens of seconds. The holder turns the feature off (or
    consent lapses with a material notice) while the first segment arrives, at 1 MiB a second: the
    PATCH takes in about a second more of the body, not the rest of the segment, and answers
    consent_required. Nothing is left after a withdrawal; after a lapse, what came before it is kept."""
    from consent import purposes
    from consent import services as consent_services
    from core.errors import ServiceError

    mib = 1024 * 1024
    upload = partials.partial_create(user_id=consented.pk, length=40 * mib, filename="IMG_0403.MOV")
    clock = [1000.0]
    monkeypatch.setattr(partials, "_clock", lambda: clock[0])

    def gone():
        if ending == "withdrawn":
            with django_capture_on_commit_callbacks(execute=True):
                withdraw(consented)
        else:
            consent_services.notice_publish(purpose=purposes.CAMERA_ROLL, version="2", title="Camera Roll",
                                            text="What we do with your photos has changed.", material=True)

    taken = []

    def link():  # 1 MiB a second; consent goes as the fourth megabyte arrives
        for n in range(40):
            if n == 3:
                gone()
            clock[0] += 1.0
            taken.append(n)
            yield bytes([n]) * mib

    with pytest.raises(ServiceError) as refused:
        partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=link())
    assert refused.value.code == "consent_required"
    assert len(taken) <= 5  # at most a second or two of the link after consent went, not the 32 MiB segment
    if ending == "withdrawn":
        assert not PartialUpload.objects.exists() and not stored_files(tmp_path)
    else:
        assert PartialUpload.objects.get().offset <= 4 * mib


@pytest.mark.parametrize("value", ["²", "¹0", "٣"])
def test_a_header_of_digits_that_are_not_ascii_is_a_400_not_a_crash(consented, api, value):
    """str.isdigit() holds for '²' (a byte of a latin-1 header), which int() refuses: the header is a
    bad request, answered as one, never an unhandled error."""
    client = api(consented)
    created = client.post("/api/v1/media/uploads/", HTTP_UPLOAD_LENGTH=value, **TUS)
    assert created.status_code == 400 and created.json()["error"]["code"] == "invalid_request"
    location = create(client, 5000)["Location"]
    refused = client.generic("PATCH", location, b"x" * 10, content_type="application/offset+octet-stream",
                             HTTP_UPLOAD_OFFSET=value, **TUS)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request"
    assert PartialUpload.objects.get().offset == 0

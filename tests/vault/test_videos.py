"""Videos through POST media/: parsed in a box, kept without their place, refused cleanly when hostile.

Every clip is made here with PyAV (tests/vault/clips.py)."""

import functools
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from audit.models import AuditEvent
from consent import purposes
from core.errors import ServiceError
from tests.vault.clips import PARIS, atoms, clip_bytes
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from tests.vault.test_api_media import upload
from vault import blobs, content, exports, gateway, selectors, services, storage, videos
from vault.models import MediaItem

pytestmark = pytest.mark.django_db

IPHONE = {"location": PARIS, "make": "Apple", "model": "iPhone 15 Pro", "creation_time": "2024-05-01T10:00:00Z"}


@functools.cache
def iphone_mov() -> bytes:
    return clip_bytes(fmt="mov", metadata=IPHONE, rotation=90, audio=True)


@functools.cache
def absurd() -> bytes:
    return clip_bytes(frames=1, size=(8192, 4352))  # 35.7 Mpx a frame, over VIDEO_MAX_PIXELS


def stored_blobs(tmp_path) -> list:
    root = tmp_path / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def item_blobs(item) -> dict[str, bytes]:
    return {name.rsplit(".", 1)[-1]: b"".join(storage.blob_read(name=name))
            for name in content.item_names(item) if storage.blob_exists(name=name)}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def mov_item(consented, api):
    response = upload(api(consented), iphone_mov(), name="IMG_0042.MOV", content_type="video/quicktime")
    assert response.status_code == 201, response.json()
    return MediaItem.objects.select_related("key").get(pk=response.json()["id"])


def test_it_takes_a_quicktime_clip_and_reads_what_it_needs(consented, mov_item, api):
    item = mov_item
    assert item.content_type == "video/quicktime" and item.source_content_type == "video/quicktime"
    assert item.duration_ms == 1000
    assert (item.width, item.height) == (48, 64)  # upright: the clip is turned a quarter
    assert item.has_location and item.source_size == len(iphone_mov())
    meta = selectors.media_meta(item=item)  # sealed under the holder's key, like a photo's
    assert meta.captured_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert (meta.lat, meta.lon) == (pytest.approx(48.8584), pytest.approx(2.2945))
    assert meta.is_video and meta.duration_ms == 1000
    held = item_blobs(item)
    assert set(held) == {"original", "thumbnail", "source"}
    assert item.stored_bytes == sum(len(b) for b in held.values())
    for blob in held.values():  # nothing in clear in storage
        assert not atoms(blob) and b"ftyp" not in blob
        assert blobs.parse_header(blob).key_id == item.item_key_id


def test_a_mov_with_its_place_is_accepted_and_only_the_owners_export_returns_the_place(consented, mov_item, api):
    item, original = mov_item, iphone_mov()
    assert {b"\xa9xyz", b"\xa9mak", b"\xa9mod"} <= atoms(original)
    client = api(consented)
    # The service's copy, as the owner reads it: playable, and neither place nor device in it.
    response = client.get(f"/api/v1/media/{item.pk}/content/")
    assert response.status_code == 200 and response["Content-Type"] == "video/quicktime"
    served = body(response)
    assert served[4:8] == b"ftyp" and not atoms(served) and b"48.8584" not in served
    assert b"".join(gateway.owner_open(user_id=consented.pk, item_id=item.pk).chunks) == served
    poster = body(client.get(f"/api/v1/media/{item.pk}/thumbnail/"))
    assert poster[:3] == b"\xff\xd8\xff" and b"48.8584" not in poster
    # Lists never say where; every purpose's read gets the poster at most, never the clip or the file.
    listed = client.get("/api/v1/media/").json()["results"]
    assert "location" not in listed[0] and b"48.8584" not in str(listed).encode()
    grant(consented, purposes.FACE_ANALYSIS)
    for purpose in (gateway.PURPOSE_SUGGESTIONS, gateway.PURPOSE_FACES):
        assert gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[item.pk]) == []
        (released,) = gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[item.pk], variant="thumbnail")
        assert released.data == poster
        assert all(not meta.is_video for meta in gateway.candidates(user_id=consented.pk, purpose=purpose))
        with pytest.raises(ValueError):
            gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[item.pk], variant="source")
    # The owner's export, and only it, returns the file as it came, place and all.
    opened = exports.export_source_open(user_id=consented.pk, item_id=item.pk)
    assert opened.content_type == "video/quicktime" and b"".join(opened.chunks) == original


def test_an_mp4_with_hevc_and_a_loci_place_is_kept_without_it(consented):
    data = clip_bytes(fmt="mp4", codec="libx265", metadata={"location": PARIS})
    assert b"loci" in data
    result = services.media_upload(user_id=consented.pk, data=data, filename="PXL_1.mp4")
    assert result.item.content_type == "video/mp4" and result.meta.lat == pytest.approx(48.8584)
    opened = gateway.owner_open(user_id=consented.pk, item_id=result.item.pk)
    assert not atoms(b"".join(opened.chunks))


def test_a_one_frame_clip_is_a_video(consented):
    result = services.media_upload(user_id=consented.pk, data=clip_bytes(frames=1), filename="one.mp4")
    assert result.item.duration_ms is not None and result.item.thumbnail_size > 0


def test_the_same_clip_twice_is_a_duplicate(consented):
    data = clip_bytes(frames=3)
    first = services.media_upload(user_id=consented.pk, data=data, filename="a.mov")
    again = services.media_upload(user_id=consented.pk, data=data, filename="b.mov")
    assert again.duplicate and again.item.pk == first.item.pk


def _hostile():
    clip = clip_bytes(frames=10)
    return {
        "truncated": (clip[: len(clip) // 2], "a.mov", "invalid_video", 400),
        "garbage_after_ftyp": (clip[:32] + bytes(range(256)) * 40, "a.mp4", "invalid_video", 400),
        "zero_length": (b"", "empty.mp4", "invalid_video", 400),
        "html_named_mp4": (b"<!doctype html><html><body>" + b"x" * 500 + b"</body></html>", "clip.mp4",
                           "invalid_video", 400),
        "ten_hours": (clip_bytes(frames=2, rate=15, frame_step=15 * 3600 * 10), "long.mov", "video_too_long", 413),
        "not_h264_or_hevc": (clip_bytes(codec="mpeg4"), "old.mp4", "unsupported_media_type", 415),
    }


@pytest.mark.parametrize("case", list(_hostile()))
def test_hostile_clips_get_a_4xx_with_nothing_stored_and_an_audit_event(case, consented, api, tmp_path):
    data, name, code, status = _hostile()[case]
    response = upload(api(consented), data, name=name, content_type="video/mp4")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert not MediaItem.objects.exists() and not stored_blobs(tmp_path)
    refused = AuditEvent.objects.filter(action="media.upload_refused", subject_id=consented.pk).last()
    assert refused.details["code"] == code and refused.outcome == "denied"


def test_absurd_dimensions_are_refused_before_a_frame_is_decoded(consented, api, tmp_path):
    response = upload(api(consented), absurd(), name="big.mov", content_type="video/quicktime")
    assert response.status_code == 413 and response.json()["error"]["code"] == "video_too_large"
    assert not MediaItem.objects.exists() and not stored_blobs(tmp_path)
    refused = AuditEvent.objects.get(action="media.upload_refused", subject_id=consented.pk)
    assert refused.details["code"] == "video_too_large" and refused.outcome == "denied"


def _box(tmp_path, code: str) -> str:
    """A stand-in for the parser that misbehaves after setting the real box's limits on itself."""
    path = tmp_path / "box.py"
    path.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(videos.BOX.rsplit("/", 1)[0])!r})
        import video_box
        limits = json.loads(sys.argv[1])
        video_box._limit(int(limits["memory_bytes"]), int(limits["cpu_seconds"]))
        sys.stdin.buffer.read()
    """) + code)
    return str(path)


BEHAVIOURS = {
    "segfault": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "memory_bomb": "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 * 1024))\n",
    "cpu_spin": "while True:\n    pass\n",
    "hang": "import time\ntime.sleep(3600)\n",
    "lies": "sys.stdout.write('{\"ok\": true, \"remux_bytes\": 99, \"poster_bytes\": 9}\\n')\n",
}


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
def test_a_crash_a_hang_or_a_bomb_in_the_parser_is_a_clean_refusal(behaviour, consented, api, tmp_path, settings,
                                                                   monkeypatch):
    settings.VIDEO_PROBE_SECONDS = 2
    settings.VIDEO_PROBE_MEMORY_BYTES = 256 * 1024 * 1024
    monkeypatch.setattr(videos, "BOX", _box(tmp_path, BEHAVIOURS[behaviour]))
    # A photo first: with the account's key made, the clip's source is sealed while the box reads it.
    photo = services.media_upload(user_id=consented.pk, data=jpeg_bytes(), filename="a.jpg").item
    kept = sorted(stored_blobs(tmp_path))
    response = upload(api(consented), clip_bytes(frames=2), name="a.mov", content_type="video/quicktime")
    assert response.status_code == 422 and response.json()["error"]["code"] == "video_probe_failed"
    assert list(MediaItem.objects.all()) == [photo] and sorted(stored_blobs(tmp_path)) == kept
    assert AuditEvent.objects.filter(action="media.upload_refused", details__code="video_probe_failed").exists()


def test_the_parser_gets_no_secret_of_the_service(settings, tmp_path, monkeypatch):
    seen = tmp_path / "env.txt"
    monkeypatch.setattr(videos, "BOX", _box(tmp_path, f"import os\nopen({str(seen)!r}, 'w')"
                                                      ".write(repr(dict(os.environ)))\n"))
    monkeypatch.setenv("VAULT_MASTER_KEYS", settings.VAULT_MASTER_KEYS or "k1:secret")
    with pytest.raises(ServiceError):
        videos.video_inspect(data=clip_bytes(frames=1), sha256="00")
    assert "VAULT_MASTER_KEYS" not in seen.read_text() and "DATABASE_URL" not in seen.read_text()
    assert sys.executable  # the box runs under this interpreter, isolated (-I)


def test_consent_is_checked_again_at_the_end(consented, tmp_path, monkeypatch):
    poster = videos.BoxSession.poster

    def withdrawn_meanwhile(self):
        found = poster(self)
        withdraw(consented)  # while the clip was being parsed and stored
        return found

    monkeypatch.setattr(videos.BoxSession, "poster", withdrawn_meanwhile)
    with pytest.raises(ServiceError) as refused:
        services.media_upload(user_id=consented.pk, data=clip_bytes(frames=2), filename="a.mov")
    assert refused.value.code == "consent_required"
    assert not MediaItem.objects.exists() and not stored_blobs(tmp_path)


def test_no_consent_no_parse(alice, monkeypatch):
    monkeypatch.setattr(videos, "_start_box", lambda *args: pytest.fail("parsed without consent"))
    with pytest.raises(ServiceError) as refused:
        services.media_upload(user_id=alice.pk, data=clip_bytes(frames=2), filename="a.mov")
    assert refused.value.code == "consent_required"


def test_withdrawal_shreds_videos(consented, mov_item, tmp_path, django_capture_on_commit_callbacks):
    services.media_upload(user_id=consented.pk, data=jpeg_bytes(), filename="a.jpg")
    assert stored_blobs(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert not MediaItem.objects.filter(owner=consented).exists() and not stored_blobs(tmp_path)


def test_exclusions_by_date_and_place_apply_to_videos(consented, mov_item):
    def poster_released() -> bool:
        return bool(gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS,
                                    item_ids=[mov_item.pk], variant="thumbnail"))

    assert poster_released()
    place = services.exclusion_create_place(user_id=consented.pk, name="Tower", lat=48.858, lon=2.294, radius_m=500)
    assert not poster_released()
    services.exclusion_delete(user_id=consented.pk, exclusion_id=place.pk)
    assert poster_released()
    services.exclusion_create_date_range(user_id=consented.pk, start=datetime(2024, 5, 1).date(),
                                         end=datetime(2024, 5, 1).date())
    assert not poster_released()


def test_a_video_larger_than_video_max_bytes_is_refused(consented, settings):
    settings.VIDEO_MAX_BYTES = 1000
    with pytest.raises(ServiceError) as refused:
        services.media_upload(user_id=consented.pk, data=clip_bytes(frames=15), filename="a.mov")
    assert refused.value.code == "file_too_large"


def test_the_export_holds_the_video_as_uploaded_by_its_name_with_a_sidecar(consented, mov_item, api,
                                                                           django_capture_on_commit_callbacks):
    import io
    import json
    import zipfile

    from support import rights

    with django_capture_on_commit_callbacks(execute=True):
        export = rights.export_request(user=consented)
    export.refresh_from_db()
    response = api(consented).get(f"/api/v1/me/export/{export.pk}/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.read("media/videos/IMG_0042.MOV") == iphone_mov()
    sidecar = json.loads(archive.read("media/videos/IMG_0042.MOV.json"))
    assert sidecar["duration_ms"] == 1000 and sidecar["content_type"] == "video/quicktime"
    assert sidecar["lat"] == pytest.approx(48.8584) and sidecar["original_filename"] == "IMG_0042.MOV"
    assert not [n for n in archive.namelist() if n.startswith("media/photos/")]


def test_the_timeline_shows_a_poster_with_the_duration_and_plays_the_clip_with_ranges(consented, bob, mov_item):
    from django.test import Client

    client = Client()
    client.force_login(consented)
    page = client.get("/media/").content.decode()
    assert f'poster="/media/{mov_item.pk}/thumbnail/"' in page and f'src="/media/{mov_item.pk}/original/"' in page
    assert '<span class="badge duration">0:01</span>' in page
    whole = body(client.get(f"/media/{mov_item.pk}/original/"))
    piece = client.get(f"/media/{mov_item.pk}/original/", HTTP_RANGE="bytes=100-199")
    assert piece.status_code == 206 and piece["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert body(piece) == whole[100:200] and piece["Content-Type"] == "video/quicktime"
    assert client.get(f"/media/{mov_item.pk}/original/", HTTP_RANGE=f"bytes={len(whole)}-").status_code == 416
    read = AuditEvent.objects.filter(action="media.read", object_id=str(mov_item.pk)).last()
    assert read.details["range"] == [100, 199] and read.purpose == gateway.PURPOSE_OWNER
    other = Client()
    other.force_login(bob)
    assert other.get(f"/media/{mov_item.pk}/original/", HTTP_RANGE="bytes=0-9").status_code == 404


def test_storage_counts_videos(consented, mov_item):
    services.media_upload(user_id=consented.pk, data=jpeg_bytes(), filename="a.jpg")
    summary = selectors.media_summary(user_id=consented.pk)
    assert summary["items"] == 2 and summary["videos"] == 1
    assert summary["videos_bytes"] == mov_item.stored_bytes > mov_item.source_size
    assert summary["items_bytes"] == sum(i.stored_bytes for i in MediaItem.objects.filter(owner=consented))
    from django.test import Client

    client = Client()
    client.force_login(consented)
    assert "1 photo, 1 video" in client.get("/media/").content.decode()


def test_a_video_in_one_request_is_spooled_encrypted_not_held_in_memory(consented, api, tmp_path, settings):
    """POST media/ with a clip near VAULT_MAX_UPLOAD_BYTES: the web process holds the request's body
    (the test client's copy) and little more: the clip is spooled encrypted as it is parsed out of
    the body (vault.uploads), never read whole, and the export gives it back byte for byte."""
    import hashlib
    import struct
    import tracemalloc

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    settings.VAULT_MAX_UPLOAD_BYTES = 40 * 1024 * 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    head = clip_bytes(frames=30, metadata={"location": PARIS})
    padding = 32 * 1024 * 1024
    clip = head + struct.pack(">I4s", 8 + padding, b"free") + bytes(padding)
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("IMG_0200.MOV", clip, "video/quicktime")})
    client = api(consented)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        response = client.generic("POST", "/api/v1/media/", body, content_type=MULTIPART_CONTENT)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.content[:300]
    # The test client copies the body once (FakePayload); the service adds far less than a second copy.
    assert peak < len(body) + 12 * 1024 * 1024, peak / 1e6
    item = MediaItem.objects.get(pk=response.json()["id"])
    opened = exports.export_source_open(user_id=consented.pk, item_id=item.pk)
    assert hashlib.sha256(b"".join(opened.chunks)).digest() == hashlib.sha256(clip).digest()
    assert not [p for p in tmp_path.iterdir() if p.is_file()]  # the spools are unnamed and gone


def test_the_spool_keeps_nothing_readable_on_disk(tmp_path):
    from vault.uploads import MemoryOnlyUploadHandler

    handler = MemoryOnlyUploadHandler()
    handler.new_file("file", "IMG_0201.MOV", "video/quicktime", None)
    clip = iphone_mov()
    handler.receive_data_chunk(clip, 0)
    spooled = handler.file_complete(len(clip))
    raw = open(f"/proc/self/fd/{spooled.file._file.fileno()}", "rb").read()  # noqa: SIM115, PTH123
    assert len(raw) == len(clip) and clip[100:164] not in raw and b"\xa9xyz" not in raw
    assert b"".join(spooled.pieces()) == clip
    photo = MemoryOnlyUploadHandler()
    photo.new_file("file", "a.jpg", "image/jpeg", None)
    photo.receive_data_chunk(jpeg_bytes(), 0)
    assert photo.file_complete(len(jpeg_bytes())).read() == jpeg_bytes()


def test_a_box_started_ahead_is_used_once_with_the_limits_of_its_video(consented, api, tmp_path, settings,
                                                                       monkeypatch):
    """VIDEO_BOX_WARM: the spare box does its imports before a video comes, then takes the limits of
    the video it is given (a refusal by those limits still comes) and is not used again."""
    started = []
    popen = videos._popen
    monkeypatch.setattr(videos, "_popen", lambda argument: started.append(argument[:6]) or popen(argument))
    settings.VIDEO_BOX_WARM = True
    monkeypatch.setattr(videos, "_spare", None)
    first = upload(api(consented), clip_bytes(frames=3), name="a.mov", content_type="video/quicktime")
    assert first.status_code == 201 and started == ["--warm", '{"memo']  # none ready: one now, one ahead
    spare = videos._spare
    settings.VIDEO_MAX_SECONDS = 2
    refused = upload(api(consented), clip_bytes(frames=4, rate=1), name="b.mov", content_type="video/quicktime")
    assert refused.json()["error"]["code"] == "video_too_long"  # the spare read this video's limits
    assert started == ["--warm", '{"memo', "--warm"] and videos._spare is not spare  # used once, replaced
    spare.wait(timeout=10)  # it ended: used once
    settings.VIDEO_BOX_WARM = False
    videos._kill(videos._spare)


def test_a_video_of_the_largest_size_a_plain_zip_member_cannot_hold_is_exported(consented, mov_item, api,
                                                                                django_capture_on_commit_callbacks,
                                                                                monkeypatch):
    """A source of exactly 2 GiB (VIDEO_MAX_BYTES' default allows it) is one byte past what a zip
    member without ZIP64 holds; the export must switch to ZIP64 from the size it is about to write
    (it switched only above 2 GiB). ZIP64_LIMIT is lowered to the clip's size minus one to try it."""
    import io
    import zipfile

    from support import rights

    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", len(iphone_mov()) - 1)
    with django_capture_on_commit_callbacks(execute=True):
        export = rights.export_request(user=consented)
    export.refresh_from_db()
    assert export.status == "ready", export.status
    response = api(consented).get(f"/api/v1/me/export/{export.pk}/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.read("media/videos/IMG_0042.MOV") == iphone_mov()


def test_a_file_that_arrives_slowly_is_not_cut_short_but_a_stalled_box_is(consented, settings, tmp_path,
                                                                          monkeypatch):
    """The box's wall-clock limit counts from the last progress: a large file read from storage for
    longer than VIDEO_PROBE_SECONDS in all is parsed (it was killed after VIDEO_PROBE_SECONDS from
    the start), while a box that stops taking the file in is still killed."""
    import time

    settings.VIDEO_PROBE_SECONDS = 1
    clip = clip_bytes(frames=6)
    step = len(clip) // 5 + 1

    def slowly():
        for at in range(0, len(clip), step):
            time.sleep(0.4)  # 2 s in all, each piece well within the limit
            yield clip[at : at + step]

    result = services.video_upload_stream(user_id=consented.pk, open_source=slowly, filename="slow.mov")
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=result.item.pk).chunks) == clip

    monkeypatch.setattr(videos, "BOX", _box(tmp_path, "import time\ntime.sleep(3600)\n"))
    with pytest.raises(ServiceError) as stalled:
        services.video_upload_stream(user_id=consented.pk, open_source=lambda: iter([clip_bytes(frames=2)]),
                                     filename="hang.mov")
    assert stalled.value.code == "video_probe_failed"


def test_with_the_account_key_made_the_file_is_read_once_and_a_refusal_or_duplicate_leaves_nothing(
        consented, tmp_path):
    """Once the account has its key, the source is sealed while the box reads the file (one read of
    it); a clip the box refuses, or one already held, leaves no blob behind all the same."""
    data = clip_bytes(frames=3)
    services.media_upload(user_id=consented.pk, data=data, filename="a.mov")
    kept = sorted(stored_blobs(tmp_path))
    reads = []

    def counted(chunks):
        def open_source():
            reads.append(1)
            return iter(chunks)
        return open_source

    again = services.video_upload_stream(user_id=consented.pk, open_source=counted([data]), filename="b.mov")
    assert again.duplicate and sorted(stored_blobs(tmp_path)) == kept
    for hostile in (data[: len(data) // 2], data[:64] + b"\0" * 4000):
        with pytest.raises(ServiceError) as refused:
            services.video_upload_stream(user_id=consented.pk, open_source=counted([hostile]), filename="c.mov")
        assert refused.value.code in ("invalid_video", "video_probe_failed")
        assert sorted(stored_blobs(tmp_path)) == kept
    reads.clear()
    other = clip_bytes(frames=4)
    stored = services.video_upload_stream(user_id=consented.pk, open_source=counted([other]), filename="d.mov")
    assert len(reads) == 1  # read once: into the box and the sealed source together
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=stored.item.pk).chunks) == other

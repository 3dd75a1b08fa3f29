"""Uploads that try to break the vault: hostile files, oversize bodies, temp files, tampered blobs."""

import io
import json
import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from PIL import Image

from audit.models import AuditEvent
from core.errors import ERROR_CODES
from tests.vault.conftest import jpeg_bytes
from vault import blobs
from vault.models import MediaItem

pytestmark = pytest.mark.django_db

HOSTILE = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"
EXPECTED = json.loads((HOSTILE / "expected.json").read_text()) if (HOSTILE / "expected.json").exists() else {}


def post(client, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return client.post(
        "/api/v1/media/", {"file": SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart"
    )


def stored_files(tmp_path):
    root = tmp_path / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def noise_jpeg(width=400, height=400) -> bytes:
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.skipif(not EXPECTED, reason="the hostile corpus (tests/fixtures/hostile) is not there")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_gives_every_hostile_file_its_code_through_the_api(consented, api, tmp_path, name):
    expected = EXPECTED[name]
    response = post(api(consented), (HOSTILE / name).read_bytes(), name=name)
    if expected == "accepted":
        assert response.status_code == 201, response.json()
        assert MediaItem.objects.count() == 1
        return
    assert response.status_code == ERROR_CODES[expected][0]
    assert response.json()["error"]["code"] == expected
    assert MediaItem.objects.count() == 0
    assert stored_files(tmp_path) == []
    event = AuditEvent.objects.get(action="media.upload_refused")
    assert (event.details["code"], event.outcome) == (expected, "denied")


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "empty.jpg", "invalid_image"),
        (b"hello, I am a text file\n" * 20, "notes.txt", "invalid_image"),
        (jpeg_bytes()[:300], "cut.jpg", "invalid_image"),
    ],
)
def test_it_refuses_bad_input_with_the_right_code(consented, api, tmp_path, data, name, code):
    response = post(api(consented), data, name=name)
    assert response.json()["error"]["code"] == code
    assert MediaItem.objects.count() == 0 and stored_files(tmp_path) == []
    assert AuditEvent.objects.filter(action="media.upload_refused", outcome="denied").count() == 1


def test_it_refuses_a_60_mb_file_without_keeping_it(consented, api, tmp_path, settings):
    big = b"\xff\xd8" + os.urandom(60 * 1024 * 1024)
    response = post(api(consented), big, name="huge.jpg")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert MediaItem.objects.count() == 0 and stored_files(tmp_path) == []
    assert AuditEvent.objects.get(action="media.upload_refused").details["code"] == "file_too_large"


def test_it_never_writes_an_upload_to_a_temporary_file(consented, api, tmp_path, settings, monkeypatch):
    temp_dir = tmp_path / "uploads"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be spooled to a temporary file")

    monkeypatch.setattr(TemporaryUploadedFile, "__init__", refuse)
    data = noise_jpeg(1600, 1500)
    assert len(data) > 2_621_440  # above Django's default in-memory limit of 2.5 MB
    response = post(api(consented), data)
    assert response.status_code == 201, response.json()
    assert list(temp_dir.iterdir()) == []
    marker = data[len(data) // 2:len(data) // 2 + 64]
    for path in stored_files(tmp_path):
        assert marker not in path.read_bytes()


@pytest.fixture
def big_item(consented, api, tmp_path):
    body = post(api(consented), noise_jpeg()).json()
    item = MediaItem.objects.get(pk=body["id"])
    path = next(p for p in stored_files(tmp_path) if p.name == f"{item.uid.hex}.original")
    assert path.stat().st_size > 3 * 16 * 1024
    return item, path


def test_it_aborts_a_stream_whose_blob_was_changed_midway(big_item, consented, api):
    item, path = big_item
    raw = bytearray(path.read_bytes())
    raw[len(raw) - 100] ^= 0x40
    path.write_bytes(bytes(raw))
    response = api(consented).get(f"/api/v1/media/{item.pk}/content/")
    assert response.status_code == 200  # the first chunks were good...
    with pytest.raises(blobs.BlobIntegrityError):  # ...and the stream is cut, never completed
        b"".join(response.streaming_content)


def test_it_aborts_a_stream_whose_blob_was_truncated(big_item, consented, api):
    item, path = big_item
    path.write_bytes(path.read_bytes()[:-1000])
    response = api(consented).get(f"/api/v1/media/{item.pk}/content/")
    with pytest.raises(blobs.BlobIntegrityError):
        b"".join(response.streaming_content)


def test_it_refuses_a_blob_swapped_between_items(big_item, consented, api, tmp_path):
    item, path = big_item
    other = MediaItem.objects.get(pk=post(api(consented), jpeg_bytes()).json()["id"])
    other_path = next(p for p in stored_files(tmp_path) if p.name == f"{other.uid.hex}.original")
    other_path.write_bytes(path.read_bytes())
    response = api(consented).get(f"/api/v1/media/{other.pk}/content/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "media_unreadable"
    event = AuditEvent.objects.get(action="media.read", outcome="error")
    assert event.details == {"code": "wrong_object"} and event.object_id == str(other.pk)


def test_it_refuses_a_blob_with_a_changed_header(big_item, consented, api):
    item, path = big_item
    raw = bytearray(path.read_bytes())
    raw[blobs.HEADER_BYTES - 5] ^= 0x01  # inside the wrapped blob key
    path.write_bytes(bytes(raw))
    response = api(consented).get(f"/api/v1/media/{item.pk}/thumbnail/")
    assert response.status_code == 200  # the thumbnail is its own blob, untouched
    response = api(consented).get(f"/api/v1/media/{item.pk}/content/")
    assert response.status_code == 500 and response.json()["error"]["code"] == "media_unreadable"


def test_it_never_releases_a_tampered_blob_through_the_gateway(big_item, consented):
    from vault import gateway

    item, path = big_item
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception) as caught:
        gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[item.pk])
    assert caught.value.code == "media_unreadable"
    assert not AuditEvent.objects.filter(action="media.read", outcome="allowed").exists()
    assert AuditEvent.objects.filter(action="media.read", outcome="error").count() == 1


def _refused_names():
    return sorted(name for name, expected in EXPECTED.items() if expected != "accepted")


@pytest.mark.skipif(not EXPECTED, reason="the hostile corpus (tests/fixtures/hostile) is not there")
@pytest.mark.parametrize("name", _refused_names())
def test_a_hostile_file_after_a_first_photo_leaves_nothing_either(consented, api, tmp_path, name):
    """With the account's key in place the original is stored while the pixels decode: a file that
    fails its decode takes that blob with it."""
    client = api(consented)
    assert post(client, noise_jpeg()).status_code == 201
    before = sorted(stored_files(tmp_path))
    response = post(client, (HOSTILE / name).read_bytes(), name=name)
    assert response.json()["error"]["code"] == EXPECTED[name]
    assert MediaItem.objects.count() == 1
    assert sorted(stored_files(tmp_path)) == before
    assert AuditEvent.objects.filter(action="media.upload_refused", outcome="denied").count() == 1


def test_a_decode_that_fails_unexpectedly_takes_the_stored_original_with_it(consented, tmp_path, monkeypatch):
    from vault import services
    from vault.images import PreparedImage

    services.media_upload(user_id=consented.pk, data=noise_jpeg())
    before = sorted(stored_files(tmp_path))

    def boom(self):
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(PreparedImage, "decode", boom)
    with pytest.raises(RuntimeError, match="decoder crashed"):
        services.media_upload(user_id=consented.pk, data=noise_jpeg())
    assert MediaItem.objects.count() == 1
    assert sorted(stored_files(tmp_path)) == before


@pytest.mark.parametrize("failing", ["thumbnail", "original"])
@pytest.mark.parametrize("first_photo", [True, False])
def test_a_blob_write_that_fails_in_the_background_commits_nothing(consented, tmp_path, monkeypatch, failing,
                                                                   first_photo):
    """Blobs are written while the rows are prepared: a failed write still means no row, no event, no file."""
    from vault import services, storage

    if first_photo:
        services.media_upload(user_id=consented.pk, data=noise_jpeg())
    before = sorted(stored_files(tmp_path))
    uploaded = AuditEvent.objects.filter(action="media.uploaded").count()
    real_write = storage.blob_write

    def write(*, name, chunks):
        if name.endswith("." + failing):
            real_write(name=name, chunks=chunks)  # on disk, then the disk "fails" (as a late fsync would)
            raise OSError(5, "Input/output error")
        return real_write(name=name, chunks=chunks)

    monkeypatch.setattr(storage, "blob_write", write)
    with pytest.raises(OSError, match="Input/output error"):
        services.media_upload(user_id=consented.pk, data=noise_jpeg())
    assert MediaItem.objects.count() == (1 if first_photo else 0)
    assert AuditEvent.objects.filter(action="media.uploaded").count() == uploaded
    assert sorted(stored_files(tmp_path)) == before

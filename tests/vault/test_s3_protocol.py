"""The vault's blobs on S3 over the wire: boto3 talks HTTP to moto's server exactly as to AWS."""

import hashlib
import io
import json
import tracemalloc
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from core.uow import Actor
from tests.vault.conftest import grant, jpeg_bytes
from vault import blobs, content, gateway, keyring, keys, services, shredding, storage
from vault.models import AccountKey, MediaItem

MIB = 1024 * 1024


def data_key(user_id=7):
    return keys.DataKey(user_id=user_id, key_id=uuid.uuid4(), scope=keys.SCOPE_MEDIA, key=keys.new_data_key())


def pattern(total: int, piece: int = MIB):
    """``total`` bytes in pieces, made as they are asked for (never held whole)."""
    for start in range(0, total, piece):
        yield bytes([start // piece % 251]) * min(piece, total - start)


def peak_bytes(action):
    """Run ``action`` and return (its result, the most memory Python held for it at once)."""
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_small_blob_is_one_object_of_ciphertext(s3_server, s3_bucket):
    key, uid = data_key(), uuid.uuid4()
    name, size = content.content_write(data_key=key, uid=uid, variant="thumbnail", chunks=[b"thumb" * 100])
    assert s3_server.keys(s3_bucket) == [f"blobs/{name}"]
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=f"blobs/{name}")
    body = stored["Body"].read()
    assert len(body) == size and b"thumb" not in body
    assert "-" not in stored["ETag"]  # a single PUT, not a multipart upload
    assert content.content_read(data_key=key, uid=uid, variant="thumbnail") == b"thumb" * 100


def test_a_large_blob_goes_up_in_parts_and_comes_back_as_a_stream_with_constant_memory(s3_server, s3_bucket):
    storage.blob_exists(name="warm-up")  # the S3 client is made once per process; that is not per blob
    key = data_key()

    def write(total):
        uid = uuid.uuid4()
        (name, size), peak = peak_bytes(
            lambda: content.content_write(data_key=key, uid=uid, variant="original", chunks=pattern(total))
        )
        return uid, name, size, peak

    def read(uid):
        digest, count = hashlib.sha256(), 0
        for chunk in content.content_stream(data_key=key, uid=uid, variant="original"):
            digest.update(chunk)
            count += len(chunk)
        return digest.hexdigest(), count

    _, _, _, small_write_peak = write(12 * MIB)
    uid, name, size, write_peak = write(48 * MIB)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=f"blobs/{name}")
    assert head["ContentLength"] == size > 48 * MIB
    assert head["ETag"].strip('"').endswith(f"-{-(-size // storage.S3_PART_BYTES)}")  # a multipart upload
    assert s3_server.uploads_in_progress(s3_bucket) == []

    (digest, count), read_peak = peak_bytes(lambda: read(uid))
    expected = hashlib.sha256()
    for piece in pattern(48 * MIB):
        expected.update(piece)
    assert (digest, count) == (expected.hexdigest(), 48 * MIB)
    # One part in flight on the way up, a few read buffers on the way down; never the blob,
    # and four times the blob costs no more memory than one.
    assert write_peak < 3 * storage.S3_PART_BYTES, write_peak
    assert write_peak < small_write_peak + MIB, (small_write_peak, write_peak)
    assert read_peak < 8 * MIB, read_peak


def test_a_failed_upload_leaves_no_object_and_no_open_multipart_upload(s3_server, s3_bucket):
    def failing():
        yield from pattern(20 * MIB)
        raise OSError("the client went away")

    with pytest.raises(OSError, match="went away"):
        content.content_write(data_key=data_key(), uid=uuid.uuid4(), variant="original", chunks=failing())
    assert s3_server.keys(s3_bucket) == []
    assert s3_server.uploads_in_progress(s3_bucket) == []


def test_it_never_overwrites_a_blob(s3_server, s3_bucket):
    key, uid = data_key(), uuid.uuid4()
    content.content_write(data_key=key, uid=uid, variant="original", chunks=[b"first"])
    with pytest.raises(FileExistsError):
        content.content_write(data_key=key, uid=uid, variant="original", chunks=[b"second"])
    assert content.content_read(data_key=key, uid=uid, variant="original") == b"first"
    assert len(s3_server.keys(s3_bucket)) == 1


def test_a_missing_or_damaged_object_is_an_integrity_error(s3_server, s3_bucket):
    key, uid = data_key(), uuid.uuid4()
    with pytest.raises(blobs.BlobIntegrityError, match="missing"):
        content.content_read(data_key=key, uid=uid, variant="original")
    name, _ = content.content_write(data_key=key, uid=uid, variant="original", chunks=[b"x" * 5000])
    client = s3_server.client()
    stored = client.get_object(Bucket=s3_bucket, Key=f"blobs/{name}")["Body"].read()
    client.put_object(Bucket=s3_bucket, Key=f"blobs/{name}", Body=stored[:-20])
    with pytest.raises(blobs.BlobIntegrityError):
        content.content_read(data_key=key, uid=uid, variant="original")


def test_a_folder_delete_removes_every_object_under_it_and_nothing_beside_it(s3_server, s3_bucket, monkeypatch):
    monkeypatch.setattr(storage, "S3_DELETE_BATCH", 3)  # several listing pages and delete requests
    doomed, kept = data_key(user_id=1), data_key(user_id=12)  # "vault/1" is a prefix of "vault/12"
    for _ in range(7):
        content.content_write(data_key=doomed, uid=uuid.uuid4(), variant="thumbnail", chunks=[b"t"])
    survivor, _ = content.content_write(data_key=kept, uid=uuid.uuid4(), variant="thumbnail", chunks=[b"t"])
    assert len(storage.folder_list(folder=storage.account_folder(user_id=1))) == 7
    assert storage.folder_delete(folder=storage.account_folder(user_id=1)) == 7
    assert s3_server.keys(s3_bucket) == [f"blobs/{survivor}"]
    assert storage.folder_list(folder=storage.ROOT) == [survivor]
    assert storage.folder_delete(folder=storage.account_folder(user_id=1)) == 0


@pytest.mark.django_db
@pytest.mark.child_clock  # the sweep weighs the S3 server's LastModified
def test_the_orphan_sweep_works_against_the_bucket(s3_server, s3_bucket, consented, bob, monkeypatch):
    grant(bob)
    for who in (consented, bob):
        services.media_upload(user_id=who.pk, data=jpeg_bytes(color=(who.pk * 30 % 255, 9, 9)), labels=[])
    # A crash after the key row went but before its blobs were deleted:
    monkeypatch.setattr("vault.content.delete_key_folder_after_commit", lambda *args, **kw: None)
    shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    # ...and an upload that wrote its blob but never committed its row:
    _, bob_key = keyring.data_key_get_or_create(user_id=bob.pk)
    stray, _ = content.content_write(data_key=bob_key, uid=uuid.uuid4(), variant="original", chunks=[b"half"])
    assert len(s3_server.keys(s3_bucket, f"blobs/vault/{consented.pk}/")) == 2
    # Everything is younger than an hour (the bucket's own LastModified): an upload may still be
    # writing, so nothing goes yet.
    assert shredding.orphans_sweep() == 0
    assert len(s3_server.keys(s3_bucket)) == 5
    assert shredding.orphans_sweep(now=timezone.now() + timedelta(hours=2)) == 3
    assert s3_server.keys(s3_bucket, f"blobs/vault/{consented.pk}/") == []
    bobs = s3_server.keys(s3_bucket, f"blobs/vault/{bob.pk}/")
    assert len(bobs) == 2 and f"blobs/{stray}" not in bobs  # his live original and thumbnail stay
    item = MediaItem.objects.get(owner=bob)
    opened = gateway.owner_open(user_id=bob.pk, item_id=item.pk)
    assert len(b"".join(opened.chunks)) == item.size


@pytest.mark.django_db
def test_upload_read_and_withdraw_through_the_api_leave_nothing_in_the_bucket(
    s3_server, s3_bucket, alice, api, django_capture_on_commit_callbacks
):
    client = api(alice)
    notice = client.get("/api/v1/consent/notices/camera_roll_cloud_processing/").json()
    response = client.put("/api/v1/consent/camera_roll_cloud_processing/",
                          {"granted": True, "notice_version": notice["version"]}, format="json")
    assert response.status_code == 200, response.content
    photo = jpeg_bytes(size=(640, 480), exif={"lat": 48.85, "lon": 2.35})
    response = client.post("/api/v1/media/", {"file": _named(photo), "labels": json.dumps(["paris"])},
                           format="multipart")
    assert response.status_code == 201, response.content
    item = response.json()
    assert len(s3_server.keys(s3_bucket, f"blobs/vault/{alice.pk}/")) == 2  # original and thumbnail

    original = client.get(f"/api/v1/media/{item['id']}/content/", HTTP_ACCEPT="image/*")
    assert original.status_code == 200
    data = b"".join(original.streaming_content)
    assert len(data) == item["size"] and Image.open(io.BytesIO(data)).size == (640, 480)
    assert client.get(f"/api/v1/media/{item['id']}/thumbnail/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.put("/api/v1/consent/camera_roll_cloud_processing/", {"granted": False}, format="json")
    assert response.status_code == 200, response.content
    assert s3_server.keys(s3_bucket, f"blobs/vault/{alice.pk}/") == []
    assert s3_server.keys(s3_bucket, f"blobs/exports/{alice.pk}/") == []
    assert not AccountKey.objects.filter(user=alice).exists()


def _named(data: bytes):
    handle = io.BytesIO(data)
    handle.name = "photo.jpg"
    return handle

"""Videos on S3-compatible storage, over HTTP against the moto server (tests/s3.py), as photos are:
a resumable upload's pieces, the remuxed copy, the poster and the sealed original are ciphertext
objects; a refused clip and a withdrawal leave the bucket empty."""

import pytest

from tests.vault.clips import PARIS, atoms, clip_bytes
from tests.vault.conftest import withdraw
from tests.vault.test_tus import TUS, create, patch
from vault import exports, partials
from vault.models import MediaItem, PartialUpload

pytestmark = pytest.mark.django_db


def objects(s3_server, bucket) -> dict[str, bytes]:
    client = s3_server.client()
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in s3_server.keys(bucket)}


def test_a_resumed_video_upload_on_s3_is_ciphertext_and_goes_with_a_withdrawal(
    s3_server, s3_bucket, consented, api, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(partials, "SEGMENT_BYTES", 64 * 1024)
    clip = clip_bytes(frames=30, size=(160, 120), noise=3, metadata={"location": PARIS, "make": "Apple"})
    assert len(clip) > 200_000
    client = api(consented)
    location = create(client, len(clip))["Location"]
    assert patch(client, location, 0, clip[:100_000]).status_code == 204
    pieces = objects(s3_server, s3_bucket)
    assert pieces and all(key.endswith(".partial") for key in pieces), sorted(pieces)
    for blob in pieces.values():  # nothing of the clip in clear in the bucket
        assert b"ftyp" not in blob and not atoms(blob) and clip[:64] not in blob
    offset = int(client.head(location, **TUS)["Upload-Offset"])
    with django_capture_on_commit_callbacks(execute=True):  # the segments go once the upload's row is gone
        done = patch(client, location, offset, clip[offset:])
    assert done.status_code == 204, done.content
    item = MediaItem.objects.get(pk=int(done["Media-Item-Id"]))
    stored = objects(s3_server, s3_bucket)
    assert sorted(key.rsplit(".", 1)[-1] for key in stored) == ["original", "source", "thumbnail"]
    for blob in stored.values():
        assert b"ftyp" not in blob and not atoms(blob) and b"48.8584" not in blob
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=item.pk).chunks) == clip
    assert not PartialUpload.objects.exists() and not s3_server.uploads_in_progress(s3_bucket)

    location = create(client, len(clip))["Location"]  # an unfinished one too
    patch(client, location, 0, clip[:100_000])
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert s3_server.keys(s3_bucket) == [] and not PartialUpload.objects.exists()


def test_a_refused_clip_leaves_nothing_in_the_bucket(s3_server, s3_bucket, consented, api):
    from tests.vault.test_api_media import upload

    clip = clip_bytes(frames=10)
    response = upload(api(consented), clip[: len(clip) // 2], name="cut.mov", content_type="video/quicktime")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_video"
    assert s3_server.keys(s3_bucket) == [] and not s3_server.uploads_in_progress(s3_bucket)


def test_a_seek_near_the_end_of_a_clip_on_s3_reads_it_with_ranged_gets(s3_server, s3_bucket, consented, api):
    from django.test import Client

    from tests.vault.test_api_media import upload
    from tests.vault.test_videos import body
    from vault import blobs

    clip = clip_bytes(frames=20, size=(320, 240), noise=4)
    item = MediaItem.objects.get(pk=upload(api(consented), clip, name="IMG_0101.MOV",
                                           content_type="video/quicktime").json()["id"])
    assert item.size > 10 * blobs.SEGMENT_BYTES
    client = Client()
    client.force_login(consented)
    whole = body(client.get(f"/media/{item.pk}/original/"))
    start = item.size - 1000
    piece = client.get(f"/media/{item.pk}/original/", HTTP_RANGE=f"bytes={start}-")
    assert piece.status_code == 206 and body(piece) == whole[start:]


def test_a_segment_larger_than_one_part_and_one_cut_short_on_s3(s3_server, s3_bucket, consented):
    """With the default segments (32 MiB: several S3 parts each), a PATCH whose body stops mid-segment
    (the phone's link dropped) keeps what came as a shorter object; the resumed upload ends byte for
    byte, and no multipart upload is left open."""
    import os
    import struct

    clip = clip_bytes(frames=30, size=(160, 120), noise=4)
    pad = 36 * 1024 * 1024 - len(clip)
    clip += struct.pack(">I4s", pad, b"free") + os.urandom(pad - 8)
    upload = partials.partial_create(user_id=consented.pk, length=len(clip), filename="IMG_0500.MOV")
    mib = 1024 * 1024
    cut = 33 * mib + 12345  # one whole segment (four parts), then a piece of the next: the link drops

    def body(data: bytes):
        for at in range(0, len(data), mib):
            yield data[at:at + mib]

    upload, result = partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=0, body=body(clip[:cut]))
    assert result is None and upload.offset == cut and upload.segments == 2
    assert not s3_server.uploads_in_progress(s3_bucket)
    upload, result = partials.partial_append(user_id=consented.pk, uid=upload.uid, offset=cut, body=body(clip[cut:]))
    assert result is not None and upload.offset == len(clip)
    assert b"".join(exports.export_source_open(user_id=consented.pk, item_id=result.item.pk).chunks) == clip
    assert not PartialUpload.objects.exists() and not s3_server.uploads_in_progress(s3_bucket)

"""Seeking in a large clip: a Range read decrypts the segments that hold it, not the clip up to it.

The stored format is unchanged (Cobblestone's fixed-size segments, vault.blobs): a blob written by
the streaming cipher is read at any offset, and every way of breaking it still fails."""

import os
import uuid

import pytest
from django.test import Client

from tests.vault.clips import clip_bytes
from tests.vault.test_api_media import upload
from tests.vault.test_videos import body
from vault import blobs, content, storage
from vault.keys import DataKey
from vault.models import MediaItem

SEGMENT = blobs.SEGMENT_BYTES


class Decrypted:
    """Counts the bytes of ciphertext handed to either decryption path of vault.blobs."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        counter = self
        stream_class, aead_class = blobs.Cobblestone256Decryptor, blobs.AESGCM

        class CountingStream:
            def __init__(self, *args):
                self._inner = stream_class(*args)

            def update(self, data):
                counter.bytes += len(data)
                return self._inner.update(data)

            def finalize(self):
                return self._inner.finalize()

        class CountingAead:
            def __init__(self, key):
                self._inner = aead_class(key)

            def encrypt(self, nonce, data, associated_data):
                return self._inner.encrypt(nonce, data, associated_data)

            def decrypt(self, nonce, data, associated_data):
                counter.bytes += len(data)
                return self._inner.decrypt(nonce, data, associated_data)

        monkeypatch.setattr(blobs, "Cobblestone256Decryptor", CountingStream)
        monkeypatch.setattr(blobs, "AESGCM", CountingAead)


@pytest.mark.django_db
def test_it_seeks_near_the_end_of_a_large_clip_decrypting_only_a_few_segments(consented, api, monkeypatch):
    clip = clip_bytes(frames=20, size=(320, 240), noise=25)
    response = upload(api(consented), clip, name="IMG_0100.MOV", content_type="video/quicktime")
    assert response.status_code == 201, response.json()
    item = MediaItem.objects.get(pk=response.json()["id"])
    assert item.size > 40 * SEGMENT  # the service's copy: a long run of segments
    client = Client()
    client.force_login(consented)
    whole = body(client.get(f"/media/{item.pk}/original/"))
    assert len(whole) == item.size

    decrypted = Decrypted(monkeypatch)
    start = item.size - 1000
    piece = client.get(f"/media/{item.pk}/original/", HTTP_RANGE=f"bytes={start}-")
    assert piece.status_code == 206 and piece["Content-Range"] == f"bytes {start}-{item.size - 1}/{item.size}"
    assert body(piece) == whole[start:]
    # The last segment (read to prove the length) and the one or two holding the range, plus the
    # blob's key (48 bytes): not the megabyte before them.
    assert 0 < decrypted.bytes <= 3 * (SEGMENT + 16) + 48, decrypted.bytes

    decrypted.bytes = 0
    middle = client.get(f"/media/{item.pk}/original/", HTTP_RANGE=f"bytes={item.size // 2}-{item.size // 2 + 99}")
    assert body(middle) == whole[item.size // 2 : item.size // 2 + 100]
    assert decrypted.bytes <= 3 * (SEGMENT + 16) + 48, decrypted.bytes


def sealed(size: int, *, seed: int = 0) -> tuple[DataKey, uuid.UUID, bytes, bytes]:
    key = DataKey(user_id=7, key_id=uuid.uuid4(), scope="media", key=os.urandom(32))
    uid = uuid.uuid4()
    plain = os.urandom(size)
    # Written by the streaming cipher, as every stored blob is.
    return key, uid, plain, blobs.encrypt_bytes(data_key=key, object_uid=uid, variant="original", data=plain)


def read_range(key, uid, blob: bytes, start: int, end: int, *, variant="original", piece: int = 5000) -> bytes:
    def read_from(offset, length):
        for at in range(offset, min(offset + length, len(blob)), piece):
            yield blob[at : min(at + piece, offset + length)]

    return b"".join(blobs.decrypt_range(data_key=key, object_uid=uid, variant=variant, blob_size=len(blob),
                                        start=start, end=end, read_from=read_from))


@pytest.mark.parametrize("size", [1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 5 * SEGMENT + 777])
def test_any_range_of_a_stored_blob_reads_as_the_stream_does(size):
    key, uid, plain, blob = sealed(size)
    assert blobs.plaintext_size(len(blob)) == size
    edges = {0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, size // 2, size - 2, size - 1}
    for start in sorted(e for e in edges if 0 <= e < size):
        for end in sorted(e for e in edges | {size - 1} if start <= e < size):
            assert read_range(key, uid, blob, start, end) == plain[start : end + 1], (start, end)


def test_a_range_of_a_broken_blob_fails_before_a_byte_is_returned():
    key, uid, plain, blob = sealed(6 * SEGMENT + 100)
    header = blobs.HEADER_BYTES
    near_end = 5 * SEGMENT + 50

    def fails(broken: bytes, start=near_end, end=near_end + 10, **kwargs):
        with pytest.raises(blobs.BlobIntegrityError):
            read_range(key, uid, broken, start, end, **kwargs)

    segment_at = header + 56 + 5 * (SEGMENT + 16)
    flip = lambda data, at: data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]  # noqa: E731
    fails(flip(blob, segment_at + 10))  # a byte of the segment read
    fails(flip(blob, len(blob) - 5))  # a byte of the last segment, which proves the length
    fails(flip(blob, header + 3))  # the salt: another key, the commitment does not match
    fails(flip(blob, header + 30))  # the key commitment itself
    fails(flip(blob, 40))  # the header (the object's uid)
    fails(blob[: header + 56 + 6 * (SEGMENT + 16)])  # cut at a segment's end: the last one is gone
    fails(blob[:-1])  # cut inside the last segment
    # Segments swapped: each one is sealed with its own index.
    a, b = header + 56 + 4 * (SEGMENT + 16), header + 56 + 5 * (SEGMENT + 16)
    fails(blob[:a] + blob[b : b + SEGMENT + 16] + blob[a:b] + blob[b + SEGMENT + 16 :])
    fails(blob, variant="thumbnail")  # asked for as another variant
    other_key, _, _, _ = sealed(1)
    with pytest.raises(blobs.BlobIntegrityError):
        read_range(DataKey(user_id=7, key_id=key.key_id, scope="media", key=other_key.key), uid, blob, 0, 10)
    with pytest.raises(blobs.BlobIntegrityError):  # a range the blob does not hold
        read_range(key, uid, blob, len(plain) - 5, len(plain))
    assert read_range(key, uid, blob, near_end, near_end + 10) == plain[near_end : near_end + 11]


@pytest.mark.django_db
def test_a_range_from_storage_reads_only_from_its_segment_on(consented, monkeypatch, tmp_path):
    from vault import services

    _, key = services.media_key(user_id=consented.pk)
    uid = uuid.uuid4()
    plain = os.urandom(40 * SEGMENT)
    content.content_write(data_key=key, uid=uid, variant="original", chunks=[plain])
    offsets = []
    read = storage.blob_read

    def recording(*, name, offset=0, length=None):
        offsets.append((offset, length))
        return read(name=name, offset=offset, length=length)

    monkeypatch.setattr(storage, "blob_read", recording)
    start = 39 * SEGMENT + 5
    assert b"".join(content.content_range(data_key=key, uid=uid, variant="original", start=start,
                                          end=len(plain) - 1)) == plain[start:]
    # The header alone, the last segment, then the range's segments: nothing else is read.
    header = blobs.HEADER_BYTES + 56
    assert offsets[0] == (0, header), offsets
    assert all(offset >= header + 39 * (SEGMENT + 16) for offset, _ in offsets[1:]), offsets
    assert sum(length for _, length in offsets) < header + 2 * (SEGMENT + 16), offsets
    with pytest.raises(blobs.BlobIntegrityError):
        content.content_range(data_key=key, uid=uuid.uuid4(), variant="original", start=start, end=start + 1)

import os
import tracemalloc
import uuid

import pytest

from vault import blobs, content, storage
from vault.keys import DataKey


def data_key(user_id=1, key_id=None):
    return DataKey(user_id=user_id, key_id=key_id or uuid.uuid4(), scope="media", key=os.urandom(32))


def pieces(data: bytes, size: int):
    return (data[i:i + size] for i in range(0, len(data), size)) if data else iter([b""])


def decrypt(key, uid, blob, variant="original", piece=7001):
    return b"".join(blobs.decrypt_stream(data_key=key, object_uid=uid, variant=variant, chunks=pieces(blob, piece)))


@pytest.mark.parametrize("size", [0, 1, 16383, 16384, 16385, 100_000])
def test_it_round_trips_any_size_in_any_pieces(size):
    key, uid, data = data_key(), uuid.uuid4(), os.urandom(size)
    blob = b"".join(blobs.encrypt_stream(data_key=key, object_uid=uid, variant="original", chunks=pieces(data, 5000)))
    assert blob.startswith(b"CSVB\x01\x01")
    assert data == decrypt(key, uid, blob) == decrypt(key, uid, blob, piece=1 << 20)
    if size > 16:
        assert data[:16] not in blob


@pytest.fixture
def sealed():
    key, uid = data_key(), uuid.uuid4()
    data = os.urandom(50_000)
    return key, uid, data, blobs.encrypt_bytes(data_key=key, object_uid=uid, variant="original", data=data)


@pytest.mark.parametrize("keep", [0, 10, blobs.HEADER_BYTES - 1, blobs.HEADER_BYTES, blobs.HEADER_BYTES + 100, -1, -17])
def test_it_detects_truncation(sealed, keep):
    key, uid, _, blob = sealed
    with pytest.raises(blobs.BlobIntegrityError) as caught:
        decrypt(key, uid, blob[:keep])
    assert caught.value.reason in {"truncated", "tampered"}
    assert "truncated" in str(caught.value)


def test_it_detects_a_blob_cut_at_a_chunk_boundary(sealed):
    key, uid, _, blob = sealed
    # Cobblestone chunks are 16 KiB + 16-byte tags after its own short header; cutting
    # whole chunks off must still fail at the end.
    for cut in range(blobs.HEADER_BYTES, len(blob) - 1, 4099):
        with pytest.raises(blobs.BlobIntegrityError):
            decrypt(key, uid, blob[:cut])


@pytest.mark.parametrize(
    "position", [0, 4, 5, 8, 20, 40, 60, blobs.HEADER_BYTES - 1, blobs.HEADER_BYTES + 3, 20_000, -1]
)
def test_it_detects_a_changed_byte_anywhere(sealed, position):
    key, uid, _, blob = sealed
    changed = bytearray(blob)
    changed[position] ^= 0x01
    with pytest.raises(blobs.BlobIntegrityError):
        decrypt(key, uid, bytes(changed))


def test_it_names_a_blob_swapped_between_items_variants_or_accounts(sealed):
    key, uid, _, blob = sealed
    with pytest.raises(blobs.BlobIntegrityError, match="another item") as caught:
        decrypt(key, uuid.uuid4(), blob)
    assert caught.value.reason == "wrong_object"
    with pytest.raises(blobs.BlobIntegrityError, match="another item or variant"):
        decrypt(key, uid, blob, variant="thumbnail")
    other_account = DataKey(user_id=2, key_id=key.key_id, scope="media", key=key.key)
    with pytest.raises(blobs.BlobIntegrityError, match="another account"):
        decrypt(other_account, uid, blob)
    shredded_and_renewed = data_key(user_id=1)
    with pytest.raises(blobs.BlobIntegrityError, match="another"):
        decrypt(shredded_and_renewed, uid, blob)


def test_it_refuses_a_header_rewritten_to_claim_another_item(sealed):
    key, uid, data, blob = sealed
    other = uuid.uuid4()
    header = blobs.parse_header(blob)
    forged = blobs.BlobHeader(header.account_id, header.key_id, other, header.variant, header.wrapped_key)
    with pytest.raises(blobs.BlobIntegrityError) as caught:
        decrypt(key, other, forged.encode() + blob[blobs.HEADER_BYTES:])
    assert caught.value.reason == "tampered"


def test_it_refuses_a_key_from_another_account_even_with_the_same_ids(sealed):
    key, uid, _, blob = sealed
    impostor = DataKey(user_id=key.user_id, key_id=key.key_id, scope="media", key=os.urandom(32))
    with pytest.raises(blobs.BlobIntegrityError, match="header was changed"):
        decrypt(impostor, uid, blob)


def test_it_encrypts_and_decrypts_with_constant_memory():
    key, uid = data_key(), uuid.uuid4()
    total, piece = 24 * 1024 * 1024, 256 * 1024
    block = os.urandom(piece)
    tracemalloc.start()
    try:
        # Plaintext -> blob -> plaintext as one pipeline: nothing may pile up on the way.
        encrypted = blobs.encrypt_stream(
            data_key=key, object_uid=uid, variant="output", chunks=(block for _ in range(total // piece))
        )
        decrypted = blobs.decrypt_stream(data_key=key, object_uid=uid, variant="output", chunks=encrypted)
        received = sum(len(out) for out in decrypted)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == total
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a {total}-byte stream"


def test_it_writes_blobs_atomically_and_leaves_nothing_when_a_write_fails(settings, tmp_path):
    key, uid = data_key(), uuid.uuid4()

    def failing():
        yield b"x" * 100_000
        raise OSError("disk went away")

    with pytest.raises(OSError):
        content.content_write(data_key=key, uid=uid, variant="original", chunks=failing())
    assert storage.folder_list(folder=storage.ROOT) == []
    name, size = content.content_write(data_key=key, uid=uid, variant="original", chunks=[b"y" * 1000])
    assert storage.folder_list(folder=storage.ROOT) == [name]
    assert oct(os.stat(storage.blob_storage().path(name)).st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        content.content_write(data_key=key, uid=uid, variant="original", chunks=[b"z"])
    assert content.content_read(data_key=key, uid=uid, variant="original") == b"y" * 1000


def test_it_works_on_a_storage_that_is_not_a_file_system(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    key, uid = data_key(), uuid.uuid4()
    name, _ = content.content_write(data_key=key, uid=uid, variant="thumbnail", chunks=[b"thumb"])
    assert content.content_read(data_key=key, uid=uid, variant="thumbnail") == b"thumb"
    assert storage.folder_list(folder=storage.ROOT) == [name]
    assert storage.folder_delete(folder=storage.ROOT) == 1
    assert storage.folder_list(folder=storage.ROOT) == []


def test_it_reports_a_missing_blob_clearly():
    with pytest.raises(blobs.BlobIntegrityError, match="missing"):
        content.content_read(data_key=data_key(), uid=uuid.uuid4(), variant="original")

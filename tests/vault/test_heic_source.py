"""A HEIC upload: the service works from a JPEG made from it, and keeps the HEIC itself, sealed under the
item's key, for the holder alone. The gateway never hands the HEIC to any purpose; withdrawal, erasure
and the trash destroy it with everything else."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from consent.uow import Actor
from core.errors import ServiceError
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from tests.vault.test_api_media import upload
from vault import blobs, content, exports, gateway, keyring, selectors, services, shredding, storage, trash
from vault.models import MediaItem

pytestmark = pytest.mark.django_db
HEIC = (Path(__file__).resolve().parent.parent / "fixtures" / "photos" / "phones" / "IMG_5195.HEIC").read_bytes()
PURPOSES = (gateway.PURPOSE_SUGGESTIONS, gateway.PURPOSE_FACES)


@pytest.fixture
def heic_item(consented, api):
    response = upload(api(consented), HEIC, name="IMG_5195.HEIC", content_type="image/heic")
    assert response.status_code == 201, response.json()
    return MediaItem.objects.select_related("key").get(pk=response.json()["id"])


def stored(item) -> dict[str, bytes]:
    found = {}
    for name in content.item_names(item):
        if storage.blob_exists(name=name):
            found[name.rsplit(".", 1)[-1]] = b"".join(storage.blob_read(name=name))
    return found


def test_it_keeps_the_heic_sealed_beside_the_jpeg_and_counts_it(consented, heic_item, api):
    item = heic_item
    assert item.content_type == "image/jpeg"  # what the service works from
    assert item.source_content_type == "image/heic" and item.source_size == len(HEIC)
    blobs_held = stored(item)
    assert set(blobs_held) == {"original", "thumbnail", "source"}
    # Sealed, under the item's own key like the rest of it: no HEIC bytes in clear in storage.
    assert HEIC[:64] not in blobs_held["source"] and HEIC[-64:] not in blobs_held["source"]
    assert blobs.parse_header(blobs_held["source"]).key_id == item.item_key_id
    # Counted: stored_bytes is every blob's ciphertext, and support's summary adds it up.
    assert item.stored_bytes == sum(len(b) for b in blobs_held.values())
    assert item.stored_bytes > len(HEIC)
    assert selectors.media_summary(user_id=consented.pk)["items_bytes"] == item.stored_bytes
    # The owner's export path gets it back byte for byte.
    opened = exports.export_source_open(user_id=consented.pk, item_id=item.pk)
    assert opened.content_type == "image/heic" and opened.size == len(HEIC)
    assert b"".join(opened.chunks) == HEIC


def test_the_gateway_never_returns_the_heic(consented, heic_item, api):
    grant(consented, "face_analysis")
    for purpose in PURPOSES:
        for variant in ("original", "thumbnail"):
            (released,) = gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[heic_item.pk],
                                          variant=variant)
            assert released.data[:3] == b"\xff\xd8\xff" and released.data != HEIC
            assert b"ftypheic" not in released.data[:64]
        with pytest.raises(ValueError):  # no purpose can even name it
            gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[heic_item.pk], variant="source")
    with pytest.raises(ValueError):
        gateway.owner_open(user_id=consented.pk, item_id=heic_item.pk, variant="source")
    # The facade the suggestion engine imports has no door to it.
    assert not any("source" in name for name in gateway.__all__)
    assert not hasattr(gateway, "owner_source_open")
    # The holder's own content read over the API is the JPEG too.
    response = api(consented).get(f"/api/v1/media/{heic_item.pk}/content/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:3] == b"\xff\xd8\xff"


def test_a_jpeg_upload_keeps_no_second_file(consented):
    item = services.media_upload(user_id=consented.pk, data=jpeg_bytes(), filename="a.jpg").item
    item = MediaItem.objects.select_related("key").get(pk=item.pk)
    assert item.source_content_type == "" and item.source_size == 0
    held = storage.folder_list(folder=storage.key_folder(user_id=consented.pk, key_id=item.key.key_id))
    assert sorted(name.rsplit("/", 1)[-1] for name in held) == [f"{item.uid.hex}.original", f"{item.uid.hex}.thumbnail"]
    assert exports.export_source_open(user_id=consented.pk, item_id=item.pk) is None


def test_withdrawal_destroys_both_files_and_their_key(consented, heic_item, tmp_path,
                                                      django_capture_on_commit_callbacks):
    assert set(stored(heic_item)) == {"original", "thumbnail", "source"}
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(consented)
    assert stored(heic_item) == {}
    assert storage.folder_list(folder=storage.account_folder(user_id=consented.pk)) == []
    assert keyring.data_key_get(user_id=consented.pk) is None
    assert not MediaItem.objects.filter(pk=heic_item.pk).exists()


def test_erase_destroys_both_files(consented, heic_item, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        counts = shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    assert counts["items"] == 1
    assert stored(heic_item) == {}
    assert storage.folder_list(folder=storage.account_folder(user_id=consented.pk)) == []


def test_the_trash_purge_destroys_both_files_and_the_orphan_sweep_keeps_them_while_held(
        consented, heic_item, django_capture_on_commit_callbacks):
    # Held: the sweep knows the HEIC belongs to a live item, old as it may be.
    assert shredding.orphans_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert set(stored(heic_item)) == {"original", "thumbnail", "source"}
    trash.media_trash(user_id=consented.pk, item_ids=[heic_item.pk])
    # In the trash the holder can still export it.
    assert exports.export_source_open(user_id=consented.pk, item_id=heic_item.pk) is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.trash_purge_due(now=timezone.now() + timedelta(days=31)) == 1
    assert stored(heic_item) == {}
    with pytest.raises(ServiceError):
        exports.export_source_open(user_id=consented.pk, item_id=heic_item.pk)

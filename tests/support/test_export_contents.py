"""What an export holds for each photo: the name it was uploaded with (sealed, never in clear in the
database), a JSON sidecar of what the service holds about it, photos in the trash too; and the export
list never offers a download that is gone."""

import json

import pytest
from django.test import Client

from consent import purposes
from tests.conftest import unit_of
from tests.support.conftest import grant
from tests.support.test_export import build, download  # noqa: F401 (fixture)
from tests.vault.conftest import jpeg_bytes, withdraw
from vault import services as vault_services
from vault import trash
from vault.models import MediaItem

pytestmark = pytest.mark.django_db


def _upload(user, name, colour, **exif):
    return vault_services.media_upload(user_id=user.pk, data=jpeg_bytes(color=colour, exif=exif or None),
                                       filename=name, method="web").item


def test_it_keeps_upload_names_and_writes_a_sidecar_per_photo(api, alice, build):  # noqa: F811
    grant(alice)
    beach = _upload(alice, "Beach day.JPG", (200, 0, 0), lat=43.7, lon=7.26)
    _upload(alice, "C:\\Users\\me\\Beach day.jpeg", (0, 200, 0))  # same stem: made unique
    nameless = _upload(alice, "", (0, 0, 200))
    with unit_of(alice):
        MediaItem.objects.filter(pk=beach.pk).update(excluded=True)
    trash.media_trash(user_id=alice.pk, item_ids=[nameless.pk])
    assert b"Beach" not in bytes(MediaItem.objects.get(pk=beach.pk).sealed_meta)  # sealed, not in clear

    archive = download(api(alice), build(alice, api(alice)))
    photos = sorted(n for n in archive.namelist() if n.startswith("media/photos/") and not n.endswith(".json"))
    second = MediaItem.objects.exclude(pk__in=[beach.pk, nameless.pk]).get()
    assert photos == sorted(["media/photos/Beach day.jpg", f"media/photos/Beach day-{second.pk}.jpg",
                             f"media/photos/photo-{nameless.pk}.jpg"])
    sidecar = json.loads(archive.read("media/photos/Beach day.jpg.json"))
    assert sidecar["original_filename"] == "Beach day.JPG"
    assert sidecar["lat"] == pytest.approx(43.7) and sidecar["lon"] == pytest.approx(7.26)
    assert sidecar["kept_out_of_suggestions"] is True and sidecar["excluded_by"] == ["this photo"]
    assert sidecar["in_trash"] is False
    in_trash = json.loads(archive.read(f"media/photos/photo-{nameless.pk}.jpg.json"))
    assert in_trash["in_trash"] is True and in_trash["original_filename"] is None
    for name in photos:
        assert json.loads(archive.read(f"{name}.json"))["file"] == name
    metadata = json.loads(archive.read("media/metadata.json"))
    assert len(metadata) == 3


def test_the_export_list_offers_no_download_once_the_photos_are_destroyed(alice, build):  # noqa: F811
    grant(alice)
    _upload(alice, "a.jpg", (10, 10, 10))
    export = build(alice)
    client = Client()
    client.force_login(alice)
    page = client.get("/me/data/").content.decode()
    assert f"/me/data/export/{export.pk}/" in page and 'data-status="ready"' in page
    withdraw(alice, purposes.CAMERA_ROLL)  # shreds the key the export was sealed under
    page = client.get("/me/data/").content.decode()
    assert f"/me/data/export/{export.pk}/" not in page
    assert 'data-status="gone"' in page and "it went when your cloud photos were destroyed" in page

"""A HEIC in the holder's data export: the HEIC exactly as uploaded, under its own name, beside the JPEG
the service works from, and the sidecar says which is which."""

import hashlib
import json
from pathlib import Path

import pytest

from audit.models import AuditEvent
from support import access_log
from tests.support.conftest import grant
from tests.support.test_export import build, download  # noqa: F401 (fixture)
from tests.vault.test_api_media import upload
from vault import trash

pytestmark = pytest.mark.django_db
HEIC = (Path(__file__).resolve().parent.parent / "fixtures" / "photos" / "phones" / "IMG_5195.HEIC").read_bytes()


def test_the_export_holds_the_heic_byte_for_byte_beside_the_jpeg(api, alice, build):  # noqa: F811
    grant(alice)
    client = api(alice)
    response = upload(client, HEIC, name="IMG_5195.HEIC", content_type="image/heic")
    assert response.status_code == 201, response.json()
    item_id = response.json()["id"]

    archive = download(client, build(alice, client))
    assert archive.testzip() is None
    photos = sorted(n for n in archive.namelist() if n.startswith("media/photos/") and not n.endswith(".json"))
    assert photos == ["media/photos/IMG_5195.HEIC", "media/photos/IMG_5195.jpg"]
    assert archive.read("media/photos/IMG_5195.HEIC") == HEIC  # byte for byte what the phone sent
    jpeg = archive.read("media/photos/IMG_5195.jpg")
    assert jpeg[:3] == b"\xff\xd8\xff" and jpeg != HEIC

    sidecar = json.loads(archive.read("media/photos/IMG_5195.jpg.json"))
    assert sidecar["file"] == "media/photos/IMG_5195.jpg" and sidecar["content_type"] == "image/jpeg"
    assert sidecar["size"] == len(jpeg) and sidecar["original_filename"] == "IMG_5195.HEIC"
    assert sidecar["as_uploaded"] == {"file": "media/photos/IMG_5195.HEIC", "content_type": "image/heic",
                                      "size": len(HEIC), "sha256": hashlib.sha256(HEIC).hexdigest()}
    assert sidecar["sha256"] == hashlib.sha256(HEIC).hexdigest()
    (listed,) = json.loads(archive.read("media/metadata.json"))
    assert listed == sidecar
    assert "exactly as your" in archive.read("README.txt").decode()
    # Both reads are the holder's own, audited.
    reads = AuditEvent.objects.filter(action="media.read", object_id=str(item_id), purpose="owner_access")
    assert sorted(e.details["variant"] for e in reads) == ["original", "source"]
    # In words: one photo, not two reads.
    lines = [e.summary for e in access_log.access_log_entries(user_id=alice.pk)]
    assert "Your data export included a photo" in lines


def test_a_heic_in_the_trash_is_exported_too_and_names_never_clash(api, alice, build):  # noqa: F811
    grant(alice)
    client = api(alice)
    # A HEIC whose name says .jpg: the JPEG made from it takes that name, the HEIC gets its stem with .heic.
    response = upload(client, HEIC, name="holiday.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    trash.media_trash(user_id=alice.pk, item_ids=[response.json()["id"]])
    archive = download(client, build(alice, client))
    photos = sorted(n for n in archive.namelist() if n.startswith("media/photos/") and not n.endswith(".json"))
    assert photos == ["media/photos/holiday.heic", "media/photos/holiday.jpg"]
    assert archive.read("media/photos/holiday.heic") == HEIC
    sidecar = json.loads(archive.read("media/photos/holiday.jpg.json"))
    assert sidecar["in_trash"] is True and sidecar["as_uploaded"]["file"] == "media/photos/holiday.heic"

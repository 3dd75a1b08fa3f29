"""The media API of API.md, with allowed and denied paths for every role."""

import io
import json
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from audit.models import AuditEvent
from tests.vault.conftest import grant, jpeg_bytes
from vault.models import MediaItem

pytestmark = pytest.mark.django_db

HOLIDAY = {"captured_at": datetime(2024, 8, 3, 14, 30), "lat": 43.7384, "lon": 7.4246}


def upload(client, data=None, *, name="photo.jpg", content_type="image/jpeg", **fields):
    body = {"file": SimpleUploadedFile(name, data if data is not None else jpeg_bytes(), content_type=content_type)}
    body.update(fields)
    return client.post("/api/v1/media/", body, format="multipart")


@pytest.fixture
def item(consented, api):
    response = upload(api(consented), jpeg_bytes(exif=HOLIDAY), labels=json.dumps(["beach", "sea"]))
    assert response.status_code == 201, response.json()
    return response.json()


def test_it_uploads_a_photo_and_answers_as_api_md_says(consented, api):
    response = upload(api(consented), jpeg_bytes(size=(64, 48), exif=HOLIDAY), labels='["beach"]')
    assert response.status_code == 201
    body = response.json()
    assert {"id", "captured_at", "has_location", "content_type", "width", "height", "size", "sha256"} <= set(body)
    assert body["captured_at"] == "2024-08-03T14:30:00"
    assert body["has_location"] is True
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 64, 48)
    assert body["labels"] == ["beach"]
    assert "lat" not in body and "location" not in body
    row = MediaItem.objects.get(pk=body["id"])
    assert row.consent_entry.purpose == "camera_roll_cloud_processing"
    assert body["sha256"] not in row.dedup_tag and b"beach" not in bytes(row.sealed_meta)


def test_it_answers_a_duplicate_with_the_existing_id(consented, api):
    data = jpeg_bytes()
    first = upload(api(consented), data).json()
    again = upload(api(consented), data)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["duplicate"] is True
    assert MediaItem.objects.count() == 1


def test_it_uses_the_phones_capture_time_only_when_the_image_has_none(consented, api):
    plain = upload(api(consented), jpeg_bytes(color=(1, 2, 3)), captured_at="2023-01-02T03:04:05Z").json()
    assert plain["captured_at"].startswith("2023-01-02T03:04:05")
    exif = upload(api(consented), jpeg_bytes(exif=HOLIDAY), captured_at="2023-01-02T03:04:05Z").json()
    assert exif["captured_at"] == "2024-08-03T14:30:00"


def test_it_refuses_an_upload_without_consent_and_stores_nothing(alice, api, tmp_path):
    response = upload(api(alice))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "consent_required"
    assert MediaItem.objects.count() == 0
    assert not (tmp_path / "blobs").exists() or not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))
    event = AuditEvent.objects.filter(action="media.upload_refused").get()
    assert (event.outcome, event.details["code"], event.subject_id) == ("denied", "consent_required", alice.pk)


@pytest.mark.parametrize("labels", ["not json", '{"a": 1}', json.dumps(["x" * 65]), json.dumps([1, 2])])
def test_it_refuses_malformed_labels(consented, api, labels):
    response = upload(api(consented), labels=labels)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert MediaItem.objects.count() == 0


def test_it_needs_a_file_field(consented, api):
    response = api(consented).post("/api/v1/media/", {"labels": "[]"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["file"]


def test_it_lists_only_the_holders_items_without_coordinates(item, consented, bob, api):
    grant(bob)
    upload(api(bob), jpeg_bytes(color=(0, 0, 255)))
    body = api(consented).get("/api/v1/media/").json()
    assert body["count"] == 1 and {"count", "next", "previous", "results"} <= set(body)
    [listed] = body["results"]
    assert listed["id"] == item["id"] and listed["has_location"] is True
    assert not {"lat", "lon", "location"} & set(listed)


def test_it_shows_one_items_metadata_with_its_place_to_its_owner_only(item, consented, bob, api):
    body = api(consented).get(f"/api/v1/media/{item['id']}/").json()
    assert body["location"] == {"lat": pytest.approx(43.7384, abs=1e-4), "lon": pytest.approx(7.4246, abs=1e-4)}
    assert body["labels"] == ["beach", "sea"]
    response = api(bob).get(f"/api/v1/media/{item['id']}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_it_serves_the_decrypted_stripped_original_and_audits_it(item, consented, api):
    response = api(consented).get(f"/api/v1/media/{item['id']}/content/", HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    data = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(data) == item["size"]
    image = Image.open(io.BytesIO(data))
    assert image.size == (64, 48)
    exif = image.getexif()
    assert 0x8825 not in exif and 0x0132 not in exif  # no GPS, no date
    event = AuditEvent.objects.filter(action="media.read").get()
    assert (event.purpose, event.object_id, event.actor_kind) == ("owner_access", str(item["id"]), "holder")


def test_it_serves_a_thumbnail(item, consented, api):
    response = api(consented).get(f"/api/v1/media/{item['id']}/thumbnail/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert thumb.format == "JPEG" and max(thumb.size) <= 400


def test_it_excludes_and_includes_an_item(item, consented, api):
    response = api(consented).patch(f"/api/v1/media/{item['id']}/", {"excluded": True}, format="json")
    assert response.status_code == 200 and response.json()["excluded"] is True
    assert MediaItem.objects.get(pk=item["id"]).excluded is True
    response = api(consented).patch(f"/api/v1/media/{item['id']}/", {"excluded": "maybe"}, format="json")
    assert response.status_code == 400
    api(consented).patch(f"/api/v1/media/{item['id']}/", {"excluded": False}, format="json")
    assert MediaItem.objects.get(pk=item["id"]).excluded is False


def test_it_deletes_an_item_to_the_trash_and_emptying_it_deletes_its_blobs(
    item, consented, api, tmp_path, django_capture_on_commit_callbacks
):
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 2
    response = api(consented).delete(f"/api/v1/media/{item['id']}/")
    assert response.status_code == 204
    assert api(consented).get(f"/api/v1/media/{item['id']}/content/").status_code == 404
    assert api(consented).get(f"/api/v1/media/{item['id']}/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert api(consented).delete("/api/v1/media/trash/").json() == {"destroyed": 1}
    assert not MediaItem.objects.exists()
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


ENDPOINTS = [
    ("get", "/api/v1/media/{id}/", None),
    ("get", "/api/v1/media/{id}/content/", None),
    ("get", "/api/v1/media/{id}/thumbnail/", None),
    ("patch", "/api/v1/media/{id}/", {"excluded": True}),
    ("delete", "/api/v1/media/{id}/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_it_hides_another_holders_item(item, bob, api, method, path, body):
    response = getattr(api(bob), method)(path.format(id=item["id"]), body, format="json")
    assert response.status_code == 404
    assert MediaItem.objects.get(pk=item["id"]).excluded is False


@pytest.mark.parametrize(
    ("method", "path", "body"), [*ENDPOINTS, ("get", "/api/v1/media/", None), ("post", "/api/v1/media/", {})]
)
def test_it_refuses_staff_and_anonymous(item, audrey, sam, api, method, path, body):
    for user, status in ((audrey, 403), (sam, 403), (None, 401)):
        response = getattr(api(user), method)(path.format(id=item["id"]), body, format="json")
        assert response.status_code == status, (user, response.content)
        assert response.json()["error"]["code"] in {"permission_denied", "not_authenticated"}
    assert MediaItem.objects.get(pk=item["id"]).excluded is False

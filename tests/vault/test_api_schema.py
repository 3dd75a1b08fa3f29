"""The media and exclusion API answers what /api/schema/ documents (found by schemathesis)."""

from datetime import datetime

import pytest

from tests.api_schema import assert_conforms, assert_error, schema_document
from tests.vault.conftest import jpeg_bytes
from tests.vault.test_api_media import upload

pytestmark = pytest.mark.django_db

WALL_CLOCK = {"captured_at": datetime(2024, 8, 3, 14, 30)}  # EXIF time without an offset


def test_it_documents_a_capture_time_without_an_offset(consented, api):
    created = upload(api(consented), jpeg_bytes(exif=WALL_CLOCK))
    assert created.json()["captured_at"] == "2024-08-03T14:30:00"
    assert_conforms(created, "POST", "/api/v1/media/")
    listed = api(consented).get("/api/v1/media/")
    assert_conforms(listed, "GET", "/api/v1/media/")
    detail = api(consented).get(f"/api/v1/media/{created.json()['id']}/")
    assert_conforms(detail, "GET", "/api/v1/media/{item_id}/")


def test_it_documents_an_aware_capture_time(consented, api):
    created = upload(api(consented), jpeg_bytes(), captured_at="2023-01-02T03:04:05Z")
    assert created.json()["captured_at"].startswith("2023-01-02T03:04:05")
    assert_conforms(created, "POST", "/api/v1/media/")


def test_it_names_the_field_of_a_malformed_capture_time(consented, api):
    response = upload(api(consented), jpeg_bytes(), captured_at="Æþ")
    assert_error(response, 400, "invalid_request")
    assert list(response.json()["error"]["fields"]) == ["captured_at"]
    assert_conforms(response, "POST", "/api/v1/media/")


@pytest.mark.parametrize("path", ["/api/v1/media/", "/api/v1/exclusions/"])
@pytest.mark.parametrize("page", ["0", "abc", "99"])
def test_it_documents_the_page_parameter_and_its_404(consented, api, path, page):
    response = api(consented).get(path, {"page": page})
    assert_error(response, 404, "not_found")
    assert_conforms(response, "GET", path)
    assert "page" in {p["name"] for p in schema_document()["paths"][path]["get"]["parameters"]}


@pytest.mark.parametrize(("method", "path", "url"), [
    ("GET", "/api/v1/media/{item_id}/", "/api/v1/media/{}/"),
    ("PATCH", "/api/v1/media/{item_id}/", "/api/v1/media/{}/"),
    ("DELETE", "/api/v1/media/{item_id}/", "/api/v1/media/{}/"),
    ("GET", "/api/v1/media/{item_id}/content/", "/api/v1/media/{}/content/"),
    ("DELETE", "/api/v1/exclusions/{exclusion_id}/", "/api/v1/exclusions/{}/"),
])
def test_it_answers_a_documented_404_for_ids_no_row_can_have(consented, api, method, path, url):
    for item_id in (0, 2**63, 10**30):
        response = getattr(api(consented), method.lower())(url.format(item_id), {"excluded": True}, format="json")
        assert_error(response, 404, "not_found")
        assert_conforms(response, method, path)

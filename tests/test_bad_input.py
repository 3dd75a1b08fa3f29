"""Bad input gets a 400 (or 507) in the one error shape, and nothing half-stored: deeply nested
JSON on every JSON endpoint, oversized bodies, too many files, a full disk (red-team findings)."""

import errno
import io

import pytest
from django.core.files.storage import Storage
from django.test import Client

from audit.models import AuditEvent
from tests.api_schema import assert_error
from tests.vault.conftest import grant, jpeg_bytes
from vault.models import MediaItem

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000


def post_json(client, path, body: str, method="post"):
    return getattr(client, method)(path, data=body, content_type="application/json")


def test_it_refuses_deeply_nested_json_on_the_anonymous_token_endpoint(api):
    assert_error(post_json(api(), "/api/v1/auth/token/", DEEP), 400, "too_deeply_nested")
    nested = '{"username": ' + "[" * 40 + "]" * 40 + ', "password": "x"}'
    assert_error(post_json(api(), "/api/v1/auth/token/", nested), 400, "too_deeply_nested")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/consent/camera_roll_cloud_processing/"),
        ("post", "/api/v1/exclusions/"),
        ("patch", "/api/v1/media/1/"),
    ],
)
def test_it_refuses_deeply_nested_json_on_holder_endpoints(api, alice, method, path):
    response = post_json(api(alice), path, DEEP, method=method)
    assert_error(response, 400, "too_deeply_nested")


@pytest.mark.parametrize(
    "path", ["/api/v1/suggestions/generate/", "/api/v1/me/export/", "/api/v1/auth/logout/"]
)
def test_it_never_fails_on_nested_json_where_the_body_is_not_read(api, alice, path):
    response = post_json(api(alice), path, DEEP)
    assert response.status_code < 500
    assert response.status_code < 400 or response.json()["error"]["code"]


def test_it_refuses_deeply_nested_json_for_support_and_audit(api, sam):
    assert_error(post_json(api(sam), "/api/v1/support/cases/", DEEP), 400, "too_deeply_nested")


def test_it_refuses_a_json_body_over_the_limit(api, alice, settings):
    settings.API_MAX_JSON_BYTES = 2048
    body = '{"granted": true, "notice_version": "' + "x" * 4096 + '"}'
    response = post_json(api(alice), "/api/v1/consent/camera_roll_cloud_processing/", body, method="put")
    assert_error(response, 400, "request_too_large")


def test_it_still_accepts_ordinary_json(api, alice):
    response = post_json(api(alice), "/api/v1/auth/token/", '{"username": "alice", "password": "wrong"}')
    assert_error(response, 400, "invalid_credentials")


def test_it_refuses_deeply_nested_labels_on_upload(api, alice):
    grant(alice)
    photo = io.BytesIO(jpeg_bytes())
    photo.name = "a.jpg"
    response = api(alice).post("/api/v1/media/", {"file": photo, "labels": DEEP}, format="multipart")
    assert_error(response, 400, "too_deeply_nested")
    assert not MediaItem.objects.exists()


def test_it_answers_200_files_in_one_request_with_the_json_error(api, alice):
    grant(alice)
    files = {}
    for n in range(200):
        handle = io.BytesIO(b"x")
        handle.name = f"{n}.jpg"
        files[f"file{n}"] = handle
    response = api(alice).post("/api/v1/media/", files, format="multipart")
    assert_error(response, 400, "too_many_files")
    assert not MediaItem.objects.exists()


def test_it_answers_200_files_with_the_json_error_to_a_signed_in_browser_too(alice):
    grant(alice)
    client = Client()
    client.force_login(alice)
    files = {f"file{n}": io.BytesIO(b"x") for n in range(200)}
    for n, handle in enumerate(files.values()):
        handle.name = f"{n}.jpg"
    response = client.post("/api/v1/media/", files)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"too_many_files", "permission_denied"}


class FullDisk(Storage):
    """A storage whose disk is full: every write fails with ENOSPC (as a real full disk does)."""

    def _save(self, name, content):
        content.read(1024)
        raise OSError(errno.ENOSPC, "No space left on device")

    def exists(self, name):
        return False

    def delete(self, name):
        pass

    def listdir(self, path):
        return [], []


def test_it_answers_a_full_disk_with_507_and_audits_it(api, alice, settings):
    grant(alice)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_bad_input.FullDisk"}}
    from django.core.files.storage import storages

    storages._storages.pop("default", None)
    try:
        photo = io.BytesIO(jpeg_bytes())
        photo.name = "a.jpg"
        response = api(alice).post("/api/v1/media/", {"file": photo}, format="multipart")
    finally:
        storages._storages.pop("default", None)
    assert_error(response, 507, "storage_full")
    assert not MediaItem.objects.exists()
    refused = AuditEvent.objects.filter(action="media.upload_refused", subject_id=alice.pk).last()
    assert refused is not None and refused.details["code"] == "storage_full"
    assert refused.outcome == "denied"

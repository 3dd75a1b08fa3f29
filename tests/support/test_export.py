"""The holder's export: a zip of everything, built in the background, encrypted while it waits,
downloadable by the holder only, expiring after 7 days; asking and downloading are audited."""

import base64
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from consent import purposes
from consent.receipts import canonical
from support import rights
from support.models import DataExport
from tests.conftest import unit_of
from tests.support.conftest import grant, open_case, photo, upload
from tests.support.test_access_log import make_a_collage
from vault import services as vault_services

pytestmark = pytest.mark.django_db


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.fixture
def build(django_capture_on_commit_callbacks):
    """build(client or holder) -> the export, made through the API (or the service) and finished."""

    def make(holder, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            if client is None:
                export = rights.export_request(user=holder)
            else:
                response = client.post("/api/v1/me/export/")
                assert response.status_code == 202, response.content
                assert response.json()["status"] == "pending"
                export = DataExport.objects.get(pk=response.json()["id"])
        export.refresh_from_db()
        assert export.status == "ready", export.error_code
        return export

    return make


def download(client, export) -> zipfile.ZipFile:
    response = client.get(f"/api/v1/me/export/{export.pk}/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="consentsvc-export-')
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_it_round_trips_twenty_originals_pixel_for_pixel(api, alice, build):
    grant(alice)
    ids = upload(alice, 20)
    uploaded = {item_id: photo(index) for index, item_id in enumerate(ids)}
    client = api(alice)
    archive = download(client, build(alice, client))
    assert archive.testzip() is None
    metadata = json.loads(archive.read("media/metadata.json"))
    assert sorted(m["id"] for m in metadata) == sorted(ids)
    for meta in metadata:
        original = archive.read(meta["file"])
        assert pixels(original) == pixels(uploaded[meta["id"]]), meta["file"]
        assert meta["size"] == len(original)
        assert meta["labels"] == ["beach", "sunset"]
        assert meta["lat"] == pytest.approx(48 + 51 / 60) and meta["lon"] == pytest.approx(2 + 17 / 60)
        assert meta["captured_at"].startswith("2026-05-03T14:")
    photos = [n for n in archive.namelist() if n.startswith("media/photos/") and not n.endswith(".json")]
    assert len(photos) == 20


def test_it_holds_the_ledger_with_receipts_that_verify_and_the_access_log(api, sam, alice, build):
    grant(alice)
    grant(alice, purposes.SUGGESTION_PROMPTS)
    ids = upload(alice, 3)
    make_a_collage(alice, ids)
    vault_services.exclusion_create_place(user_id=alice.pk, name="Gran's house", lat=51.5, lon=-0.12, radius_m=100)
    open_case(sam, alice)
    client = api(alice)
    archive = download(client, build(alice, client))
    names = set(archive.namelist())
    assert {"README.txt", "account.json", "media/metadata.json", "suggestions/outputs.json", "exclusions.json",
            "consent/ledger.json", "consent/receipt-public-key.pem", "access-log.json", "access-log.txt"} <= names
    ledger = json.loads(archive.read("consent/ledger.json"))
    assert [entry["purpose"] for entry in ledger] == [purposes.CAMERA_ROLL, purposes.SUGGESTION_PROMPTS]
    key = load_pem_public_key(archive.read("consent/receipt-public-key.pem"))
    for entry in ledger:
        signed = json.loads(archive.read(f"consent/receipts/{entry['record_id']}.json"))
        key.verify(base64.b64decode(signed["signature"]), canonical(signed["receipt"]))
        assert signed["receipt"]["record_id"] == entry["record_id"]
    outputs = json.loads(archive.read("suggestions/outputs.json"))
    assert [(o["kind"], o["sources"]) for o in outputs] == [("collage", sorted(ids))]
    assert archive.read(outputs[0]["file"]) == b"\xff\xd8collage"
    log = json.loads(archive.read("access-log.json"))
    assert {"consent.given", "media.uploaded", "media.read", "support.case_opened"} <= {e["action"] for e in log}
    words = archive.read("access-log.txt").decode()
    assert "Support agent sam opened a support case about your account, ticket 4411" in words
    assert json.loads(archive.read("account.json"))["username"] == "alice"
    (excluded,) = json.loads(archive.read("exclusions.json"))
    assert excluded["kind"] == "place" and excluded["place"]["name"] == "Gran's house"
    assert excluded["place"]["lat"] == 51.5
    (case,) = json.loads(archive.read("support-cases.json"))
    assert (case["agent"], case["ticket"], case["reason"]) == ("sam", "4411", "Holder phoned: wants the camera "
                                                                               "roll feature off")


def test_it_keeps_the_zip_encrypted_while_it_waits(alice, build):
    grant(alice)
    upload(alice, 2)
    build(alice)
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    stored = [p for p in root.rglob("*.export")]
    assert len(stored) == 1
    raw = stored[0].read_bytes()
    assert raw[:4] == b"CSVB" and b"PK\x03\x04" not in raw and b"metadata.json" not in raw
    assert stored[0].stat().st_mode & 0o077 == 0


def test_it_audits_asking_finishing_and_every_download(api, alice, build):
    grant(alice)
    upload(alice, 2)
    client = api(alice)
    export = build(alice, client)
    download(client, export)
    download(client, export)
    actions = list(AuditEvent.objects.filter(object_type="data_export").values_list("action", "actor_kind"))
    assert actions == [("export.requested", "holder"), ("export.ready", "system"),
                       ("export.downloaded", "holder"), ("export.downloaded", "holder")]
    reads = AuditEvent.objects.filter(action="media.read", purpose="owner_access", subject_id=alice.pk)
    assert reads.count() == 2 and all(e.request_id == f"export-{export.pk.hex}" for e in reads)
    lines = [entry.summary for entry in __import__("support.access_log").access_log.access_log_entries(
        user_id=alice.pk)]
    assert "You downloaded your data export (2 times)" in lines
    assert "Your data export included 2 photos" in lines


def test_it_answers_202_while_the_export_is_being_made(api, alice):
    export = rights.export_request(user=alice)  # no commit in this test: the build has not run
    response = api(alice).get(f"/api/v1/me/export/{export.pk}/")
    assert response.status_code == 202 and response.json()["status"] == "pending"


def test_it_refuses_a_second_export_while_one_is_being_made(api, alice):
    rights.export_request(user=alice)
    response = api(alice).post("/api/v1/me/export/")
    assert response.status_code == 429 and response.json()["error"]["code"] == "export_busy"


def test_it_lists_the_holders_own_exports(api, alice, bob, build):
    build(alice)
    listing = api(alice).get("/api/v1/me/export/").json()
    assert listing["count"] == 1 and len(listing["results"]) == 1 and {"next", "previous"} <= set(listing)
    assert api(bob).get("/api/v1/me/export/").json()["results"] == []


@pytest.mark.parametrize("who,status", [("bob", 404), ("sam", 403), ("audrey", 403), ("anonymous", 401)])
def test_it_lets_only_the_holder_download(api, request, alice, build, who, status):
    export = build(alice)
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    assert client.get(f"/api/v1/me/export/{export.pk}/").status_code == status
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


@pytest.mark.parametrize("who,status", [("sam", 403), ("audrey", 403), ("anonymous", 401)])
def test_it_lets_only_holders_ask_for_an_export(api, request, who, status):
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    assert client.post("/api/v1/me/export/").status_code == status
    assert not DataExport.objects.exists()


def test_it_answers_404_for_a_malformed_or_unknown_export_id(api, alice):
    assert api(alice).get("/api/v1/me/export/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api(alice).get("/api/v1/me/export/not-a-uuid/").status_code == 404


def test_it_expires_exports_after_seven_days(api, alice, build, django_capture_on_commit_callbacks):
    grant(alice)
    upload(alice, 1)
    export = build(alice)
    assert export.expires_at - export.created_at == timedelta(days=7)
    with unit_of(alice):
        DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(alice).get(f"/api/v1/me/export/{export.pk}/")
    assert response.status_code == 410 and response.json()["error"]["code"] == "export_expired"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("support_expire_cases", verbosity=0)
    assert not DataExport.objects.exists()
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert not list(root.rglob("*.export"))
    assert AuditEvent.objects.filter(action="export.deleted", details__why="expired").count() == 1


def test_it_drops_an_export_whose_key_was_shredded_by_a_withdrawal(api, alice, build,
                                                                   django_capture_on_commit_callbacks):
    from consent.services import consent_withdraw

    grant(alice)
    upload(alice, 1)
    export = build(alice)
    with django_capture_on_commit_callbacks(execute=True):
        consent_withdraw(user=alice, purpose=purposes.CAMERA_ROLL, method="web")
    response = api(alice).get(f"/api/v1/me/export/{export.pk}/")
    assert response.status_code == 410
    assert not DataExport.objects.exists()


def test_it_marks_a_failed_build_and_audits_it(monkeypatch, alice, django_capture_on_commit_callbacks):
    from support import export_zip

    def broken(**kwargs):
        raise RuntimeError("disk on fire")
        yield b""

    monkeypatch.setattr(export_zip, "export_chunks", broken)
    with django_capture_on_commit_callbacks(execute=True):
        export = rights.export_request(user=alice)
    export.refresh_from_db()
    assert export.status == "failed" and export.error_code == "RuntimeError"
    event = AuditEvent.objects.get(action="export.failed")
    assert event.outcome == "error" and "fire" not in json.dumps(event.details)


# --- the /me/data/ page ----------------------------------------------------------


def test_it_makes_and_downloads_an_export_from_the_page(alice, django_capture_on_commit_callbacks):
    grant(alice)
    upload(alice, 2)
    client = Client()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/me/data/export/").status_code == 302
    export = DataExport.objects.get()
    html = client.get("/me/data/").content.decode()
    assert f"/me/data/export/{export.pk}/" in html and "ready" in html
    response = client.get(f"/me/data/export/{export.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len([n for n in archive.namelist() if n.startswith("media/photos/") and not n.endswith(".json")]) == 2


def test_it_answers_404_for_someone_elses_export_on_the_page(alice, bob, build):
    export = build(alice)
    client = Client()
    client.force_login(bob)
    assert client.get(f"/me/data/export/{export.pk}/").status_code == 404


def test_it_requeues_an_export_whose_job_was_lost(alice, django_capture_on_commit_callbacks):
    """The process committed the request and died before sending the job: core.jobs' sweep finds
    the export's job queued and never started, and sends it again (tests/core/test_jobs_lost.py)."""
    from core import jobs
    from core.models import JobLease

    export = rights.export_request(user=alice)  # committed in a process that then died: never sent
    due = JobLease.objects.get(object_id=str(export.pk)).queued_at
    with django_capture_on_commit_callbacks(execute=True):
        call_command("support_expire_cases", verbosity=0)  # it no longer guesses from the export's age
        jobs.jobs_recover(now=due + jobs.LOST_AFTER)
    export.refresh_from_db()
    assert export.status == "ready"


def test_it_keeps_only_the_three_newest_exports(alice, build):
    first = build(alice)
    for _ in range(3):
        build(alice)
    assert DataExport.objects.filter(holder=alice).count() == 3
    assert not DataExport.objects.filter(pk=first.pk).exists()
    assert AuditEvent.objects.filter(action="export.deleted", details__why="replaced").count() == 1

"""The whole feature, as a holder and an auditor live it, through the public API only.

alice opts in, her phone uploads real camera photos, suggestions are made from
them, she withdraws, and everything in the cloud is gone at once — while the
audit trail records each step, holds no content, and still verifies.
"""

import base64
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from consent import purposes, receipts
from consent.models import ConsentEntry

pytestmark = pytest.mark.django_db

PHOTOS = Path(__file__).resolve().parent.parent / "fixtures" / "photos" / "gps"
CAMERA = f"/api/v1/consent/{purposes.CAMERA_ROLL}/"


@pytest.fixture(autouse=True)
def vault_settings(settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    settings.WITHDRAWAL_GRACE_DAYS = 0


def upload(client, path: Path, labels=("trip",)):
    with path.open("rb") as handle:
        return client.post("/api/v1/media/", {"file": handle, "labels": json.dumps(list(labels))}, format="multipart")


def test_it_keeps_the_promise_from_opt_in_to_withdrawal(api, alice, audrey, capsys,
                                                        django_capture_on_commit_callbacks):
    phone = api(alice)
    photos = sorted(PHOTOS.glob("*.jpg"))
    assert len(photos) >= 2

    # Nothing is accepted before she opts in.
    refused = upload(phone, photos[0])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent_required"

    notice = phone.get(f"/api/v1/consent/notices/{purposes.CAMERA_ROLL}/").json()
    assert phone.put(CAMERA, {"granted": True, "notice_version": notice["version"]}, format="json").status_code == 200

    uploaded = [upload(phone, path) for path in photos]
    assert all(r.status_code == 201 for r in uploaded), [r.content for r in uploaded]
    assert all(r.json()["has_location"] for r in uploaded)
    again = upload(phone, photos[0])
    assert again.status_code == 200 and again.json()["duplicate"] is True

    # Lists never carry coordinates, only whether a place is known.
    listing = phone.get("/api/v1/media/").json()
    assert listing["count"] == len(photos)
    assert not {"lat", "lon", "latitude", "longitude", "gps"} & set(listing["results"][0])

    with django_capture_on_commit_callbacks(execute=True):
        job = phone.post("/api/v1/suggestions/generate/").json()
    assert phone.get(f"/api/v1/suggestions/jobs/{job['job']}/").json()["status"] == "done"
    made = phone.get("/api/v1/suggestions/").json()["results"]
    assert made, "a camera roll of real trip photos should produce at least one suggestion"
    content = phone.get(f"/api/v1/suggestions/{made[0]['id']}/content/")
    body = b"".join(content.streaming_content) if content.streaming else content.content
    assert content.status_code == 200 and len(body) > 1000

    # Turning it off is one call; access stops and the cloud copies go at once.
    assert phone.put(CAMERA, {"granted": False}, format="json").json()["purpose"]["granted"] is False
    assert phone.get("/api/v1/media/").json()["count"] == 0
    assert phone.get("/api/v1/suggestions/").json()["count"] == 0
    assert phone.get(f"/api/v1/media/{uploaded[0].json()['id']}/content/").status_code == 404
    refused_after = upload(phone, photos[1])
    assert refused_after.status_code == 403

    # She can prove what she agreed to, and when.
    public_key = api().get("/api/v1/consent/receipts/public-key/").json()["public_key_pem"]
    for entry in ConsentEntry.objects.filter(subject=alice):
        signed = phone.get(f"/api/v1/consent/receipts/{entry.record_id}/").json()
        assert receipts.receipt_verify(signed, public_key)

    # The auditor sees every step, with no content in it, and the chain verifies.
    events = api(audrey).get("/api/v1/audit/events/", {"subject": alice.pk, "page_size": 500}).json()
    actions = [e["action"] for e in events["results"]]
    for expected in ("consent.given", "media.uploaded", "media.read", "consent.withdrawn", "media.upload_refused"):
        assert expected in actions, f"{expected} missing from {sorted(set(actions))}"
    reads = [e for e in events["results"] if e["action"] == "media.read"]
    assert all(e["purpose"] == "sharing_suggestions" for e in reads)
    flat = json.dumps(events)
    assert "trip" not in flat and "alice@" not in flat
    for path in photos:
        assert path.name not in flat
    call_command("audit_verify")
    assert "OK" in capsys.readouterr().out

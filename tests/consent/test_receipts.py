import base64
import copy

import pytest

from consent import purposes, receipts
from consent.models import ConsentEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry_id(api, alice):
    api(alice).put(f"/api/v1/consent/{purposes.CAMERA_ROLL}/", {"granted": True, "notice_version": "1"}, format="json")
    return str(ConsentEntry.objects.get(subject=alice).record_id)


def public_key(api):
    return api().get("/api/v1/consent/receipts/public-key/").json()["public_key_pem"]


def test_it_signs_a_receipt_that_verifies_with_the_published_key(api, alice, entry_id):
    response = api(alice).get(f"/api/v1/consent/receipts/{entry_id}/")
    assert response.status_code == 200
    signed = response.json()
    assert signed["receipt"]["record_id"] == entry_id
    assert signed["receipt"]["purpose"] == purposes.CAMERA_ROLL
    assert signed["receipt"]["event"] == "given" and signed["receipt"]["collection_method"] == "api"
    for field in ("notice_version", "notice_sha256", "timestamp", "jurisdiction", "retention", "actor"):
        assert signed["receipt"][field]
    assert receipts.receipt_verify(signed, public_key(api))


def test_it_fails_verification_after_one_changed_byte(api, alice, entry_id):
    signed = api(alice).get(f"/api/v1/consent/receipts/{entry_id}/").json()
    pem = public_key(api)
    tampered = copy.deepcopy(signed)
    tampered["receipt"]["timestamp"] = tampered["receipt"]["timestamp"].replace("2", "3", 1)
    assert not receipts.receipt_verify(tampered, pem)
    signature = bytearray(base64.b64decode(signed["signature"]))
    signature[0] ^= 0x01
    assert not receipts.receipt_verify({**signed, "signature": base64.b64encode(signature).decode()}, pem)


def test_it_hides_another_holders_receipt(api, bob, entry_id):
    response = api(bob).get(f"/api/v1/consent/receipts/{entry_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_answers_404_for_a_malformed_receipt_id(api, alice):
    assert api(alice).get("/api/v1/consent/receipts/not-a-uuid/").status_code == 404

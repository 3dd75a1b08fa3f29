"""Erase does what its page says: the cloud copies are destroyed, Camera Roll Sharing Suggestions is
turned off through the consent ledger (so nothing flows back until the holder turns it on again), and
the holder's devices stay signed in. The holder's page and support's say so."""

import pytest
from django.test import Client

from accounts.models import ApiToken
from accounts.tokens import token_create
from consent import purposes
from consent import selectors as consent_selectors
from consent.models import ConsentEntry
from core.uow import Actor
from support import rights, services
from tests.support.conftest import grant, open_case, upload

pytestmark = pytest.mark.django_db


def camera_roll_on(user) -> bool:
    return consent_selectors.consent_active_entry(user_id=user.pk, purpose=purposes.CAMERA_ROLL) is not None


def test_the_holders_erase_turns_the_feature_off_and_keeps_devices_signed_in(api, alice):
    grant(alice)
    grant(alice, purposes.FACE_ANALYSIS)
    upload(alice, 2)
    _, secret = token_create(user=alice, name="alice-phone")

    counts = rights.cloud_media_erase(user=alice)

    assert counts["items"] == 2 and counts["turned_off"] == 1
    assert not camera_roll_on(alice)
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purposes.FACE_ANALYSIS) is None
    latest = ConsentEntry.objects.filter(subject_id=alice.pk, purpose=purposes.CAMERA_ROLL).latest("id")
    assert latest.event == ConsentEntry.Event.WITHDRAWN and latest.method == "web"
    assert ApiToken.objects.filter(user=alice).count() == 1  # the phone is still signed in
    phone = api()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    answer = phone.get("/api/v1/consent/")
    assert answer.status_code == 200
    row = next(r for r in answer.json()["purposes"] if r["purpose"] == purposes.CAMERA_ROLL)
    assert row["granted"] is False  # what the phone sees: off, so it stops


def test_erasing_over_the_api_is_recorded_as_from_the_phone_app(api, alice):
    grant(alice)
    response = api(alice).delete("/api/v1/me/cloud-media/")
    assert response.status_code == 200 and response.json()["erased"]["turned_off"] == 1
    latest = ConsentEntry.objects.filter(subject_id=alice.pk, purpose=purposes.CAMERA_ROLL).latest("id")
    assert latest.method == "api"


def test_erasing_when_the_feature_is_already_off_changes_no_consent(alice):
    grant(alice)
    upload(alice, 1)
    from consent.services import consent_withdraw

    consent_withdraw(user=alice, purpose=purposes.CAMERA_ROLL, method="web")
    entries = ConsentEntry.objects.filter(subject_id=alice.pk).count()
    assert rights.cloud_media_erase(user=alice)["turned_off"] == 0
    assert ConsentEntry.objects.filter(subject_id=alice.pk).count() == entries


def test_supports_erase_turns_the_feature_off_under_the_case(sam, alice):
    grant(alice)
    upload(alice, 3)
    token_create(user=alice, name="alice-phone")
    case = open_case(sam, alice)

    action = services.support_erase(actor=Actor.support(sam.pk), user_id=alice.pk, reason="asked by phone")

    assert action.counts["items"] == 3 and action.counts["turned_off"] == 1
    assert not camera_roll_on(alice)
    latest = ConsentEntry.objects.filter(subject_id=alice.pk, purpose=purposes.CAMERA_ROLL).latest("id")
    assert latest.event == ConsentEntry.Event.REVOKED_BY_SUPPORT and latest.case_id == case.pk
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_the_holders_erase_page_says_what_erase_does(alice):
    grant(alice)
    upload(alice, 2)
    client = Client()
    client.force_login(alice)
    page = client.get("/me/data/erase/").content.decode()
    assert "turns Camera Roll Sharing Suggestions off" in page
    assert "Your phone stays signed in" in page and "/settings/devices/" in page
    assert "starts over" not in page  # the old promise, which the behaviour did not keep

    done = client.post("/me/data/erase/", {"confirm": "on"}, follow=True).content.decode()
    assert "Camera Roll Sharing Suggestions is off: your phone stays signed in" in done
    assert not camera_roll_on(alice)
    again = client.get("/me/data/erase/").content.decode()
    assert "Camera Roll Sharing Suggestions is already off, and stays off" in again

"""Turning off what destroys photos asks first, on a page of its own: the counts, a way to keep a copy, and
nothing withdrawn until the holder says yes. Allowed for the holder only; the API (phone app) does not ask."""

import base64
import os

import pytest
from django.test import Client

from consent import purposes
from consent.models import ConsentEntry
from tests.conftest import api_for
from tests.vault.conftest import grant, jpeg_bytes
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = pytest.mark.django_db
CONFIRM = f"/settings/camera-roll/turn-off/{purposes.CAMERA_ROLL}/"


@pytest.fixture(autouse=True)
def _master_key(settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"


def words(response) -> str:
    return " ".join(response.content.decode().split())


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def holding(alice):
    grant(alice)
    for colour in ((200, 0, 0), (0, 200, 0)):
        vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=colour))
    return alice


def test_it_asks_before_destroying_and_withdraws_nothing_until_confirmed(holding):
    client = logged_in(holding)
    response = client.post("/settings/camera-roll/", {"purpose": purposes.CAMERA_ROLL, "action": "off"})
    assert response.status_code == 302 and response["Location"] == CONFIRM
    assert not ConsentEntry.objects.filter(event="withdrawn").exists()
    page = words(client.get(CONFIRM))
    assert "2 photos and 0 suggestions will be destroyed now." in page
    assert 'href="/me/data/#export-heading"' in page
    assert "Turn off and destroy 2 photos" in page
    assert MediaItem.objects.filter(owner=holding).count() == 2

    done = client.post("/settings/camera-roll/", {"purpose": purposes.CAMERA_ROLL, "action": "off",
                                                   "confirmed": "yes"}, follow=True)
    assert "Access stopped at once: 2 photos and 0 suggestions were destroyed." in words(done)
    assert MediaItem.objects.filter(owner=holding).count() == 0
    assert ConsentEntry.objects.filter(event="withdrawn", method="web").count() == 1


def test_it_says_when_the_photos_go_if_there_is_a_grace_period(holding, settings):
    settings.WITHDRAWAL_GRACE_DAYS = 7
    page = words(logged_in(holding).get(CONFIRM))
    assert "Your <strong>2 photos</strong>" in page and "unless you turn it on again" in page


def test_it_names_what_is_turned_off_with_it(holding):
    grant(holding, purposes.FACE_ANALYSIS)
    page = words(logged_in(holding).get(CONFIRM))
    assert "Group photos by people needs it, so it is turned off too." in page


def test_it_turns_off_in_one_click_when_nothing_would_be_destroyed(alice):
    grant(alice)
    response = logged_in(alice).post("/settings/camera-roll/", {"purpose": purposes.CAMERA_ROLL, "action": "off"})
    assert response.status_code == 302 and response["Location"] == "/settings/camera-roll/"
    assert ConsentEntry.objects.filter(event="withdrawn").count() == 1


def test_it_has_nothing_to_ask_when_already_off_or_for_other_purposes(alice):
    client = logged_in(alice)
    assert client.get(CONFIRM)["Location"] == "/settings/camera-roll/"
    assert client.get(f"/settings/camera-roll/turn-off/{purposes.SUGGESTION_PROMPTS}/").status_code == 404
    assert client.get("/settings/camera-roll/turn-off/advertising/").status_code == 404


def test_it_refuses_staff_and_anonymous_visitors(holding, audrey, sam):
    for staff in (audrey, sam):
        assert logged_in(staff).get(CONFIRM).status_code == 403
    anonymous = Client().get(CONFIRM)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_it_shows_another_holder_only_their_own_counts(holding, bob):
    grant(bob)
    # bob holds nothing: nothing to confirm, and nothing of alice's on his page.
    page = logged_in(bob).get("/settings/camera-roll/").content.decode()
    assert "data-confirm" not in page


def test_it_records_how_a_change_arrived(alice):
    version = "1"
    api_for(alice).put(f"/api/v1/consent/{purposes.SUGGESTION_PROMPTS}/",
                       {"granted": True, "notice_version": version}, format="json")
    session = Client(enforce_csrf_checks=False)
    session.force_login(alice)
    session.put(f"/api/v1/consent/{purposes.SUGGESTION_PROMPTS}/", '{"granted": false}',
                content_type="application/json")
    assert list(ConsentEntry.objects.order_by("id").values_list("event", "method")) == [
        ("given", "api"), ("withdrawn", "web")]
    page = logged_in(alice).get("/settings/camera-roll/").content.decode()
    assert "from the phone app" in page and "on the web" in page


def test_it_shows_a_receipt_as_a_page_with_the_signed_copy_to_download(alice, bob, audrey):
    grant(alice)
    entry = ConsentEntry.objects.get(subject=alice)
    url = f"/settings/camera-roll/receipts/{entry.record_id}/"
    assert f'href="{url}"' in logged_in(alice).get("/settings/camera-roll/").content.decode()
    page = words(logged_in(alice).get(url))
    assert "Camera Roll Sharing Suggestions: <strong>turned on</strong>" in page
    assert "from the phone app" in page  # grant() goes through the API
    assert f'href="/api/v1/consent/receipts/{entry.record_id}/"' in page and "Download signed receipt" in page
    # The hash is there for those who check, folded away for everyone else.
    assert page.index("<details") < page.index(entry.notice_sha256)
    assert logged_in(bob).get(url).status_code == 404
    assert logged_in(bob).get("/settings/camera-roll/receipts/not-a-uuid/").status_code == 404
    assert logged_in(audrey).get(url).status_code == 403
    assert Client().get(url)["Location"].startswith("/accounts/login/")


def test_videos_are_counted_as_videos_the_trashed_one_too(holding):
    """Two photos, a video and a video in the trash: the confirmation and the message after it say
    2 photos and 2 videos (a trashed video was counted as a photo)."""
    from tests.vault.clips import clip_bytes
    from vault import trash

    for frames in (2, 3):
        vault_services.media_upload(user_id=holding.pk, data=clip_bytes(frames=frames), filename=f"{frames}.mov")
    trash.media_trash(user_id=holding.pk, item_ids=[MediaItem.objects.filter(duration_ms__isnull=False).first().pk])
    client = logged_in(holding)
    page = words(client.get(CONFIRM))
    assert "2 photos and 2 videos and 0 suggestions will be destroyed now." in page
    assert "Turn off and destroy 2 photos and 2 videos" in page
    done = client.post("/settings/camera-roll/", {"purpose": purposes.CAMERA_ROLL, "action": "off",
                                                   "confirmed": "yes"}, follow=True)
    assert "Access stopped at once: 2 photos and 2 videos and 0 suggestions were destroyed." in words(done)

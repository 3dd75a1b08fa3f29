"""Support's revoke and erase say what they destroy, with counts, and ask the agent to tick them;
the holder's notice and email say what was destroyed, by whom, under which case, and how to turn
the feature on again."""

import pytest
from django.core import mail

from consent import purposes
from consent.selectors import consent_active_entry
from support import selectors
from tests.support.conftest import grant, open_case, upload
from tests.support.test_pages import client_for
from vault.selectors import media_summary

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def test_it_counts_what_each_action_destroys(alice):
    grant(alice)
    upload(alice, 3)
    assert selectors.destruction_preview(user_id=alice.pk) == {"photos": 3}
    assert selectors.destruction_preview(user_id=alice.pk, purpose=CAMERA) == {"photos": 3}
    assert selectors.destruction_preview(user_id=alice.pk, purpose=purposes.SUGGESTION_PROMPTS) == {}
    assert selectors.destruction_preview(user_id=alice.pk, purpose=purposes.FACE_ANALYSIS) == {}  # off


def test_it_words_the_counts():
    words = selectors.destruction_words
    assert words({}) == ""
    assert words({"photos": 1}) == "1 photo"
    assert words({"photos": 23, "videos": 2, "suggestions": 3, "people": 4, "face_records": 12}) == (
        "23 photos, 2 videos, 3 suggestions and 4 people (12 face records)")
    assert words({"suggestions": 1, "people": 1, "face_records": 1, "exports": 1}) == (
        "1 suggestion, 1 person (1 face record) and 1 data export")


def test_the_revoke_confirmation_gives_the_counts_and_wants_them_ticked(sam, alice):
    grant(alice)
    upload(alice, 3)
    open_case(sam, alice)
    client = client_for(sam)
    url = f"/support/subjects/{alice.pk}/revoke/"
    asked = client.post(url, {"purpose": CAMERA, "reason": "asked by phone"}).content.decode()
    assert "It destroys, now and for good: 3 photos." in asked
    assert 'data-what="photos" data-count="3"' in asked and 'name="understood"' in asked

    unticked = client.post(url, {"purpose": CAMERA, "reason": "asked by phone", "confirm": "yes",
                                 "destroys": "photos:3"})
    assert "Tick the box" in unticked.content.decode()
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None

    upload(alice, 1, start=10)  # a photo arrives while the agent reads: the counts shown are stale
    stale = client.post(url, {"purpose": CAMERA, "reason": "asked by phone", "confirm": "yes",
                              "destroys": "photos:3", "understood": "on"}).content.decode()
    assert "has changed since the confirmation was shown" in stale and "4 photos" in stale
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None

    done = client.post(url, {"purpose": CAMERA, "reason": "asked by phone", "confirm": "yes",
                             "destroys": "photos:4", "understood": "on"}, follow=True).content.decode()
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    assert "Destroyed: 4 photos." in done


def test_the_erase_confirmation_gives_the_counts_and_wants_them_ticked(sam, alice):
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    client = client_for(sam)
    url = f"/support/subjects/{alice.pk}/erase/"
    page = client.get(url).content.decode()
    assert "This destroys, now and for good: 2 photos." in page and 'name="understood"' in page
    assert "turns <strong>Camera Roll Sharing Suggestions off</strong>" in page
    unticked = client.post(url, {"reason": "asked", "confirm": "alice", "destroys": "photos:2"})
    assert unticked.status_code == 200 and media_summary(user_id=alice.pk)["items"] == 2
    done = client.post(url, {"reason": "asked", "confirm": "alice", "destroys": "photos:2", "understood": "on"},
                       follow=True).content.decode()
    assert media_summary(user_id=alice.pk)["items"] == 0
    assert "Erased for alice: 2 photos." in done


def test_the_holder_is_told_what_was_destroyed_by_whom_under_which_case_and_how_to_turn_it_on(
        sam, alice, django_capture_on_commit_callbacks):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    grant(alice)
    upload(alice, 2)
    case = open_case(sam, alice, ticket="7781")
    with django_capture_on_commit_callbacks(execute=True):
        client_for(sam).post(f"/support/subjects/{alice.pk}/erase/", {
            "reason": "Holder asked by email", "confirm": "alice", "destroys": "photos:2", "understood": "on"})
    page = client_for(alice).get("/settings/camera-roll/").content.decode()
    (message,) = mail.outbox
    for text in (page, message.body):
        assert "Support agent sam erased your photos in the cloud and everything made from them on " in text
        assert f"case #{case.pk} (ticket 7781)." in text
        assert "This destroyed 2 photos; it cannot be brought back." in text
        assert "Camera Roll Sharing Suggestions is now off, so your phone uploads nothing." in text
        assert "Reason: Holder asked by email" in text
        assert "To turn Camera Roll Sharing Suggestions on again, go to Settings, Camera roll" in text


def test_a_trashed_video_is_counted_as_a_video(alice):
    from tests.vault.clips import clip_bytes
    from vault import services as vault_services
    from vault import trash
    from vault.models import MediaItem

    grant(alice)
    upload(alice, 2)
    for frames in (2, 3):
        vault_services.media_upload(user_id=alice.pk, data=clip_bytes(frames=frames), filename=f"{frames}.mov")
    trash.media_trash(user_id=alice.pk, item_ids=[MediaItem.objects.filter(duration_ms__isnull=False).first().pk])
    assert selectors.destruction_preview(user_id=alice.pk) == {"photos": 2, "videos": 2}
    assert selectors.destruction_preview(user_id=alice.pk, purpose=CAMERA) == {"photos": 2, "videos": 2}
    page = client_for(alice).get("/me/data/erase/").content.decode()
    assert "You have 2 photos and 2 videos" in page

"""A video's place leaves the vault by the owner's export only (issue 25): every other path is tried here.

The owner's export keeps it (tests/vault/test_videos.py); the paths tried here are the owner's own
item details, and the ones that reach someone else, or a purpose: what the gateway hands the suggestion engine
and face analysis (metadata, posters, time ranges as frames or clips), the audit trail the auditors
read, and staff asking the API for the item.
"""

import io

import pytest
from PIL import Image

from audit.models import AuditEvent
from consent import purposes
from tests.vault.clips import atoms
from tests.vault.conftest import grant
from tests.vault.test_videos import iphone_mov, mov_item  # noqa: F401 (the fixture)
from vault import gateway

pytestmark = pytest.mark.django_db

# The clip was filmed at the Eiffel tower: +48.8584+002.2945 (tests/vault/clips.PARIS).
COORDINATES = (b"48.858", b"2.294", b"48,858", b"2,294")


def _no_exif(jpeg: bytes) -> bool:
    image = Image.open(io.BytesIO(jpeg))
    return not image.getexif() and "exif" not in image.info and "xmp" not in image.info


def test_no_purpose_is_handed_a_videos_place(consented, mov_item):  # noqa: F811
    """Suggestions choose videos by time only; a place excludes a video inside the vault
    (test_exclusions_by_date_and_place_apply_to_videos). The metadata handed out said where it was filmed."""
    assert mov_item.has_location
    grant(consented, purposes.FACE_ANALYSIS)
    for purpose in (gateway.PURPOSE_SUGGESTIONS, gateway.PURPOSE_FACES):
        (listed,) = gateway.video_candidates(user_id=consented.pk, purpose=purpose)
        assert listed.id == mov_item.pk and listed.captured_at is not None  # time still comes
        assert (listed.lat, listed.lon) == (None, None)
        (poster,) = gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[mov_item.pk], variant="thumbnail")
        assert (poster.meta.lat, poster.meta.lon) == (None, None) and _no_exif(poster.data)
        (frames,) = gateway.release_ranges(user_id=consented.pk, purpose=purpose, ranges=[(mov_item.pk, 200, 500)],
                                           fps=4, max_side=64)
        assert (frames.meta.lat, frames.meta.lon) == (None, None)
        assert frames.frames and all(_no_exif(frame) for frame in frames.frames)
        (clip,) = gateway.release_ranges(user_id=consented.pk, purpose=purpose, ranges=[(mov_item.pk, 200, 500)],
                                         as_clip=True, fps=4, max_side=64)
        assert (clip.meta.lat, clip.meta.lon) == (None, None)
        assert clip.clip[4:8] == b"ftyp" and not atoms(clip.clip)
        assert not any(c in clip.clip for c in COORDINATES)


def test_the_owners_poster_carries_no_metadata(consented, mov_item, api):  # noqa: F811
    response = api(consented).get(f"/api/v1/media/{mov_item.pk}/thumbnail/")
    assert response.status_code == 200
    poster = b"".join(response.streaming_content) if response.streaming else response.content
    assert poster[:3] == b"\xff\xd8\xff" and _no_exif(poster)


def test_neither_the_trail_nor_staff_learn_the_place(consented, mov_item, audrey, sam, api):  # noqa: F811
    """Uploading, listing and reading the clip leave events; none of them says where, and the auditor's
    API, which shows every event with its details, says it nowhere. Staff cannot open the item."""
    client = api(consented)
    for path in ("", "content/", "thumbnail/"):
        assert client.get(f"/api/v1/media/{mov_item.pk}/{path}").status_code == 200
    # Not even the holder's own item details say where (a photo's do): only the export does.
    details = client.get(f"/api/v1/media/{mov_item.pk}/")
    assert details.json()["location"] is None and details.json()["has_location"] is True
    assert not any(c in details.content for c in COORDINATES)
    gateway.video_candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)
    events = list(AuditEvent.objects.filter(subject_id=consented.pk))
    assert {"media.uploaded", "media.read", "media.listed"} <= {e.action for e in events}
    for event in events:
        text = repr((event.details, event.object_id, event.object_type)).encode()
        assert not any(c in text for c in COORDINATES), (event.action, event.details)
    page = api(audrey).get("/api/v1/audit/events/", {"subject_id": consented.pk})
    assert page.status_code == 200 and str(mov_item.pk).encode() in page.content
    assert not any(c in page.content for c in COORDINATES)
    for staff in (audrey, sam):
        for path in ("", "content/", "thumbnail/"):
            assert api(staff).get(f"/api/v1/media/{mov_item.pk}/{path}").status_code in (403, 404)


def test_the_owners_photos_page_does_not_name_a_videos_place(consented, mov_item):  # noqa: F811
    """The /media/ timeline names a photo's place offline ("Paris"); for a video it says only that the
    place is kept for the export, as the item's details give its location as null."""
    from django.test import Client

    from vault.selectors import place_label

    named = place_label(lat=48.8584, lon=2.2945)
    assert named == "Paris"
    client = Client()
    client.force_login(consented)
    page = client.get("/media/").content.decode()
    card = page[page.index(f'id="media-{mov_item.pk}"'):]
    card = card[:card.index("</li>")]
    assert named not in card
    assert '<span class="media-place">Place kept for your export</span>' in card
    # The tick box's name for a screen reader says what it is.
    assert '<span class="sr-only">Tick video taken' in card

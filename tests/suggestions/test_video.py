"""A recap's MP4 on the suggestions page: served from the encrypted store in pieces (HTTP Range), so a
<video> plays and seeks; the owner's only, every read audited; a poster from the recap's first frame."""

import io

import pytest
from django.test import Client
from PIL import Image

from audit.models import AuditEvent
from suggestions import services
from suggestions.models import Suggestion
from tests.suggestions.conftest import COLOURS, a_day_out, grant

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def recap(alice):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    services.suggestions_generate(user_id=alice.pk)
    return Suggestion.objects.get(owner=alice, kind="recap")


def whole_video(alice, recap) -> bytes:
    return browser(alice).get(f"/suggestions/{recap.pk}/download/?format=mp4").content


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_page_plays_a_recap_in_a_video_with_controls_and_a_poster(recap, alice):
    html = browser(alice).get("/suggestions/").content.decode()
    assert "<video controls" in html and "nofullscreen" not in html
    assert f'poster="/suggestions/{recap.pk}/poster/"' in html
    assert f'<source src="/suggestions/{recap.pk}/video/" type="video/mp4">' in html
    # the animated WebP only inside the <video>, as what shows where it cannot play
    assert html.index(f'<source src="/suggestions/{recap.pk}/video/"') < html.index(
        f'src="/suggestions/{recap.pk}/preview/"') < html.index("</video>")


def test_it_serves_the_whole_video_with_accept_ranges(recap, alice):
    whole = whole_video(alice, recap)
    response = browser(alice).get(f"/suggestions/{recap.pk}/video/")
    assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes" and int(response["Content-Length"]) == len(whole)
    assert body(response) == whole and whole[4:8] == b"ftyp"


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-1", 0, 1), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-20", 10, 20),
])
def test_it_serves_a_range_as_206_with_content_range(recap, alice, header, start, end):
    whole = whole_video(alice, recap)
    response = browser(alice).get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE=header)
    assert response.status_code == 206
    first = start % len(whole)
    last = len(whole) - 1 if end is None else end
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(whole)}"
    assert int(response["Content-Length"]) == last - first + 1
    assert body(response) == whole[first : last + 1]


def test_it_answers_416_to_a_range_past_the_end_or_malformed_and_decrypts_nothing(recap, alice):
    size = len(whole_video(alice, recap))
    reads = AuditEvent.objects.filter(action="output.read", object_id=str(recap.video_output_id)).count()
    for header in (f"bytes={size}-", "bytes=50-10", "bytes=nonsense"):
        response = browser(alice).get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE=header)
        assert response.status_code == 416
        assert response["Content-Range"] == f"bytes */{size}"
        assert response.json()["error"]["code"] == "range_not_satisfiable"
    assert AuditEvent.objects.filter(action="output.read", object_id=str(recap.video_output_id)).count() == reads


def test_if_range_of_another_version_gets_the_whole_video(recap, alice):
    client = browser(alice)
    etag = client.get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE="bytes=0-1")["ETag"]
    assert client.get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=etag).status_code == 206
    stale = client.get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"other"')
    assert stale.status_code == 200


def test_every_piece_read_is_audited_as_the_owners_read_of_the_output(recap, alice):
    before = set(AuditEvent.objects.filter(action="output.read").values_list("pk", flat=True))
    body(browser(alice).get(f"/suggestions/{recap.pk}/video/", HTTP_RANGE="bytes=10-20"))
    [event] = AuditEvent.objects.filter(action="output.read").exclude(pk__in=before)
    assert event.object_id == str(recap.video_output_id) and event.outcome == "allowed"
    assert event.purpose == "owner_access" and event.details == {"kind": "recap_video", "range": [10, 20]}


def test_the_video_and_poster_are_the_owners_only(recap, alice, bob, audrey, sam):
    grant(bob)
    for target in (f"/suggestions/{recap.pk}/video/", f"/suggestions/{recap.pk}/poster/"):
        assert browser(bob).get(target).status_code == 404
        assert browser(bob).get(target, HTTP_RANGE="bytes=0-1").status_code == 404
        assert browser(audrey).get(target).status_code == 403
        assert browser(sam).get(target).status_code == 403
        response = browser().get(target)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not AuditEvent.objects.filter(action="output.read", subject_id=bob.pk).exists()


def test_a_collage_has_no_video_or_poster(recap, alice):
    collage = Suggestion.objects.filter(owner=alice, kind="collage").first()
    assert collage is not None
    assert browser(alice).get(f"/suggestions/{collage.pk}/video/").status_code == 404
    assert browser(alice).get(f"/suggestions/{collage.pk}/poster/").status_code == 404


def test_the_poster_is_the_recaps_first_frame(recap, alice):
    response = browser(alice).get(f"/suggestions/{recap.pk}/poster/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    poster = Image.open(io.BytesIO(response.content))
    with Image.open(io.BytesIO(browser(alice).get(f"/suggestions/{recap.pk}/preview/").content)) as webp:
        assert webp.is_animated and poster.size == webp.size


def test_a_dismissed_recap_has_no_video(recap, alice):
    browser(alice).post(f"/suggestions/{recap.pk}/dismiss/")
    assert browser(alice).get(f"/suggestions/{recap.pk}/video/").status_code == 404


def test_a_shared_recap_seeks_too_and_counts_one_open_per_play(recap, alice):
    from suggestions import sharing
    from suggestions.models import ShareLink
    from tests.suggestions.conftest import withdraw

    whole = whole_video(alice, recap)
    made = sharing.share_link_create(user_id=alice.pk, suggestion_id=recap.pk, display_name="Al")
    target = f"/s/{made.token}/content/?format=mp4"
    visitor = Client()
    first = visitor.get(target, HTTP_RANGE="bytes=0-")
    assert first.status_code == 206 and body(first) == whole
    piece = visitor.get(target, HTTP_RANGE="bytes=100-199")
    assert piece.status_code == 206 and piece["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert body(piece) == whole[100:200]
    assert visitor.get(target, HTTP_RANGE=f"bytes={len(whole)}-").status_code == 416
    assert ShareLink.objects.get(pk=made.link.pk).opens == 1
    reads = AuditEvent.objects.filter(action="output.shared_read", object_id=str(recap.video_output_id))
    assert sorted(tuple(e.details["range"]) for e in reads) == [(0, len(whole) - 1), (100, 199)]
    assert all(e.actor_id == f"share_link:{made.link.pk}" for e in reads)
    download = visitor.get(target + "&download=1")
    assert download.status_code == 200 and download.content == whole
    withdraw(alice)
    assert visitor.get(target, HTTP_RANGE="bytes=0-1").status_code == 404

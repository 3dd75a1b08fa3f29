"""/media/ and /settings/exclusions/: allowed and denied for every role, and what they show."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.vault.conftest import jpeg_bytes
from vault import services
from vault.models import Exclusion, MediaItem

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def item(consented):
    data = jpeg_bytes(exif={"lat": 59.3293, "lon": 18.0686})
    return services.media_upload(user_id=consented.pk, data=data, labels=["secret-theme"]).item


@pytest.fixture
def exclusion(consented):
    return services.exclusion_create_place(user_id=consented.pk, name="Office", lat=59.33, lon=18.07, radius_m=300)


def test_it_lists_photos_with_time_and_the_places_name_but_never_coordinates(item, consented):
    response = browser(consented).get("/media/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'/media/{item.pk}/thumbnail/' in html and "Stockholm" in html and "Place known" not in html
    assert "59.32" not in html and "18.06" not in html and "secret-theme" not in html
    assert "Delete all photos in the cloud now" in html


def test_it_serves_thumbnails_and_originals_to_the_owner_and_audits_them(item, consented):
    client = browser(consented)
    thumb = client.get(f"/media/{item.pk}/thumbnail/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"
    original = client.get(f"/media/{item.pk}/original/")
    assert b"".join(original.streaming_content)[:2] == b"\xff\xd8"
    assert AuditEvent.objects.filter(action="media.read", purpose="owner_access").count() == 2


def test_it_excludes_includes_and_deletes_from_the_page(item, consented):
    client = browser(consented)
    assert client.post(f"/media/{item.pk}/exclude/", {"excluded": "1"}).status_code == 302
    assert MediaItem.objects.get(pk=item.pk).excluded
    assert "Kept out of suggestions" in client.get("/media/").content.decode()
    client.post(f"/media/{item.pk}/exclude/", {"excluded": "0"})
    assert not MediaItem.objects.get(pk=item.pk).excluded
    assert client.post(f"/media/{item.pk}/delete/").status_code == 302
    assert MediaItem.objects.get(pk=item.pk).trashed_at is not None
    assert f'id="media-{item.pk}"' not in client.get("/media/").content.decode()


def test_it_erases_everything_only_when_confirmed(item, consented):
    client = browser(consented)
    client.post("/media/erase/", {})
    assert MediaItem.objects.exists()
    response = client.post("/media/erase/", {"confirm": "on"}, follow=True)
    assert not MediaItem.objects.exists()
    assert "Destroyed 1 photo" in response.content.decode()
    assert AuditEvent.objects.get(action="media.erased").actor_kind == "holder"


def test_it_adds_and_removes_exclusions_from_the_page(consented):
    client = browser(consented)
    response = client.post("/settings/exclusions/", {"kind": "date_range", "dates-start": "2024-01-01",
                                                     "dates-end": "2024-01-05"})
    assert response.status_code == 302
    client.post("/settings/exclusions/", {"kind": "place", "place-name": "Gym", "place-lat": "1.5",
                                          "place-lon": "2.5", "place-radius_m": "100"})
    html = client.get("/settings/exclusions/").content.decode()
    assert "Gym" in html and "1 Jan 2024" in html
    assert Exclusion.objects.count() == 2
    bad = client.post("/settings/exclusions/", {"kind": "place", "place-lat": "95", "place-lon": "0",
                                                "place-radius_m": "100"})
    assert bad.status_code == 400 and Exclusion.objects.count() == 2
    for exclusion in Exclusion.objects.all():
        assert client.post(f"/settings/exclusions/{exclusion.pk}/delete/").status_code == 302
    assert not Exclusion.objects.exists()


PAGES = [
    ("get", "/media/"),
    ("get", "/media/{item}/thumbnail/"),
    ("get", "/media/{item}/original/"),
    ("post", "/media/{item}/exclude/"),
    ("post", "/media/{item}/delete/"),
    ("post", "/media/erase/"),
    ("post", "/media/upload/"),
    ("get", "/settings/exclusions/"),
    ("post", "/settings/exclusions/"),
    ("post", "/settings/exclusions/{exclusion}/delete/"),
]


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_it_refuses_staff_and_sends_anonymous_people_to_log_in(item, exclusion, audrey, sam, method, path):
    url = path.format(item=item.pk, exclusion=exclusion.pk)
    body = {"excluded": "1", "confirm": "on", "kind": "date_range", "dates-start": "2024-01-01",
            "dates-end": "2024-01-02"}
    for staff in (audrey, sam):
        assert getattr(browser(staff), method)(url, body).status_code == 403
    anonymous = getattr(browser(), method)(url, body)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert MediaItem.objects.filter(pk=item.pk, excluded=False).exists()
    assert Exclusion.objects.count() == 1


@pytest.mark.parametrize(("method", "path"), [p for p in PAGES if "{" in p[1]])
def test_it_hides_another_holders_items_and_exclusions(item, exclusion, bob, method, path):
    url = path.format(item=item.pk, exclusion=exclusion.pk)
    assert getattr(browser(bob), method)(url, {"excluded": "1"}).status_code == 404
    assert MediaItem.objects.filter(pk=item.pk, excluded=False).exists()
    assert Exclusion.objects.count() == 1


def test_another_holder_sees_none_of_it_on_their_own_pages(item, exclusion, bob):
    assert f"/media/{item.pk}/" not in browser(bob).get("/media/").content.decode()
    assert "Office" not in browser(bob).get("/settings/exclusions/").content.decode()
    browser(bob).post("/media/erase/", {"confirm": "on"})
    assert MediaItem.objects.filter(pk=item.pk).exists()


def _photo_file(name="photo.jpg", **kwargs):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, jpeg_bytes(**kwargs), content_type="image/jpeg")


def test_it_adds_photos_from_the_upload_form_and_says_what_was_refused(consented):
    client = browser(consented)
    files = [_photo_file("red.jpg", color=(200, 0, 0)), _photo_file("blue.jpg", color=(0, 0, 200)),
             _photo_file("red-again.jpg", color=(200, 0, 0))]
    from django.core.files.uploadedfile import SimpleUploadedFile

    files.append(SimpleUploadedFile("notes.jpg", b"just some text", content_type="image/jpeg"))
    response = client.post("/media/upload/", {"files": files}, follow=True)
    html = response.content.decode()
    assert "Added 2 photos." in html
    assert "1 was already in your photos." in html
    assert "notes.jpg: Not a photo we can read" in html
    assert MediaItem.objects.filter(owner=consented).count() == 2
    uploaded = AuditEvent.objects.filter(action="media.uploaded", subject_id=str(consented.pk))
    assert uploaded.count() == 2 and all(e.details.get("method") == "web" for e in uploaded)


def test_it_refuses_uploads_from_the_form_while_the_feature_is_off(alice):
    response = browser(alice).post("/media/upload/", {"files": [_photo_file()]}, follow=True)
    assert "Camera Roll Sharing Suggestions is off" in response.content.decode()
    assert MediaItem.objects.count() == 0
    page = browser(alice).get("/media/").content.decode()
    assert 'id="upload-files"' not in page and 'id="uploads-off"' in page


def test_it_keeps_nothing_when_the_chosen_photos_are_too_large_together(consented, settings):
    files = [_photo_file("a.jpg", color=(200, 0, 0)), _photo_file("b.jpg", color=(0, 0, 200))]
    settings.VAULT_MAX_UPLOAD_BYTES = files[0].size + 10  # each fits alone, not both
    response = browser(consented).post("/media/upload/", {"files": files}, follow=True)
    assert "Nothing was added" in response.content.decode()
    assert MediaItem.objects.count() == 0


def test_it_asks_for_a_photo_when_none_was_chosen(consented):
    response = browser(consented).post("/media/upload/", {}, follow=True)
    assert "Choose one or more photos first." in response.content.decode()

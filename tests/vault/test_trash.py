"""The trash: delete moves a photo out of every read at once, restore brings it back, empty and housekeeping
destroy it (row and blobs). The API and pages prove their deny paths: another holder 404, staff 403,
anonymous 401 / the login page."""

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ServiceError
from tests.conftest import unit_of
from tests.vault.conftest import jpeg_bytes
from tests.vault.test_api_media import upload
from vault import content, gateway, services, trash
from vault.models import MediaItem

pytestmark = pytest.mark.django_db
PURPOSE = gateway.PURPOSE_SUGGESTIONS


@pytest.fixture
def photos(consented):
    return [services.media_upload(user_id=consented.pk, data=jpeg_bytes(color=c)).item
            for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]


def blobs_of(item) -> list[str]:
    return content.names_for(user_id=item.owner_id, key_id=item.key.key_id, uid=item.uid,
                             variants=["original", "thumbnail"])


def blobs_exist(item) -> bool:
    from vault import storage

    return all(storage.blob_storage().exists(name) for name in blobs_of(item))


def test_a_trashed_photo_is_out_of_every_read_but_the_owners_own(consented, photos):
    first = photos[0]
    trash.media_trash(user_id=consented.pk, item_ids=[first.pk])
    assert first.pk not in {m.id for m in gateway.candidates(user_id=consented.pk, purpose=PURPOSE)}
    released = gateway.release(user_id=consented.pk, purpose=PURPOSE, item_ids=[p.pk for p in photos])
    assert sorted(r.meta.id for r in released) == sorted(p.pk for p in photos[1:])
    # The holder can still look at what is in their trash (to decide whether to restore it).
    opened = gateway.owner_open(user_id=consented.pk, item_id=first.pk, variant="thumbnail", include_trashed=True)
    assert b"".join(opened.chunks)[:2] == b"\xff\xd8"
    with pytest.raises(ServiceError):  # the API's content read does not reach into the trash
        gateway.owner_open(user_id=consented.pk, item_id=first.pk, variant="thumbnail")
    assert AuditEvent.objects.filter(action="media.trashed", object_id=str(first.pk)).count() == 1


def test_restore_brings_it_back_and_empty_destroys_row_and_blobs(consented, photos, django_capture_on_commit_callbacks):
    first, second = photos[0], photos[1]
    trash.media_trash(user_id=consented.pk, item_ids=[first.pk, second.pk])
    trash.media_restore(user_id=consented.pk, item_id=first.pk)
    assert first.pk in {m.id for m in gateway.candidates(user_id=consented.pk, purpose=PURPOSE)}
    second = MediaItem.objects.select_related("key").get(pk=second.pk)
    assert blobs_exist(second)
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.trash_empty(user_id=consented.pk) == 1
    assert not MediaItem.objects.filter(pk=second.pk).exists()
    assert not blobs_exist(second)
    assert MediaItem.objects.filter(pk=first.pk, trashed_at__isnull=True).exists()
    deleted = AuditEvent.objects.get(action="media.deleted", object_id=str(second.pk))
    assert deleted.details["cause"] == "trash_emptied"


def test_it_moves_nothing_when_one_id_is_not_the_holders(consented, photos, bob):
    bobs = services.media_upload(user_id=consented.pk, data=jpeg_bytes(color=(9, 9, 9))).item
    with unit_of(consented):
        MediaItem.objects.filter(pk=bobs.pk).update(owner=bob)
    with pytest.raises(ServiceError) as caught:
        trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk, bobs.pk])
    assert caught.value.code == "not_found"
    assert not MediaItem.objects.filter(trashed_at__isnull=False).exists()


def test_housekeeping_destroys_what_has_been_in_the_trash_for_trash_days(consented, photos, settings):
    settings.TRASH_DAYS = 30
    trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])
    call_command("vault_purge", stdout=io.StringIO())
    assert MediaItem.objects.filter(pk=photos[0].pk).exists(), "kept while restorable"
    later = timezone.now() + timedelta(days=30, minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        out = io.StringIO()
        call_command("housekeeping", stdout=out)
    assert "1 photo(s) destroyed after 30 days in the trash" in out.getvalue()
    assert not MediaItem.objects.filter(pk=photos[0].pk).exists()
    assert MediaItem.objects.filter(owner=consented).count() == 2
    event = AuditEvent.objects.get(action="media.deleted", object_id=str(photos[0].pk))
    assert (event.actor_kind, event.details["cause"]) == ("system", "trash_expired")


def test_choosing_a_trashed_photo_again_on_the_web_restores_it(consented):
    data = jpeg_bytes(color=(1, 2, 3))
    item = services.media_upload(user_id=consented.pk, data=data).item
    trash.media_trash(user_id=consented.pk, item_ids=[item.pk])
    again = services.media_upload(user_id=consented.pk, data=data, method="web")
    assert again.duplicate and again.item.pk == item.pk
    assert MediaItem.objects.get(pk=item.pk).trashed_at is None


def test_the_phone_sending_a_trashed_photo_again_does_not_undo_the_deletion(consented, api):
    """A background sync re-sending a photo the holder deleted (after a reinstall, or a re-consent) is a
    duplicate that stays in the trash, and the answer says so, so the phone can stop sending it."""
    data = jpeg_bytes(color=(1, 2, 3))
    item = services.media_upload(user_id=consented.pk, data=data).item
    trash.media_trash(user_id=consented.pk, item_ids=[item.pk])
    answer = upload(api(consented), data)
    assert answer.status_code == 200
    assert answer.json()["duplicate"] is True and answer.json()["trashed"] is True
    assert answer.json()["id"] == item.pk
    assert MediaItem.objects.get(pk=item.pk).trashed_at is not None


# ---------------------------------------------------------------- API


def test_the_api_deletes_to_the_trash_lists_restores_and_empties(consented, photos, api):
    client = api(consented)
    first = photos[0].pk
    assert client.delete(f"/api/v1/media/{first}/").status_code == 204
    assert client.get(f"/api/v1/media/{first}/").status_code == 404
    assert first not in [m["id"] for m in client.get("/api/v1/media/").json()["results"]]
    listed = client.get("/api/v1/media/trash/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == first
    assert listed["results"][0]["purge_at"] > listed["results"][0]["trashed_at"]
    assert client.delete(f"/api/v1/media/{first}/").status_code == 404  # already in the trash
    restored = client.post(f"/api/v1/media/{first}/restore/")
    assert restored.status_code == 200 and restored.json()["id"] == first
    assert client.get("/api/v1/media/trash/").json()["count"] == 0
    client.delete(f"/api/v1/media/{first}/")
    emptied = client.delete("/api/v1/media/trash/")
    assert emptied.status_code == 200 and emptied.json() == {"destroyed": 1}
    assert client.post(f"/api/v1/media/{first}/restore/").json()["error"]["code"] == "not_found"


TRASH_ENDPOINTS = [("get", "/api/v1/media/trash/"), ("delete", "/api/v1/media/trash/"),
                   ("post", "/api/v1/media/{id}/restore/")]


def test_another_holder_cannot_see_restore_or_empty_alices_trash(consented, photos, bob, api):
    trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])
    client = api(bob)
    assert client.get("/api/v1/media/trash/").json()["count"] == 0
    assert client.post(f"/api/v1/media/{photos[0].pk}/restore/").status_code == 404
    assert client.delete(f"/api/v1/media/{photos[1].pk}/").status_code == 404
    assert client.delete("/api/v1/media/trash/").json() == {"destroyed": 0}
    assert MediaItem.objects.get(pk=photos[0].pk).trashed_at is not None
    assert MediaItem.objects.get(pk=photos[1].pk).trashed_at is None


@pytest.mark.parametrize(("method", "path"), TRASH_ENDPOINTS)
def test_staff_and_anonymous_cannot_use_the_trash_api(consented, photos, audrey, sam, api, method, path):
    trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])
    for user, status in ((audrey, 403), (sam, 403), (None, 401)):
        response = getattr(api(user), method)(path.format(id=photos[0].pk))
        assert response.status_code == status, (user, response.content)
        assert response.json()["error"]["code"] in {"permission_denied", "not_authenticated"}
    assert MediaItem.objects.filter(trashed_at__isnull=False).count() == 1


def test_the_trash_endpoints_are_in_the_schema(api):
    schema = api().get("/api/schema/?format=json").json()
    assert {"get", "delete"} <= set(schema["paths"]["/api/v1/media/trash/"])
    assert "post" in schema["paths"]["/api/v1/media/{item_id}/restore/"]


# ---------------------------------------------------------------- pages


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_pages_delete_restore_bulk_and_empty(consented, photos):
    client = browser(consented)
    ids = [p.pk for p in photos]
    page = client.post(f"/media/{ids[0]}/delete/", follow=True).content.decode()
    assert "Moved to the trash: you can restore it there for 30 days." in page
    assert f'id="media-{ids[0]}"' not in page and "1 in the" in page
    trash_page = client.get("/media/trash/").content.decode()
    assert f'id="trash-{ids[0]}"' in trash_page and "destroyed on" in trash_page
    client.post(f"/media/{ids[0]}/restore/")
    assert MediaItem.objects.get(pk=ids[0]).trashed_at is None

    client.post("/media/selected/", {"items": ids[:2], "action": "exclude"})
    assert list(MediaItem.objects.filter(pk__in=ids).order_by("pk").values_list("excluded", flat=True)) == \
        [True, True, False]
    client.post("/media/selected/", {"items": ids[1:], "action": "delete"})
    assert MediaItem.objects.filter(trashed_at__isnull=False).count() == 2

    refused = client.post("/media/trash/empty/", follow=True).content.decode()
    assert "Nothing was deleted" in refused and MediaItem.objects.count() == 3
    client.post("/media/trash/empty/", {"confirm": "yes"})
    assert list(MediaItem.objects.values_list("pk", flat=True)) == [ids[0]]


PAGES = [("get", "/media/trash/"), ("post", "/media/trash/empty/"), ("post", "/media/{id}/restore/"),
         ("post", "/media/selected/")]


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_staff_get_403_and_anonymous_visitors_the_login_page(consented, photos, audrey, sam, method, path):
    trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])
    body = {"confirm": "yes", "items": [photos[1].pk], "action": "delete"}
    url = path.format(id=photos[0].pk)
    for staff in (audrey, sam):
        assert getattr(browser(staff), method)(url, body).status_code == 403
    anonymous = getattr(browser(), method)(url, body)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert MediaItem.objects.count() == 3 and MediaItem.objects.filter(trashed_at__isnull=False).count() == 1


def test_another_holder_gets_404_on_alices_items_and_an_empty_trash(consented, photos, bob):
    trash.media_trash(user_id=consented.pk, item_ids=[photos[0].pk])
    client = browser(bob)
    assert client.post(f"/media/{photos[0].pk}/restore/").status_code == 404
    assert client.post("/media/selected/", {"items": [photos[1].pk], "action": "delete"}).status_code == 404
    assert f"trash-{photos[0].pk}" not in client.get("/media/trash/").content.decode()
    client.post("/media/trash/empty/", {"confirm": "yes"})
    assert MediaItem.objects.count() == 3
    assert MediaItem.objects.get(pk=photos[0].pk).trashed_at is not None
    assert MediaItem.objects.get(pk=photos[1].pk).trashed_at is None

"""People in photos (invariant 11): nothing about faces without face_analysis; with it, real
portraits of one person group together and never with another; withdrawal, deletion and erase
leave no face data; the people API and page are the holder's own."""

import datetime as dt
import pathlib

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from consent import purposes
from suggestions import faces, grouping, people, planning, services
from suggestions.models import FaceScan, Person
from tests.suggestions.conftest import grant, upload, withdraw
from tests.suggestions.factories import at
from vault import gateway
from vault.models import AccountKey

pytestmark = pytest.mark.django_db

FACES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "faces"
STAFF = ["audrey", "sam"]


def portraits(user) -> dict[str, int]:
    return {name: upload(user, (FACES / f"{name}.jpg").read_bytes()) for name in ("obama", "obama2", "biden")}


@pytest.fixture
def spy_faces(monkeypatch):
    calls = []
    real = faces.find_faces

    def spy(image, **kwargs):
        calls.append(image.size)
        return real(image, **kwargs)

    monkeypatch.setattr(faces, "find_faces", spy)
    return calls


@pytest.fixture
def grouped(alice, spy_faces):
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = portraits(alice)
    services.suggestions_generate(user_id=alice.pk)
    return ids


def _face_rows(user) -> int:
    return FaceScan.objects.filter(owner=user).count() + Person.objects.filter(owner=user).count()


def _nav(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/suggestions/").content.decode()


# ------------------------------------------------------------------ without face_analysis


def test_it_does_no_face_work_without_face_analysis(alice, api, spy_faces):
    grant(alice)
    portraits(alice)
    services.suggestions_generate(user_id=alice.pk)
    assert spy_faces == []  # no face was looked for
    assert _face_rows(alice) == 0
    assert not AccountKey.objects.filter(user=alice, scope="faces").exists()
    assert not AuditEvent.objects.filter(subject_id=alice.pk, purpose=gateway.PURPOSE_FACES).exists()
    response = api(alice).get("/api/v1/people/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    assert 'href="/people/"' not in _nav(alice)
    page = Client()
    page.force_login(alice)
    assert 'id="faces-off"' in page.get("/people/").content.decode()
    # Even asked directly, the analysis refuses to read anything.
    assert people.faces_analyse(user_id=alice.pk, item_ids=[1, 2, 3]) == 0 and spy_faces == []


# ------------------------------------------------------------------ with it


def test_it_groups_one_persons_portraits_together_and_never_with_the_other(grouped, alice, api, spy_faces):
    assert len(spy_faces) == 3 and all(max(size) <= faces.MAX_SIDE for size in spy_faces)
    body = api(alice).get("/api/v1/people/").json()
    groups = {tuple(p["item_ids"]) for p in body["results"]}
    assert groups == {tuple(sorted([grouped["obama"], grouped["obama2"]])), (grouped["biden"],)}
    assert set(body["results"][0]) >= {"id", "name", "item_ids", "cover_item_id"}
    for person in body["results"]:
        assert person["cover_item_id"] in person["item_ids"] and person["name"] == ""
    # Each photo was read for faces through the gateway, audited under the face purpose.
    reads = AuditEvent.objects.filter(subject_id=alice.pk, action="media.read", purpose=gateway.PURPOSE_FACES)
    assert {int(e.object_id) for e in reads} == set(grouped.values())
    assert 'href="/people/"' in _nav(alice)


def test_it_analyses_each_photo_once_and_adds_new_ones_to_known_people(grouped, alice, spy_faces):
    services.suggestions_generate(user_id=alice.pk)
    assert len(spy_faces) == 3  # nothing analysed twice
    before = {p.id: set(p.item_ids) for p in people.people_list(user_id=alice.pk)}
    # The same person again, in a new photo: the portrait mirrored is a different file.
    import io

    from PIL import Image, ImageOps

    mirrored = io.BytesIO()
    ImageOps.mirror(Image.open(FACES / "obama.jpg")).save(mirrored, "JPEG", quality=90)
    new_id = upload(alice, mirrored.getvalue())
    services.suggestions_generate(user_id=alice.pk)
    assert len(spy_faces) == 4
    after = {p.id: set(p.item_ids) for p in people.people_list(user_id=alice.pk)}
    [obama_id] = [pid for pid, items in before.items() if grouped["obama"] in items]
    assert after[obama_id] == before[obama_id] | {new_id}
    assert len(after) == len(before)


def test_it_keeps_faces_sealed_under_the_holders_faces_key(grouped, alice):
    key = AccountKey.objects.get(user=alice, scope="faces")
    scans = list(FaceScan.objects.filter(owner=alice))
    assert len(scans) == 3 and all(scan.key_id == key.pk for scan in scans)
    embedding = people._scans(alice.pk)[0].faces[0]["embedding"]
    for scan in scans:
        assert embedding.encode() not in bytes(scan.sealed) and b"box" not in bytes(scan.sealed)
    # Bound to its row: sealed bytes moved to another row do not open.
    first, second = scans[0], scans[1]
    [opened] = gateway.faces_open(user_id=alice.pk, sealed=[(first.key_id, second.uid.bytes, bytes(first.sealed))])
    assert opened is None


# ------------------------------------------------------------------ gone when it must go


def _all_face_data() -> int:
    """Rows of face data of anyone, in every table that could hold it."""
    with connection.cursor() as cursor:
        total = 0
        for table in ("suggestions_facescan", "suggestions_person"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
            total += cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM vault_accountkey WHERE scope = 'faces'")
        return total + cursor.fetchone()[0]


def test_withdrawal_leaves_no_face_data_in_the_database_or_on_disk(grouped, alice, api, settings, tmp_path):
    blobs_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    people.person_update(user_id=alice.pk, person_id=people.people_list(user_id=alice.pk)[0].id, name="Ana")
    assert _all_face_data() > 0
    withdraw(alice, purposes.FACE_ANALYSIS)
    assert _all_face_data() == 0
    # Nothing face-related was ever written to disk, and nothing is left there now: the blobs
    # are the photos' own (still held: only face grouping was turned off).
    blobs_after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert blobs_after == blobs_before
    response = api(alice).get("/api/v1/people/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    assert 'href="/people/"' not in _nav(alice)


def test_deleting_a_photo_deletes_its_faces(grouped, alice):
    from vault.services import media_delete

    media_delete(user_id=alice.pk, item_id=grouped["biden"])
    assert not FaceScan.objects.filter(item_id=grouped["biden"]).exists()
    assert [p.item_ids for p in people.people_list(user_id=alice.pk)] == [
        sorted([grouped["obama"], grouped["obama2"]])
    ]


def test_moving_a_photo_to_the_trash_deletes_its_faces_at_once(grouped, alice, api):
    from vault import trash

    assert api(alice).delete(f"/api/v1/media/{grouped['biden']}/").status_code in (200, 204)
    assert not FaceScan.objects.filter(item_id=grouped["biden"]).exists()
    assert FaceScan.objects.filter(owner=alice).count() == 2
    trash.media_restore(user_id=alice.pk, item_id=grouped["biden"])
    services.suggestions_generate(user_id=alice.pk)  # a restored photo is analysed again
    assert FaceScan.objects.filter(item_id=grouped["biden"]).exists()


@pytest.mark.parametrize("how", ["erase", "main_toggle"])
def test_erase_and_turning_the_feature_off_leave_no_face_data(grouped, alice, how):
    if how == "erase":
        from consent.uow import Actor
        from vault.shredding import media_erase_all

        media_erase_all(user_id=alice.pk, actor=Actor.holder(alice.pk))
    else:
        withdraw(alice, purposes.CAMERA_ROLL)
    assert _all_face_data() == 0


# ------------------------------------------------------------------ names, hiding, merging


def test_the_holder_names_hides_and_merges_people(grouped, alice, api):
    client = api(alice)
    listed = client.get("/api/v1/people/").json()["results"]
    obama = next(p for p in listed if grouped["obama"] in p["item_ids"])
    biden = next(p for p in listed if p is not obama)
    named = client.patch(f"/api/v1/people/{obama['id']}/", {"name": "  Ana  "}, format="json")
    assert named.status_code == 200 and named.json()["name"] == "Ana"
    assert not Person.objects.filter(sealed_name__contains=b"Ana").exists()  # sealed
    bad = client.patch(f"/api/v1/people/{obama['id']}/", {"name": "x" * 65}, format="json")
    assert bad.status_code == 400
    hidden = client.patch(f"/api/v1/people/{biden['id']}/", {"hidden": True}, format="json")
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert [p["id"] for p in client.get("/api/v1/people/").json()["results"]] == [obama["id"]]
    assert len(client.get("/api/v1/people/?hidden=true").json()["results"]) == 2
    client.patch(f"/api/v1/people/{biden['id']}/", {"hidden": False}, format="json")
    merged = client.post(f"/api/v1/people/{obama['id']}/merge/", {"person": biden["id"]}, format="json")
    assert merged.status_code == 200
    assert merged.json()["item_ids"] == sorted(grouped.values()) and merged.json()["name"] == "Ana"
    assert client.get(f"/api/v1/people/{biden['id']}/").status_code == 405  # no GET; and biden is gone:
    assert client.patch(f"/api/v1/people/{biden['id']}/", {"name": "B"}, format="json").status_code == 404
    self_merge = client.post(f"/api/v1/people/{obama['id']}/merge/", {"person": obama["id"]}, format="json")
    assert self_merge.status_code == 400


def test_people_are_nobody_elses(grouped, alice, bob, api, request):
    grant(bob, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    [person, *_] = people.people_list(user_id=alice.pk)
    assert api(bob).get("/api/v1/people/").json()["results"] == []
    assert api(bob).patch(f"/api/v1/people/{person.id}/", {"name": "x"}, format="json").status_code == 404
    other = api(bob).post(f"/api/v1/people/{person.id}/merge/", {"person": person.id}, format="json")
    assert other.status_code == 404
    for who in STAFF:
        assert api(request.getfixturevalue(who)).get("/api/v1/people/").status_code == 403
    assert api().get("/api/v1/people/").status_code == 401
    page = Client()
    page.force_login(bob)
    assert page.get(f"/people/{person.id}/face/").status_code == 404
    assert page.post(f"/people/{person.id}/name/", {"name": "x"}).status_code == 404
    assert Client().get("/people/").status_code == 302


def test_the_people_page_shows_faces_and_its_forms_work(grouped, alice):
    page = Client()
    page.force_login(alice)
    html = page.get("/people/").content.decode()
    listed = people.people_list(user_id=alice.pk)
    for person in listed:
        assert f'src="/people/{person.id}/face/"' in html
    face = page.get(f"/people/{listed[0].id}/face/")
    assert face.status_code == 200 and face["Content-Type"] == "image/jpeg" and face.content[:2] == b"\xff\xd8"
    page.post(f"/people/{listed[0].id}/name/", {"name": "Ana"})
    assert "Ana" in page.get("/people/").content.decode()
    page.post(f"/people/{listed[1].id}/hide/", {"hidden": "1"})
    assert [p.id for p in people.people_list(user_id=alice.pk)] == [listed[0].id]
    page.post(f"/people/{listed[0].id}/merge/", {"person": listed[1].id})
    assert people.people_list(user_id=alice.pk)[0].item_ids == sorted(grouped.values())


# ------------------------------------------------------------------ titles with people


def test_it_titles_moments_with_the_people_the_holder_named():
    lake = [
        grouping_item(n, at(2025, 7, 5, 10 + n), labels=("lake",)) for n in range(1, 5)
    ]
    ana = grouping.PersonGroup(7, "Ana", (1, 2, 3))
    stranger = grouping.PersonGroup(8, "", (1, 2, 3, 4))
    plans = planning.plan_suggestions(lake, now=at(2025, 7, 10), namer=lambda lat, lon: None, people=[ana, stranger])
    event = [p for p in plans if p.group.startswith("event:")]
    assert {p.title for p in event} == {"Ana by the lake"} and all(p.faces for p in event)
    person = {p.title for p in plans if p.group.startswith("people:")}
    assert person == {"Ana, best moments", "Together"}
    unnamed = planning.plan_suggestions(lake, now=at(2025, 7, 10), namer=lambda lat, lon: None, people=[stranger])
    assert {p.title for p in unnamed if p.group.startswith("event:")} == {"Saturday by the lake"}
    assert not any(p.faces for p in unnamed if p.group.startswith("event:"))


def grouping_item(n, when: dt.datetime, labels=()):
    from tests.suggestions.factories import Item

    return Item(n, when, labels=labels)

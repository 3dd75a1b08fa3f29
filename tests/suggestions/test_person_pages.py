"""People you can browse: a person's page shows the photos they are in; people are named from a grid of faces
in one form; once named, suggestions say who is in them ("Ana and Ben in Lisbon"), only with face_analysis.
Every page and form is the holder's own: another holder gets 404, staff 403, anonymous people the login page."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from consent import purposes
from suggestions import people, services
from suggestions.models import Person
from tests.suggestions.conftest import a_day_with_friends, grant, titled, withdraw

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def friends(alice):
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = a_day_with_friends(alice)
    services.suggestions_generate(user_id=alice.pk)
    found = people.people_list(user_id=alice.pk)
    obama = next(p for p in found if ids["obama"] in p.item_ids)
    biden = next(p for p in found if ids["biden"] in p.item_ids)
    assert obama.item_ids == sorted([ids["obama"], ids["both"]])
    assert biden.item_ids == sorted([ids["biden"], ids["both"]])
    return {"ids": ids, "obama": obama, "biden": biden}


def test_a_persons_page_shows_the_photos_they_are_in(friends, alice):
    obama = friends["obama"]
    page = browser(alice).get(f"/people/{obama.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    for item_id in obama.item_ids:
        assert f'src="/media/{item_id}/thumbnail/"' in html
    assert f'src="/media/{friends["ids"]["biden"]}/thumbnail/"' not in html
    assert "In 2 of your photos" in html and f'src="/people/{obama.id}/face/"' in html
    assert browser(alice).get(f"/media/{obama.item_ids[0]}/thumbnail/").status_code == 200


def test_a_persons_page_is_the_holders_own(friends, alice, bob, audrey, sam):
    grant(bob, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    target = f"/people/{friends['obama'].id}/"
    assert browser(bob).get(target).status_code == 404
    assert browser(audrey).get(target).status_code == 403
    assert browser(sam).get(target).status_code == 403
    response = browser().get(target)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert browser(alice).get("/people/999999/").status_code == 404


def test_a_persons_page_is_gone_once_face_grouping_is_off(friends, alice):
    withdraw(alice, purposes.FACE_ANALYSIS)
    assert browser(alice).get(f"/people/{friends['obama'].id}/").status_code == 404


def test_a_hidden_persons_page_offers_to_show_them_again(friends, alice):
    biden = friends["biden"]
    client = browser(alice)
    response = client.post(f"/people/{biden.id}/hide/", {"hidden": "1", "next": "person"})
    assert response["Location"] == f"/people/{biden.id}/"
    html = client.get(f"/people/{biden.id}/").content.decode()
    assert "Show again" in html and "Hidden" in html
    assert f'id="person-{biden.id}"' not in client.get("/people/").content.decode().split('id="hidden-people"')[0]


def test_the_grid_of_faces_names_several_people_in_one_form(friends, alice):
    obama, biden = friends["obama"], friends["biden"]
    client = browser(alice)
    html = client.get("/people/").content.decode()
    assert 'id="people-names"' in html
    for person in (obama, biden):
        assert f'name="name-{person.id}" form="people-names"' in html
    before = AuditEvent.objects.filter(action="person.updated").count()
    response = client.post("/people/names/", {f"name-{obama.id}": " Ana ", f"name-{biden.id}": "Ben"}, follow=True)
    assert "Saved 2 names" in response.content.decode()
    assert {p.id: p.name for p in people.people_list(user_id=alice.pk)} == {obama.id: "Ana", biden.id: "Ben"}
    events = AuditEvent.objects.filter(action="person.updated").order_by("seq")[before:]
    assert sorted(e.object_id for e in events) == sorted([str(obama.id), str(biden.id)])
    assert not any("Ana" in str(e.details) or "Ben" in str(e.details) for e in events)
    assert not Person.objects.filter(sealed_name__contains=b"Ana").exists()
    # unchanged names are not written again
    client.post("/people/names/", {f"name-{obama.id}": "Ana", f"name-{biden.id}": "Ben"})
    assert AuditEvent.objects.filter(action="person.updated").count() == before + 2


def test_the_grid_changes_nothing_when_one_name_is_bad_or_not_the_holders(friends, alice, bob, sam):
    obama, biden = friends["obama"], friends["biden"]
    client = browser(alice)
    bad = client.post("/people/names/", {f"name-{obama.id}": "Ana", f"name-{biden.id}": "x" * 65}, follow=True)
    assert bad.status_code == 200 and "at most 64" in bad.content.decode()
    assert client.post("/people/names/", {f"name-{obama.id}": "Ana", "name-999999": "Zed"}).status_code == 404
    assert client.post("/people/names/", {"name-abc": "Zed"}).status_code == 404
    assert all(p.name == "" for p in people.people_list(user_id=alice.pk))
    grant(bob, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    assert browser(bob).post("/people/names/", {f"name-{obama.id}": "Mallory"}).status_code == 404
    assert browser(sam).post("/people/names/", {f"name-{obama.id}": "Mallory"}).status_code == 403
    assert browser().post("/people/names/", {f"name-{obama.id}": "Mallory"}).status_code == 302
    assert all(p.name == "" for p in people.people_list(user_id=alice.pk))
    assert browser(alice).get("/people/names/").status_code == 405


def test_named_people_make_suggestions_that_say_who_is_in_them(friends, alice):
    # Nobody is named yet, so no title names them (a style's title may say "in black and white": not a name).
    assert not any(s.title.startswith("Ana and Ben") for s in titled(alice)), [s.title for s in titled(alice)]
    browser(alice).post("/people/names/", {f"name-{friends['obama'].id}": "Ana", f"name-{friends['biden'].id}": "Ben"})
    services.suggestions_generate(user_id=alice.pk)
    with_people = [s for s in titled(alice) if s.title.startswith("Ana and Ben")]
    assert with_people, [s.title for s in titled(alice)]
    assert any(s.title == "Ana and Ben in Lisbon" for s in with_people)
    html = browser(alice).get("/suggestions/").content.decode()
    assert "Ana and Ben in Lisbon" in html


def test_without_face_grouping_no_suggestion_names_anyone(friends, alice):
    browser(alice).post("/people/names/", {f"name-{friends['obama'].id}": "Ana", f"name-{friends['biden'].id}": "Ben"})
    withdraw(alice, purposes.FACE_ANALYSIS)
    services.suggestions_generate(user_id=alice.pk)
    titles = [s.title for s in titled(alice)]
    assert titles and not any("Ana" in t or "Ben" in t for t in titles), titles
    assert browser(alice).get("/people/names/").status_code == 405

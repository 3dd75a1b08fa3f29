"""GET, POST exclusions/; DELETE exclusions/<id>/ — allowed and denied for every role."""

import json

import pytest

from audit.models import AuditEvent
from vault.models import Exclusion

pytestmark = pytest.mark.django_db

PLACE = {"kind": "place", "lat": 48.8584, "lon": 2.2945, "radius_m": 250, "name": "Grandma's flat"}
DATES = {"kind": "date_range", "start": "2024-12-24", "end": "2024-12-26"}


def test_it_adds_lists_and_deletes_exclusions(alice, api):
    client = api(alice)
    place = client.post("/api/v1/exclusions/", PLACE, format="json")
    assert place.status_code == 201
    assert place.json() == {"id": place.json()["id"], **PLACE}
    dates = client.post("/api/v1/exclusions/", DATES, format="json")
    assert dates.status_code == 201 and dates.json()["start"] == "2024-12-24"
    listed = client.get("/api/v1/exclusions/").json()
    assert listed["count"] == 2 and [e["kind"] for e in listed["results"]] == ["date_range", "place"]
    assert client.delete(f"/api/v1/exclusions/{place.json()['id']}/").status_code == 204
    assert list(Exclusion.objects.values_list("kind", flat=True)) == ["date_range"]
    assert {"exclusion.created", "exclusion.deleted"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_it_keeps_a_places_name_and_coordinates_encrypted_and_out_of_the_audit(alice, api):
    api(alice).post("/api/v1/exclusions/", PLACE, format="json")
    row = Exclusion.objects.get()
    assert b"Grandma" not in bytes(row.sealed_place) and b"48.85" not in bytes(row.sealed_place)
    for event in AuditEvent.objects.all():
        entry = json.loads(bytes(event.canonical))
        del entry["time"]  # its seconds can read "48.85"
        assert "Grandma" not in json.dumps(entry) and "48.85" not in json.dumps(entry)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "date_range", "start": "2024-12-26", "end": "2024-12-24"},
        {"kind": "date_range", "start": "2024-12-26"},
        {"kind": "place", "lat": 91, "lon": 0, "radius_m": 10},
        {"kind": "place", "lat": 0, "lon": 181, "radius_m": 10},
        {"kind": "place", "lat": 0, "lon": 0, "radius_m": 0},
        {"kind": "place", "lat": 0, "lon": 0},
        {"kind": "planet"},
    ],
)
def test_it_refuses_invalid_exclusions(alice, api, body):
    response = api(alice).post("/api/v1/exclusions/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not Exclusion.objects.exists()


def test_it_hides_another_holders_exclusions(alice, bob, api):
    created = api(alice).post("/api/v1/exclusions/", PLACE, format="json").json()
    assert api(bob).get("/api/v1/exclusions/").json()["count"] == 0
    response = api(bob).delete(f"/api/v1/exclusions/{created['id']}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Exclusion.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/exclusions/", None),
        ("post", "/api/v1/exclusions/", DATES),
        ("delete", "/api/v1/exclusions/{id}/", None),
    ],
)
def test_it_refuses_staff_and_anonymous(alice, audrey, sam, api, method, path, body):
    created = api(alice).post("/api/v1/exclusions/", PLACE, format="json").json()
    for user, status in ((audrey, 403), (sam, 403), (None, 401)):
        response = getattr(api(user), method)(path.format(id=created["id"]), body, format="json")
        assert response.status_code == status
    assert Exclusion.objects.count() == 1

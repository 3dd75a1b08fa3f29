import pytest
from django.urls import reverse

from consent import purposes, uow
from consent.models import ConsentEntry, Notice

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def put(client, purpose, granted, version="1"):
    return client.put(f"/api/v1/consent/{purpose}/", {"granted": granted, "notice_version": version}, format="json")


def test_it_starts_with_everything_off(api, alice):
    response = api(alice).get("/api/v1/consent/")
    assert response.status_code == 200
    states = {p["purpose"]: p for p in response.json()["purposes"]}
    assert set(states) == set(purposes.GRANTABLE)
    assert not any(p["granted"] for p in states.values())
    assert all(p["current_notice_version"] == "1" for p in states.values())


def test_it_serves_the_current_notice_with_its_hash(api, alice):
    body = api(alice).get(f"/api/v1/consent/notices/{CAMERA}/").json()
    notice = Notice.objects.get(purpose=CAMERA, version="1")
    assert body["version"] == "1" and body["sha256"] == notice.sha256
    for words in ("upload", "time", "location", "themes", "advertising", "train", "destroyed"):
        assert words in body["text"].lower() or words in body["title"].lower()


def test_it_turns_camera_roll_on_and_off_and_keeps_both_in_the_ledger(api, alice):
    client = api(alice)
    on = put(client, CAMERA, True)
    assert on.status_code == 200, on.content
    assert on.json()["purpose"]["granted"] is True
    off = put(client, CAMERA, False)
    assert off.json()["purpose"]["granted"] is False
    events = list(ConsentEntry.objects.filter(subject=alice).values_list("event", "method"))
    assert events == [("withdrawn", "api"), ("given", "api")]


def test_it_writes_one_entry_when_granting_twice(api, alice):
    client = api(alice)
    put(client, CAMERA, True)
    put(client, CAMERA, True)
    assert ConsentEntry.objects.filter(subject=alice).count() == 1


def test_it_refuses_a_grant_for_a_notice_version_the_holder_was_not_shown(api, alice):
    response = put(api(alice), CAMERA, True, version="0")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "notice_version_mismatch"
    assert not ConsentEntry.objects.exists()


@pytest.mark.parametrize("purpose", purposes.REFUSED)
def test_it_never_grants_advertising_or_model_training(api, alice, purpose):
    response = put(api(alice), purpose, True)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "purpose_not_grantable"
    assert api(alice).get(f"/api/v1/consent/notices/{purpose}/").status_code == 403
    assert not ConsentEntry.objects.exists()


def test_it_answers_404_for_an_unknown_purpose(api, alice):
    response = put(api(alice), "telepathy", True)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_purpose"


def test_it_rejects_a_body_without_granted(api, alice):
    response = api(alice).put(f"/api/v1/consent/{CAMERA}/", {"notice_version": "1"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "granted" in response.json()["error"]["fields"]


def test_it_keeps_face_analysis_separate_and_dependent(api, alice):
    client = api(alice)
    refused = put(client, purposes.FACE_ANALYSIS, True)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_dependency"
    put(client, CAMERA, True)
    states = {p["purpose"]: p["granted"] for p in client.get("/api/v1/consent/").json()["purposes"]}
    assert states[purposes.FACE_ANALYSIS] is False, "face analysis must not be bundled with the main toggle"
    assert put(client, purposes.FACE_ANALYSIS, True).status_code == 200
    put(client, CAMERA, False)
    states = {p["purpose"]: p["granted"] for p in client.get("/api/v1/consent/").json()["purposes"]}
    assert states == {purposes.SUGGESTION_PROMPTS: False, CAMERA: False, purposes.FACE_ANALYSIS: False}


def test_it_runs_the_deferred_handlers_inside_the_request_in_their_order(api, alice):
    received = []

    def handler(unit, ended):
        received.append((unit.user_id, ended.purpose, ended.entry.event, uow.handler_names()))

    uow.handler_register(name="test-last", order=999, on_consent_ended=handler)
    try:
        client = api(alice)
        put(client, CAMERA, True)
        put(client, CAMERA, False)
    finally:
        uow.handler_unregister(name="test-last")
    assert received == [(alice.pk, CAMERA, "withdrawn", ["vault", "suggestions", "test-last"])]


def test_it_lists_only_the_holders_own_history_newest_first(api, alice, bob):
    put(api(alice), CAMERA, True)
    put(api(alice), CAMERA, False)
    put(api(bob), CAMERA, True)
    body = api(alice).get("/api/v1/consent/history/").json()
    assert body["count"] == 2
    assert [e["event"] for e in body["results"]] == ["withdrawn", "given"]
    assert {"next", "previous"} <= set(body)


def test_it_makes_consent_lapse_when_a_material_notice_is_published(api, alice):
    from consent import services

    client = api(alice)
    put(client, CAMERA, True)
    services.notice_publish(purpose=CAMERA, version="2", title="Camera Roll Sharing Suggestions",
                            text="A materially different text.", material=True)
    state = {p["purpose"]: p for p in client.get("/api/v1/consent/").json()["purposes"]}[CAMERA]
    assert state["granted"] is False and state["lapsed"] is True
    assert ConsentEntry.objects.filter(subject=alice).first().event == "lapsed"
    assert put(client, CAMERA, True, version="1").status_code == 409
    assert put(client, CAMERA, True, version="2").json()["purpose"]["granted"] is True


def test_it_keeps_consent_through_a_non_material_wording_fix(api, alice):
    from consent import services

    client = api(alice)
    put(client, CAMERA, True)
    services.notice_publish(purpose=CAMERA, version="1.1", title="Camera Roll Sharing Suggestions",
                            text="Same meaning, a typo fixed.", material=False)
    state = {p["purpose"]: p for p in client.get("/api/v1/consent/").json()["purposes"]}[CAMERA]
    # A non-material version still becomes current, so the holder is asked to confirm the new text.
    assert state["current_notice_version"] == "1.1"


ENDPOINTS = [
    ("get", "/api/v1/consent/"),
    ("get", "/api/v1/consent/history/"),
    ("get", f"/api/v1/consent/notices/{CAMERA}/"),
    ("put", f"/api/v1/consent/{CAMERA}/"),
    ("get", "/api/v1/consent/receipts/00000000-0000-0000-0000-000000000000/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_it_asks_anonymous_callers_to_authenticate(api, method, url):
    response = getattr(api(), method)(url, {"granted": True, "notice_version": "1"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
@pytest.mark.parametrize("staff", ["audrey", "sam"])
def test_it_refuses_auditors_and_support_agents(api, request, method, url, staff):
    user = request.getfixturevalue(staff)
    response = getattr(api(user), method)(url, {"granted": True, "notice_version": "1"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ConsentEntry.objects.exists()


def test_it_lists_the_error_codes_in_the_schema(client):
    from core.errors import ERROR_CODES

    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()
    listed = schema["components"]["schemas"]["ErrorCode"]["enum"]
    assert set(ERROR_CODES) <= set(listed)

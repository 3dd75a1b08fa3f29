"""The support API of API.md, allowed and denied for every role and every state of a case."""

import pytest

from audit.models import AuditEvent
from consent import purposes
from consent.models import ConsentEntry
from consent.selectors import consent_active_entry
from support.models import SupportAction, SupportCase
from tests.support.conftest import grant, open_case, upload

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL
REASON = "Holder asked by phone to turn it off"


def summary_url(user):
    return f"/api/v1/support/subjects/{user.pk}/"


def revoke_url(user):
    return f"/api/v1/support/subjects/{user.pk}/revoke/"


def erase_url(user):
    return f"/api/v1/support/subjects/{user.pk}/erase/"


# --- opening a case ----------------------------------------------------------


def test_it_opens_a_case_for_a_support_agent(api, sam, alice):
    response = api(sam).post("/api/v1/support/cases/", {"subject": alice.pk, "reason": REASON, "ticket": "4411"},
                             format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subject"] == alice.pk and body["ticket"] == "4411" and body["is_open"] is True
    assert SupportCase.objects.get(pk=body["id"]).agent == sam


def test_it_lists_the_agents_own_cases(api, sam, sue, alice, bob):
    open_case(sam, alice)
    open_case(sue, bob)
    body = api(sam).get("/api/v1/support/cases/").json()
    assert body["count"] == 1
    assert [case["subject"] for case in body["results"]] == [alice.pk]


@pytest.mark.parametrize("who,status", [("audrey", 403), ("alice", 403), ("anonymous", 401)])
def test_it_refuses_to_open_cases_for_anyone_but_support(api, request, alice, bob, who, status):
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    response = client.post("/api/v1/support/cases/", {"subject": bob.pk, "reason": REASON, "ticket": "1"},
                           format="json")
    assert response.status_code == status
    assert not SupportCase.objects.exists()


def test_it_answers_404_for_a_case_on_a_non_holder(api, sam, audrey):
    response = api(sam).post("/api/v1/support/cases/", {"subject": audrey.pk, "reason": REASON, "ticket": "1"},
                             format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_answers_409_for_a_second_open_case(api, sam, alice):
    open_case(sam, alice)
    response = api(sam).post("/api/v1/support/cases/", {"subject": alice.pk, "reason": REASON, "ticket": "2"},
                             format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "case_already_open"


def test_it_validates_the_case_body(api, sam, alice):
    response = api(sam).post("/api/v1/support/cases/", {"subject": alice.pk}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"reason", "ticket"}


# --- closing -----------------------------------------------------------------


def test_it_closes_the_agents_own_case(api, sam, alice):
    case = open_case(sam, alice)
    response = api(sam).post(f"/api/v1/support/cases/{case.pk}/close/")
    assert response.status_code == 200
    assert response.json()["is_open"] is False and response.json()["closed_how"] == "closed"
    assert api(sam).get(summary_url(alice)).status_code == 404


@pytest.mark.parametrize("state", ["closed", "expired"])
def test_it_answers_404_for_closing_a_case_that_is_over(api, sam, alice, case_in_state, state):
    case = case_in_state(state, sam, alice)
    assert api(sam).post(f"/api/v1/support/cases/{case.pk}/close/").status_code == 404


@pytest.mark.parametrize("who,status", [("sue", 404), ("audrey", 403), ("alice", 403), ("anonymous", 401)])
def test_it_refuses_to_close_a_case_for_anyone_else(api, request, sam, alice, who, status):
    case = open_case(sam, alice)
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    assert client.post(f"/api/v1/support/cases/{case.pk}/close/").status_code == status
    case.refresh_from_db()
    assert case.closed_at is None


# --- inside a case: summary, revoke, erase ------------------------------------


def test_it_shows_consent_state_and_counts_inside_a_case(api, sam, alice):
    grant(alice)
    open_case(sam, alice)
    response = api(sam).get(summary_url(alice))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == {"id": alice.pk, "username": "alice"}
    states = {line["purpose"]: line["granted"] for line in body["consent"]}
    assert states == {purposes.SUGGESTION_PROMPTS: False, CAMERA: True, purposes.FACE_ANALYSIS: False}
    assert set(body["media"]) == {"items", "items_bytes", "outputs", "outputs_bytes", "last_upload_at"}
    assert body["media"]["items"] == 0
    event = AuditEvent.objects.get(action="support.subject_viewed")
    assert event.subject_id == alice.pk and event.actor_id == str(sam.pk)


def _keys(value, path=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield f"{path}.{key}"
            yield from _keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner, f"{path}[]")


def test_it_never_shows_places_labels_or_media_in_the_summary(api, sam, alice):
    grant(alice)
    upload(alice, 2, labels=("beach", "grandma"))
    open_case(sam, alice)
    response = api(sam).get(summary_url(alice))
    body = response.json()
    assert body["media"]["items"] == 2 and body["media"]["items_bytes"] > 0
    assert body["media"]["last_upload_at"] is not None
    assert set(_keys(body)) == {
        ".subject", ".subject.id", ".subject.username", ".case", *(f".case.{k}" for k in (
            "id", "subject", "ticket", "reason", "opened_at", "expires_at", "closed_at", "closed_how", "is_open")),
        ".consent", *(f".consent[].{k}" for k in ("purpose", "label", "granted", "notice_version", "since", "lapsed")),
        ".media", *(f".media.{k}" for k in ("items", "items_bytes", "outputs", "outputs_bytes", "last_upload_at")),
    }
    text = response.content.decode()
    for secret in ("beach", "grandma", "48.8584", "2.2945", "IMG_"):
        assert secret not in text


def test_it_revokes_on_the_holders_behalf_inside_a_case(api, sam, alice):
    grant(alice)
    case = open_case(sam, alice)
    response = api(sam).post(revoke_url(alice), {"purpose": CAMERA, "reason": REASON}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["revoked"] is True
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    entry = ConsentEntry.objects.filter(subject=alice).first()
    assert (entry.event, entry.method, entry.actor_kind, entry.actor_id, entry.case_id) == (
        "revoked_by_support", "support", "support", str(sam.pk), case.pk)
    assert str(entry.record_id) == response.json()["entry"]
    action = SupportAction.objects.get()
    assert action.reason == REASON and action.kind == "revoke" and action.changed
    event = AuditEvent.objects.get(action="support.revoke")
    assert event.purpose == CAMERA and event.details["case_id"] == case.pk and event.details["ticket"] == "4411"
    assert not any("phone" in bytes(e.canonical).decode() for e in AuditEvent.objects.all())


def test_it_says_so_when_the_purpose_was_already_off(api, sam, alice):
    open_case(sam, alice)
    response = api(sam).post(revoke_url(alice), {"purpose": CAMERA, "reason": REASON}, format="json")
    assert response.status_code == 200
    assert response.json() == {"case": response.json()["case"], "purpose": CAMERA, "revoked": False, "entry": None}
    assert not ConsentEntry.objects.filter(subject=alice).exists()
    assert AuditEvent.objects.get(action="support.revoke").details["changed"] is False


@pytest.mark.parametrize("purpose,status,code", [
    (purposes.ADVERTISING, 403, "purpose_not_grantable"), ("telepathy", 404, "unknown_purpose"),
])
def test_it_refuses_purposes_that_do_not_exist_or_are_never_granted(api, sam, alice, purpose, status, code):
    open_case(sam, alice)
    response = api(sam).post(revoke_url(alice), {"purpose": purpose, "reason": REASON}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not SupportAction.objects.exists()


def test_it_needs_a_reason_to_revoke_or_erase(api, sam, alice):
    open_case(sam, alice)
    assert api(sam).post(revoke_url(alice), {"purpose": CAMERA}, format="json").status_code == 400
    assert api(sam).post(erase_url(alice), {"reason": ""}, format="json").status_code == 400


def test_it_erases_inside_a_case(api, sam, alice):
    case = open_case(sam, alice)
    response = api(sam).post(erase_url(alice), {"reason": REASON}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["case"] == case.pk
    assert {"items", "outputs", "exports"} <= set(response.json()["erased"])
    event = AuditEvent.objects.get(action="support.erase")
    assert event.details["case_id"] == case.pk
    assert AuditEvent.objects.filter(action="media.erased", subject_id=alice.pk).exists()


ENDPOINTS = [
    ("get", summary_url, None),
    ("post", revoke_url, {"purpose": CAMERA, "reason": REASON}),
    ("post", erase_url, {"reason": REASON}),
]


@pytest.mark.parametrize("method,url,body", ENDPOINTS)
@pytest.mark.parametrize("state", ["none", "closed", "expired"])
def test_it_answers_404_to_an_agent_without_a_live_case(api, sam, alice, case_in_state, method, url, body, state):
    grant(alice)
    case_in_state(state, sam, alice)
    client = api(sam)  # signing in is audited: before counting
    before = AuditEvent.objects.count()
    response = getattr(client, method)(url(alice), body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("method,url,body", ENDPOINTS)
def test_it_answers_404_for_an_account_outside_the_agents_case(api, sam, sue, alice, bob, method, url, body):
    grant(bob)
    open_case(sam, alice)  # sam's case is about alice, not bob
    open_case(sue, bob)  # and sue's case on bob gives sam nothing
    response = getattr(api(sam), method)(url(bob), body, format="json")
    assert response.status_code == 404
    assert consent_active_entry(user_id=bob.pk, purpose=CAMERA) is not None


@pytest.mark.parametrize("method,url,body", ENDPOINTS)
@pytest.mark.parametrize("who,status", [("audrey", 403), ("alice", 403), ("bob", 403), ("anonymous", 401)])
def test_it_refuses_the_support_api_to_every_other_role(api, request, sam, alice, method, url, body, who, status):
    grant(alice)
    open_case(sam, alice)
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    response = getattr(client, method)(url(alice), body, format="json")
    assert response.status_code == status
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None

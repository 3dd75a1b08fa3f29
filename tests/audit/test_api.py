import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_append, audit_checkpoint_create

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("api-audit-events-list", ""),
    ("api-audit-events-export", "?format=csv"),
    ("api-audit-events-export", "?format=jsonl"),
    ("api-audit-checkpoint-latest", ""),
    ("api-audit-public-key", ""),
    ("api-audit-proof-inclusion", "?seq=1"),
    ("api-audit-proof-consistency", "?first=1"),
]


@pytest.fixture
def trail(db, many_events):
    many_events(12)
    audit_checkpoint_create()


@pytest.mark.parametrize(("name", "query"), ENDPOINTS)
def test_it_lets_auditors_in(name, query, trail, audrey, api):
    response = api(audrey).get(reverse(name) + query)
    assert response.status_code == 200


@pytest.mark.parametrize(("name", "query"), ENDPOINTS)
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_it_refuses_holders_and_support(name, query, who, trail, api, request):
    before = AuditEvent.objects.count()
    response = api(request.getfixturevalue(who)).get(reverse(name) + query)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert AuditEvent.objects.count() == before  # a refused export leaves no trace and no data


@pytest.mark.parametrize(("name", "query"), ENDPOINTS)
def test_it_refuses_anonymous(name, query, trail, api):
    response = api().get(reverse(name) + query)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_refuses_an_inactive_auditor(trail, audrey, api):
    audrey.is_active = False
    audrey.save(update_fields=["is_active"])
    assert api(audrey).get(reverse("api-audit-events-list")).status_code in (401, 403)


def test_it_lists_events_with_filters_and_pages(trail, audrey, api):
    client = api(audrey)
    body = client.get(reverse("api-audit-events-list")).json()
    assert body["count"] == 12 and [e["seq"] for e in body["results"]][:3] == [1, 2, 3]
    assert set(body["results"][0]) >= {"seq", "time", "actor_kind", "actor_id", "action", "subject_id",
                                       "object_type", "object_id", "purpose", "outcome", "request_id",
                                       "details", "prev_hash", "hash"}
    denied = client.get(reverse("api-audit-events-list"), {"outcome": "denied"}).json()
    assert denied["count"] == 4 and {e["outcome"] for e in denied["results"]} == {"denied"}
    subject = client.get(reverse("api-audit-events-list"), {"subject": 2, "action": "consent.given"}).json()
    assert {(e["subject_id"], e["action"]) for e in subject["results"]} == {(2, "consent.given")}
    support = client.get(reverse("api-audit-events-list"), {"actor": "support"}).json()
    assert support["count"] == 4
    one = client.get(reverse("api-audit-events-list"), {"actor": "holder:3"}).json()
    assert {(e["actor_kind"], e["actor_id"]) for e in one["results"]} == {("holder", "3")}
    assert client.get(reverse("api-audit-events-list"), {"since": "2999-01-01"}).json()["count"] == 0
    assert client.get(reverse("api-audit-events-list"), {"until": "2999-01-01T00:00:00Z"}).json()["count"] == 12


@pytest.mark.parametrize("query", [{"outcome": "maybe"}, {"since": "yesterday"}, {"subject": "alice"},
                                   {"actor": "a b"}])
def test_it_explains_bad_filters(query, trail, audrey, api):
    response = api(audrey).get(reverse("api-audit-events-list"), query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_streams_a_csv_export_and_records_it(trail, audrey, api):
    response = api(audrey).get(reverse("api-audit-events-export"), {"format": "csv", "outcome": "denied"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    lines = text.strip().split("\n")
    assert lines[0].startswith("seq,time,actor_kind,actor_id,action,subject_id")
    assert len(lines) == 1 + 4
    exported = AuditEvent.objects.get(action="audit.exported")
    assert (exported.actor_kind, exported.actor_id) == ("auditor", str(audrey.pk))
    assert exported.details == {"format": "csv", "filters": {"outcome": "denied"}}


def test_it_refuses_an_unknown_export_format(trail, audrey, api):
    response = api(audrey).get(reverse("api-audit-events-export"), {"format": "xml"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_it_serves_the_latest_checkpoint_and_the_public_key(trail, audrey, api, settings):
    client = api(audrey)
    checkpoint = client.get(reverse("api-audit-checkpoint-latest")).json()
    assert checkpoint["tree_size"] == 12
    assert checkpoint["note"].startswith(f"{settings.AUDIT_CHECKPOINT_ORIGIN}\n12\n")
    key = client.get(reverse("api-audit-public-key")).json()
    assert key["algorithm"] == "Ed25519" and key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["verifier_key"].startswith(settings.AUDIT_CHECKPOINT_ORIGIN + "+")


def test_it_says_when_there_is_no_checkpoint_yet(db, audrey, api):
    audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    response = api(audrey).get(reverse("api-audit-checkpoint-latest"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "audit_no_checkpoint"

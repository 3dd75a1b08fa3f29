"""Invariant 7: the trail holds ids, actions, purposes, outcomes and counts, never content.

audit_append refuses content for every action (test_append.py); here real flows run
and every stored event is scanned for what must never be in it.
"""

import json
import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_append

pytestmark = pytest.mark.django_db

ACTIONS = [
    "consent.given", "consent.withdrawn", "consent.lapsed", "consent.revoked_by_support", "media.uploaded",
    "media.upload_refused", "media.read", "media.listed", "media.deleted", "media.erased", "output.stored",
    "suggestion.created", "support.case_opened", "support.revoke", "support.erase", "audit.exported",
]
CONTENT = [
    {"lat": 52}, {"lon": 13}, {"latitude": 52}, {"gps": [52, 13]}, {"where": 52.52}, {"email": "x"},
    {"who": "alice@example.com"}, {"labels": ["beach"]}, {"label": "beach"}, {"caption": "x"},
    {"text": "x"}, {"comment": "the holder said so"}, {"reason": "x"}, {"filename": "IMG_1.jpg"},
    {"thumbnail": "x"}, {"image": "x"}, {"content": "x"}, {"place_name": "x"}, {"title": "x"},
]


@pytest.mark.parametrize("action", ACTIONS)
def test_it_refuses_content_in_the_details_of_every_action(action):
    from core.errors import ServiceError

    for details in CONTENT:
        with pytest.raises(ServiceError):
            audit_append(action=action, actor_kind="service", subject_id=1, details=details)
    assert AuditEvent.objects.count() == 0


def _scan(events, *, forbidden: list[str]):
    for event in events:
        body = bytes(event.canonical).decode()
        decoded = json.loads(body)
        details = json.dumps(decoded["details"])
        assert "@" not in body, (event.action, body)
        assert not re.search(r"\d+\.\d+", details), (event.action, details)  # no decimals: no coordinates
        for word in forbidden:
            assert word not in body, (event.action, word)
        for value in decoded.values():
            assert not (isinstance(value, str) and " " in value), (event.action, value)


def test_it_keeps_content_out_of_the_events_of_real_consent_flows(api, db):
    from tests.conftest import make_user

    holder = make_user("henrietta")
    holder.email = "henrietta@example.com"
    holder.save(update_fields=["email"])
    client = api(holder)
    for purpose in ("camera_roll_cloud_processing", "suggestion_prompts"):
        notice = client.get(f"/api/v1/consent/notices/{purpose}/")
        assert notice.status_code == 200, notice.content
        version = notice.json()["version"]
        assert client.put(f"/api/v1/consent/{purpose}/", {"granted": True, "notice_version": version},
                          format="json").status_code == 200
        assert client.put(f"/api/v1/consent/{purpose}/", {"granted": False}, format="json").status_code == 200
    events = list(AuditEvent.objects.filter(subject_id=holder.pk))
    assert len(events) >= 4
    _scan(events, forbidden=["henrietta", "Camera Roll"])

    # Wired: every consent ledger entry has its own event (appended in the same transaction).
    from consent.models import ConsentEntry

    entries = ConsentEntry.objects.filter(subject_id=holder.pk)
    audited = {e.object_id for e in events if e.object_type == "consent_entry" and e.action.startswith("consent.")}
    assert entries.count() == 4 and {str(entry.pk) for entry in entries} == audited


def test_it_keeps_content_out_of_an_export_event(audrey, api, many_events):
    from tests.conftest import make_user

    subject = make_user("henrietta")
    many_events(3)
    # Usernames in the file, filters on every field: the event still records ids and codes only.
    query = {"format": "csv", "usernames": "true", "actor": "holder:1", "subject": subject.pk,
             "since": "2026-01-01", "action": "media.read", "outcome": "allowed"}
    response = api(audrey).get(reverse("api-audit-events-export"), query)
    assert response.status_code == 200
    b"".join(response.streaming_content)
    exported = list(AuditEvent.objects.filter(action="audit.exported"))
    assert len(exported) == 1  # the export is itself an event: scanning none would prove nothing
    event = json.loads(bytes(exported[0].canonical))
    assert (event["actor_kind"], event["actor_id"]) == ("auditor", str(audrey.pk))
    assert event["details"]["format"] == "csv"
    assert event["details"]["filters"]["subject_id"] == subject.pk
    _scan(exported, forbidden=["audrey", "henrietta"])

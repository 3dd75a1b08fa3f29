"""The CSV export's usernames: columns added on request, looked up as the file is written (the trail keeps
ids), written so a spreadsheet never reads one as a formula; not offered for JSON Lines; the PEM key."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.roles import AUDITOR
from audit.services import audit_append
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_adds_usernames_on_request_and_never_a_formula(api, audrey):
    plus = make_user("+cmd")
    alice = make_user("alice")
    audit_append(action="consent.given", actor_kind="holder", actor_id=plus.pk, subject_id=plus.pk,
                 purpose="camera_roll_cloud_processing")
    audit_append(action="support.case_opened", actor_kind="support", actor_id=alice.pk, subject_id=999999)
    url = reverse("api-audit-events-export")
    plain = _csv(api(audrey).get(url, {"format": "csv"}))
    assert "actor_username" not in plain[0] and "subject_username" not in plain[0]
    named = _csv(api(audrey).get(url, {"format": "csv", "usernames": "true"}))
    rows = {row["action"]: row for row in named}
    assert (rows["consent.given"]["actor_username"], rows["consent.given"]["subject_username"]) == ("'+cmd", "'+cmd")
    # An account that is not there (erased, or never was) has no name: the id stays.
    opened = rows["support.case_opened"]
    assert (opened["actor_username"], opened["subject_id"], opened["subject_username"]) == ("alice", "999999", "")
    assert rows["audit.exported"]["actor_username"] == "audrey"


def test_it_refuses_usernames_with_json_lines(api, audrey):
    response = api(audrey).get(reverse("api-audit-events-export"), {"format": "jsonl", "usernames": "true"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_serves_the_public_key_as_pem_to_auditors_only(client, alice):
    client.force_login(alice)
    assert client.get(reverse("audit:public-key-pem")).status_code == 403
    client.force_login(make_user("aud2", AUDITOR))
    response = client.get(reverse("audit:public-key-pem"))
    assert response.status_code == 200 and response["Content-Type"] == "application/x-pem-file"
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----")

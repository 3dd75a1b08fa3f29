"""Consent state comes only from ledger entries bound to their audit events (invariant 10).

An attacker who can write to the database but does not hold the audit MAC key can add a
ledger row (the state row follows it), but cannot make a genuine event that commits to it:
the row authorises nothing, and audit_verify names it.
"""

import uuid

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.verification import audit_verify
from consent import binding, purposes, selectors
from consent.models import ConsentEntry, ConsentState, Notice
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import services as vault_services

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def forge_given(user, *, event_id=None) -> int:
    """A 'given' ledger row written straight into the table, as a database owner could."""
    notice = Notice.objects.get(purpose=CAMERA, version="1")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO consent_consententry (record_id, subject_id, purpose, notice_id, notice_version,"
            " notice_sha256,"
            " event, created_at, method, actor_kind, actor_id, jurisdiction, retention, case_id, event_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'given', %s, 'api', 'holder', %s, 'EU', 'P6Y', NULL, %s)",
            [uuid.uuid4().hex if connection.vendor == "sqlite" else uuid.uuid4(), user.pk, CAMERA, notice.pk, "1",
             notice.sha256, now, str(user.pk),
             (event_id.hex if connection.vendor == "sqlite" else event_id) if event_id else None],
        )
    return ConsentEntry.objects.filter(subject=user, purpose=CAMERA).order_by("-id").first().pk


def test_each_entry_names_its_event_and_the_event_commits_to_the_entry(alice):
    grant(alice)
    withdraw(alice)
    for entry in ConsentEntry.objects.filter(subject=alice):
        event = AuditEvent.objects.get(event_id=str(entry.event_id))
        assert event.action == f"consent.{entry.event}" and event.object_id == str(entry.pk)
        assert event.details["entry_sha256"] == binding.entry_digest(entry)
    assert binding.entries_bound(ConsentEntry.objects.filter(subject=alice)) == set(
        ConsentEntry.objects.filter(subject=alice).values_list("pk", flat=True))


def test_a_forged_given_row_grants_nothing(alice):
    grant(alice)
    withdraw(alice)
    forged = forge_given(alice)
    assert ConsentState.objects.get(subject=alice, purpose=CAMERA).entry_id == forged  # the state row followed it
    assert selectors.consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    camera = next(s for s in selectors.consent_state(user_id=alice.pk) if s.purpose == CAMERA)
    assert camera.granted is False
    with pytest.raises(Exception) as refused:
        vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes())
    assert getattr(refused.value, "code", "") == "consent_required"


def test_an_entry_changed_after_the_fact_no_longer_matches_its_event(alice):
    grant(alice)
    entry = ConsentEntry.objects.get(subject=alice, event="given")
    assert binding.entries_bound([entry]) == {entry.pk}
    entry.created_at = entry.created_at.replace(year=2020)  # as if the row were edited in the database
    assert binding.entries_bound([entry]) == set()


def test_audit_verify_names_an_unbound_entry(alice):
    grant(alice)
    assert audit_verify().ok
    forged = forge_given(alice)
    report = audit_verify()
    assert not report.ok
    problems = report.cross_checks["consent ledger"]
    record_id = ConsentEntry.objects.get(pk=forged).record_id
    assert any(str(record_id) in problem and "names no audit event" in problem for problem in problems)


def test_holders_can_grant_again_after_a_forged_row(alice):
    grant(alice)
    withdraw(alice)
    forge_given(alice)
    grant(alice)  # the forged 'given' does not count as already given: a bound entry is made
    entry = selectors.consent_active_entry(user_id=alice.pk, purpose=CAMERA)
    assert entry is not None and entry.event_id is not None

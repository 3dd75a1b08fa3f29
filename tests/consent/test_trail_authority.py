"""What the service acts on for consent is the trail's newest genuine consent event for the holder
and purpose; the ledger and the state row are its indexes (invariant 10).

Each test here is an insider's attack with the database's credentials but not the service's keys:
the state row pointed back at an older grant, the newest withdrawal deleted from the ledger, a
'given' row written straight into the ledger. Each must grant nothing (upload, the gateway and
GET consent/ answer consent_required / not granted), put an alarm on the trail, and fail audit_verify.
"""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.verification import audit_verify
from consent import alarms, guards, purposes, selectors
from consent.models import ConsentEntry, ConsentState
from consent.services import consent_guard
from core import db, uow
from core.errors import ServiceError
from tests.conftest import make_user
from tests.consent.test_binding import forge_given
from tests.consent.test_settings_page import logged_in
from tests.vault.conftest import grant, jpeg_bytes, master_key, withdraw  # noqa: F401 (a fixture)
from tests.vault.test_api_media import upload
from vault import gateway

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def drop_guards(*tables: str) -> None:
    """As a database owner would: the tables' triggers off, for the rest of the test's transaction."""
    vendor = connection.vendor
    with connection.cursor() as cursor:
        for table in tables:
            statements = (guards.remove_state_guard_sql(vendor) if table == guards.STATE
                          else db.remove_sql(vendor, table))
            for sql in statements:
                cursor.execute(sql)


def point_state_at(entry: ConsentEntry) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentstate SET entry_id = %s, event = %s, event_id = %s, since = %s,"
            " notice_id = %s, notice_version = %s WHERE subject_id = %s AND purpose = %s",
            [entry.pk, entry.event, entry.event_id.hex if connection.vendor == "sqlite" else entry.event_id,
             entry.created_at, entry.notice_id, entry.notice_version, entry.subject_id, entry.purpose],
        )


def given_then_withdrawn(user) -> tuple[ConsentEntry, ConsentEntry]:
    grant(user)
    withdraw(user)
    given, withdrawn = ConsentEntry.objects.filter(subject=user, purpose=CAMERA).order_by("id")
    return given, withdrawn


def assert_grants_nothing(user, api) -> None:
    client = api(user)
    before = AuditEvent.objects.filter(action=alarms.ACTION, subject_id=user.pk).count()
    response = upload(client, jpeg_bytes())
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    states = {p["purpose"]: p["granted"] for p in client.get("/api/v1/consent/").json()["purposes"]}
    assert states[CAMERA] is False
    assert selectors.consent_active_entry(user_id=user.pk, purpose=CAMERA) is None
    with pytest.raises(gateway.GatewayDenied) as denied:
        gateway.candidates(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS)
    assert denied.value.code == "consent_required"
    # Each refusal above put the alarm on the trail (genuine events: AuditEvent.objects yields no other).
    alarms_now = AuditEvent.objects.filter(action=alarms.ACTION, subject_id=user.pk)
    assert alarms_now.count() >= before + 4
    assert {(e.purpose, e.outcome, e.object_type) for e in alarms_now} == {(CAMERA, "denied", "consent_state")}


def test_the_state_refuses_a_raw_update_and_delete(alice):
    given, _ = given_then_withdrawn(alice)
    with pytest.raises(DatabaseError, match="follows the ledger"), transaction.atomic():
        point_state_at(given)
    with pytest.raises(DatabaseError, match="follows the ledger"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consentstate")
    with pytest.raises(DatabaseError, match="follows the ledger"), transaction.atomic(), \
            connection.cursor() as cursor:
        # Backdated: still on the newest entry, but not with its fields.
        cursor.execute("UPDATE consent_consentstate SET since = %s WHERE subject_id = %s",
                       [given.created_at, alice.pk])
    state = ConsentState.objects.get(subject=alice, purpose=CAMERA)
    assert state.event == "withdrawn"
    assert guards.missing_guards() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
def test_the_state_refuses_truncate(alice):
    given_then_withdrawn(alice)
    with pytest.raises(DatabaseError, match="follows the ledger"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE consent_consentstate")
    assert ConsentState.objects.filter(subject=alice).exists()


def test_audit_verify_names_a_dropped_state_guard(alice):
    given_then_withdrawn(alice)
    assert audit_verify().ok
    drop_guards(guards.STATE)
    report = audit_verify()
    assert not report.ok
    assert any(guards.state_guard_names(connection.vendor)[0] in problem
               for problem in report.cross_checks["consent guards"])


def test_a_state_pointed_back_at_an_older_grant_grants_nothing(alice, api, master_key):  # noqa: F811
    given, _ = given_then_withdrawn(alice)
    assert audit_verify().ok
    drop_guards(guards.STATE)
    point_state_at(given)
    assert ConsentState.objects.get(subject=alice, purpose=CAMERA).entry_id == given.pk
    assert_grants_nothing(alice, api)
    report = audit_verify()
    assert not report.ok
    assert any("does not name the newest consent event" in p for p in report.cross_checks["consent ledger"])


def test_a_state_that_calls_the_newest_withdrawal_a_grant_grants_nothing(alice, api, master_key):  # noqa: F811
    given_then_withdrawn(alice)
    drop_guards(guards.STATE)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consent_consentstate SET event = 'given' WHERE subject_id = %s", [alice.pk])
    assert_grants_nothing(alice, api)
    problems = audit_verify().cross_checks["consent ledger"]
    assert any("does not say what its ledger entry says" in p for p in problems)


def test_a_withdrawal_deleted_from_the_ledger_grants_nothing(alice, api, master_key):  # noqa: F811
    given, withdrawn = given_then_withdrawn(alice)
    assert audit_verify().ok
    drop_guards(guards.LEDGER, guards.STATE)
    point_state_at(given)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consententry WHERE id = %s", [withdrawn.pk])
    # The ledger and the state row now agree with each other: only the trail knows better.
    newest = ConsentEntry.objects.filter(subject=alice, purpose=CAMERA).order_by("-id").first()
    assert newest.pk == given.pk == ConsentState.objects.get(subject=alice, purpose=CAMERA).entry_id
    assert_grants_nothing(alice, api)
    report = audit_verify()
    assert not report.ok
    problems = report.cross_checks["consent ledger"]
    assert any("does not name the newest consent event" in p for p in problems)
    assert any(f"names consent entry {withdrawn.pk}, which the ledger no longer holds" in p for p in problems)
    assert any(guards.LEDGER in p for p in report.cross_checks["consent guards"])


def test_a_given_row_with_no_event_behind_it_grants_nothing(alice, api, master_key):  # noqa: F811
    given_then_withdrawn(alice)
    forged = forge_given(alice)
    assert ConsentState.objects.get(subject=alice, purpose=CAMERA).entry_id == forged  # the ledger's trigger
    assert_grants_nothing(alice, api)
    report = audit_verify()
    assert not report.ok
    record_id = ConsentEntry.objects.get(pk=forged).record_id
    assert any(str(record_id) in p for p in report.cross_checks["consent ledger"])


def test_a_holder_who_never_consented_gets_no_alarm(alice, api, master_key):  # noqa: F811
    response = upload(api(alice), jpeg_bytes())
    assert response.status_code == 403
    withdraw(alice)
    grant(alice)
    withdraw(alice)
    assert api(alice).get("/api/v1/consent/").status_code == 200
    assert not AuditEvent.objects.filter(action=alarms.ACTION).exists()
    assert audit_verify().ok


def test_an_alarm_survives_the_refusal_under_the_lock(alice):
    """The check under the account's lock rolls the unit back; its alarm is kept."""
    given, _ = given_then_withdrawn(alice)
    drop_guards(guards.STATE)
    point_state_at(given)
    with pytest.raises(ServiceError) as refused, \
            uow.account_write(user_id=alice.pk, actor=uow.Actor.holder(alice.pk)) as unit:
        unit.record(unit.event(action="media.deleted", object_type="media", object_id=1))
        consent_guard(user_id=alice.pk, purpose=CAMERA)
    assert refused.value.code == "consent_required"
    assert AuditEvent.objects.filter(action=alarms.ACTION, subject_id=alice.pk).count() == 1
    assert not AuditEvent.objects.filter(action="media.deleted").exists()  # the unit's own events went with it


def test_no_receipt_and_no_genuine_mark_for_a_row_the_service_never_wrote(alice, api):
    given, withdrawn = given_then_withdrawn(alice)
    forged = ConsentEntry.objects.get(pk=forge_given(alice))
    client = api(alice)
    response = client.get(f"/api/v1/consent/receipts/{forged.record_id}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "entry_unverified"
    assert "signature" not in response.json()
    assert client.get(f"/api/v1/consent/receipts/{given.record_id}/").status_code == 200  # genuine, if older
    history = client.get("/api/v1/consent/history/").json()["results"]
    assert {(row["id"], row["genuine"]) for row in history} == {
        (str(forged.record_id), False), (str(withdrawn.record_id), True), (str(given.record_id), True)}
    page = logged_in(alice).get("/settings/camera-roll/").content.decode()
    assert "not written by us" in page
    assert f"receipts/{forged.record_id}/" not in page and f"receipts/{given.record_id}/" in page
    assert logged_in(alice).get(f"/settings/camera-roll/receipts/{forged.record_id}/").status_code == 409
    # Another holder still cannot tell the entry exists.
    assert api(make_user("mallory")).get(f"/api/v1/consent/receipts/{forged.record_id}/").status_code == 404


def test_an_entry_changed_after_the_fact_gets_no_receipt(alice, api):
    grant(alice)
    given = ConsentEntry.objects.get(subject=alice, event="given")
    drop_guards(guards.LEDGER, guards.STATE)
    with connection.cursor() as cursor:  # backdated by a database owner
        cursor.execute("UPDATE consent_consententry SET created_at = %s WHERE id = %s",
                       [given.created_at.replace(year=2020), given.pk])
    response = api(alice).get(f"/api/v1/consent/receipts/{given.record_id}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "entry_unverified"
    assert [row["genuine"] for row in api(alice).get("/api/v1/consent/history/").json()["results"]] == [False]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the outbox is PostgreSQL's")
def test_a_consent_still_pending_in_the_outbox_counts_as_the_newest(alice, api, settings, master_key):  # noqa: F811
    settings.AUDIT_SEQUENCER = "outbox"
    settings.AUDIT_SEQUENCER_THREAD = False
    grant(alice)  # integrated at commit, which a test's transaction never reaches: it stays pending
    given = ConsentEntry.objects.get(subject=alice, event="given")
    assert not AuditEvent.objects.filter(event_id=str(given.event_id)).exists()
    assert selectors.consent_active_entry(user_id=alice.pk, purpose=CAMERA).pk == given.pk
    states = {p["purpose"]: p["granted"] for p in api(alice).get("/api/v1/consent/").json()["purposes"]}
    assert states[CAMERA] is True
    assert upload(api(alice), jpeg_bytes()).status_code == 201
    assert not AuditEvent.objects.filter(action=alarms.ACTION).exists()


def _refused(user, api) -> None:
    client = api(user)
    response = upload(client, jpeg_bytes())
    assert response.status_code == 403 and response.json()["error"]["code"] == "consent_required"
    states = {p["purpose"]: p["granted"] for p in client.get("/api/v1/consent/").json()["purposes"]}
    assert states[CAMERA] is False
    assert selectors.consent_active_entry(user_id=user.pk, purpose=CAMERA) is None
    with pytest.raises(gateway.GatewayDenied) as denied:
        gateway.candidates(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS)
    assert denied.value.code == "consent_required"


@pytest.mark.parametrize("pointed_back", [False, True])
def test_a_withdrawal_still_in_the_queue_counts_while_the_sequencer_lags(alice, api, settings, master_key,  # noqa: F811
                                                                           pointed_back):
    """The sequencer held back (the test's transaction never commits, and no thread runs): the
    withdrawal's event waits in the queue, the grant before it is the trail's newest integrated
    consent event. Upload, the gateway and GET consent/ refuse all the same, and so they do when an
    insider points the state row back at the grant during the lag: the newest MAC-verified consent
    event, pending or integrated, decides."""
    from audit.models import AuditOutbox

    grant(alice)  # integrated inline
    settings.AUDIT_SEQUENCER = "outbox"
    settings.AUDIT_SEQUENCER_THREAD = False
    withdraw(alice)
    given, withdrawn = ConsentEntry.objects.filter(subject=alice, purpose=CAMERA).order_by("id")
    assert AuditEvent.objects.filter(event_id=str(given.event_id)).exists()
    if connection.vendor == "postgresql":  # SQLite writers always integrate inline
        assert not AuditEvent.unchecked.filter(event_id=str(withdrawn.event_id)).exists()
        assert AuditOutbox.objects.filter(event_id=str(withdrawn.event_id)).exists()
    if pointed_back:
        drop_guards(guards.STATE)
        point_state_at(given)
        assert ConsentState.objects.get(subject=alice, purpose=CAMERA).entry_id == given.pk
    _refused(alice, api)

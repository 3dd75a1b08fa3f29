import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from audit.canonical import GENESIS_HASH
from audit.context import reset_request_id, set_request_id
from audit.keys import mac_key
from audit.models import AuditEvent, AuditHead, AuditImmutableError
from audit.selectors import audit_events_for_subject
from audit.services import EventInput, audit_append, audit_append_many
from core.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_entries_hold_the_event_alone_and_take_their_position_from_sequencing():
    first = audit_append(action="consent.given", actor_kind="holder", actor_id=7, subject_id=7,
                         purpose="camera_roll_cloud_processing", details={"notice_version": "2"})
    second = audit_append(action="media.read", actor_kind="service", subject_id=7, object_type="media_item",
                          object_id=12, purpose="sharing_suggestions")
    assert (first.seq, second.seq) == (1, 2)
    # The prev_hash column is the INSERT guard's link to the row before; it is not in the entry.
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    for event in (first, second):
        stored = AuditEvent.objects.get(seq=event.seq)
        body = bytes(stored.canonical)
        assert stored.hash == hashlib.sha256(b"\x00" + body).hexdigest()
        decoded = json.loads(body)
        assert "seq" not in decoded and "prev_hash" not in decoded and decoded["v"] == 3
        assert decoded["action"] == stored.action and decoded["subject_id"] == stored.subject_id
        leaf = hashlib.sha256(b"\x00" + body).digest()
        assert stored.mac == hmac.digest(mac_key(), b"consentsvc-audit-entry-mac/v3\n" + leaf, "sha256").hex()
    head = AuditHead.objects.get(pk=1)
    assert (head.size, head.last_hash) == (2, second.hash)


def test_it_stores_canonical_bytes_with_sorted_keys_and_no_whitespace():
    event = audit_append(action="consent.given", actor_kind="holder", actor_id="3", subject_id=3,
                         details={"b": 1, "a": [1, 2]})
    body = bytes(AuditEvent.objects.get(seq=event.seq).canonical)
    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    assert b'"details":{"a":[1,2],"b":1}' in body
    assert json.loads(body)["time"].endswith("Z")


def test_it_appends_a_batch_as_one_contiguous_run(many_events):
    audit_append(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    events = many_events(25)
    assert [e.seq for e in events] == list(range(2, 27))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert AuditEvent.objects.count() == 26


def test_it_rolls_back_with_the_callers_transaction():
    audit_append(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_append(action="consent.withdrawn", actor_kind="holder", actor_id=1, subject_id=1)
        raise RuntimeError("the action failed")
    assert AuditEvent.objects.count() == 1
    later = audit_append(action="consent.withdrawn", actor_kind="holder", actor_id=1, subject_id=1)
    assert later.seq == 2


def test_it_takes_the_request_id_from_the_context_unless_given():
    token = set_request_id("req-1234567890")
    try:
        implicit = audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
        explicit = audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1,
                                request_id="job-abcdefgh")
    finally:
        reset_request_id(token)
    assert implicit.request_id == "req-1234567890"
    assert explicit.request_id == "job-abcdefgh"


def test_it_has_an_event_input_with_exactly_the_append_arguments():
    import dataclasses
    import inspect

    fields = [f.name for f in dataclasses.fields(EventInput)]
    params = list(inspect.signature(audit_append).parameters)
    assert fields == params


def test_it_returns_nothing_for_an_empty_batch():
    assert audit_append_many(events=[]) == []
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"actor_kind": "robot"},
        {"outcome": "maybe"},
        {"action": "Consent Given"},
        {"subject_id": "alice"},
        {"actor_id": "alice@example.com"},
        {"object_id": "holiday photo.jpg"},
        {"details": {"lat": 51}},
        {"details": {"count": 1.5}},
        {"details": {"place": "home"}},
        {"details": {"email": "a@b.c"}},
        {"details": {"reason": "the holder asked"}},
        {"details": {"reason_code": "the holder asked"}},
        {"details": {"labels": ["beach"]}},
        {"details": {"caption": "x"}},
        {"details": {"owner_email": "x"}},
        {"details": {"note": {"nested": 1}}},
        {"details": {"Bad Key": 1}},
        {"details": {"blob": b"\xff\xd8"}},
        {"details": {"a": {"b": {"c": 1}}}},
        {"details": {"ids": list(range(2000))}},
    ],
)
def test_it_refuses_malformed_events_and_content(kwargs):
    base = {"action": "media.read", "actor_kind": "holder", "actor_id": 1, "subject_id": 1}
    with pytest.raises(ServiceError) as caught:
        audit_append(**{**base, **kwargs})
    assert caught.value.code == "audit_event_invalid"
    assert AuditEvent.objects.count() == 0


def test_it_accepts_ids_counts_codes_and_dates_in_details():
    event = audit_append(
        action="support.erase", actor_kind="support", actor_id=4, subject_id=9, object_type="case", object_id=3,
        details={"reason_code": "holder_request", "counts": {"items": 3, "outputs": 0}, "source_ids": [1, 2],
                 "sha256": "ab" * 32, "start": "2024-01-01", "dry_run": False, "notice": None},
    )
    assert event.details["counts"] == {"items": 3, "outputs": 0}


def test_it_refuses_update_and_delete_through_the_orm():
    event = audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(seq=event.seq).update(outcome="denied")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditImmutableError):
        event.delete()
    event.outcome = "denied"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_update([event], ["outcome"])
    assert AuditEvent.objects.get(seq=event.seq).outcome == "allowed"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET outcome = 'denied'",
        "UPDATE audit_auditevent SET canonical = canonical WHERE seq = 1",
        "DELETE FROM audit_auditevent WHERE seq = 1",
        "DELETE FROM audit_auditevent",
    ],
)
def test_it_refuses_raw_update_and_delete_in_the_database(sql):
    audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(seq=1).outcome == "allowed"


def test_it_refuses_raw_changes_to_checkpoints(settings):
    from audit.services import audit_checkpoint_create

    audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    audit_checkpoint_create()
    for sql in ("UPDATE audit_auditcheckpoint SET root_hash = 'x'", "DELETE FROM audit_auditcheckpoint"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_it_refuses_truncate_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    for table in ("audit_auditevent", "audit_auditcheckpoint"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 1


def test_it_keeps_triggers_on_in_replica_mode_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("session_replication_role is PostgreSQL's")
    audit_append(action="media.read", actor_kind="holder", actor_id=1, subject_id=1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent")


def test_it_lists_a_subjects_events_newest_first_with_filters(many_events):
    many_events(12)
    events = list(audit_events_for_subject(subject_id=2))
    assert [e.seq for e in events] == sorted((e.seq for e in events), reverse=True)
    assert {e.subject_id for e in events} == {2} and len(events) == 3
    reads = audit_events_for_subject(subject_id=1, action="media.read")
    assert {e.action for e in reads} == {"media.read"}
    assert not audit_events_for_subject(subject_id=1, since=events[0].time + timedelta(days=1)).exists()


def test_it_writes_canonical_bytes_equal_to_sorted_compact_json():
    from audit.canonical import dumps

    cases = [
        {"action": "audit.exported", "actor_kind": "system"},
        {"action": "media.read", "actor_kind": "service", "actor_id": "job:12", "subject_id": 9, "object_type": "x",
         "object_id": 0, "purpose": "p", "outcome": "error", "request_id": "r-1",
         "details": {"z": [1, None, True, "a/b"], "a": {"n": -3}, "m": ""}},
        {"action": "audit.exported", "actor_kind": "auditor", "actor_id": 3, "subject_id": None,
         "details": {"filters": {"since": "2024-01-01T00:00:00+00:00"}}},
    ]
    for kwargs in cases:
        event = audit_append(**kwargs)
        body = bytes(AuditEvent.objects.get(seq=event.seq).canonical)
        assert body == dumps(json.loads(body))

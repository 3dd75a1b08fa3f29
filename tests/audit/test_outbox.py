"""The queue and its sequencer (PostgreSQL, AUDIT_SEQUENCER=outbox): requests write entries without a
shared lock, the entries commit or roll back with the request, and the sequencer gives them gapless
seqs after the commit, setting aside rows written without the MAC key."""

import threading
import uuid

import pytest
from django.db import connection, transaction

from audit import outbox, selectors
from audit.models import AuditCheckpoint, AuditEvent, AuditOutbox, AuditSetAside
from audit.services import EventInput, audit_append, audit_append_many, audit_export_begin
from audit.verification import audit_verify
from core.uow import Actor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _outbox(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the outbox is PostgreSQL's; SQLite appends inline")
    settings.AUDIT_SEQUENCER = "outbox"


def _event(i=0, **kwargs):
    return EventInput(action="media.read", actor_kind="service", actor_id=str(i), subject_id=1, object_id=i,
                      **kwargs)


def test_events_wait_in_the_outbox_until_commit_then_get_their_seq():
    with transaction.atomic():
        [pending] = audit_append_many(events=[_event()])
        assert pending.seq is None and AuditOutbox.objects.count() == 1
        assert not AuditEvent.unchecked.exists()
        found = selectors.audit_event_by_id(event_id=pending.event_id)  # the binding sees it already
        assert found is not None and found.seq is None and found.action == "media.read"
    event = AuditEvent.objects.get()
    assert (event.seq, event.event_id) == (1, pending.event_id)
    assert not AuditOutbox.objects.exists()
    assert selectors.audit_event_by_id(event_id=pending.event_id).seq == 1
    assert audit_verify().ok


def test_an_event_integrated_between_the_lookups_reads_is_still_found(monkeypatch):
    """The sequencer may commit an event's move from the outbox into the trail at any moment: a lookup
    (the consent binding of an upload right after the consent was given) must find it either way."""
    monkeypatch.setattr(outbox, "_after_commit", lambda: None)  # it stays pending after the commit
    with transaction.atomic():
        [pending] = audit_append_many(events=[_event()])
    assert AuditOutbox.objects.count() == 1
    read_trail = selectors._EVENTS_BY_ID.rows

    def trail_then_the_sequencer_commits(**kwargs):
        rows = list(read_trail(**kwargs))
        outbox.integrate_pending()
        return rows

    monkeypatch.setattr(selectors._EVENTS_BY_ID, "rows", trail_then_the_sequencer_commits)
    found = selectors.audit_event_by_id(event_id=pending.event_id)
    assert found is not None and found.event_id == pending.event_id


def test_a_rolled_back_request_leaves_no_event():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_append(action="media.read", actor_kind="service")
        raise RuntimeError("the action failed")
    assert not AuditOutbox.objects.exists() and not AuditEvent.unchecked.exists()
    audit_append(action="media.read", actor_kind="service")  # the next commit still integrates
    assert AuditEvent.objects.count() == 1


def test_concurrent_writers_get_gapless_seqs():
    writers, each = 8, 15
    errors = []
    start = threading.Barrier(writers)

    def write(slot):
        try:
            start.wait()
            for i in range(each):
                with transaction.atomic():
                    audit_append_many(events=[_event(slot * 100 + i), _event(slot * 100 + i)])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(slot,)) for slot in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert outbox.integrate_when_free() == 0  # every commit was integrated already
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, writers * each * 2 + 1))
    assert not AuditOutbox.objects.exists()
    report = audit_verify()
    assert report.ok, report.problem


def test_a_writer_does_not_wait_for_another_writers_open_transaction():
    """Inline appends hold the head's lock to the end of the transaction; the outbox takes none."""
    holding = threading.Event()
    release = threading.Event()

    def slow_request():
        try:
            with transaction.atomic():
                audit_append(action="media.read", actor_kind="service", actor_id="slow")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_request)
    slow.start()
    try:
        assert holding.wait(10)
        done = threading.Event()

        def fast_request():
            try:
                with transaction.atomic():
                    audit_append(action="media.read", actor_kind="service", actor_id="fast")
                done.set()
            finally:
                connection.close()

        fast = threading.Thread(target=fast_request)
        fast.start()
        assert done.wait(5), "a second writer waited on the first one's transaction"
        fast.join()
    finally:
        release.set()
        slow.join()
    outbox.integrate_when_free()
    assert sorted(AuditEvent.objects.values_list("actor_id", flat=True)) == ["fast", "slow"]
    assert AuditEvent.objects.get(actor_id="fast").seq == 1  # committed first, sequenced first


def test_a_row_written_into_the_outbox_without_the_key_is_set_aside_and_raised():
    pending_id = str(uuid.uuid4())
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       [pending_id, b'{"action":"consent.given"}', "00" * 32])
    assert selectors.audit_event_by_id(event_id=pending_id) is None
    audit_append(action="media.read", actor_kind="service")
    assert not AuditOutbox.objects.exists()
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["media.read", "audit.entry_set_aside"]
    assert AuditEvent.objects.get(action="audit.entry_set_aside").details == {"code": "mac_invalid"}
    assert AuditSetAside.objects.get().event_id == pending_id
    assert not audit_verify().ok  # until an operator acknowledges it


def test_an_export_checkpoint_covers_its_own_event():
    audit_append(action="media.read", actor_kind="service")
    checkpoint = audit_export_begin(fmt="jsonl", filters={}, actor=Actor.auditor(1))
    assert checkpoint.tree_size == 2
    assert AuditEvent.objects.get(seq=2).action == "audit.exported"
    assert AuditCheckpoint.objects.filter(tree_size=2).exists()


def test_the_background_sequencer_integrates_soon_after_commit(settings):
    import time

    settings.AUDIT_SEQUENCER_THREAD = True
    with transaction.atomic():
        event = audit_append(action="media.read", actor_kind="service")
    assert event.seq is None  # the request did not wait for its seq
    deadline = time.monotonic() + 5
    while not AuditEvent.objects.filter(event_id=event.event_id).exists():
        assert time.monotonic() < deadline, "not integrated within 5 s of the commit"
        time.sleep(0.02)
    assert not AuditOutbox.objects.exists()
    deadline = time.monotonic() + 5
    while outbox._thread._wanted.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    # Idle again: within a moment the thread lets its connection go (no session left holding the database).
    deadline = time.monotonic() + 5
    while _other_sessions():
        assert time.monotonic() < deadline, "the sequencer thread still holds a connection"
        time.sleep(0.05)


def _other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def test_the_sequencer_thread_sets_aside_an_entry_queued_under_a_foreign_key(settings, audrey, api):
    """As production runs it (the queue and this process's sequencer thread): the service's own writer,
    run with another MAC key, queues an entry; the thread never integrates it, so the events API does
    not list or count it and no checkpoint, export or witness holds it."""
    import json
    import time

    from django.test import override_settings
    from django.urls import reverse

    from audit import canonical
    from audit.services import audit_checkpoint_create

    settings.AUDIT_SEQUENCER_THREAD = True
    with transaction.atomic():
        genuine = audit_append(action="media.read", actor_kind="service")
        with override_settings(AUDIT_MAC_KEY="f" * 40):  # only the write: the thread runs with the service's key
            forged = audit_append(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    assert forged.seq is None
    deadline = time.monotonic() + 5
    while not AuditSetAside.objects.exists() or AuditOutbox.objects.exists():
        assert time.monotonic() < deadline, "the sequencer thread did not deal with the queue within 5 s"
        time.sleep(0.02)
    [set_aside] = AuditSetAside.objects.all()
    assert (set_aside.event_id, set_aside.reason, set_aside.seq) == (forged.event_id, "mac_invalid", None)
    assert not AuditEvent.unchecked.filter(event_id=forged.event_id).exists()
    body = bytes(set_aside.body)
    assert canonical.leaf_hash(body).hex() not in set(AuditEvent.unchecked.values_list("hash", flat=True))
    listed = api(audrey).get(reverse("api-audit-events-list")).json()
    assert listed["count"] == 2 and forged.event_id not in json.dumps(listed)  # the genuine event and the alarm
    assert {row["event_id"] for row in listed["results"]} >= {str(genuine.event_id)}
    checkpoint = audit_checkpoint_create()
    assert checkpoint.tree_size == 2
    assert selectors.audit_event_by_id(event_id=forged.event_id) is None

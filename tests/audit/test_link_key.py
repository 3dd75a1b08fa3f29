"""SQLite: the trail's INSERT guard is the table's link key (audit.triggers, migration 0010), and the
migration that builds it keeps every row of a populated trail, both ways."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit import triggers
from audit.models import AuditEvent
from audit.verification import audit_verify

pytestmark = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the link key is SQLite's guard")


def _schema() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'audit_auditevent'")
        return dict(cursor.fetchall())


def _insert_after(last: AuditEvent, *, seq: int, prev_hash: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, subject_id, object_type, "
            "object_id, purpose, outcome, request_id, details, canonical, prev_hash, hash, event_id, mac) "
            "SELECT %s, time, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome, "
            "request_id, details, canonical, %s, %s, NULL, mac FROM audit_auditevent WHERE seq = %s",
            [seq, prev_hash, "f" * 64, last.seq],
        )


def _refused(last: AuditEvent, *, seq: int, prev_hash: str) -> bool:
    try:
        with transaction.atomic():
            _insert_after(last, seq=seq, prev_hash=prev_hash)
    except DatabaseError:
        return True
    return False


@pytest.mark.django_db
def test_the_link_key_is_the_guard_and_no_row_trigger_is_left(many_events):
    schema = _schema()
    assert triggers.SQLITE_LINK_KEY in schema["audit_auditevent"]
    assert triggers.SQLITE_LINK_INDEX in schema
    assert "audit_auditevent_extends_head" not in schema  # the row trigger it replaced
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_key_list(audit_auditevent)")
        assert {(row[3], row[4]) for row in cursor.fetchall()} == {("prev_seq", "seq"), ("prev_hash", "hash")}


@pytest.mark.django_db
def test_it_refuses_a_first_event_that_does_not_link_to_genesis():
    with pytest.raises(DatabaseError, match="CHECK constraint failed: audit_event_extends_head"), \
            connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, subject_id, object_type, "
            "object_id, purpose, outcome, request_id, details, canonical, prev_hash, hash, event_id, mac) "
            "VALUES (1, '2026-01-01 00:00:00', 'system', '', 'a.b', NULL, '', '', '', 'allowed', '', '{}', "
            "X'00', %s, %s, NULL, NULL)", ["1" * 64, "2" * 64])


@pytest.mark.django_db(transaction=True)
def test_the_migration_rebuilds_a_populated_trail_both_ways(many_events):
    """Backwards to the row trigger and forwards to the link key again, with 40 events: every row
    stays, the trail verifies, and each guard refuses what the other refused."""
    many_events(40)
    before = list(AuditEvent.objects.order_by("seq").values_list("seq", "hash", "mac"))
    for link in (False, True):
        with connection.schema_editor() as editor:
            triggers._rebuild_sqlite_events(editor, link=link)
        schema = _schema()
        assert (triggers.SQLITE_LINK_KEY in schema["audit_auditevent"]) is link
        assert ("audit_auditevent_extends_head" in schema) is not link
        assert {"audit_auditevent_no_update", "audit_auditevent_no_delete", "audit_event_time"} <= set(schema)
        assert list(AuditEvent.objects.order_by("seq").values_list("seq", "hash", "mac")) == before
        report = audit_verify()
        if link:
            assert report.ok, report.problem
        else:  # the chain is whole; what verification misses is the link key (audit.triggers.missing_guards)
            assert report.cross_checks == {"database guards": [
                "audit_auditevent has lost its link key, the INSERT guard that makes every row extend the head"]}
        last = AuditEvent.objects.order_by("-seq").first()
        assert _refused(last, seq=last.seq + 2, prev_hash=last.hash)  # a gap
        assert _refused(last, seq=last.seq + 1, prev_hash=before[0][1])  # linked to another event
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE seq = 40")  # still append-only
    assert AuditEvent.objects.count() == 40

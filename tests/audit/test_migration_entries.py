"""Migration 0012 (entries, the set-aside table) on a populated trail, both ways: the chained events and
their tiles stay as they are, an event left waiting in the queue in the old pending format is
rewritten as an entry (under the entry MAC) and integrated after the chained ones, and going back is
refused while entries wait in the queue."""

import hmac
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit import canonical, outbox
from audit.keys import mac_key
from audit.models import AuditEvent, AuditOutbox, AuditTile
from audit.services import EventInput, _validated, audit_checkpoint_create
from audit.verification import audit_verify
from tests.audit import legacy

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("audit", "0011_event_subject_object_index")]
# The latest: the code under test reads the tables as they are now (0013 gave set-aside rows a seq,
# 0014 added the holder logs that integration writes, 0015 the one write of the heads and entries, 0016
# the tail rewind's marker and guards, 0017 the index its deletes use on SQLite, 0018 that index left to
# the rewind itself and the holder entries WITHOUT ROWID, 0019 the heads write split by row, 0020
# the holder heads' fillfactor on PostgreSQL).
AFTER = [("audit", "0020_holder_heads_fillfactor")]


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def _old_pending_row() -> str:
    """An event as a writer before entries left it in the queue: the chained format with seq 0 and
    prev_hash "pending", MAC'd under the pending label."""
    valid = _validated(EventInput(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1,
                                  request_id=""))
    body = canonical.encode_chained(valid, seq=0, time=canonical.format_time(timezone.now()), prev_hash="pending")
    mac = hmac.new(mac_key(), b"consentsvc-audit-pending-mac/v1\n" + body, "sha256").hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       [valid.fields["event_id"], body, mac])
    return valid.fields["event_id"]


def test_it_migrates_a_populated_trail_both_ways():
    legacy.append_chained(300)
    audit_checkpoint_create()
    before = list(AuditEvent.objects.order_by("seq").values_list("seq", "hash", "mac", "canonical"))
    tiles = list(AuditTile.objects.order_by("level", "index").values_list("level", "index", "hashes"))
    try:
        _migrate(BEFORE)
        assert "audit_auditsetaside" not in _tables()
        pending = _old_pending_row()
        _migrate(AFTER)
        assert "audit_auditsetaside" in _tables()
        body = bytes(AuditOutbox.objects.get(event_id=pending).body)
        assert json.loads(body)["v"] == 3 and "seq" not in json.loads(body)
        outbox.integrate_when_free()
        assert list(AuditEvent.objects.filter(seq__lte=300).order_by("seq")
                    .values_list("seq", "hash", "mac", "canonical")) == before
        assert list(AuditTile.objects.order_by("level", "index")
                    .values_list("level", "index", "hashes"))[: len(tiles)] == tiles
        assert AuditEvent.objects.get(event_id=pending).seq == 301
        report = audit_verify()
        assert report.ok, report.problems

        _old_pending_row()
        _migrate(AFTER)  # nothing to do: already applied
        with pytest.raises(RuntimeError, match="waiting in the audit queue"):
            _migrate(BEFORE)
    finally:
        AuditOutbox.objects.all().delete()
        _migrate(AFTER)

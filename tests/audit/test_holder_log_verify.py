"""audit_verify checks every holder log against the trail (the cross-check "holder logs"), and names
each way someone with the database changed one: an entry left out, one added from another holder,
a moved head, a changed tile, a forged checkpoint note."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import triggers
from audit.models import AuditEvent, HolderCheckpoint
from audit.services import EventInput, audit_append_many, audit_checkpoint_if_due
from audit.verification import audit_verify

pytestmark = pytest.mark.django_db


def _events(subjects: list[int | None]) -> None:
    audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service", actor_id="suggestions", subject_id=subject,
                   object_type="media_item", object_id=i, purpose="sharing_suggestions")
        for i, subject in enumerate(subjects)
    ])


@pytest.fixture
def logs(alice, bob):
    _events([alice.pk, bob.pk, None] * 100 + [alice.pk] * 200)  # alice: 300 entries, a full tile and more
    audit_checkpoint_if_due()
    _events([alice.pk, bob.pk])  # past the holder checkpoints
    return alice, bob


def _forge(sql: str, params=()) -> None:
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _holder_problems() -> list[str]:
    report = audit_verify(holder_logs=True)
    return report.cross_checks.get("holder logs", [])


def test_untouched_holder_logs_verify(logs):
    report = audit_verify(holder_logs=True)
    assert report.ok, report.problems
    assert "holder logs" not in report.cross_checks


def test_the_command_checks_holder_logs_when_asked(logs):
    alice, _ = logs
    _forge('DELETE FROM audit_holderlogentry WHERE subject_id = %s AND "index" = 0', [alice.pk])
    call_command("audit_verify", "--no-progress", stdout=io.StringIO())  # not asked: the trail itself is intact
    with pytest.raises(CommandError, match="holder logs"):
        call_command("audit_verify", "--no-progress", "--holder-logs", stdout=io.StringIO())




def test_an_entry_left_out_is_named(logs):
    alice, _ = logs
    seq = AuditEvent.objects.filter(subject_id=alice.pk).order_by("seq").values_list("seq", flat=True)[5]
    _forge('DELETE FROM audit_holderlogentry WHERE subject_id = %s AND "index" = 5', [alice.pk])
    problems = _holder_problems()
    assert f"holder {alice.pk}: global seq {seq} is missing from their log (entry 5)" in problems
    assert not audit_verify(holder_logs=True).ok


def test_another_holders_entry_added_is_named(logs):
    alice, bob = logs
    bobs = AuditEvent.objects.filter(subject_id=bob.pk).order_by("seq").values_list("seq", flat=True)[0]
    size = AuditEvent.objects.filter(subject_id=alice.pk).count()
    _forge('INSERT INTO audit_holderlogentry (subject_id, "index", seq) VALUES (%s, %s, %s)', [alice.pk, size, bobs])
    assert any(p.startswith(f"holder {alice.pk}: entry {size} (seq {bobs}) is not a global entry about them")
               for p in _holder_problems())


def test_a_moved_head_is_named(logs):
    alice, _ = logs
    with connection.cursor() as cursor:  # the head row has no guard: it moves with every integration
        cursor.execute("UPDATE audit_holderlog SET size = size - 1 WHERE subject_id = %s", [alice.pk])
    assert any(p.startswith(f"holder {alice.pk}: their log's head") for p in _holder_problems())


def test_a_changed_tile_is_named(logs):
    alice, _ = logs
    _forge('UPDATE audit_holderlogtile SET hashes = %s WHERE subject_id = %s AND level = 0 AND "index" = 0',
           [b"\x00" * 32 * 256, alice.pk])
    assert f"holder {alice.pk}: tile 0/0 is not their entries' tile" in _holder_problems()


def test_a_forged_checkpoint_is_named(logs):
    alice, bob = logs
    bobs = HolderCheckpoint.objects.get(subject_id=bob.pk)
    alices = HolderCheckpoint.objects.get(subject_id=alice.pk)
    # bob's signed note put on alice's checkpoint, and a root that is not hers.
    _forge("UPDATE audit_holdercheckpoint SET note = %s, root_hash = %s WHERE subject_id = %s",
           [bobs.note, bobs.root_hash, alice.pk])
    problems = _holder_problems()
    assert f"holder {alice.pk}: checkpoint at {alices.tree_size} has a root their entries do not make" in problems
    assert f"holder {alice.pk}: the checkpoint note at {alices.tree_size} signs another log or tree" in problems

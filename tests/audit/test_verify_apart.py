"""audit_verify on PostgreSQL when it owns its transaction (as the command runs it): the column check
runs on a second connection, in the same snapshot, while Python hashes; every tamper is still named."""

import pytest
from django.core.management import call_command
from django.db import connection

from audit import triggers, verification
from audit.verification import audit_verify

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the check apart runs on PostgreSQL"),
]


@pytest.fixture
def checks(monkeypatch):
    """What each run of the check apart saw: its result dict."""
    seen = []
    check = verification._pg_check_columns

    def spy(params, snapshot, max_seq, result):
        check(params, snapshot, max_seq, result)
        seen.append(result)

    monkeypatch.setattr(verification, "_pg_check_columns", spy)
    return seen


def _sql(sql, params=()):
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_it_verifies_an_untouched_trail_with_the_check_apart_only(both_formats, checks, monkeypatch):
    def other_path(max_seq):
        raise AssertionError("another path read the rows")

    monkeypatch.setattr(verification, "_pg_rows", other_path)
    monkeypatch.setattr(verification, "_generic_rows", other_path)
    report = audit_verify()
    assert report.ok, report.problem
    assert report.events == 16
    assert checks == [{"rows": 16, "agree": True}]
    call_command("audit_verify", "--no-progress")


@pytest.mark.parametrize(("seq", "assignment", "column"), [
    (3, "actor_id = 'x9'", "actor_id"),
    (12, "actor_id = 'x9'", "actor_id"),
    (5, "prev_hash = repeat('0', 64)", "prev_hash"),
    (16, "outcome = 'allowed', action = 'consent.given'", "action"),
    (9, "details = '{\"count\": 99}'::jsonb", "details"),
    (2, "details = '{\"count\": 2, \"more\": 1}'::jsonb", "details"),
    (14, "time = time + interval '1 microsecond'", "time"),
    (8, "subject_id = NULL", "subject_id"),
    (1, "purpose = 'other'", "purpose"),
])
def test_it_names_a_column_changed_behind_the_bytes(both_formats, checks, seq, assignment, column):
    _sql(f"UPDATE audit_auditevent SET {assignment} WHERE seq = %s", [seq])  # noqa: S608 (constants)
    report = audit_verify()
    assert checks and not checks[0]["agree"]
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problem
    assert f"seq {seq}: column {column} differs" in [p["message"][:len(f"seq {seq}: column {column} differs")]
                                                    for p in report.problems], report.problems


def test_it_names_a_canonical_byte_changed_under_the_check_apart(both_formats, checks):
    _sql("UPDATE audit_auditevent SET canonical = overlay(canonical PLACING '9' FROM 30 FOR 1) WHERE seq = 10")
    report = audit_verify()
    assert not report.ok and report.first_bad_seq == 10, report.problem


def test_a_walk_stopped_early_leaves_no_check_running(both_formats, checks, monkeypatch):
    """The walk fails after its first chunk: the check apart is cancelled or done, its thread joined
    before the transaction that exported the snapshot ends, and the connection is usable."""
    import threading

    from audit.models import AuditEvent

    monkeypatch.setattr(verification, "_CHUNK", 4)
    fold = verification._TreeWalk.fold

    def failing(self, upto):
        if self.size > 4:
            raise RuntimeError("stopped")
        return fold(self, upto)

    monkeypatch.setattr(verification._TreeWalk, "fold", failing)
    with pytest.raises(RuntimeError, match="stopped"):
        audit_verify()
    assert len(checks) == 1
    assert not [thread for thread in threading.enumerate() if thread.name == "audit-verify-columns"]
    assert AuditEvent.objects.count() == 16

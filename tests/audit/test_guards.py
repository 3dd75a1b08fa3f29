"""audit_verify fails when a database guard of the audit tables is gone or disabled (a database owner
dropped it, or a schema change rebuilt a table without it), and names it."""

import pytest
from django.db import connection, transaction

from audit.triggers import missing_guards
from audit.verification import audit_verify
from core import db

pytestmark = pytest.mark.django_db


def test_every_guard_is_in_place_after_migrating(many_events):
    many_events(3)
    assert missing_guards() == []
    assert audit_verify().ok


@pytest.mark.parametrize("table", ["audit_auditevent", "audit_audittile", "audit_auditcosignature"])
def test_verify_names_a_dropped_append_only_trigger(many_events, table):
    many_events(3)
    with transaction.atomic():
        with connection.cursor() as cursor:
            for sql in db.remove_sql(connection.vendor, table):
                cursor.execute(sql)
        report = audit_verify()
        assert not report.ok
        problems = report.cross_checks["database guards"]
        assert problems and all(table in problem for problem in problems)
        assert report.problem.startswith("database guards: the database guard " + table)
        transaction.set_rollback(True)
    assert audit_verify().ok


def test_verify_names_a_disabled_or_dropped_insert_guard(many_events):
    many_events(3)
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_extends_head")
            cursor.execute("DROP TRIGGER audit_auditcheckpoint_within_trail"
                           + (" ON audit_auditcheckpoint" if connection.vendor == "postgresql" else ""))
        problems = audit_verify().cross_checks["database guards"]
        expected = ["the database guard audit_auditcheckpoint_within_trail is missing or disabled"]
        if connection.vendor == "postgresql":
            expected.insert(0, "the database guard audit_auditevent_extends_head is missing or disabled")
        assert problems == expected
        transaction.set_rollback(True)
    assert missing_guards() == []

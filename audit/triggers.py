"""The audit tables' database triggers (installed with consentsvc.db.append_only in 0002).

``suspended()`` takes them off inside one transaction and puts them back at its
end (a rollback puts them back too). Only tamper tests use it: with the triggers
off, audit_verify must still find every change.
"""

from contextlib import contextmanager

from django.db import connections, transaction

from consentsvc import db

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint")


@contextmanager
def suspended(using: str = "default"):
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            for table in AUDIT_TABLES:
                for sql in db.remove_sql(connection.vendor, table):
                    cursor.execute(sql)
        yield
        with connection.cursor() as cursor:
            for table in AUDIT_TABLES:
                for sql in db.install_sql(connection.vendor, table):
                    cursor.execute(sql)

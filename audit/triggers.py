"""The audit tables' database triggers.

consentsvc.db.append_only (migration 0002) refuses UPDATE and DELETE (and TRUNCATE on
PostgreSQL). The INSERT guards here (migration 0004) refuse a row that does not extend the
head: an event must take the next seq and link to the hash of the event before it, and a
checkpoint cannot claim more events than the trail holds. So even with the database's
credentials, rows cannot be slipped in beyond or between the service's own; rows written with
the guards dropped are still caught by their MACs (audit.keys) and reported by audit_verify.

``suspended()`` takes every trigger off inside one transaction and puts them back at its end
(a rollback puts them back too). Only tamper tests use it, as a database owner would.
"""

from contextlib import contextmanager

from django.db import connections, transaction

from consentsvc import db

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint", "audit_audittile", "audit_auditcosignature")

_SQLITE_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS audit_auditevent_extends_head BEFORE INSERT ON audit_auditevent "
    "WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_auditevent), 0) + 1 "
    "OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_auditevent WHERE seq = NEW.seq - 1), "
    "printf('%064d', 0)) "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent: an INSERT must extend the head (next seq, linked to the last "
    "hash)'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_auditcheckpoint_within_trail BEFORE INSERT ON audit_auditcheckpoint "
    "WHEN NEW.tree_size < 1 OR NEW.tree_size > COALESCE((SELECT MAX(seq) FROM audit_auditevent), 0) "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditcheckpoint: a checkpoint cannot claim events the trail does not "
    "hold'); END",
]
_SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_extends_head",
    "DROP TRIGGER IF EXISTS audit_auditcheckpoint_within_trail",
]

_PG_GUARDS = [
    # Once per statement, over the rows it inserted (a transition table): a COPY of a thousand
    # events costs two index probes and one join, not a plpgsql call per row.
    """
CREATE OR REPLACE FUNCTION audit_event_extends_head() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    first_new bigint;
    last_new bigint;
    inserted bigint;
BEGIN
    SELECT min(seq), max(seq), count(*) INTO first_new, last_new, inserted FROM new_rows;
    IF inserted = 0 THEN
        RETURN NULL;
    END IF;
    IF last_new - first_new + 1 <> inserted
       OR first_new <> COALESCE((SELECT max(seq) FROM audit_auditevent WHERE seq < first_new), 0) + 1
       OR EXISTS (SELECT 1 FROM audit_auditevent WHERE seq > last_new)
       OR EXISTS (SELECT 1 FROM new_rows n LEFT JOIN audit_auditevent p ON p.seq = n.seq - 1
                  WHERE n.prev_hash IS DISTINCT FROM COALESCE(p.hash, CASE WHEN n.seq = 1 THEN repeat('0', 64) END))
    THEN
        RAISE EXCEPTION 'audit_auditevent: an INSERT must extend the head (next seq, linked to the last hash)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
""",
    """
CREATE OR REPLACE FUNCTION audit_checkpoint_within_trail() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NEW.tree_size < 1 OR NEW.tree_size > COALESCE((SELECT max(seq) FROM audit_auditevent), 0) THEN
        RAISE EXCEPTION 'audit_auditcheckpoint: a checkpoint cannot claim events the trail does not hold'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
""",
    "DROP TRIGGER IF EXISTS audit_auditevent_extends_head ON audit_auditevent",
    "CREATE TRIGGER audit_auditevent_extends_head AFTER INSERT ON audit_auditevent "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_event_extends_head()",
    "ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_auditevent_extends_head",
    "DROP TRIGGER IF EXISTS audit_auditcheckpoint_within_trail ON audit_auditcheckpoint",
    "CREATE TRIGGER audit_auditcheckpoint_within_trail BEFORE INSERT ON audit_auditcheckpoint "
    "FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_within_trail()",
    "ALTER TABLE audit_auditcheckpoint ENABLE ALWAYS TRIGGER audit_auditcheckpoint_within_trail",
]
_PG_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_extends_head ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_auditcheckpoint_within_trail ON audit_auditcheckpoint",
]


def insert_guard_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(_SQLITE_GUARDS)
    if vendor == "postgresql":
        return list(_PG_GUARDS)
    raise NotImplementedError(f"audit INSERT guards are not written for {vendor}")


def remove_insert_guard_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(_SQLITE_REMOVE)
    if vendor == "postgresql":
        return list(_PG_REMOVE)
    raise NotImplementedError(vendor)


def install_insert_guards(apps, schema_editor):
    for statement in insert_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def remove_insert_guards(apps, schema_editor):
    for statement in remove_insert_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


@contextmanager
def suspended(using: str = "default"):
    connection = connections[using]
    vendor = connection.vendor
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            for table in AUDIT_TABLES:
                for sql in db.remove_sql(vendor, table):
                    cursor.execute(sql)
            for sql in remove_insert_guard_sql(vendor):
                cursor.execute(sql)
        yield
        with connection.cursor() as cursor:
            for table in AUDIT_TABLES:
                for sql in db.install_sql(vendor, table):
                    cursor.execute(sql)
            for sql in insert_guard_sql(vendor):
                cursor.execute(sql)

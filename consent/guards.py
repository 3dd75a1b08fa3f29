"""The consent tables' database guards, and the check that they are in place.

The ledger is append-only (core.db.append_only). The state row of a holder and purpose is
written by the ledger's own trigger (consent_state_follows_ledger, migration 0005), which moves
it onto each new entry. Its guard refuses every other write, even by raw SQL: a DELETE (and a
TRUNCATE on PostgreSQL), and an INSERT or UPDATE that leaves the row anywhere but on the newest
ledger entry for its holder and purpose, with that entry's fields. The ledger's trigger only ever
writes such rows, so the guard cannot tell it apart from another writer that does, and need not:
that row is the one the ledger's trigger would have written.

What the service acts on is decided from the audit trail (consent.binding); these guards keep
the index honest against casual tampering, and audit_verify fails when one is missing or
disabled (the "consent guards" cross-check).
"""

from django.db import connections

from core import db

LEDGER = "consent_consententry"
STATE = "consent_consentstate"
FOLLOW_TRIGGER = "consent_state_follows_ledger"
_MESSAGE = "consent_consentstate follows the ledger: only the ledger trigger writes it"

# The row names a ledger entry of its own holder and purpose, that entry is the newest of them,
# and every field is the entry's.
_SQLITE_MIRRORS_NEWEST = (
    "EXISTS (SELECT 1 FROM consent_consententry e WHERE e.id = NEW.entry_id"
    " AND e.subject_id = NEW.subject_id AND e.purpose = NEW.purpose AND e.event = NEW.event"
    " AND e.notice_id = NEW.notice_id AND e.notice_version = NEW.notice_version AND e.created_at = NEW.since"
    " AND e.event_id IS NEW.event_id"
    " AND NOT EXISTS (SELECT 1 FROM consent_consententry later WHERE later.subject_id = NEW.subject_id"
    " AND later.purpose = NEW.purpose AND later.id > e.id))"
)

SQLITE_NAMES = [f"{STATE}_insert_follows", f"{STATE}_update_follows", f"{STATE}_no_delete"]
PG_NAMES = [f"{STATE}_follows_ledger_only", f"{STATE}_no_delete", f"{STATE}_no_truncate"]

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS {STATE}_insert_follows BEFORE INSERT ON {STATE} "
    f"WHEN NOT {_SQLITE_MIRRORS_NEWEST} BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: INSERT refused'); END",
    f"CREATE TRIGGER IF NOT EXISTS {STATE}_update_follows BEFORE UPDATE ON {STATE} "
    f"WHEN NEW.id IS NOT OLD.id OR NOT {_SQLITE_MIRRORS_NEWEST} "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE refused'); END",
    f"CREATE TRIGGER IF NOT EXISTS {STATE}_no_delete BEFORE DELETE ON {STATE} "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE refused'); END",
]

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION consent_state_follows_ledger_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'consent_consentstate follows the ledger: only the ledger trigger writes it: % refused',
            TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) OR NOT EXISTS (
        SELECT 1 FROM consent_consententry e WHERE e.id = NEW.entry_id
            AND e.subject_id = NEW.subject_id AND e.purpose = NEW.purpose AND e.event = NEW.event
            AND e.notice_id = NEW.notice_id AND e.notice_version = NEW.notice_version AND e.created_at = NEW.since
            AND e.event_id IS NOT DISTINCT FROM NEW.event_id
            AND NOT EXISTS (SELECT 1 FROM consent_consententry later WHERE later.subject_id = NEW.subject_id
                            AND later.purpose = NEW.purpose AND later.id > e.id))
    THEN
        RAISE EXCEPTION 'consent_consentstate follows the ledger: only the ledger trigger writes it: % refused',
            TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
"""

_PG = [
    _PG_FUNCTION,
    f"DROP TRIGGER IF EXISTS {STATE}_follows_ledger_only ON {STATE}",
    f"CREATE TRIGGER {STATE}_follows_ledger_only BEFORE INSERT OR UPDATE ON {STATE} "
    "FOR EACH ROW EXECUTE FUNCTION consent_state_follows_ledger_only()",
    f"DROP TRIGGER IF EXISTS {STATE}_no_delete ON {STATE}",
    f"CREATE TRIGGER {STATE}_no_delete BEFORE DELETE ON {STATE} "
    "FOR EACH ROW EXECUTE FUNCTION consent_state_follows_ledger_only()",
    f"DROP TRIGGER IF EXISTS {STATE}_no_truncate ON {STATE}",
    f"CREATE TRIGGER {STATE}_no_truncate BEFORE TRUNCATE ON {STATE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION consent_state_follows_ledger_only()",
    *(f"ALTER TABLE {STATE} ENABLE ALWAYS TRIGGER {name}" for name in PG_NAMES),
]


def state_guard_names(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(SQLITE_NAMES)
    if vendor == "postgresql":
        return list(PG_NAMES)
    raise NotImplementedError(f"the consent state's guard is not written for {vendor}")


def state_guard_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(_SQLITE)
    if vendor == "postgresql":
        return list(_PG)
    raise NotImplementedError(f"the consent state's guard is not written for {vendor}")


def remove_state_guard_sql(vendor: str) -> list[str]:
    on = f" ON {STATE}" if vendor == "postgresql" else ""
    return [f"DROP TRIGGER IF EXISTS {name}{on}" for name in state_guard_names(vendor)]


def install_state_guard(apps, schema_editor):
    for statement in state_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)  # the SQL holds literal % signs


def remove_state_guard(apps, schema_editor):
    for statement in remove_state_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def missing_guards(using: str = "default") -> list[str]:
    """The consent tables' database guards that are not in place, one message each: the ledger's
    append-only triggers, the trigger that moves the state row with it, and the state row's guard.
    audit_verify fails then (registered as a cross-check in ConsentConfig.ready)."""
    connection = connections[using]
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        return [f"no database guards are written for {vendor}"]
    expected = [*db.trigger_names(vendor, LEDGER), FOLLOW_TRIGGER, *state_guard_names(vendor)]
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'")
        present = {row[0] for row in cursor.fetchall()}
    return [f"the database guard {name} is missing or disabled" for name in expected if name not in present]

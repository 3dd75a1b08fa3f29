"""The audit tables' database triggers.

core.db.append_only (migration 0002) refuses UPDATE and DELETE (and TRUNCATE on
PostgreSQL). The INSERT guards here refuse a row that does not extend the head: an event must
take the next seq and link to the hash of the event before it, and a checkpoint cannot claim
more events than the trail holds. So even with the database's credentials, rows cannot be
slipped in beyond or between the service's own; rows written with the guards dropped are still
caught by their MACs (audit.keys) and reported by audit_verify.

How the events' guard is built:
- PostgreSQL: a trigger once per statement, over the rows it inserted (migration 0009).
- SQLite: the table's own link key (migration 0010). Each row's (seq - 1, prev_hash) is a
  foreign key to (seq, hash), through a virtual generated column, and seq 1 must link to the
  genesis hash: a row whose predecessor is missing, or whose link is not its predecessor's hash,
  is refused, and seq is unique, so the only row that gets in is the next one, linked to the last
  hash. A row trigger did the same before; invoking any row trigger costs SQLite about 11 us for
  this row shape, the key about 1.5 (bench/sqlite_guard_bench.py).

``suspended()`` takes every trigger off inside one transaction and puts them back at its end
(a rollback puts them back too); on SQLite it defers the link key to the commit (a pragma cannot
turn foreign keys off inside a transaction), so tamper tests forge rows in a transaction that is
rolled back, as the test suite's are. Only tamper tests use it, as a database owner would.
"""

from contextlib import contextmanager

from django.db import connections, transaction

from core import db

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint", "audit_audittile", "audit_auditcosignature",
                "audit_auditsetaside", "audit_holderlogentry", "audit_holderlogtile", "audit_holdercheckpoint")

# The events' row guard on SQLite until migration 0010 (which replaces it with the link key below);
# its reverse puts it back.
SQLITE_ROW_GUARD = (
    "CREATE TRIGGER IF NOT EXISTS audit_auditevent_extends_head BEFORE INSERT ON audit_auditevent "
    "WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_auditevent), 0) + 1 "
    "OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_auditevent WHERE seq = NEW.seq - 1), "
    "printf('%064d', 0)) "
    "BEGIN SELECT RAISE(ABORT, 'audit_auditevent: an INSERT must extend the head (next seq, linked to the last "
    "hash)'); END"
)
_SQLITE_GUARDS = [
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


# SQLite: the events table's link key (see the module docstring), appended to its column list.
SQLITE_LINK_INDEX = "audit_event_seq_hash"
SQLITE_LINK_KEY = (
    ', "prev_seq" bigint GENERATED ALWAYS AS (CASE WHEN "seq" > 1 THEN "seq" - 1 END) VIRTUAL'
    ', CONSTRAINT "audit_event_links_to_the_event_before" FOREIGN KEY ("prev_seq", "prev_hash") '
    'REFERENCES "audit_auditevent" ("seq", "hash")'
    ', CONSTRAINT "audit_event_extends_head" CHECK ("seq" > 1 OR ("seq" = 1 AND "prev_hash" = '
    "'0000000000000000000000000000000000000000000000000000000000000000'))"
)


def without_link_key(table_sql: str) -> str:
    """The events table's CREATE TABLE without the link key (as it was before migration 0010)."""
    return table_sql.replace(SQLITE_LINK_KEY, "")


def _rebuild_sqlite_events(schema_editor, *, link: bool) -> None:
    """Rebuilds audit_auditevent with (link=True) or without its link key, keeping every row, index
    and trigger. Runs in a migration, where Django's SQLite schema editor has foreign keys off."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_auditevent'")
        table_sql = without_link_key(cursor.fetchone()[0])
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_auditevent' "
                       "AND sql IS NOT NULL AND name != %s", [SQLITE_LINK_INDEX])
        # The link key's own indexes come back with it, not without it.
        indexes = [sql for name, sql in cursor.fetchall() if name != SQLITE_LINK_CHILD_INDEX_NAME]
        # The stored columns, as the table has them (a generated column, hidden 2 or 3, is computed).
        cursor.execute('PRAGMA table_xinfo("audit_auditevent")')
        columns = ", ".join(f'"{row[1]}"' for row in cursor.fetchall() if row[6] == 0)
        head, rest = table_sql.split("(", 1)
        if not (rest.endswith(")") and head.strip() == 'CREATE TABLE "audit_auditevent"'):
            raise RuntimeError(f"audit_auditevent's schema is not the one expected: {table_sql[:120]}")
        new_sql = 'CREATE TABLE "audit_auditevent__new" (' + rest[:-1] + (SQLITE_LINK_KEY if link else "") + ")"
        for sql in [*remove_insert_guard_sql("sqlite"), *db.remove_sql("sqlite", "audit_auditevent")]:
            cursor.execute(sql)
        cursor.execute(new_sql)
        cursor.execute(f'INSERT INTO "audit_auditevent__new" ({columns}) '  # noqa: S608 (constants)
                       f'SELECT {columns} FROM "audit_auditevent" ORDER BY "seq"')
        cursor.execute('DROP TABLE "audit_auditevent"')
        cursor.execute('ALTER TABLE "audit_auditevent__new" RENAME TO "audit_auditevent"')
        for sql in indexes:
            cursor.execute(sql)
        if link:
            cursor.execute(f'CREATE UNIQUE INDEX "{SQLITE_LINK_INDEX}" ON "audit_auditevent" ("seq", "hash")')
            cursor.execute(SQLITE_LINK_CHILD_INDEX)
        for sql in [*db.install_sql("sqlite", "audit_auditevent"), *insert_guard_sql("sqlite")]:
            cursor.execute(sql)
        if not link:
            cursor.execute(SQLITE_ROW_GUARD)


def install_link_key(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _rebuild_sqlite_events(schema_editor, link=True)


def remove_link_key(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _rebuild_sqlite_events(schema_editor, link=False)


def install_insert_guards(apps, schema_editor):
    for statement in insert_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def remove_insert_guards(apps, schema_editor):
    for statement in remove_insert_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def missing_guards(using: str = "default") -> list[str]:
    """The audit tables' database guards that are not in place, one message each: the append-only
    triggers, the INSERT guards (on SQLite the events' link key), enabled. A database owner may have
    dropped or disabled one, or a schema change rebuilt a table without it; audit_verify fails then
    (registered as a cross-check in audit.apps)."""
    connection = connections[using]
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        return [f"no database guards are written for {vendor}"]
    expected = [name for table in AUDIT_TABLES for name in db.trigger_names(vendor, table)]
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                           "OR (type = 'table' AND name = 'audit_audittailrewind')")
            present = {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_auditevent'")
            row = cursor.fetchone()
            problems = [] if row and SQLITE_LINK_KEY in row[0] else [
                "audit_auditevent has lost its link key, the INSERT guard that makes every row extend the head"]
        else:
            expected.append("audit_auditevent_extends_head")
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' UNION ALL "
                           "SELECT 'audit_audittailrewind' WHERE to_regclass('audit_audittailrewind') IS NOT NULL")
            present = {row[0] for row in cursor.fetchall()}
            problems = []
    expected.append("audit_auditcheckpoint_within_trail")
    # Without it a holder log's head would grow with no entries (audit_verify --holder-logs names that too).
    expected += (["audit_holderlog_appends_insert", "audit_holderlog_appends_update"] if vendor == "sqlite"
                 else ["audit_holderlog_appends"])
    return problems + [f"the database guard {name} is missing or disabled" for name in expected
                       if name not in present] + (open_rewinds(using) if "audit_audittailrewind" in present else [])


@contextmanager
def suspended(using: str = "default"):
    connection = connections[using]
    vendor = connection.vendor
    try:
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                if vendor == "sqlite":
                    # The link key's foreign key is checked at the commit (until the transaction
                    # ends), and its CHECK not at all while suspended. Rows forged here fail the
                    # foreign key check: the transaction must be rolled back, not committed, and the
                    # test suite's end-of-test constraint check leaves it alone (tests/conftest.py).
                    cursor.execute("PRAGMA defer_foreign_keys = ON")
                    cursor.execute("PRAGMA ignore_check_constraints = ON")
                    connection.audit_link_deferred = True
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
                for sql in rewind_guard_sql(vendor):
                    cursor.execute(sql)
                for sql in insert_guard_sql(vendor):
                    cursor.execute(sql)
    finally:
        if vendor == "sqlite":  # a connection setting, which a rollback does not reset
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")


# Holder logs (docs/holder-log.md): integration's upsert of a holder log's head names, in
# `appended`, the global seqs it appends; the database writes them as that log's last entries
# (indexes size - n .. size - 1), in the upsert's own statement. So a pass costs one statement for
# the heads and their entries (audit.holder_logs.integrate).
_SQLITE_HOLDER_APPENDS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_holderlog_appends_{when.split()[0].lower()} AFTER {when} ON audit_holderlog "  # noqa: S608 (constants)
    "WHEN NEW.appended <> '' BEGIN "
    'INSERT INTO audit_holderlogentry (subject_id, "index", seq) '
    "SELECT NEW.subject_id, NEW.size - json_array_length(NEW.appended) + key, value FROM json_each(NEW.appended); "
    "END"
    for when in ("INSERT", "UPDATE OF appended")
]
_PG_HOLDER_APPENDS = [
    """
CREATE OR REPLACE FUNCTION audit_holderlog_appends() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO audit_holderlogentry (subject_id, "index", seq)
    SELECT NEW.subject_id, NEW.size - jsonb_array_length(NEW.appended::jsonb) + a.ord - 1, a.seq::bigint
    FROM jsonb_array_elements_text(NEW.appended::jsonb) WITH ORDINALITY AS a(seq, ord);
    RETURN NULL;
END
$$;
""",
    "DROP TRIGGER IF EXISTS audit_holderlog_appends ON audit_holderlog",
    "CREATE TRIGGER audit_holderlog_appends AFTER INSERT OR UPDATE OF appended ON audit_holderlog "
    "FOR EACH ROW WHEN (NEW.appended <> '') EXECUTE FUNCTION audit_holderlog_appends()",
    "ALTER TABLE audit_holderlog ENABLE ALWAYS TRIGGER audit_holderlog_appends",
]


def install_holder_appends(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": _SQLITE_HOLDER_APPENDS, "postgresql": _PG_HOLDER_APPENDS}[vendor]:
        schema_editor.execute(statement, params=None)


def remove_holder_appends(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        statements = ["DROP TRIGGER IF EXISTS audit_holderlog_appends_insert",
                      "DROP TRIGGER IF EXISTS audit_holderlog_appends_update"]
    else:
        statements = ["DROP TRIGGER IF EXISTS audit_holderlog_appends ON audit_holderlog",
                      "DROP FUNCTION IF EXISTS audit_holderlog_appends()"]
    for statement in statements:
        schema_editor.execute(statement, params=None)


# The integration step's one write of the heads (audit.outbox.write_heads): a row with no subject_id
# is the global head (audit_audithead), every other row a holder log's head, upserted (its
# `appended` then writes its entries, above). A view that holds nothing, written through a trigger,
# so that the global head and the holder logs' heads move in one statement on both databases.
_HEADS_VIEW = "audit_headwrite"
_SQLITE_HEADS_VIEW = (
    f"CREATE VIEW IF NOT EXISTS {_HEADS_VIEW} (subject_id, log_id, size, compact_range, appended, last_hash) AS "
    "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE 0"
)
# Two triggers, each with its WHEN (since migration 0019): SQLite runs for each row only the statement
# that row is for. One trigger with both statements, each filtered in its WHERE (migration 0015's), ran
# both for every row: about 20 % more CPU per holder row (7.1 against 8.8 µs, 1,000 holders a transaction).
_SQLITE_HEADS_WRITE = [
    _SQLITE_HEADS_VIEW,
    f"CREATE TRIGGER IF NOT EXISTS {_HEADS_VIEW}_head INSTEAD OF INSERT ON {_HEADS_VIEW} "  # noqa: S608 (constants)
    "WHEN NEW.subject_id IS NULL BEGIN "
    "UPDATE audit_audithead SET size = NEW.size, last_hash = NEW.last_hash, compact_range = NEW.compact_range "
    "WHERE id = 1; "
    "END",
    f"CREATE TRIGGER IF NOT EXISTS {_HEADS_VIEW}_holder INSTEAD OF INSERT ON {_HEADS_VIEW} "  # noqa: S608 (constants)
    "WHEN NEW.subject_id IS NOT NULL BEGIN "
    "INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size, appended) "
    "VALUES (NEW.subject_id, NEW.log_id, NEW.size, NEW.compact_range, 0, NEW.appended) "
    "ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, compact_range = excluded.compact_range, "
    "appended = excluded.appended; "
    "END",
]
_SQLITE_HEADS_WRITE_0015 = [
    _SQLITE_HEADS_VIEW,
    f"CREATE TRIGGER IF NOT EXISTS {_HEADS_VIEW}_insert INSTEAD OF INSERT ON {_HEADS_VIEW} BEGIN "  # noqa: S608 (constants)
    "UPDATE audit_audithead SET size = NEW.size, last_hash = NEW.last_hash, compact_range = NEW.compact_range "
    "WHERE id = 1 AND NEW.subject_id IS NULL; "
    "INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size, appended) "
    "SELECT NEW.subject_id, NEW.log_id, NEW.size, NEW.compact_range, 0, NEW.appended "
    "WHERE NEW.subject_id IS NOT NULL "
    "ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, compact_range = excluded.compact_range, "
    "appended = excluded.appended; "
    "END",
]
_PG_HEADS_WRITE = [
    f"CREATE OR REPLACE VIEW {_HEADS_VIEW} AS SELECT NULL::bigint AS subject_id, NULL::varchar(32) AS log_id, "
    "NULL::bigint AS size, NULL::bytea AS compact_range, NULL::text AS appended, NULL::varchar(64) AS last_hash "
    "WHERE false",
    """
CREATE OR REPLACE FUNCTION audit_headwrite() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NEW.subject_id IS NULL THEN
        UPDATE audit_audithead SET size = NEW.size, last_hash = NEW.last_hash, compact_range = NEW.compact_range
        WHERE id = 1;
    ELSE
        INSERT INTO audit_holderlog (subject_id, log_id, size, compact_range, signed_size, appended)
        VALUES (NEW.subject_id, NEW.log_id, NEW.size, NEW.compact_range, 0, NEW.appended)
        ON CONFLICT (subject_id) DO UPDATE SET size = excluded.size, compact_range = excluded.compact_range,
            appended = excluded.appended;
    END IF;
    RETURN NEW;
END
$$;
""",
    f"DROP TRIGGER IF EXISTS {_HEADS_VIEW}_insert ON {_HEADS_VIEW}",
    f"CREATE TRIGGER {_HEADS_VIEW}_insert INSTEAD OF INSERT ON {_HEADS_VIEW} FOR EACH ROW "
    "EXECUTE FUNCTION audit_headwrite()",
]


def install_heads_write(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": _SQLITE_HEADS_WRITE, "postgresql": _PG_HEADS_WRITE}[vendor]:
        schema_editor.execute(statement, params=None)


def split_heads_write(apps, schema_editor):
    """Migration 0019: SQLite's heads write as two triggers, one per kind of row."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_HEADS_VIEW}_insert", params=None)
        for statement in _SQLITE_HEADS_WRITE:
            schema_editor.execute(statement, params=None)


def join_heads_write(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for name in ("head", "holder"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_HEADS_VIEW}_{name}", params=None)
        for statement in _SQLITE_HEADS_WRITE_0015:
            schema_editor.execute(statement, params=None)


def remove_heads_write(apps, schema_editor):
    statements = [f"DROP VIEW IF EXISTS {_HEADS_VIEW}"]  # its trigger goes with it
    if schema_editor.connection.vendor == "postgresql":
        statements.append("DROP FUNCTION IF EXISTS audit_headwrite()")
    for statement in statements:
        schema_editor.execute(statement, params=None)


# -- the tail rewind (audit.rewind, docs/auditors.md) ----------------------------------------------------
# The one way rows of the trail are ever deleted: before it signs, the checkpointer rewinds the unsigned
# tail (positions past the latest signed checkpoint) to drop entries it did not write. The DELETE guard of
# the four tables that hold positions lets a row go only while a rewind is open (a row in
# audit_audittailrewind, written and removed inside the checkpointer's transaction) AND only when the row
# lies wholly past the latest signed checkpoint. Under a signed checkpoint nothing is ever deleted,
# rewind or not; UPDATE stays refused everywhere. A marker left behind is named by missing_guards.

REWIND_TABLES = ("audit_auditevent", "audit_audittile", "audit_holderlogentry", "audit_holderlogtile")
_SIGNED = "(SELECT COALESCE(MAX(tree_size), 0) FROM audit_auditcheckpoint)"
# A full tile (level L, index N) covers leaves [N * 256^(L+1), (N + 1) * 256^(L+1)): its end.
_TILE_END = '(OLD."index" + 1) * (1 << (8 * (OLD.level + 1)))'
_HOLDER_SIGNED = f"(SELECT COUNT(*) FROM audit_holderlogentry WHERE subject_id = OLD.subject_id AND seq <= {_SIGNED})"  # noqa: S608 (constants)
_PAST_SIGNED = {
    "audit_auditevent": f"OLD.seq > {_SIGNED}",
    "audit_holderlogentry": f"OLD.seq > {_SIGNED}",
    "audit_audittile": f"OLD.level < 6 AND {_TILE_END} > {_SIGNED}",
    "audit_holderlogtile": f"OLD.level < 6 AND {_TILE_END} > {_HOLDER_SIGNED}",
}


def _sqlite_rewind_guard(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "  # noqa: S608 (constants)
        f"WHEN NOT (EXISTS (SELECT 1 FROM audit_audittailrewind) AND {_PAST_SIGNED[table]}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


_PG_REWIND_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_refuse_change_under_signed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each table's condition in a branch of its own: OLD has only that table's columns.
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_audittailrewind) THEN
        IF TG_TABLE_NAME IN ('audit_auditevent', 'audit_holderlogentry') THEN
            IF {_PAST_SIGNED["audit_auditevent"]} THEN
                RETURN OLD;
            END IF;
        ELSIF TG_TABLE_NAME = 'audit_audittile' THEN
            IF {_PAST_SIGNED["audit_audittile"].replace("(1 <<", "(1::bigint <<")} THEN
                RETURN OLD;
            END IF;
        ELSIF TG_TABLE_NAME = 'audit_holderlogtile' THEN
            IF {_PAST_SIGNED["audit_holderlogtile"].replace("(1 <<", "(1::bigint <<")} THEN
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
"""  # noqa: S608 (constants)


def rewind_guard_sql(vendor: str) -> list[str]:
    """The DELETE guards of REWIND_TABLES that let a tail rewind through (and nothing else), under the
    names of the append-only triggers they replace (core.db), so missing_guards keeps checking them."""
    if vendor == "sqlite":
        return [sql for table in REWIND_TABLES for sql in _sqlite_rewind_guard(table)]
    if vendor == "postgresql":
        return [_PG_REWIND_FUNCTION] + [
            sql for table in REWIND_TABLES for sql in (
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change_under_signed()",
                f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only",
            )]
    raise NotImplementedError(vendor)


# SQLite: deleting an event looks for the rows whose link key names it (the row after it). Without an
# index on the key's generated column that is a scan of the table per deleted row, and a rewind of T
# rows in a trail of N costs T * N; with it, T index probes. (PostgreSQL's guard is a trigger.)
SQLITE_LINK_CHILD_INDEX_NAME = "audit_event_prev_seq"
SQLITE_LINK_CHILD_INDEX = f"CREATE INDEX IF NOT EXISTS {SQLITE_LINK_CHILD_INDEX_NAME} ON audit_auditevent (prev_seq)"


def install_link_child_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_LINK_CHILD_INDEX, params=None)


def remove_link_child_index(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP INDEX IF EXISTS {SQLITE_LINK_CHILD_INDEX_NAME}", params=None)


def install_rewind_guards(apps, schema_editor):
    for statement in rewind_guard_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def remove_rewind_guards(apps, schema_editor):
    """Back to the plain append-only guards of core.db on those tables."""
    vendor = schema_editor.connection.vendor
    for table in REWIND_TABLES:
        for statement in [*db.remove_sql(vendor, table), *db.install_sql(vendor, table)]:
            schema_editor.execute(statement, params=None)
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change_under_signed()", params=None)


def open_rewinds(using: str = "default") -> list[str]:
    """A tail rewind marker outside a checkpointer's transaction: someone opened the door and left it open."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM audit_audittailrewind")
        left = cursor.fetchone()[0]
    return [f"audit_audittailrewind holds {left} row(s): a tail rewind was opened outside a checkpoint"] if left else []


# SQLite, migration 0018: what a single append writes besides the row itself. The link key's child
# index (migration 0017) cost every append one more B-tree insert and one more page in its commit;
# only the tail rewind's deletes use it, so the rewind builds it for its deletes and drops it again,
# in its own transaction (audit.rewind). And a holder log's entries are a table keyed by (holder,
# index) with a separate rowid: WITHOUT ROWID it is one B-tree, so an append about a holder writes
# one page fewer.
def drop_link_child_index(apps, schema_editor):
    remove_link_child_index(apps, schema_editor)


def _rebuild_sqlite_table(cursor, table: str, *, without_rowid: bool) -> None:
    """Rebuilds `table` with or without a rowid, keeping its rows, its indexes and every trigger that
    names it (its own guards, and those of other tables that write to it). Foreign keys are off in a
    migration on SQLite (Django's schema editor)."""
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
    table_sql = cursor.fetchone()[0].rstrip()
    body = table_sql.removesuffix(" WITHOUT ROWID")
    if not body.startswith(f'CREATE TABLE "{table}" (') or not body.endswith(")"):
        raise RuntimeError(f"{table}'s schema is not the one expected: {table_sql[:120]}")
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", [table])
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND (tbl_name = %s OR sql LIKE %s)",
                   [table, f"%{table}%"])
    triggers = cursor.fetchall()
    for name, _ in triggers:
        cursor.execute(f'DROP TRIGGER "{name}"')
    rowid = " WITHOUT ROWID" if without_rowid else ""
    cursor.execute(f'CREATE TABLE "{table}__new" (' + body.split("(", 1)[1] + rowid)
    cursor.execute(f'INSERT INTO "{table}__new" SELECT * FROM "{table}"')  # noqa: S608 (a constant)
    cursor.execute(f'DROP TABLE "{table}"')
    cursor.execute(f'ALTER TABLE "{table}__new" RENAME TO "{table}"')
    for sql in [*indexes, *(sql for _, sql in triggers)]:
        cursor.execute(sql)


def holder_entries_without_rowid(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            _rebuild_sqlite_table(cursor, "audit_holderlogentry", without_rowid=True)


def holder_entries_with_rowid(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            _rebuild_sqlite_table(cursor, "audit_holderlogentry", without_rowid=False)


# PostgreSQL, migration 0020: every integration rewrites the head row of each holder log it touches.
# At the default fillfactor (100) a page of audit_holderlog has no room for the new version, so most
# updates went to another page and added an entry to both its indexes (about a third were HOT in a
# 1,000-holder run); with half of each page left free nearly all are HOT (97 %), and the server's
# CPU per batched append fell by about 7 of the 19 µs the holder logs add.
HOLDER_LOG_FILLFACTOR = 50


def holder_heads_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE audit_holderlog SET (fillfactor = {HOLDER_LOG_FILLFACTOR})", params=None)


def holder_heads_default_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_holderlog RESET (fillfactor)", params=None)

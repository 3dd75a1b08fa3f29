"""Append-only tables: database triggers that refuse UPDATE, DELETE and TRUNCATE.

The ORM refuses too (see the models), but the triggers hold against raw SQL.
Migrations call `append_only(table)`, which installs them on SQLite and
PostgreSQL. `ENABLE ALWAYS` keeps PostgreSQL's triggers firing even for
sessions in replica mode.
"""

from django.db import migrations

APPEND_ONLY_TABLES: list[str] = []

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION consentsvc_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def install_sql(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
        ]
    if vendor == "postgresql":
        return [
            _PG_FUNCTION,
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION consentsvc_refuse_change()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION consentsvc_refuse_change()",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
        ]
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def trigger_names(vendor: str, table: str) -> list[str]:
    """The names of the triggers install_sql puts on `table`."""
    if vendor == "sqlite":
        return [f"{table}_no_update", f"{table}_no_delete"]
    if vendor == "postgresql":
        return [f"{table}_append_only", f"{table}_no_truncate"]
    raise NotImplementedError(vendor)


def remove_sql(vendor: str, table: str) -> list[str]:
    on = f" ON {table}" if vendor == "postgresql" else ""
    return [f"DROP TRIGGER IF EXISTS {name}{on}" for name in trigger_names(vendor, table)]


def append_only(table: str) -> migrations.RunPython:
    """A migration operation that makes `table` append-only in the database."""
    if table not in APPEND_ONLY_TABLES:
        APPEND_ONLY_TABLES.append(table)

    def forwards(apps, schema_editor):
        for statement in install_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)  # the SQL holds literal % signs

    def backwards(apps, schema_editor):
        for statement in remove_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)  # the SQL holds literal % signs

    return migrations.RunPython(forwards, backwards, elidable=False)

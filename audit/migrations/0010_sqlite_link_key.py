from django.db import migrations

from audit.triggers import install_link_key, remove_link_key


class Migration(migrations.Migration):
    """SQLite: the events' INSERT guard becomes the table's link key instead of a row trigger (see
    audit.triggers); the table is rebuilt with every row, index and trigger. PostgreSQL: nothing."""

    dependencies = [("audit", "0009_statement_insert_guard")]

    operations = [migrations.RunPython(install_link_key, remove_link_key, elidable=False)]

from django.db import migrations

from audit.triggers import (
    drop_link_child_index,
    holder_entries_with_rowid,
    holder_entries_without_rowid,
    install_link_child_index,
)


class Migration(migrations.Migration):
    """SQLite: fewer pages written per append (audit.triggers). The link key's child index goes: the
    tail rewind builds it for its own deletes and drops it (audit.rewind). The holder logs' entries
    become one B-tree (WITHOUT ROWID). Nothing on PostgreSQL."""

    dependencies = [
        ('audit', '0017_link_child_index'),
    ]

    operations = [
        migrations.RunPython(drop_link_child_index, install_link_child_index, elidable=False),
        migrations.RunPython(holder_entries_without_rowid, holder_entries_with_rowid, elidable=False),
    ]

from django.db import migrations

from audit.triggers import join_heads_write, split_heads_write


class Migration(migrations.Migration):
    """SQLite: the view audit_headwrite is written through two triggers, one for the global head's row
    and one for a holder log's, each with its WHEN, so each row runs only its own statement
    (audit.triggers). Nothing on PostgreSQL, whose integration writes the heads in one set-based
    statement."""

    dependencies = [
        ('audit', '0018_append_pages'),
    ]

    operations = [
        migrations.RunPython(split_heads_write, join_heads_write, elidable=False),
    ]

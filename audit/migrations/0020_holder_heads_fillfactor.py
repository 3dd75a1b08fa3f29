from django.db import migrations

from audit.triggers import holder_heads_default_fillfactor, holder_heads_fillfactor


class Migration(migrations.Migration):
    """PostgreSQL: audit_holderlog's pages keep half their room free, so that the update of a holder
    log's head, which every integration makes for each holder it touches, stays on its page (a HOT
    update, no index entries). Pages written before keep what they hold until their rows move.
    Nothing on SQLite."""

    dependencies = [
        ('audit', '0019_heads_write_split'),
    ]

    operations = [
        migrations.RunPython(holder_heads_fillfactor, holder_heads_default_fillfactor, elidable=False),
    ]

from django.db import migrations

from audit.triggers import install_insert_guards, remove_insert_guards


class Migration(migrations.Migration):
    """PostgreSQL: the INSERT guard checks each statement's rows at once (see audit.triggers)."""

    dependencies = [("audit", "0008_outbox")]

    operations = [migrations.RunPython(install_insert_guards, remove_insert_guards, elidable=False)]

from django.db import migrations

from audit.triggers import install_insert_guards, remove_insert_guards


class Migration(migrations.Migration):
    """Triggers that refuse an INSERT that does not extend the trail's head (see audit.triggers)."""

    dependencies = [("audit", "0004_audit_verification")]

    operations = [migrations.RunPython(install_insert_guards, remove_insert_guards, elidable=False)]

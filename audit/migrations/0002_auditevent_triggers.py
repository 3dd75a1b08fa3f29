from django.db import migrations

from core.db import append_only


class Migration(migrations.Migration):
    """Triggers that refuse UPDATE and DELETE (and TRUNCATE, ENABLE ALWAYS, on PostgreSQL)."""

    dependencies = [("audit", "0001_initial")]

    operations = [append_only("audit_auditevent"), append_only("audit_auditcheckpoint")]

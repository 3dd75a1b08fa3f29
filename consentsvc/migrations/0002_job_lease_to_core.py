from django.db import migrations


class Migration(migrations.Migration):
    """JobLease moves to core (core 0002): the table stays."""

    dependencies = [("consentsvc", "0001_job_lease"), ("core", "0002_job_lease")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="JobLease")],
                                            database_operations=[]),
    ]

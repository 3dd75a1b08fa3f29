from django.db import migrations, models


class Migration(migrations.Migration):
    """A job's lease row is written when the job is queued, so a job lost from the queue (queued,
    never started) is found by the same sweep as one whose worker died."""

    dependencies = [("core", "0002_job_lease")]

    operations = [
        migrations.AddField(
            model_name="joblease",
            name="queued_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    """A queued job's lease row keeps its task result id, so the sweep asks the tasks backend
    whether the job is still waiting in the queue before it counts it as lost."""

    dependencies = [("core", "0003_joblease_queued_at")]

    operations = [
        migrations.AddField(
            model_name="joblease",
            name="result_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]

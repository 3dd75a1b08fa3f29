from django.db import migrations, models


class Migration(migrations.Migration):
    """The job lease moves from consentsvc to core: the table stays (consentsvc 0001 made it);
    its kind now holds a job's path, so it is wider."""

    dependencies = [("core", "0001_account_lock"), ("consentsvc", "0001_job_lease")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="JobLease",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("kind", models.CharField(max_length=40)),
                        ("object_id", models.CharField(max_length=64)),
                        ("expires_at", models.DateTimeField(db_index=True)),
                        ("attempts", models.PositiveSmallIntegerField(default=1)),
                        ("held", models.BooleanField(default=True)),
                    ],
                    options={
                        "db_table": "consentsvc_job_lease",
                        "constraints": [models.UniqueConstraint(fields=("kind", "object_id"),
                                                                name="job_lease_one_per_job")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterField(model_name="joblease", name="kind", field=models.CharField(max_length=200)),
    ]

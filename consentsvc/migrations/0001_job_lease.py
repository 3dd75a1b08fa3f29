from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="JobLease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=40)),
                ("object_id", models.CharField(max_length=64)),
                ("expires_at", models.DateTimeField(db_index=True)),
                ("attempts", models.PositiveSmallIntegerField(default=1)),
                ("held", models.BooleanField(default=True)),
            ],
            options={"db_table": "consentsvc_job_lease"},
        ),
        migrations.AddConstraint(
            model_name="joblease",
            constraint=models.UniqueConstraint(fields=("kind", "object_id"), name="job_lease_one_per_job"),
        ),
    ]

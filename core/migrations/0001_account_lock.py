import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """The account lock moves from consent to core: the table stays (consent 0004 made it)."""

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("consent", "0004_account_lock"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccountLock",
                    fields=[
                        ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                      related_name="+", serialize=False,
                                                      to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "consent_accountlock"},
                ),
            ],
            database_operations=[],
        ),
    ]

from django.db import migrations


class Migration(migrations.Migration):
    """AccountLock now lives in core (core 0001 takes over the same table): forget it here only."""

    dependencies = [
        ("consent", "0006_consent_state_guard"),
        ("core", "0001_account_lock"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AccountLock")],
            database_operations=[],
        ),
    ]

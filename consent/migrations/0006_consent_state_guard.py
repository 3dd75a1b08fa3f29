from django.db import migrations

from consent.guards import install_state_guard, remove_state_guard


class Migration(migrations.Migration):
    """The state row refuses every write but the ledger trigger's own (see consent.guards)."""

    dependencies = [("consent", "0005_consent_state")]

    operations = [migrations.RunPython(install_state_guard, remove_state_guard, elidable=False)]

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from vault import keys


@register(Tags.security)
def check_master_keys(app_configs, **kwargs):
    if not settings.VAULT_MASTER_KEYS:
        if settings.PRODUCTION:
            return [
                Error(
                    "VAULT_MASTER_KEYS (or VAULT_MASTER_KEYS_FILE) is required in production: media cannot be "
                    "encrypted without a master key.",
                    hint=(
                        "Set it to id:base64key, e.g. k1: followed by "
                        "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
                    ),
                    id="vault.E001",
                )
            ]
        return []
    try:
        keys.parse_master_keys(settings.VAULT_MASTER_KEYS)
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"VAULT_MASTER_KEYS is malformed: {exc}",
                hint="Use id:base64key entries, the first active.",
                id="vault.E002",
            )
        ]
    return []

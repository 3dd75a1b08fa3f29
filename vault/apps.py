from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from consent.signals import consent_withdrawn
        from vault import checks  # noqa: F401  (registers the system checks)
        from vault.receivers import vault_on_consent_withdrawn

        consent_withdrawn.connect(vault_on_consent_withdrawn, dispatch_uid="vault.consent_withdrawn")

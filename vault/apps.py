from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from consent import uow
        from vault import checks  # noqa: F401  (registers the system checks)
        from vault.receivers import vault_on_consent_ended

        # Deferred handlers run in ascending order: the suggestion rows go (20) after the
        # outputs they point at are deleted and the media is shredded or scheduled (10).
        uow.handler_register(name="vault", order=10, on_consent_ended=vault_on_consent_ended)

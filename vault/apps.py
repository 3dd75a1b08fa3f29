from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from consent.held import held_counter_register
        from core import uow
        from vault import checks  # noqa: F401  (registers the system checks)
        from vault.selectors import media_summary
        from vault.shredding import vault_on_consent_ended

        # The consent page says what turning the feature off destroys; consent cannot import vault.
        held_counter_register(counter=media_summary)

        # In the unit, before suggestions' subscriber (INSTALLED_APPS order): the outputs are
        # deleted and the media shredded or scheduled before the rows naming them go.
        uow.subscribe(name="vault", message=uow.ConsentEnded, phase=uow.Phase.IN_UNIT, handler=vault_on_consent_ended)

"""Handlers of other apps' events: thin callers of vault.shredding."""

from vault import shredding


def vault_on_consent_ended(uow, ended) -> None:
    shredding.vault_on_consent_ended(uow, ended)

"""Signal receivers: thin callers of vault.services."""

from vault import services


def vault_on_consent_withdrawn(sender, *, user_id: int, purpose: str, entry, **kwargs) -> None:
    services.on_consent_withdrawn(user_id=user_id, purpose=purpose, entry=entry)

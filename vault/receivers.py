"""Signal receivers: thin callers of vault.shredding."""

from vault import shredding


def vault_on_consent_withdrawn(sender, *, user_id: int, purpose: str, entry, **kwargs) -> None:
    shredding.on_consent_withdrawn(user_id=user_id, purpose=purpose, entry=entry)

"""Signal receivers: thin callers of suggestions.services and suggestions.jobs."""

from django.db import transaction

from consent import purposes
from suggestions import jobs, services


def suggestions_on_consent_withdrawn(sender, *, user_id: int, purpose: str, entry, **kwargs) -> None:
    """Inside the withdrawal's transaction: the vault deletes the outputs, we forget the rest."""
    if purpose == purposes.CAMERA_ROLL:
        services.suggestions_forget(user_id=user_id)


def suggestions_on_media_saved(sender, instance, created: bool, **kwargs) -> None:
    """A new upload (vault.MediaItem created) queues a debounced pass once the upload commits.

    Connected by model label, not by import: we learn only the owner's id, never content.
    """
    if created:
        owner_id = instance.owner_id
        transaction.on_commit(lambda: jobs.suggestions_schedule_after_upload(user_id=owner_id))

"""Handlers of other apps' events: thin callers of suggestions.services and suggestions.jobs."""

from consent import purposes
from suggestions import jobs, people, services
from suggestions.models import FaceScan, Person


def suggestions_on_consent_ended(uow, ended) -> None:
    """A deferred handler of the unit in which a consent ends.

    Withdrawn: the vault has deleted the outputs, we forget the rest. Lapsed: queued
    passes are dropped (processing stops), the holder's suggestions stay.
    """
    if ended.purpose != purposes.CAMERA_ROLL:
        return
    jobs.suggestion_jobs_cancel(user_id=ended.user_id)
    if not ended.lapsed:
        services.suggestions_forget(user_id=ended.user_id)


def suggestions_on_media_uploaded(uploaded) -> None:
    """A new upload committed: queue a debounced pass. We learn only the owner's id, never content."""
    jobs.suggestions_schedule_after_upload(user_id=uploaded.user_id)


def suggestions_on_media_trashed(uow, trashed) -> None:
    """Photos went to the trash (inside that unit of work): their face data goes now."""
    people.faces_forget_items(user_id=trashed.user_id, item_ids=list(trashed.item_ids))


def suggestions_held(user_id: int) -> dict[str, int]:
    """The people face grouping found for the holder and their face records (one per analysed photo),
    counted for the confirmations of an erase or a revocation: counts only."""
    return {"people": Person.objects.filter(owner_id=user_id, merged_into__isnull=True).count(),
            "face_records": FaceScan.objects.filter(owner_id=user_id).count()}

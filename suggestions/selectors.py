"""Reads of the suggestion engine's state. Output pixels and titles come only through vault.gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from consent import purposes
from consent.selectors import consent_active_entry
from core.errors import ServiceError
from suggestions import render, titles
from suggestions.models import Suggestion, SuggestionJob
from vault import gateway


def suggestions_feature_on(*, user_id: int) -> bool:
    return consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is not None


def suggestion_list(*, user_id: int, status: str | None = None) -> QuerySet[Suggestion]:
    """The holder's suggestions, newest first; dismissed ones are gone for good."""
    found = Suggestion.objects.filter(owner_id=user_id).exclude(status=Suggestion.Status.DISMISSED)
    if status:
        found = found.filter(status=status)
    return found.order_by("-created_at", "-id")


def suggestions_titled(*, user_id: int, suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    """The holder's suggestions with ``title`` set, read from their outputs' sealed metadata in
    one batch through the gateway (not audited: see gateway.outputs_meta). "" when there is none."""
    rows = list(suggestions)
    metas = gateway.outputs_meta(user_id=user_id, output_ids=[s.output_id for s in rows if s.output_id])
    for suggestion in rows:
        meta = metas.get(suggestion.output_id, {})
        title = meta.get("title")
        suggestion.title = title if isinstance(title, str) else ""
        suggestion.first_day = meta_day(meta.get("first"))
        suggestion.last_day = meta_day(meta.get("last"))
        suggestion.dates = titles.moment_dates(suggestion.first_day, suggestion.last_day)
    return rows


def meta_day(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# What the page says when the last pass made nothing (SuggestionJob.error_code of a done pass).
PASS_REASONS = {
    "no_photos": "There are no photos in the cloud yet: suggestions are made from what your phone uploads.",
    "all_excluded": "Every photo is excluded (one by one, by date or by place), so there was nothing to use.",
    "too_few_photos": "Not enough photos of one moment yet: a suggestion needs at least three from one day or trip.",
    "nothing_new": "Not enough new photos since the last suggestions: everything worth making is made already.",
}


def pass_reason(job: SuggestionJob | None) -> str:
    """Why the holder's last pass made nothing, in words; "" when it made something or is not done."""
    if job is None or job.status != SuggestionJob.Status.DONE or job.created_count:
        return ""
    return PASS_REASONS.get(job.error_code, "")


def suggestion_get(*, user_id: int, suggestion_id) -> Suggestion:
    try:
        return suggestion_list(user_id=user_id).get(pk=int(suggestion_id))
    except (Suggestion.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such suggestion.") from None


@dataclass(frozen=True)
class SuggestionContent:
    data: bytes
    content_type: str
    filename: str


EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


def suggestion_content(*, user_id: int, suggestion_id, video: bool = False) -> SuggestionContent:
    """The decrypted output, for its owner only (the gateway audits the read); ``video`` asks
    for a recap's MP4 instead of its animated WebP (not_found for anything else)."""
    suggestion = suggestion_get(user_id=user_id, suggestion_id=suggestion_id)
    if video:
        if suggestion.video_output_id is None:
            raise ServiceError("not_found", "This suggestion has no video.")
        data = gateway.output_open(user_id=user_id, output_id=suggestion.video_output_id)
        return SuggestionContent(data, "video/mp4", f"suggestion-{suggestion.pk}.mp4")
    data = gateway.output_open(user_id=user_id, output_id=suggestion.output_id)
    content_type = "image/webp" if suggestion.kind == Suggestion.Kind.RECAP else "image/jpeg"
    return SuggestionContent(data, content_type, f"suggestion-{suggestion.pk}.{EXTENSIONS[content_type]}")


def suggestion_job_get(*, user_id: int, job_id) -> SuggestionJob:
    try:
        return SuggestionJob.objects.get(owner_id=user_id, pk=int(job_id))
    except (SuggestionJob.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such job.") from None


def suggestion_job_latest(*, user_id: int) -> SuggestionJob | None:
    return SuggestionJob.objects.filter(owner_id=user_id).order_by("-created_at", "-id").first()


def suggestion_video(*, user_id: int, suggestion_id) -> gateway.RangedOutput:
    """A recap's MP4, for its owner only, to be served in pieces (the gateway audits each read);
    not_found for another holder's suggestion or one without a video."""
    suggestion = suggestion_get(user_id=user_id, suggestion_id=suggestion_id)
    if suggestion.video_output_id is None:
        raise ServiceError("not_found", "This suggestion has no video.")
    return gateway.output_ranged(user_id=user_id, output_id=suggestion.video_output_id)


def suggestion_poster(*, user_id: int, suggestion_id) -> bytes:
    """A recap's first frame as a JPEG (the video's poster), from its animated WebP (owner read, audited)."""
    suggestion = suggestion_get(user_id=user_id, suggestion_id=suggestion_id)
    if suggestion.kind != Suggestion.Kind.RECAP:
        raise ServiceError("not_found", "Only a recap has a poster.")
    return render.recap_poster(gateway.output_open(user_id=user_id, output_id=suggestion.output_id))

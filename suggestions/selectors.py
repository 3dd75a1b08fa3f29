"""Reads of the suggestion engine's state. Output pixels and titles come only through vault.gateway."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from consent import purposes
from consent.selectors import consent_active_entry
from consentsvc.errors import ServiceError
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
        title = metas.get(suggestion.output_id, {}).get("title")
        suggestion.title = title if isinstance(title, str) else ""
    return rows


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


EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}


def suggestion_content(*, user_id: int, suggestion_id) -> SuggestionContent:
    """The decrypted output, for its owner only (the gateway audits the read)."""
    suggestion = suggestion_get(user_id=user_id, suggestion_id=suggestion_id)
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

"""Reads for the support console and the holder's data page."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from accounts.roles import HOLDER
from consentsvc.errors import ServiceError
from support.models import DataExport, SupportCase


def account_find(*, query: str) -> list:
    """Holder accounts matching a username (exactly, any case) or an id. Staff accounts are never listed."""
    query = (query or "").strip()
    if not query:
        return []
    holders = get_user_model().objects.filter(is_active=True, groups__name=HOLDER)
    if query.isdigit():
        matches = holders.filter(pk=int(query)) | holders.filter(username__iexact=query)
    else:
        matches = holders.filter(username__iexact=query)
    return list(matches.distinct().only("pk", "username", "date_joined")[:10])


def cases_for_agent(*, agent, include_ended: bool = True, limit: int = 50) -> list[SupportCase]:
    """The agent's cases, open ones first; `is_live` tells whether each still grants anything."""
    now = timezone.now()
    cases = list(
        SupportCase.objects.filter(agent=agent).select_related("subject").order_by("closed_at", "-opened_at")[:limit]
    )
    for case in cases:
        case.is_live = case.closed_at is None and case.expires_at > now
    if not include_ended:
        cases = [case for case in cases if case.is_live]
    return cases


def exports_for_holder(*, holder_id: int) -> QuerySet[DataExport]:
    return DataExport.objects.filter(holder_id=holder_id, expires_at__gt=timezone.now()).order_by("-created_at")


def export_get(*, holder_id: int, export_id) -> DataExport:
    """One of the holder's own exports; anyone else's is indistinguishable from a missing one."""
    try:
        return DataExport.objects.get(pk=export_id, holder_id=holder_id)
    except (DataExport.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise ServiceError("not_found", "No such export.") from exc

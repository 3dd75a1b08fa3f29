"""Reads for the support console and the holder's data page."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.roles import AUDITOR, HOLDER, SUPPORT
from core.errors import ServiceError
from support.models import DataExport, SupportCase

ACCOUNTS_LISTED = 20


def account_find(*, query: str) -> list:
    """Holder accounts whose username starts with `query` (any case), whose email is `query`, or whose
    id it is; exact usernames first. Staff accounts (auditors, support, operators) are never listed."""
    query = (query or "").strip()
    if not query:
        return []
    holders = get_user_model().objects.filter(is_active=True, groups__name=HOLDER).exclude(
        groups__name__in=[AUDITOR, SUPPORT]).exclude(is_staff=True)
    match = Q(username__istartswith=query)
    if "@" in query:
        match |= Q(email__iexact=query)
    if query.isdigit() and len(query) < 19:
        match |= Q(pk=int(query))
    found = holders.filter(match).distinct().only("pk", "username", "email", "date_joined")
    return sorted(found.order_by("username")[:ACCOUNTS_LISTED],
                  key=lambda user: (user.username.lower() != query.lower(), user.username.lower()))


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

"""Reads for the support console and the holder's data page."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.roles import AUDITOR, HOLDER, SUPPORT
from consent import purposes
from consent import selectors as consent_selectors
from core.errors import ServiceError
from core.uow import Actor
from support.models import DataExport, SupportCase
from vault import gateway
from vault import selectors as vault_selectors

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


def cases_for_agent(*, actor: Actor, include_ended: bool = True, limit: int = 50) -> list[SupportCase]:
    """The acting agent's cases, open ones first; `is_live` tells whether each still grants anything."""
    now = timezone.now()
    if actor.kind != "support":
        return []
    cases = list(
        SupportCase.objects.filter(agent_id=int(actor.id)).select_related("subject")
        .order_by("closed_at", "-opened_at")[:limit]
    )
    for case in cases:
        case.is_live = case.closed_at is None and case.expires_at > now
    if not include_ended:
        cases = [case for case in cases if case.is_live]
    return cases


def exports_for_holder(*, user_id: int) -> QuerySet[DataExport]:
    return DataExport.objects.filter(holder_id=user_id, expires_at__gt=timezone.now()).order_by("-created_at")


def export_get(*, user_id: int, export_id) -> DataExport:
    """One of the holder's own exports; anyone else's is indistinguishable from a missing one."""
    try:
        return DataExport.objects.get(pk=export_id, holder_id=user_id)
    except (DataExport.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise ServiceError("not_found", "No such export.") from exc


# What an erase or a revocation destroys, in the order and words the confirmations and notices use.
DESTROYED_WORDS = (("photos", "photo", "photos"), ("videos", "video", "videos"),
                   ("suggestions", "suggestion", "suggestions"), ("people", "person", "people"),
                   ("face_records", "face record", "face records"), ("exports", "data export", "data exports"))


def destruction_preview(*, user_id: int, purpose: str | None = None) -> dict[str, int]:
    """What erasing (purpose None) or revoking `purpose` destroys now, counted: photos, videos,
    suggestions, people and face records, waiting exports (erase only). Zero counts are left out;
    an empty dict means nothing is destroyed (a purpose already off, or one that holds nothing)."""
    held = vault_selectors.media_summary(user_id=user_id)
    faces = gateway.held_counts(user_id=user_id)
    # Items in the trash are destroyed too, each counted as what it is (a trashed video is a video).
    media = {"photos": held["items"] - held.get("videos", 0), "videos": held.get("videos", 0),
             "suggestions": held["outputs"]}
    people = {"people": faces.get("people", 0), "face_records": faces.get("face_records", 0)}
    if purpose is None:
        exports = DataExport.objects.filter(holder_id=user_id, expires_at__gt=timezone.now()).count()
        counts = {**media, **people, "exports": exports}
    elif consent_selectors.consent_active_entry(user_id=user_id, purpose=purpose) is None:
        counts = {}
    elif purpose == purposes.CAMERA_ROLL:
        # Face grouping needs it, so it goes too. With a grace period the photos go later, not now.
        counts = {**media, **people} if not settings.WITHDRAWAL_GRACE_DAYS else {"suggestions": held["outputs"],
                                                                                 **people}
    elif purpose == purposes.FACE_ANALYSIS:
        counts = people
    else:
        counts = {}
    return {key: value for key, value in counts.items() if value}


def destruction_lines(counts: dict[str, int]) -> list[tuple[str, int, str]]:
    """(key, count, "12 face records") for each thing destroyed, in order, for a list on a page."""
    return [(key, counts[key], f"{counts[key]} {one if counts[key] == 1 else many}")
            for key, one, many in DESTROYED_WORDS if counts.get(key)]


def destruction_words(counts: dict[str, int]) -> str:
    """"23 photos, 2 videos, 3 suggestions and 4 people (12 face records)"; "" for nothing."""
    parts = []
    for key, one, many in DESTROYED_WORDS:
        count = counts.get(key, 0)
        if not count:
            continue
        text = f"{count} {one if count == 1 else many}"
        if key == "face_records" and parts and parts[-1][0] == "people":
            parts[-1] = ("people", f"{parts[-1][1]} ({text})")
            continue
        parts.append((key, text))
    texts = [text for _, text in parts]
    if len(texts) <= 1:
        return "".join(texts)
    return f"{', '.join(texts[:-1])} and {texts[-1]}"


def destruction_key(counts: dict[str, int]) -> str:
    """The counts as a short string a confirmation carries, to notice when they changed meanwhile."""
    return ",".join(f"{key}:{counts[key]}" for key, _, _ in DESTROYED_WORDS if counts.get(key))

"""Reads of consent state. The current state is always derived from the ledger."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery

from consent import purposes
from consent.models import ConsentEntry, Notice
from consentsvc.errors import ServiceError


def notice_current(*, purpose: str) -> Notice:
    notice = Notice.objects.filter(purpose=purpose).order_by("-published_at", "-id").first()
    if notice is None:
        raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
    return notice


def _latest_entry(*, user_id: int, purpose: str) -> ConsentEntry | None:
    return (
        ConsentEntry.objects.filter(subject_id=user_id, purpose=purpose)
        .select_related("notice")
        .order_by("-id")
        .first()
    )


def consent_active_entry(*, user_id: int, purpose: str) -> ConsentEntry | None:
    """The 'given' entry that authorises `purpose` now, or None.

    Active means: the newest ledger entry for the purpose is 'given', and it was
    given to the notice version that is current now.
    """
    if purpose not in purposes.GRANTABLE:
        return None
    entry = _latest_entry(user_id=user_id, purpose=purpose)
    if entry is None or entry.event != ConsentEntry.Event.GIVEN:
        return None
    if entry.notice_id != notice_current(purpose=purpose).pk:
        return None
    return entry


@dataclass(frozen=True)
class PurposeState:
    purpose: str
    label: str
    summary: str
    granted: bool
    notice_version: str | None  # the version consented to, when granted
    since: datetime | None  # when the current state began
    current_notice: Notice
    lapsed: bool  # granted to an older notice that has since changed materially


def consent_state(*, user_id: int) -> list[PurposeState]:
    latest = {purpose: _latest_entry(user_id=user_id, purpose=purpose) for purpose in purposes.GRANTABLE}
    states = []
    for purpose in purposes.GRANTABLE:
        notice = notice_current(purpose=purpose)
        entry = latest.get(purpose)
        given = entry is not None and entry.event == ConsentEntry.Event.GIVEN
        granted = given and entry.notice_id == notice.pk
        states.append(
            PurposeState(
                purpose=purpose,
                label=purposes.PURPOSE_LABELS[purpose],
                summary=purposes.PURPOSE_SUMMARIES[purpose],
                granted=granted,
                notice_version=entry.notice_version if granted else None,
                since=entry.created_at if entry else None,
                current_notice=notice,
                lapsed=(given and not granted) or (entry is not None and entry.event == ConsentEntry.Event.LAPSED),
            )
        )
    return states


def consent_history(*, user_id: int) -> QuerySet[ConsentEntry]:
    return ConsentEntry.objects.filter(subject_id=user_id).order_by("-id")


def consent_entry_get(*, user_id: int, record_id) -> ConsentEntry:
    """One of the holder's own entries; another holder's is indistinguishable from a missing one."""
    try:
        return ConsentEntry.objects.select_related("subject").get(subject_id=user_id, record_id=record_id)
    except (ConsentEntry.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise ServiceError("not_found", "No such consent entry.") from exc


def consent_latest_entry(*, user_id: int, purpose: str) -> ConsentEntry | None:
    return _latest_entry(user_id=user_id, purpose=purpose)


def subjects_given_before(*, purpose: str, notice: Notice) -> list[int]:
    """Holders whose newest entry for `purpose` is 'given' to a notice other than `notice`."""
    latest_ids = Subquery(
        ConsentEntry.objects.filter(subject_id=OuterRef("subject_id"), purpose=purpose).order_by("-id").values("pk")[:1]
    )
    return list(
        ConsentEntry.objects.filter(purpose=purpose, pk=latest_ids, event=ConsentEntry.Event.GIVEN)
        .exclude(notice=notice)
        .order_by("subject_id")
        .values_list("subject_id", flat=True)
        .distinct()
    )


def subjects_with_active_consent(*, purpose: str, notice: Notice) -> list[int]:
    latest_ids = Subquery(
        ConsentEntry.objects.filter(subject_id=OuterRef("subject_id"), purpose=purpose).order_by("-id").values("pk")[:1]
    )
    return list(
        ConsentEntry.objects.filter(purpose=purpose, pk=latest_ids, event=ConsentEntry.Event.GIVEN, notice=notice)
        .values_list("subject_id", flat=True)
        .distinct()
    )

"""Writes to the consent ledger. Each change locks the account row, appends one
ledger entry and its audit event in the same transaction."""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import EventInput, audit_append, audit_append_many
from consent import purposes, selectors
from consent.models import ConsentEntry, Notice
from consent.signals import consent_withdrawn
from consentsvc.errors import ServiceError, register_code

register_code("consent_required", 403, "The holder has not granted this purpose under the current notice.")
register_code("purpose_not_grantable", 403, "This purpose can never be granted.")
register_code("unknown_purpose", 404, "There is no such purpose.")
register_code("notice_version_mismatch", 409, "Consent must name the current notice version; fetch it and ask again.")
register_code("consent_dependency", 409, "This purpose needs another purpose to be granted first.")
register_code("notice_exists", 409, "That notice version is already published.")

ENDING_EVENTS = {ConsentEntry.Event.WITHDRAWN, ConsentEntry.Event.LAPSED, ConsentEntry.Event.REVOKED_BY_SUPPORT}
# Face grouping only ever extends the camera-roll feature; it cannot stand alone.
REQUIRES = {purposes.FACE_ANALYSIS: purposes.CAMERA_ROLL}


def purpose_check(purpose: str) -> None:
    if purpose in purposes.REFUSED:
        raise ServiceError("purpose_not_grantable", f"{purpose!r} is never granted by this service.")
    if purpose not in purposes.GRANTABLE:
        raise ServiceError("unknown_purpose", f"There is no purpose called {purpose!r}.")


def account_lock(*, user_id: int) -> None:
    """Inside transaction.atomic(): take the account lock.

    The one lock every consent change and every consent-gated write (uploads,
    outputs, erasure, purges) takes, so a write racing a withdrawal is ordered
    strictly before or after it.
    """
    list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def consent_guard(*, user_id: int, purpose: str) -> ConsentEntry:
    """Inside transaction.atomic(): lock the account, return the entry authorising `purpose` or refuse."""
    purpose_check(purpose)
    account_lock(user_id=user_id)
    entry = selectors.consent_active_entry(user_id=user_id, purpose=purpose)
    if entry is None:
        label = purposes.PURPOSE_LABELS[purpose]
        raise ServiceError("consent_required", f"{label} is off for this account.")
    return entry


def _append(*, user_id: int, purpose: str, notice: Notice, event: str, method: str, actor_kind: str,
            actor_id: str, case_id: int | None) -> ConsentEntry:
    entry = ConsentEntry.objects.create(
        subject_id=user_id,
        purpose=purpose,
        notice=notice,
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        event=event,
        created_at=timezone.now(),
        method=method,
        actor_kind=actor_kind,
        actor_id=str(actor_id),
        jurisdiction=settings.CONSENT_JURISDICTION,
        retention=settings.CONSENT_RETENTION,
        case_id=case_id,
    )
    details = {"notice_version": notice.version, "method": method, "entry": str(entry.record_id)}
    if case_id is not None:
        details["case_id"] = case_id
    audit_append(
        action=f"consent.{event}",
        actor_kind=actor_kind,
        actor_id=actor_id,
        subject_id=user_id,
        object_type="consent_entry",
        object_id=entry.pk,
        purpose=purpose,
        details=details,
    )
    return entry


def _actor(actor) -> tuple[str, str]:
    from accounts.roles import is_support

    return ("support" if is_support(actor) else "holder"), str(actor.pk)


@transaction.atomic
def consent_give(*, user, purpose: str, notice_version: str, method: str, actor) -> ConsentEntry:
    purpose_check(purpose)
    account_lock(user_id=user.pk)
    notice = selectors.notice_current(purpose=purpose)
    if str(notice_version) != notice.version:
        raise ServiceError(
            "notice_version_mismatch",
            f"The current notice for {purpose} is version {notice.version}; read it and consent to that version.",
            extra={"current_version": notice.version},
        )
    required = REQUIRES.get(purpose)
    if required and selectors.consent_active_entry(user_id=user.pk, purpose=required) is None:
        raise ServiceError(
            "consent_dependency",
            f"Turn on {purposes.PURPOSE_LABELS[required]} first; {purposes.PURPOSE_LABELS[purpose]} builds on it.",
        )
    active = selectors.consent_active_entry(user_id=user.pk, purpose=purpose)
    if active is not None:
        return active
    actor_kind, actor_id = _actor(actor)
    return _append(user_id=user.pk, purpose=purpose, notice=notice, event=ConsentEntry.Event.GIVEN,
                   method=method, actor_kind=actor_kind, actor_id=actor_id, case_id=None)


@transaction.atomic
def consent_withdraw(*, user, purpose: str, method: str, actor, event: str = ConsentEntry.Event.WITHDRAWN,
                     case_id: int | None = None) -> ConsentEntry | None:
    """End a purpose. Returns the new entry, or None when it was not active (nothing to end)."""
    purpose_check(purpose)
    if event not in ENDING_EVENTS:
        raise ValueError(f"{event!r} does not end a consent")
    account_lock(user_id=user.pk)
    active = selectors.consent_active_entry(user_id=user.pk, purpose=purpose)
    if active is None:
        return None
    actor_kind, actor_id = _actor(actor) if actor is not None else ("system", "consentsvc")
    entry = _append(user_id=user.pk, purpose=purpose, notice=active.notice, event=event, method=method,
                    actor_kind=actor_kind, actor_id=actor_id, case_id=case_id)
    consent_withdrawn.send(sender=ConsentEntry, user_id=user.pk, purpose=purpose, entry=entry)
    # Purposes that build on this one end with it.
    for dependent, required in REQUIRES.items():
        if required == purpose:
            consent_withdraw(user=user, purpose=dependent, method=method, actor=actor, event=event, case_id=case_id)
    return entry


def notice_hash(*, title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


@transaction.atomic
def notice_publish(*, purpose: str, version: str, title: str, text: str, material: bool) -> Notice:
    """Publish a new notice version. A material change makes every active consent lapse."""
    purpose_check(purpose)
    if Notice.objects.filter(purpose=purpose, version=version).exists():
        raise ServiceError("notice_exists", f"{purpose} notice version {version} is already published.")
    previous = selectors.notice_current(purpose=purpose)
    notice = Notice.objects.create(
        purpose=purpose, version=version, title=title, text=text, material=material,
        sha256=notice_hash(title=title, text=text), published_at=timezone.now(),
    )
    if not material:
        return notice
    lapsed = []
    for user_id in selectors.subjects_with_active_consent(purpose=purpose, notice=previous):
        account_lock(user_id=user_id)
        entry = ConsentEntry.objects.create(
            subject_id=user_id, purpose=purpose, notice=previous, notice_version=previous.version,
            notice_sha256=previous.sha256, event=ConsentEntry.Event.LAPSED, created_at=timezone.now(),
            method=ConsentEntry.Method.SYSTEM, actor_kind="system", actor_id="consentsvc",
            jurisdiction=settings.CONSENT_JURISDICTION, retention=settings.CONSENT_RETENTION,
        )
        lapsed.append(entry)
    audit_append_many(events=[
        EventInput(action="consent.lapsed", actor_kind="system", actor_id="consentsvc", subject_id=entry.subject_id,
                   object_type="consent_entry", object_id=entry.pk, purpose=purpose,
                   details={"notice_version": previous.version, "new_notice_version": version,
                            "entry": str(entry.record_id)})
        for entry in lapsed
    ])
    for entry in lapsed:
        consent_withdrawn.send(sender=ConsentEntry, user_id=entry.subject_id, purpose=purpose, entry=entry)
    return notice

"""Support cases and what an agent may do inside one.

Every case event and every action appends an audit event in the same
transaction. Audit details carry the case id (and the ticket reference when
it is a short id-like token), never the reason the agent typed.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import is_holder
from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.models import ConsentEntry
from core.errors import ServiceError, register_code
from core.uow import Actor, account_write, events_write
from support import cases, notices, rights, selectors
from support.models import SupportAction, SupportCase
from vault import selectors as vault_selectors
from vault import shredding

register_code("case_already_open", 409, "You already have an open case for this account; use or close it.")

SUMMARY_MEDIA_FIELDS = ("items", "items_bytes", "outputs", "outputs_bytes", "last_upload_at")


def _case_hours() -> int:
    return getattr(settings, "SUPPORT_CASE_HOURS", 8)


def _required_text(value: str, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ServiceError("invalid_request", f"A {field} is required.", extra={"fields": {field: ["Required."]}})
    if len(value) > limit:
        raise ServiceError("invalid_request", f"The {field} is too long.",
                           extra={"fields": {field: [f"At most {limit} characters."]}})
    return value


def _subject_for_case(*, agent: User, user_id) -> User:  # agent: cases.agent_of(actor)
    try:
        subject = User.objects.get(pk=int(user_id), is_active=True)
    except (User.DoesNotExist, TypeError, ValueError):
        raise ServiceError("not_found", "No such account.") from None
    # Cases are about account holders, never about staff or oneself.
    if subject.pk == agent.pk or not is_holder(subject):
        raise ServiceError("not_found", "No such account.")
    return subject


def case_open(*, actor: Actor, user_id: int, reason: str, ticket: str) -> SupportCase:
    """Open a case for the acting agent (`Actor.support(agent_id)`) on one holder's account."""
    agent = cases.agent_of(actor)
    reason = _required_text(reason, "reason", 2000)
    ticket = _required_text(ticket, "ticket", 64)
    subject = _subject_for_case(agent=agent, user_id=user_id)
    now = timezone.now()
    # The case and the rights it gives are the subject's account data: in the subject's unit of work.
    with account_write(user_id=subject.pk, actor=actor) as uow:
        stale = SupportCase.objects.filter(agent=agent, subject=subject, closed_at__isnull=True, expires_at__lte=now)
        for case in stale.select_for_update():
            _case_end(uow, case, how=SupportCase.Closed.EXPIRED, now=now, actor=Actor.system())
        existing = SupportCase.objects.filter(agent=agent, subject=subject, closed_at__isnull=True).first()
        if existing is not None:
            raise ServiceError("case_already_open", f"You already have case {existing.pk} open for this account.",
                               extra={"case_id": existing.pk})
        try:
            with transaction.atomic():
                case = SupportCase.objects.create(
                    agent=agent, subject=subject, reason=reason, ticket=ticket,
                    opened_at=now, expires_at=now + timedelta(hours=_case_hours()),
                )
        except IntegrityError:  # another request opened one a moment ago
            raise ServiceError("case_already_open", "You already have a case open for this account.") from None
        cases.permissions_grant(case)
        uow.record(uow.event(action="support.case_opened", object_type="support_case", object_id=case.pk,
                             details=cases.case_details(case, expires_in_hours=_case_hours())))
        return case


def _case_end(uow, case: SupportCase, *, how: str, now, actor: Actor) -> None:
    case.closed_at = now
    case.closed_how = how
    case.save(update_fields=["closed_at", "closed_how"])
    cases.permissions_remove(case)
    action = "support.case_closed" if how == SupportCase.Closed.BY_AGENT else "support.case_expired"
    uow.record(uow.event(action=action, actor=actor, subject_id=case.subject_id, object_type="support_case",
                         object_id=case.pk, details=cases.case_details(case)))


def case_close(*, actor: Actor, case_id: int) -> SupportCase:
    """Close the acting agent's own live case; its rights go with it. Anything else is a 404."""
    agent = cases.agent_of(actor)
    now = timezone.now()
    try:
        subject_id = SupportCase.objects.filter(pk=int(case_id), agent=agent).values_list("subject_id", flat=True)[0]
    except (IndexError, TypeError, ValueError):
        raise ServiceError("not_found", "No such open case.") from None
    with account_write(user_id=subject_id, actor=actor) as uow:
        case = SupportCase.objects.select_for_update().get(pk=int(case_id), agent=agent)
        if not cases.case_is_live(case, now=now):
            raise ServiceError("not_found", "No such open case.")
        _case_end(uow, case, how=SupportCase.Closed.BY_AGENT, now=now, actor=uow.actor)
        return case


def cases_expire(*, now=None) -> int:
    """End every case past its time: mark it expired, drop its rights, audit it. Idempotent."""
    now = now or timezone.now()
    ended = 0
    due = SupportCase.objects.filter(closed_at__isnull=True, expires_at__lte=now).values_list("pk", "subject_id")
    for case_id, subject_id in list(due):
        with account_write(user_id=subject_id, actor=Actor.system()) as uow:
            case = SupportCase.objects.select_for_update().filter(pk=case_id, closed_at__isnull=True).first()
            if case is not None:
                _case_end(uow, case, how=SupportCase.Closed.EXPIRED, now=now, actor=uow.actor)
                ended += 1
    return ended


def support_subject_summary(*, actor: Actor, user_id: int) -> dict:
    """Consent state and counts of what is held; never media, places, labels or captions."""
    case = cases.case_require(actor=actor, user_id=user_id, permission=cases.VIEW)
    states = consent_selectors.consent_state(user_id=case.subject_id)
    media = vault_selectors.media_summary(user_id=case.subject_id)
    with events_write(actor=actor, user_id=case.subject_id) as uow:
        uow.record(uow.event(action="support.subject_viewed", object_type="support_case", object_id=case.pk,
                             details=cases.case_details(case)))
    return {
        "subject": {"id": case.subject_id, "username": case.subject.username},
        "case": case,
        "consent": [
            {"purpose": s.purpose, "label": s.label, "granted": s.granted, "notice_version": s.notice_version,
             "since": s.since, "lapsed": s.lapsed}
            for s in states
        ],
        "media": {field: media.get(field) for field in SUMMARY_MEDIA_FIELDS},
    }


def _case_action(*, actor: Actor, user_id, permission: str):
    """The account's unit of work with the agent's live case locked in it (the account lock first).

    The case is looked up once before the lock (so nobody without a case can even take
    an account's lock) and again, locked, inside it: a close racing the action is ordered.
    """
    case = cases.case_require(actor=actor, user_id=user_id, permission=permission)
    return case.subject_id, account_write(user_id=case.subject_id, actor=actor)


def support_revoke(*, actor: Actor, user_id: int, purpose: str, reason: str) -> SupportAction:
    """Withdraw a purpose on the holder's behalf: a `revoked_by_support` ledger entry, the agent as actor."""
    user_id, unit = _case_action(actor=actor, user_id=user_id, permission=cases.REVOKE)
    reason = _required_text(reason, "reason", 2000)
    consent_services.purpose_check(purpose)
    with unit as uow:
        case = cases.case_require(actor=actor, user_id=user_id, permission=cases.REVOKE, lock=True)
        # Counted under the account's lock, before the withdrawal destroys it: the notice says what went.
        destroyed = selectors.destruction_preview(user_id=case.subject_id, purpose=purpose)
        entry = consent_services.consent_withdraw(
            user=case.subject, purpose=purpose, method=ConsentEntry.Method.SUPPORT, actor=uow.actor,
            event=ConsentEntry.Event.REVOKED_BY_SUPPORT, case_id=case.pk,
        )
        action = SupportAction.objects.create(
            case=case, kind=SupportAction.Kind.REVOKE, purpose=purpose, reason=reason,
            created_at=timezone.now(), changed=entry is not None,
            counts={"entry": str(entry.record_id), "destroyed": destroyed} if entry else {},
        )
        notices.notice_create(action=action)
        details = cases.case_details(case, changed=entry is not None)
        if entry is not None:
            details["entry"] = str(entry.record_id)
        uow.record(uow.event(action="support.revoke", object_type="support_case", object_id=case.pk,
                             purpose=purpose, details=details))
        return action


def _counts(raw: dict) -> dict:
    # Counts of things only (items, outputs, ...); sizes stay out of the trail.
    return {
        key: value for key, value in (raw or {}).items()
        if isinstance(value, int) and not isinstance(value, bool) and "bytes" not in key
    }


def support_erase(*, actor: Actor, user_id: int, reason: str) -> SupportAction:
    """Crypto-shred the holder's cloud media, derived outputs and waiting exports, and turn Camera Roll
    Sharing Suggestions off on their behalf (a `revoked_by_support` ledger entry under the case), so the
    phone sends nothing back until the holder turns it on again. Their devices stay signed in."""
    user_id, unit = _case_action(actor=actor, user_id=user_id, permission=cases.ERASE)
    reason = _required_text(reason, "reason", 2000)
    with unit as uow:
        case = cases.case_require(actor=actor, user_id=user_id, permission=cases.ERASE, lock=True)
        destroyed = selectors.destruction_preview(user_id=case.subject_id)
        counts = _counts(shredding.media_erase_all(user_id=case.subject_id, actor=uow.actor, case_id=case.pk))
        counts["exports"] = rights.exports_delete_all(uow)
        entry = consent_services.consent_withdraw(
            user=case.subject, purpose=purposes.CAMERA_ROLL, method=ConsentEntry.Method.SUPPORT, actor=uow.actor,
            event=ConsentEntry.Event.REVOKED_BY_SUPPORT, case_id=case.pk,
        )
        counts["turned_off"] = int(entry is not None)
        action = SupportAction.objects.create(
            case=case, kind=SupportAction.Kind.ERASE, reason=reason, created_at=timezone.now(),
            changed=any(counts.values()), counts={**counts, "destroyed": destroyed},
        )
        notices.notice_create(action=action)
        uow.record(uow.event(action="support.erase", object_type="support_case", object_id=case.pk,
                             details=cases.case_details(case, **counts)))
        return action


def purpose_choices() -> list[tuple[str, str]]:
    return [(p, purposes.PURPOSE_LABELS[p]) for p in purposes.GRANTABLE]


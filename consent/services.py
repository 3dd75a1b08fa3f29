"""Writes to the consent ledger. Each change is one unit of work on the account (core.uow):
the account lock, one ledger entry, the deferred handlers, its audit event last."""

import hashlib
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import binding, purposes, selectors
from consent.models import ConsentEntry, ConsentState, Notice
from core import uow
from core.errors import ServiceError, register_code
from core.uow import Actor

register_code("consent_required", 403, "The holder has not granted this purpose under the current notice.")
register_code("purpose_not_grantable", 403, "This purpose can never be granted.")
register_code("unknown_purpose", 404, "There is no such purpose.")
register_code("notice_version_mismatch", 409, "Consent must name the current notice version; fetch it and ask again.")
register_code("consent_dependency", 409, "This purpose needs another purpose to be granted first.")
register_code("notice_exists", 409, "That notice version is already published.")
register_code("entry_unverified", 409, "The ledger entry is not bound to a genuine audit event: the service did not "
                                       "write it, so it signs no receipt for it.")

ENDING_EVENTS = {ConsentEntry.Event.WITHDRAWN, ConsentEntry.Event.LAPSED, ConsentEntry.Event.REVOKED_BY_SUPPORT}
# Face grouping only ever extends the camera-roll feature; it cannot stand alone.
REQUIRES = {purposes.FACE_ANALYSIS: purposes.CAMERA_ROLL}


def purpose_check(purpose: str) -> None:
    if purpose in purposes.REFUSED:
        raise ServiceError("purpose_not_grantable", f"{purpose!r} is never granted by this service.")
    if purpose not in purposes.GRANTABLE:
        raise ServiceError("unknown_purpose", f"There is no purpose called {purpose!r}.")


def _in_unit(user_id: int) -> uow.UnitOfWork:
    unit = uow.current()
    if unit is None or unit.user_id != int(user_id):
        raise RuntimeError("call inside the account's unit of work (core.uow.account_write)")
    return unit


def consent_guard(*, user_id: int, purpose: str) -> ConsentEntry:
    """Inside the account's unit of work: the entry authorising `purpose` now, or refuse.

    The unit holds the account lock, so no consent change can slip in between this
    check and the commit of what it guards.
    """
    purpose_check(purpose)
    _in_unit(user_id)
    entry = selectors.consent_active_entry(user_id=user_id, purpose=purpose)
    if entry is None:
        label = purposes.PURPOSE_LABELS[purpose]
        raise ServiceError("consent_required", f"{label} is off for this account.")
    return entry


def _append(unit: uow.UnitOfWork, *, purpose: str, notice: Notice, event: str, method: str,
            case_id: int | None, details: dict | None = None, view: selectors.ConsentView | None = None
            ) -> ConsentEntry:
    """One ledger entry, the holder's state row for the purpose moved onto it, and its audit event.

    The `view` the caller read under the lock, if any, is kept current.
    """
    event_id = uuid.uuid4()
    entry = ConsentEntry.objects.create(
        event_id=event_id,
        subject_id=unit.user_id,
        purpose=purpose,
        notice=notice,
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        event=event,
        created_at=timezone.now(),
        method=method,
        actor_kind=unit.actor.kind,
        actor_id=unit.actor.id,
        jurisdiction=settings.CONSENT_JURISDICTION,
        retention=settings.CONSENT_RETENTION,
        case_id=case_id,
    )
    # The database moves the holder's state row onto the new entry (a trigger, see the
    # consent_state migration); the view read under the lock is kept in step by hand.
    if view is not None:
        view.states[purpose] = ConsentState(subject_id=unit.user_id, purpose=purpose, entry=entry, event=event,
                                            notice=notice, notice_version=notice.version, since=entry.created_at,
                                            event_id=event_id)
    # The event names the entry and commits to its digest; the entry names the event (binding).
    details = {"notice_version": notice.version, "method": method, "entry": str(entry.record_id),
               "entry_sha256": binding.entry_digest(entry), **(details or {})}
    if case_id is not None:
        details["case_id"] = case_id
    unit.record(unit.event(action=f"consent.{event}", object_type=binding.OBJECT_TYPE, object_id=entry.pk,
                           purpose=purpose, details=details, event_id=event_id))
    return entry


def _as_actor(actor: Actor | None, user) -> Actor:
    """Who acts: the Actor given, or (None) the holder on their own account."""
    if actor is None:
        return Actor.holder(user.pk)
    if not isinstance(actor, Actor):
        raise TypeError("actor must be an Actor (core.uow.Actor), not a user")
    return actor


def _book(view: selectors.ConsentView, purpose: str) -> selectors.NoticeBook:
    book = view.books.get(purpose)
    if book is None:
        raise ServiceError("unknown_purpose", f"There is no notice for {purpose!r}.")
    return book


def consent_give(*, user, purpose: str, notice_version: str, method: str, actor: Actor | None = None) -> ConsentEntry:
    purpose_check(purpose)
    with uow.account_write(user_id=user.pk, actor=_as_actor(actor, user)) as unit:
        view = selectors.consent_view(user_id=user.pk)
        return _give(unit, view, purpose=purpose, notice_version=notice_version, method=method)


def _give(unit: uow.UnitOfWork, view: selectors.ConsentView, *, purpose: str, notice_version: str,
          method: str) -> ConsentEntry:
    notice = _book(view, purpose).current
    if str(notice_version) != notice.version:
        raise ServiceError(
            "notice_version_mismatch",
            f"The current notice for {purpose} is version {notice.version}; read it and consent to that version.",
            extra={"current_version": notice.version},
        )
    required = REQUIRES.get(purpose)
    if required and not view.bound_active(required):
        raise ServiceError(
            "consent_dependency",
            f"Turn on {purposes.PURPOSE_LABELS[required]} first; {purposes.PURPOSE_LABELS[purpose]} builds on it.",
        )
    state = view.states.get(purpose)
    if view.bound_active(purpose) and state.notice_id == notice.pk:
        return state.entry
    return _append(unit, purpose=purpose, notice=notice, event=ConsentEntry.Event.GIVEN, method=method,
                   case_id=None, view=view)


def consent_set(*, user, purpose: str, granted: bool, notice_version: str, method: str,
                actor: Actor | None = None) -> tuple[ConsentEntry | None, selectors.PurposeState]:
    """Turn a purpose on or off (the API's toggle): the entry made (None when nothing changed)
    and the purpose's state after it, read from the same rows."""
    purpose_check(purpose)
    with uow.account_write(user_id=user.pk, actor=_as_actor(actor, user)) as unit:
        view = selectors.consent_view(user_id=user.pk)
        if granted:
            entry = _give(unit, view, purpose=purpose, notice_version=notice_version, method=method)
        else:
            entry = _withdraw(unit, view, purpose=purpose, method=method, event=ConsentEntry.Event.WITHDRAWN,
                              case_id=None)
        written = frozenset(e.pk for e in [entry] if e is not None and e.pk in _written(unit))
        states = selectors.consent_state(user_id=user.pk, view=view, written=written)
        return entry, next(s for s in states if s.purpose == purpose)


def _written(unit: uow.UnitOfWork) -> set[int]:
    """Ledger entries recorded in this unit (their events are appended at its end)."""
    return {int(e.object_id) for e in unit.events if e.object_type == binding.OBJECT_TYPE}


def consent_withdraw(*, user, purpose: str, method: str, actor: Actor | None = None,
                     event: str = ConsentEntry.Event.WITHDRAWN, case_id: int | None = None) -> ConsentEntry | None:
    """End a purpose. Returns the new entry, or None when it was not active (nothing to end).

    What the end sets off elsewhere (outputs deleted, media shredded or scheduled,
    queued passes dropped) runs as the unit's deferred handlers, in the same transaction.
    """
    purpose_check(purpose)
    if event not in ENDING_EVENTS:
        raise ValueError(f"{event!r} does not end a consent")
    with uow.account_write(user_id=user.pk, actor=_as_actor(actor, user)) as unit:
        view = selectors.consent_view(user_id=user.pk)
        return _withdraw(unit, view, purpose=purpose, method=method, event=event, case_id=case_id)


def _withdraw(unit: uow.UnitOfWork, view: selectors.ConsentView, *, purpose: str, method: str, event: str,
              case_id: int | None) -> ConsentEntry | None:
    if not view.active(purpose):
        return None
    state = view.states[purpose]
    notice = _book(view, purpose).notices[state.notice_id]
    entry = _append(unit, purpose=purpose, notice=notice, event=event, method=method, case_id=case_id, view=view)
    unit.publish(uow.ConsentEnded(user_id=unit.user_id, purpose=purpose, entry=entry, actor=unit.actor))
    # Purposes that build on this one end with it.
    for dependent, required in REQUIRES.items():
        if required == purpose:
            _withdraw(unit, view, purpose=dependent, method=method, event=event, case_id=case_id)
    return entry


def notice_hash(*, title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


def notice_publish(*, purpose: str, version: str, title: str, text: str, material: bool) -> Notice:
    """Publish a new notice version. A material change makes every active consent to the purpose lapse.

    A lapse is not a withdrawal: processing stops as soon as the notice commits (consent
    is active only under the current notice), but the holders keep their libraries.
    Those who have not agreed again after LAPSE_GRACE_DAYS are crypto-shredded by the
    housekeeping job. The lapses are recorded one account per transaction, never
    holding every account's lock at once.
    """
    purpose_check(purpose)
    with transaction.atomic():
        if Notice.objects.filter(purpose=purpose, version=version).exists():
            raise ServiceError("notice_exists", f"{purpose} notice version {version} is already published.")
        notice = Notice.objects.create(
            purpose=purpose, version=version, title=title, text=text, material=material,
            sha256=notice_hash(title=title, text=text), published_at=timezone.now(),
        )
    if material:
        consents_lapse(purpose=purpose)
    return notice


def consents_lapse(*, purpose: str) -> int:
    """Record a lapse for each holder whose consent to `purpose` was given to a notice a material
    version has replaced since; one account per transaction. Idempotent: housekeeping runs it
    again to finish what an interrupted publish left."""
    lapsed = 0
    for user_id in selectors.subjects_given_before(purpose=purpose):
        with uow.account_write(user_id=user_id, actor=Actor.system()) as unit:
            view = selectors.consent_view(user_id=user_id)
            book, state = _book(view, purpose), view.states.get(purpose)
            if state is None or state.event != ConsentEntry.Event.GIVEN or state.notice_id in book.standing:
                continue  # changed meanwhile
            entry = _append(unit, purpose=purpose, notice=book.notices[state.notice_id],
                            event=ConsentEntry.Event.LAPSED, method=ConsentEntry.Method.SYSTEM, case_id=None,
                            details={"new_notice_version": book.current.version}, view=view)
            unit.publish(uow.ConsentEnded(user_id=unit.user_id, purpose=purpose, entry=entry, actor=unit.actor))
            lapsed += 1
    return lapsed

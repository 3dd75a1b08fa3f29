"""Telling the holder what support did: a notice on their settings page and an email.

Every action an agent takes on an account (a revocation, an erase) leaves a notice
for the holder, in the same transaction as the action: shown on their settings page
until they dismiss it, and emailed through Django's email framework after commit.
The notice repeats the reason the agent typed; like the case notes, it stays in
support's own tables and never goes into the audit trail (invariant 7): the trail records
that a note was added and that a notice was dismissed, by ids only.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.dateformat import format as date_format

from consent.purposes import CAMERA_ROLL, PURPOSE_LABELS
from core import jobs
from core.errors import ServiceError
from core.uow import Actor, account_write
from support import cases, selectors
from support.models import SupportAction, SupportCase, SupportCaseNote, SupportNotice

log = logging.getLogger(__name__)

NOTICES_SHOWN = 10
# The audit actions of this module (audit/sentences.py and support/access_log.py phrase them).
NOTICE_DISMISSED = "support.notice_dismissed"
NOTE_ADDED = "support.note_added"
TURN_ON_PATH = "/settings/camera-roll/"


def agent_name(agent) -> str:
    return (agent.get_short_name() or agent.username).strip() or agent.username


def notice_text(action: SupportAction) -> str:
    """What support did, by whom, under which case, what it destroyed and how to turn it back on:
    "Support agent sam turned off Camera Roll Sharing Suggestions on 6 Dec under case #12 (ticket
    4411). This destroyed 23 photos and 3 suggestions. Reason: .... To turn it on again: ..."."""
    case = action.case
    who = f"Support agent {agent_name(case.agent)}"
    counts = action.counts or {}
    destroyed = selectors.destruction_words(counts.get("destroyed") or {})
    if action.kind == SupportAction.Kind.REVOKE:
        label = PURPOSE_LABELS.get(action.purpose, action.purpose)
        did = f"turned off {label}" if action.changed else f"asked to turn off {label}, which was already off"
        turned_off = label if action.changed else ""
    else:
        did = "erased your photos in the cloud and everything made from them"
        if "destroyed" not in counts:  # an erase recorded before the counts were kept
            items = counts.get("items", 0)
            destroyed = "" if not items else "1 photo" if items == 1 else f"{items} photos"
        turned_off = PURPOSE_LABELS[CAMERA_ROLL] if counts.get("turned_off") else ""
    day = date_format(timezone.localtime(action.created_at), "j M")
    text = f"{who} {did} on {day}, case #{case.pk} (ticket {case.ticket})."
    if destroyed:
        text += f" This destroyed {destroyed}; it cannot be brought back."
    elif action.changed or action.kind == SupportAction.Kind.ERASE:
        text += " Nothing was held in the cloud, so nothing was destroyed."
    if action.kind == SupportAction.Kind.ERASE and turned_off:
        text += f" {turned_off} is now off, so your phone uploads nothing."
    text += f" Reason: {action.reason}"
    if turned_off:
        text += f" To turn {turned_off} on again, go to Settings, Camera roll ({TURN_ON_PATH})."
    return text


def notice_create(*, action: SupportAction) -> SupportNotice:
    """Leave the holder a notice of `action`, and email it once the action commits."""
    notice = SupportNotice.objects.create(holder_id=action.case.subject_id, action=action,
                                          created_at=action.created_at)
    jobs.enqueue(notice_email_send, notice_id=notice.pk)
    return notice


@jobs.job
def notice_email_send(*, notice_id: int) -> None:
    """Email one notice to its holder. A background job: runs once, records a failure instead of raising.
    What became of the email is written in the holder's unit of work."""
    holder_id = SupportNotice.objects.filter(pk=notice_id).values_list("holder_id", flat=True).first()
    if holder_id is None:
        return
    with account_write(user_id=holder_id, actor=Actor.system()):
        notice = (SupportNotice.objects.select_for_update().select_related("holder", "action__case__agent")
                  .filter(pk=notice_id, emailed_at__isnull=True, email_error="").first())
        if notice is None:
            return
        address = notice.holder.email
        if not address:
            notice.email_error = "no_address"
            notice.save(update_fields=["email_error"])
            return
        text = notice_text(notice.action)
        try:
            send_mail(
                subject="Support acted on your consentsvc account",
                message=f"Hello {notice.holder.username},\n\n{text}\n\n"
                        "You can see this on your settings page and in your access history. If you did not ask "
                        "for this, contact us.\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
            )
        except Exception as exc:  # the mail server is down: the notice on the page still stands
            log.warning("support notice %s could not be emailed: %s", notice.pk, type(exc).__name__)
            notice.email_error = type(exc).__name__[:64]
            notice.save(update_fields=["email_error"])
            return
        notice.emailed_at = timezone.now()
        notice.save(update_fields=["emailed_at"])


def notices_for_holder(*, user_id: int) -> list[tuple[SupportNotice, str]]:
    """The holder's notices not yet dismissed, newest first, each with its sentence (reads only:
    notices_seen marks them shown)."""
    notices = list(
        SupportNotice.objects.filter(holder_id=user_id, dismissed_at__isnull=True)
        .select_related("action__case__agent").order_by("-created_at", "-id")[:NOTICES_SHOWN]
    )
    return [(notice, notice_text(notice.action)) for notice in notices]


def notices_seen(*, user_id: int, notices: list[SupportNotice], now=None) -> None:
    """The holder was shown these notices: the first time is kept, in their unit of work."""
    unseen = [n.pk for n in notices if n.seen_at is None and n.holder_id == user_id]
    if not unseen:
        return
    with account_write(user_id=user_id, actor=Actor.holder(user_id)):
        SupportNotice.objects.filter(pk__in=unseen, holder_id=user_id, seen_at__isnull=True).update(
            seen_at=now or timezone.now())


def notice_dismiss(*, user, notice_id: int, now=None) -> None:
    """The holder puts a notice away: in their unit of work, with its audit event. Another holder's
    notice, or one dismissed already, is not found."""
    with account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as uow:
        notice = (SupportNotice.objects.select_related("action__case")
                  .filter(pk=notice_id, holder=user, dismissed_at__isnull=True).first())
        if notice is None:
            raise ServiceError("not_found", "No such notice.")
        notice.dismissed_at = now or timezone.now()
        notice.save(update_fields=["dismissed_at"])
        uow.record(uow.event(action=NOTICE_DISMISSED, object_type="support_notice", object_id=notice.pk,
                             details=cases.case_details(notice.action.case)))


def case_for_note(*, actor: Actor, case_id: int) -> SupportCase:
    """The acting agent's own live case (notes go on open cases only); 404 otherwise."""
    case = SupportCase.objects.filter(pk=case_id, agent=cases.agent_of(actor)).first()
    if case is None:
        raise ServiceError("not_found", "No open case.")
    live = cases.case_require(actor=actor, user_id=case.subject_id, permission=cases.VIEW)
    if live.pk != case.pk:
        raise ServiceError("not_found", "No open case.")
    return live


def case_note_add(*, actor: Actor, case: SupportCase, text: str) -> SupportCaseNote:
    """A note by the acting agent on the case, in the subject's unit of work; the trail records
    that one was added (the case id), never its text."""
    text = (text or "").strip()
    if not text:
        raise ServiceError("invalid_request", "A note needs some text.")
    author = cases.agent_of(actor)
    with account_write(user_id=case.subject_id, actor=actor) as uow:
        note = SupportCaseNote.objects.create(case=case, author=author, text=text[:4000], created_at=timezone.now())
        uow.record(uow.event(action=NOTE_ADDED, object_type="support_case", object_id=case.pk,
                             details=cases.case_details(case)))
    return note


def case_notes(*, case: SupportCase) -> list[SupportCaseNote]:
    return list(case.notes.select_related("author").order_by("created_at", "id"))

"""Reads of the audit trail."""

from datetime import datetime

from django.db.models import QuerySet

from audit.canonical import ACTOR_KINDS
from audit.models import AuditCheckpoint, AuditEvent, AuditHead


def audit_events_for_subject(
    *, subject_id: int, since: datetime | None = None, until: datetime | None = None, action: str | None = None
) -> QuerySet[AuditEvent]:
    """Every event about one data subject, newest first."""
    events = AuditEvent.objects.filter(subject_id=subject_id)
    if since is not None:
        events = events.filter(time__gte=since)
    if until is not None:
        events = events.filter(time__lt=until)
    if action:
        events = events.filter(action=action)
    return events.order_by("-seq")


def audit_events_filtered(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    subject_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    max_seq: int | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching the auditor filters, oldest first.

    `actor` is "<kind>:<id>", a kind alone ("support"), or an id alone (any kind).
    """
    events = AuditEvent.objects.all()
    if since is not None:
        events = events.filter(time__gte=since)
    if until is not None:
        events = events.filter(time__lt=until)
    if subject_id is not None:
        events = events.filter(subject_id=subject_id)
    if actor:
        kind, sep, actor_id = actor.partition(":")
        if sep:
            events = events.filter(actor_kind=kind, actor_id=actor_id)
        elif actor in ACTOR_KINDS:
            events = events.filter(actor_kind=actor)
        else:
            events = events.filter(actor_id=actor)
    if action:
        events = events.filter(action=action)
    if outcome:
        events = events.filter(outcome=outcome)
    if max_seq is not None:
        events = events.filter(seq__lte=max_seq)
    return events.order_by("seq")


def audit_head() -> AuditHead:
    return AuditHead.objects.filter(pk=1).first() or AuditHead(pk=1)


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-tree_size").first()

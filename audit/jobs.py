"""Audit's background jobs (core.jobs): the periodic checkpoint, and the full verification of
the trail with progress, so no web request runs it.

`verification_request` records a pending job and queues it after commit (one at a time: a
request while one is waiting or running returns that one). A job whose worker dies mid-run is
run again within a minute, and one lost from the queue before it started is sent again
(core.jobs' one sweep, through `verification_recover`).
"""

import logging

from django.db import transaction
from django.utils import timezone

from audit.models import AuditVerification
from audit.selectors import audit_head
from audit.services import audit_checkpoint_if_due
from audit.verification import audit_verify
from core import jobs
from core.uow import Actor

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0


@jobs.job
def checkpoint() -> None:
    """Sign the audit head if it moved. Periodic (settings.JOBS_SCHEDULE), every
    AUDIT_CHECKPOINT_SECONDS / 2, so the head is signed within AUDIT_CHECKPOINT_SECONDS of any new event."""
    audit_checkpoint_if_due()


def verification_latest() -> AuditVerification | None:
    return AuditVerification.objects.order_by("-requested_at", "-id").first()


def verification_last_finished() -> AuditVerification | None:
    return AuditVerification.objects.filter(status=AuditVerification.Status.DONE).order_by(
        "-finished_at", "-id").first()


@transaction.atomic
def verification_request(*, actor: Actor) -> AuditVerification:
    """Queue a full verification, or return the one already waiting or running."""
    active = AuditVerification.objects.select_for_update().filter(
        status__in=[AuditVerification.Status.PENDING, AuditVerification.Status.RUNNING]).order_by("-id").first()
    if active is not None:
        return active
    job = AuditVerification.objects.create(requested_by=actor.id, requested_at=timezone.now())
    jobs.enqueue(verification_task, job.pk)
    return job


@transaction.atomic
def verification_recover(verification_id: str, attempts: int) -> bool:
    """A verification whose worker died mid-run starts again from the first event, and one lost
    from the queue before it started is sent again (up to MAX_ATTEMPTS); then the page shows it
    failed."""
    job = AuditVerification.objects.select_for_update().filter(
        pk=int(verification_id),
        status__in=[AuditVerification.Status.PENDING, AuditVerification.Status.RUNNING]).first()
    if job is None:
        return False
    if attempts >= jobs.MAX_ATTEMPTS:
        job.problem = ("the verification was interrupted each time it ran (its worker stopped)"
                       if job.status == AuditVerification.Status.RUNNING
                       else "the verification was lost from the job queue each time it was sent")
        job.status = AuditVerification.Status.FAILED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "problem"])
        return False
    job.status = AuditVerification.Status.PENDING
    job.checked = 0
    job.save(update_fields=["status", "checked"])
    jobs.enqueue(verification_task, job.pk)
    return True


@jobs.job(recover=verification_recover)
def verification_task(verification_id: int) -> None:
    """The job a worker runs: one verification, under a lease on it (core.jobs)."""
    verification_run(verification_id=verification_id)


def verification_run(*, verification_id: int) -> None:
    """Run one queued verification, saving its progress about once a second. Safe to run twice."""
    with transaction.atomic():
        job = AuditVerification.objects.select_for_update().filter(
            pk=verification_id, status=AuditVerification.Status.PENDING).first()
        if job is None:
            return
        job.status = AuditVerification.Status.RUNNING
        job.started_at = timezone.now()
        job.total = audit_head().size
        job.save(update_fields=["status", "started_at", "total"])

    checked = 0
    saved = jobs.Progress(lambda done, total: AuditVerification.objects.filter(pk=job.pk).update(checked=done),
                          every=PROGRESS_EVERY_SECONDS)

    def progress(count: int) -> None:
        nonlocal checked
        checked += count
        saved(checked, job.total)

    try:
        report = audit_verify(progress=progress)
    except Exception as exc:
        log.exception("audit verification %s failed", job.pk)
        AuditVerification.objects.filter(pk=job.pk).update(
            status=AuditVerification.Status.FAILED, finished_at=timezone.now(),
            problem=f"the verification could not run: {type(exc).__name__}")
        return
    AuditVerification.objects.filter(pk=job.pk).update(
        status=AuditVerification.Status.DONE, finished_at=timezone.now(), checked=report.events,
        checkpoints=report.checkpoints, ok=report.ok, first_bad_seq=report.first_bad_seq,
        problem=report.problem, root_hash=report.root_hash,
    )

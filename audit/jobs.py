"""Audit's background jobs (core.jobs): the periodic checkpoint, and the full verification of
the trail with progress, so no web request runs it.

`verification_request` records a pending job and queues it after commit (one at a time: a
request while one is waiting or running returns that one). A job whose worker dies mid-run is
run again within a minute (core.jobs' leases); one lost before it started (STALE_AFTER) is
replaced by the next request.
"""

import logging
from datetime import timedelta

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
STALE_AFTER = timedelta(hours=1)  # a job not finished by then was lost with its process


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
    now = timezone.now()
    active = AuditVerification.objects.select_for_update().filter(
        status__in=[AuditVerification.Status.PENDING, AuditVerification.Status.RUNNING]).order_by("-id").first()
    if active is not None:
        if now - active.requested_at < STALE_AFTER:
            return active
        active.status = AuditVerification.Status.FAILED
        active.finished_at = now
        active.problem = "the job was lost (its process ended); a new one was started"
        active.save(update_fields=["status", "finished_at", "problem"])
    job = AuditVerification.objects.create(requested_by=actor.id, requested_at=now)
    jobs.enqueue(verification_task, job.pk)
    return job


@transaction.atomic
def verification_recover(verification_id: str, attempts: int) -> bool:
    """A verification whose worker died mid-run starts again from the first event (up to
    MAX_ATTEMPTS); then the page shows it failed."""
    job = AuditVerification.objects.select_for_update().filter(
        pk=int(verification_id), status=AuditVerification.Status.RUNNING).first()
    if job is None:
        return False
    if attempts >= jobs.MAX_ATTEMPTS:
        job.status = AuditVerification.Status.FAILED
        job.finished_at = timezone.now()
        job.problem = "the verification was interrupted each time it ran (its worker stopped)"
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

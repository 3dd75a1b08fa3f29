"""Suggestion jobs: asking for a pass, the debounce after uploads, handing a job to the job
backend (core.jobs), claiming it and running it to its end under a lease, and taking back a
pass whose worker died or that was lost from the queue (both found by core.jobs' one sweep).
The pass itself is suggestions.services."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent import purposes
from consent.selectors import consent_active_entry
from core import jobs, prepared
from core.errors import ServiceError
from core.uow import Actor, account_write
from suggestions import services
from suggestions.models import SuggestionJob
from vault import gateway

log = logging.getLogger(__name__)


# Every upload asks for the holder's queued pass (see core.prepared); at most one exists.
_QUEUED = prepared.PreparedQuery(
    lambda *, user_id: SuggestionJob.objects.filter(owner_id=user_id, status=SuggestionJob.Status.QUEUED)
    .order_by("-created_at", "-id").values(*prepared.field_names(SuggestionJob))[:1],
    user_id=SuggestionJob._meta.get_field("owner"),
)


def _one_queued(user_id: int) -> SuggestionJob | None:
    rows = _QUEUED.rows(user_id=user_id)
    return prepared.instance(SuggestionJob, rows[0]) if rows else None


def suggestion_job_request(*, user_id: int, trigger: str = SuggestionJob.Trigger.REQUEST) -> SuggestionJob:
    """Ask for a pass now. A pass already queued for the holder is brought forward and returned
    rather than doubled; while one runs, the new one waits its turn.

    In the holder's unit of work, consent checked under its lock: a withdrawal (the same lock)
    comes either before, and the request is refused, or after, and it drops the queued job."""
    now = timezone.now()
    with account_write(user_id=user_id, actor=Actor.holder(user_id)):
        if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
            raise ServiceError("consent_required", "Turn on Camera Roll Sharing Suggestions first.")
        job = _one_queued(user_id)
        if job is None:
            try:
                with transaction.atomic():
                    job = SuggestionJob.objects.create(owner_id=user_id, trigger=trigger, run_after=now)
            except IntegrityError:
                job = _one_queued(user_id)
                if job is None:
                    raise
        if job.run_after > now:
            job.run_after = now
            job.save(update_fields=["run_after"])
        dispatch(job.pk, delay=0.0, inline_allowed=True)
    return job


def suggestions_generate_now(
    *, user_id: int, on_progress: Callable[[int, int], None] | None = None
) -> SuggestionJob | None:
    """A pass run here and now (the management command), recorded as a job like any other.
    None when another pass of the holder's is running."""
    with account_write(user_id=user_id, actor=Actor.system("suggestions_generate")):
        job = _one_queued(user_id)
        if job is None:
            try:
                with transaction.atomic():
                    job = SuggestionJob.objects.create(
                        owner_id=user_id, trigger=SuggestionJob.Trigger.COMMAND, run_after=timezone.now()
                    )
            except IntegrityError:
                job = _one_queued(user_id)
        if job is None:
            return None
        SuggestionJob.objects.filter(pk=job.pk).update(run_after=timezone.now())
    run_job.call(job.pk, on_progress=on_progress)  # under the job's lease, as a worker runs it
    ran = SuggestionJob.objects.filter(pk=job.pk).first()
    return ran if ran is not None and ran.status != SuggestionJob.Status.QUEUED else None


def suggestions_schedule_after_upload(*, user_id: int) -> SuggestionJob | None:
    """Debounce: the first upload of a burst queues a pass SUGGESTIONS_DEBOUNCE_SECONDS ahead,
    each further upload pushes it back again (at most 10 debounce periods after the first), so a
    phone sending 200 photos starts one pass, shortly after its last one. Consent is checked under
    the holder's lock, as for a request."""
    now = timezone.now()
    delay = dt.timedelta(seconds=settings.SUGGESTIONS_DEBOUNCE_SECONDS)
    with account_write(user_id=user_id, actor=Actor.service("suggestions")):
        if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
            return None
        job = _one_queued(user_id)
        if job is None:
            try:
                with transaction.atomic():
                    job = SuggestionJob.objects.create(
                        owner_id=user_id, trigger=SuggestionJob.Trigger.UPLOAD, run_after=now + delay
                    )
            except IntegrityError:
                return _one_queued(user_id)
            dispatch(job.pk, delay=delay.total_seconds(), inline_allowed=False)
        else:
            latest = max(job.created_at + delay * 10, now)
            job.run_after = min(max(job.run_after, now + delay), latest)
            job.save(update_fields=["run_after"])
    return job


def dispatch(job_id: int, *, delay: float, inline_allowed: bool) -> None:
    """Hand a job to the job backend (core.jobs), after the current transaction commits, to run
    after `delay` seconds. With the immediate backend (tests), a debounced upload pass is not run:
    it waits for a request or the command."""
    if not jobs.backend_defers() and not inline_allowed:
        return
    jobs.enqueue(run_job, job_id, delay=delay)


def _claim(job_id: int) -> tuple[SuggestionJob | None, float]:
    """Take a queued job that is due, under its holder's lock; (None, seconds to wait) when it is
    not ours to run yet."""
    now = timezone.now()
    owner_id = SuggestionJob.objects.filter(pk=job_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return None, 0.0
    with account_write(user_id=owner_id, actor=Actor.service("suggestions")):
        job = SuggestionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != SuggestionJob.Status.QUEUED:
            return None, 0.0
        if job.run_after > now:
            return None, (job.run_after - now).total_seconds()
        # One pass of a holder's at a time. One whose worker died is failed (or queued again) by
        # core.jobs' sweep within a minute, and this one then runs.
        if SuggestionJob.objects.filter(owner_id=job.owner_id, status=SuggestionJob.Status.RUNNING).exists():
            return None, 5.0
        job.status = SuggestionJob.Status.RUNNING
        job.started_at = now
        job.save(update_fields=["status", "started_at"])
    return job, 0.0


def suggestion_job_run(
    *, job_id: int, on_progress: Callable[[int, int], None] | None = None
) -> SuggestionJob | None:
    """Run one queued job to its end. Safe to call twice: only the first call runs it."""
    job, wait = _claim(job_id)
    if job is None:
        if wait > 0:
            dispatch(job_id, delay=wait, inline_allowed=False)
        return SuggestionJob.objects.filter(pk=job_id).first()

    def save(done: int, total: int) -> None:
        job.progress = min(99, round(100 * done / max(1, total)))
        SuggestionJob.objects.filter(pk=job.pk).update(progress=job.progress)

    saved = jobs.Progress(save)

    def progress(done: int, total: int) -> None:
        saved(done, total)
        if on_progress:
            on_progress(done, total)

    try:
        result = services.suggestions_generate(user_id=job.owner_id, job=job, on_progress=progress)
    except ServiceError as exc:
        result = services.PassResult(SuggestionJob.Status.FAILED, error_code=exc.code)
    except Exception:
        log.exception("suggestion job %s failed", job.pk)
        result = services.PassResult(SuggestionJob.Status.FAILED, error_code="server_error")
    job.status = result.status
    job.progress = 100
    job.created_count = len(result.created)
    job.discarded_count = result.discarded
    job.error_code = result.error_code
    job.finished_at = timezone.now()
    with account_write(user_id=job.owner_id, actor=Actor.service("suggestions")) as uow:
        job.save(update_fields=["status", "progress", "created_count", "discarded_count", "error_code", "finished_at"])
        uow.record(uow.event(
            action="suggestions.generated",
            object_type="suggestion_job",
            object_id=job.pk,
            purpose=gateway.PURPOSE_SUGGESTIONS,
            outcome="allowed" if result.status != SuggestionJob.Status.FAILED else "error",
            details={
                "status": result.status,
                "created": len(result.created),
                "discarded": result.discarded,
                "code": result.error_code,
            },
        ))
    return job


def suggestion_job_recover(job_id: str, attempts: int) -> bool:
    """A pass whose worker died: queued again (up to MAX_ATTEMPTS), unless another pass of the
    holder's is already waiting, which will do the same work. A pass no worker claimed (lost from
    the queue, or its worker died between taking the lease and the claim) is sent again as it is,
    and failed as interrupted after MAX_ATTEMPTS.

    Called outside any transaction (core.jobs), so the job's row changes in the holder's unit
    of work, under the holder's lock."""
    job = SuggestionJob.objects.filter(pk=int(job_id)).first()
    if job is None:
        return False
    if job.status == SuggestionJob.Status.QUEUED:
        retry = attempts < jobs.MAX_ATTEMPTS
        with account_write(user_id=job.owner_id, actor=Actor.service("suggestions")):
            queued = SuggestionJob.objects.select_for_update().filter(pk=job.pk, status=SuggestionJob.Status.QUEUED)
            job = queued.first()
            if job is None:
                return False
            if retry:
                dispatch(job.pk, delay=0.0, inline_allowed=True)
            else:
                _interrupted(job)
        return retry
    if job.status != SuggestionJob.Status.RUNNING:
        return False
    retry = attempts < jobs.MAX_ATTEMPTS and _one_queued(job.owner_id) is None
    _recovered(job_id=job.pk, user_id=job.owner_id, retry=retry)
    return retry


def _interrupted(job: SuggestionJob) -> None:
    job.status = SuggestionJob.Status.FAILED
    job.error_code = "interrupted"
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error_code", "finished_at"])


def _recovered(*, job_id: int, user_id: int, retry: bool) -> None:
    now = timezone.now()
    with account_write(user_id=user_id, actor=Actor.service("suggestions")):
        job = SuggestionJob.objects.select_for_update().filter(pk=job_id, status=SuggestionJob.Status.RUNNING).first()
        if job is None:
            return
        if not retry or _one_queued(user_id) is not None:
            _interrupted(job)
            return
        job.status = SuggestionJob.Status.QUEUED
        job.run_after = now
        job.progress = 0
        job.save(update_fields=["status", "run_after", "progress"])
        dispatch(job.pk, delay=0.0, inline_allowed=True)


@jobs.job(recover=suggestion_job_recover)
def run_job(job_id: int, on_progress: Callable[[int, int], None] | None = None) -> None:
    """The job a worker runs (core.jobs): one suggestion pass, under a lease on its row."""
    suggestion_job_run(job_id=job_id, on_progress=on_progress)


def suggestion_jobs_cancel(*, user_id: int) -> int:
    """Queued jobs of a holder who turned the feature off are dropped (running ones discard)."""
    return SuggestionJob.objects.filter(owner_id=user_id, status=SuggestionJob.Status.QUEUED).update(
        status=SuggestionJob.Status.SKIPPED, error_code="consent_required", finished_at=timezone.now()
    )

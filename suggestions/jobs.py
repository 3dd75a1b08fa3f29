"""Suggestion jobs: asking for a pass, the debounce after uploads, handing a job to whatever runs
jobs here, claiming it and running it to its end. The pass itself is suggestions.services."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent import purposes
from consent.selectors import consent_active_entry
from consent.uow import Actor, events_write
from consentsvc.errors import ServiceError
from suggestions import services
from suggestions.models import SuggestionJob
from vault import gateway

log = logging.getLogger(__name__)

STALE_RUNNING = dt.timedelta(minutes=30)


def _one_queued(user_id: int) -> SuggestionJob | None:
    return SuggestionJob.objects.filter(owner_id=user_id, status=SuggestionJob.Status.QUEUED).first()


def suggestion_job_request(*, user_id: int, trigger: str = SuggestionJob.Trigger.REQUEST) -> SuggestionJob:
    """Ask for a pass now. A pass already queued for the holder is brought forward and returned
    rather than doubled; while one runs, the new one waits its turn."""
    if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
        raise ServiceError("consent_required", "Turn on Camera Roll Sharing Suggestions first.")
    now = timezone.now()
    with transaction.atomic():
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
        transaction.on_commit(lambda: dispatch(job.pk, delay=0.0, inline_allowed=True))
    return job


def suggestions_generate_now(
    *, user_id: int, on_progress: Callable[[int, int], None] | None = None
) -> SuggestionJob | None:
    """A pass run here and now (the management command), recorded as a job like any other.
    None when another pass of the holder's is running."""
    with transaction.atomic():
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
    ran = suggestion_job_run(job_id=job.pk, on_progress=on_progress)
    return ran if ran is not None and ran.status != SuggestionJob.Status.QUEUED else None


def suggestions_schedule_after_upload(*, user_id: int) -> SuggestionJob | None:
    """Debounce: the first upload of a burst queues a pass SUGGESTIONS_DEBOUNCE_SECONDS ahead,
    each further upload pushes it back again (at most 10 debounce periods after the first), so a
    phone sending 200 photos starts one pass, shortly after its last one."""
    if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
        return None
    now = timezone.now()
    delay = dt.timedelta(seconds=settings.SUGGESTIONS_DEBOUNCE_SECONDS)
    with transaction.atomic():
        job = _one_queued(user_id)
        if job is None:
            try:
                with transaction.atomic():
                    job = SuggestionJob.objects.create(
                        owner_id=user_id, trigger=SuggestionJob.Trigger.UPLOAD, run_after=now + delay
                    )
            except IntegrityError:
                return _one_queued(user_id)
            transaction.on_commit(lambda: dispatch(job.pk, delay=delay.total_seconds(), inline_allowed=False))
        else:
            latest = max(job.created_at + delay * 10, now)
            job.run_after = min(max(job.run_after, now + delay), latest)
            job.save(update_fields=["run_after"])
    return job


def dispatch(job_id: int, *, delay: float, inline_allowed: bool) -> None:
    """Hand a job to whatever runs jobs here: Celery when a broker is configured, else this process."""
    if settings.CELERY_BROKER_URL:
        from consentsvc.celery import app

        app.send_task("suggestions.run_job", args=[job_id], countdown=max(0.0, delay))
        return
    from suggestions import runner

    if settings.SUGGESTIONS_JOBS_INLINE:
        if inline_allowed:
            suggestion_job_run(job_id=job_id)
        return  # debounced upload passes wait for a request or the command when run inline
    runner.submit(job_id, delay=delay)


def _claim(job_id: int) -> tuple[SuggestionJob | None, float]:
    """Take a queued job that is due; (None, seconds to wait) when it is not ours to run yet."""
    now = timezone.now()
    with transaction.atomic():
        job = SuggestionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != SuggestionJob.Status.QUEUED:
            return None, 0.0
        if job.run_after > now:
            return None, (job.run_after - now).total_seconds()
        running = SuggestionJob.objects.filter(owner_id=job.owner_id, status=SuggestionJob.Status.RUNNING)
        running.filter(started_at__lt=now - STALE_RUNNING).update(
            status=SuggestionJob.Status.FAILED, error_code="stale", finished_at=now
        )
        if running.exists():
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

    def progress(done: int, total: int) -> None:
        value = min(99, round(100 * done / max(1, total)))
        if value != job.progress:
            job.progress = value
            SuggestionJob.objects.filter(pk=job.pk).update(progress=value)
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
    with events_write(actor=Actor.service("suggestions"), user_id=job.owner_id) as uow:
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


def suggestion_jobs_cancel(*, user_id: int) -> int:
    """Queued jobs of a holder who turned the feature off are dropped (running ones discard)."""
    return SuggestionJob.objects.filter(owner_id=user_id, status=SuggestionJob.Status.QUEUED).update(
        status=SuggestionJob.Status.SKIPPED, error_code="consent_required", finished_at=timezone.now()
    )

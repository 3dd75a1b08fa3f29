"""Celery tasks (used when CELERY_BROKER_URL is set). Thin: the work is in services."""

from celery import shared_task

from suggestions import jobs


@shared_task(name="suggestions.run_job", acks_late=True, ignore_result=True)
def run_job(job_id: int) -> None:
    jobs.suggestion_job_run(job_id=job_id)

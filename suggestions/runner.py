"""Suggestion jobs in this process (the embedded default, when no Celery broker is configured).

Jobs live in the database, so one lost with its process (a restart) is still queued, and the
next request or `manage.py suggestions_generate` picks the holder up again.
"""

from consentsvc import background


def _run(job_id: int) -> None:
    from suggestions.jobs import suggestion_job_run

    suggestion_job_run(job_id=job_id)


def submit(job_id: int, *, delay: float = 0.0) -> None:
    background.submit("suggestions", _run, delay=delay, job_id=job_id)

"""The in-process job runner (the embedded default, when no Celery broker is configured).

One worker thread per process runs jobs one after another; a delayed job waits on a timer.
Jobs live in the database, so one lost with its process (a restart) is still queued, and the
next request or `manage.py suggestions_generate` picks the holder up again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="suggestions")
        return _executor


def _run(job_id: int) -> None:
    from suggestions.services import suggestion_job_run

    close_old_connections()
    try:
        suggestion_job_run(job_id=job_id)
    except Exception:
        log.exception("suggestion job %s failed in the in-process runner", job_id)
    finally:
        connections.close_all()  # this thread may sleep for hours before its next job


def submit(job_id: int, *, delay: float = 0.0) -> None:
    if delay > 0:
        timer = threading.Timer(delay, lambda: _pool().submit(_run, job_id))
        timer.daemon = True
        timer.start()
    else:
        _pool().submit(_run, job_id)

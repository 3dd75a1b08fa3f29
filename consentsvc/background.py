"""The in-process job runner of the embedded default (no Celery broker configured).

One worker thread per queue runs jobs one after another; a delayed job waits on a
timer. Job state lives in the database, so a job lost with its process (a restart)
is picked up again by the app's own management command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections

log = logging.getLogger(__name__)

_executors: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _pool(queue: str) -> ThreadPoolExecutor:
    with _lock:
        if queue not in _executors:
            _executors[queue] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=queue)
        return _executors[queue]


def _run(queue: str, job: Callable[..., object], kwargs: dict) -> None:
    close_old_connections()
    try:
        job(**kwargs)
    except Exception:
        log.exception("%s job %s failed in the in-process runner", queue, getattr(job, "__name__", job))
    finally:
        connections.close_all()  # this thread may sleep for hours before its next job


def submit(queue: str, job: Callable[..., object], *, delay: float = 0.0, **kwargs) -> None:
    """Run `job(**kwargs)` on the queue's worker thread, after `delay` seconds."""
    if delay > 0:
        timer = threading.Timer(delay, lambda: _pool(queue).submit(_run, queue, job, kwargs))
        timer.daemon = True
        timer.start()
    else:
        _pool(queue).submit(_run, queue, job, kwargs)

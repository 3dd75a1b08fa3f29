"""Background work for support: run a job once the transaction that asked for it commits.

The embedded default runs the job in a daemon thread of the same process (tests
run it inline, so they can see the result at once). The job functions are plain
and idempotent, so a worker queue can call the same function by name later.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection, transaction

logger = logging.getLogger(__name__)


def _inline() -> bool:
    return getattr(settings, "SUPPORT_TASKS_INLINE", getattr(settings, "ENVIRONMENT", "") == "test")


def _run_in_thread(job, kwargs) -> None:
    def target():
        close_old_connections()
        try:
            job(**kwargs)
        except Exception:
            logger.exception("background job %s failed", job.__name__)
        finally:
            connection.close()

    threading.Thread(target=target, name=f"support-{job.__name__}", daemon=True).start()


def run_after_commit(job, **kwargs) -> None:
    if _inline():
        transaction.on_commit(lambda: job(**kwargs))
    else:
        transaction.on_commit(lambda: _run_in_thread(job, kwargs))

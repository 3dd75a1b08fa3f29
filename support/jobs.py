"""Background work for support: run a job once the transaction that asked for it commits.

With CELERY_BROKER_URL set, the job goes to the Celery workers (`support.run`).
Otherwise (the embedded default) one worker thread in this process runs jobs one
after another; tests (SUPPORT_TASKS_INLINE, on under DJANGO_ENV=test) run them
inline after commit. Job functions are plain, keyword-only and idempotent, and
their state lives in the database, so a job lost with its process is picked up
again by `manage.py support_expire_cases`.
"""

from __future__ import annotations

import importlib

from celery import shared_task
from django.conf import settings
from django.db import transaction

from consentsvc import background


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    if not module.startswith("support."):
        raise ValueError(f"{path} is not a support job")
    return getattr(importlib.import_module(module), name)


@shared_task(name="support.run", acks_late=True, ignore_result=True)
def run(path: str, kwargs: dict) -> None:
    _resolve(path)(**kwargs)


def _inline() -> bool:
    return getattr(settings, "SUPPORT_TASKS_INLINE", getattr(settings, "ENVIRONMENT", "") == "test")


def run_after_commit(job, **kwargs) -> None:
    """Queue `job(**kwargs)` (kwargs JSON-friendly: ids as strings) for after the current transaction."""
    path = f"{job.__module__}.{job.__name__}"
    if _inline():
        transaction.on_commit(lambda: job(**kwargs))
    elif getattr(settings, "CELERY_BROKER_URL", None):
        transaction.on_commit(lambda: run.delay(path, kwargs))
    else:
        transaction.on_commit(lambda: background.submit("support", job, **kwargs))

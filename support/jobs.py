"""Background work for support: run a job once the transaction that asked for it commits,
through the job backend (consentsvc.jobs: the database by default, Redis for scale, at once in
tests). Job functions are plain, keyword-only and idempotent, and their state lives in the
database. An export build holds a lease on its export while it runs: if its worker dies, the
export is built again (consentsvc.jobs recovers it within a minute).
"""

from __future__ import annotations

import importlib

from django_tasks import task

from consentsvc import jobs
from core.uow import Actor, account_write, after_commit

EXPORT_BUILD = "support.rights.export_build"
EXPORT_LEASE = "support.export"


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    if not module.startswith("support."):
        raise ValueError(f"{path} is not a support job")
    return getattr(importlib.import_module(module), name)


@task()
def run(path: str, kwargs: dict) -> None:
    job = _resolve(path)
    if path == EXPORT_BUILD:
        with jobs.lease(kind=EXPORT_LEASE, object_id=kwargs["export_id"]):
            job(**kwargs)
    else:
        job(**kwargs)


def run_after_commit(job, **kwargs) -> None:
    """Queue `job(**kwargs)` (kwargs JSON-friendly: ids as strings) for after the current transaction."""
    jobs.enqueue_after_commit(run, f"{job.__module__}.{job.__name__}", kwargs)


@jobs.recovery(EXPORT_LEASE)
def export_build_recover(export_id: str, attempts: int) -> bool:
    """An export whose build died with its worker is built again (its half-made zip was never
    stored); after MAX_ATTEMPTS the export is left to fail as interrupted.

    Called inside the lease's transaction, where the holder's unit of work cannot open: the
    export is put back in the queue once that commits, under the holder's lock."""
    from support.models import DataExport

    if attempts >= jobs.MAX_ATTEMPTS:
        return False
    holder_id = (DataExport.objects.filter(pk=export_id, status=DataExport.Status.RUNNING)
                 .values_list("holder_id", flat=True).first())
    if holder_id is None:
        return False
    after_commit(lambda: _export_requeue(export_id=export_id, holder_id=holder_id))
    return True


def _export_requeue(*, export_id: str, holder_id: int) -> None:
    from support.models import DataExport

    with account_write(user_id=holder_id, actor=Actor.system()):
        updated = DataExport.objects.filter(pk=export_id, status=DataExport.Status.RUNNING).update(
            status=DataExport.Status.PENDING
        )
        if updated:
            after_commit(lambda: run.enqueue(EXPORT_BUILD, {"export_id": export_id}))

"""One job mechanism: Django's tasks API (the django-tasks backport), with leases.

Backends (settings.TASKS, from TASKS_BACKEND): the database (django-tasks-db, the embedded
default: jobs survive a restart with no broker), Redis through RQ (django-tasks-rq, for
scale), or immediate (tests: a job runs as soon as the transaction that asked for it commits).
`manage.py jobs_worker` runs the jobs of whichever is configured.

Leases: a job that works on one row holds a lease on it (`with lease(kind, object_id)`), kept
alive by a heartbeat thread every LEASE_SECONDS / 3. A worker that dies stops the heartbeat,
so its lease runs out within LEASE_SECONDS; the periodic `jobs_recover` (every
RECOVER_SECONDS) hands each expired lease to its kind's recovery (retry or give up), so a
crashed job is retried within a minute and blocks nothing meanwhile.

Periodic jobs: every worker ticks the schedule; a key in the shared cache makes each periodic
job run once per interval whichever worker gets there first.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks import task, task_backends

from core.uow import after_commit

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
RECOVER_SECONDS = 15
MAX_ATTEMPTS = 3

# kind -> recover(object_id, attempts) -> retried?: called (in a transaction) for a lease that ran out.
_RECOVERY: dict[str, Callable[[str, int], bool]] = {}


def recovery(kind: str):
    """Register what to do when a job of this kind died holding its lease: queue it again (return
    True; its attempts keep counting) or give up (False)."""

    def register(function: Callable[[str, int], bool]) -> Callable[[str, int], bool]:
        _RECOVERY[kind] = function
        return function

    return register


def backend_defers() -> bool:
    """Whether the configured backend can run a job later (the immediate one cannot)."""
    return task_backends["default"].supports_defer


def enqueue_after_commit(job, *args, delay: float = 0.0, **kwargs) -> None:
    """Queue `job` once the current transaction commits (at once outside one); with `delay`
    seconds, not before then."""

    def send() -> None:
        if delay > 0:
            job.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(*args, **kwargs)
        else:
            job.enqueue(*args, **kwargs)

    after_commit(send)


# --------------------------------------------------------------------------- leases


class _Heartbeat(threading.Thread):
    def __init__(self, lease_id: int):
        super().__init__(name=f"lease-{lease_id}", daemon=True)
        self.lease_id = lease_id
        self.stopped = threading.Event()

    def run(self) -> None:
        from consentsvc.models import JobLease

        try:
            while not self.stopped.wait(LEASE_SECONDS / 3):
                try:
                    JobLease.objects.filter(pk=self.lease_id).update(
                        expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
                    )
                except Exception:  # a busy database: the next beat tries again before the lease runs out
                    log.warning("lease heartbeat %s missed a beat", self.lease_id, exc_info=True)
        finally:
            connection.close()


@dataclass
class Lease:
    id: int
    attempts: int


@contextlib.contextmanager
def lease(*, kind: str, object_id) -> Iterator[Lease]:
    """Hold the lease on one job's row while the block runs. A lease that ran out (its holder
    died) is taken over, counting the attempt."""
    from consentsvc.models import JobLease

    now = timezone.now()
    expires = now + timedelta(seconds=LEASE_SECONDS)
    with transaction.atomic():
        row = JobLease.objects.select_for_update().filter(kind=kind, object_id=str(object_id)).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = JobLease.objects.create(kind=kind, object_id=str(object_id), expires_at=expires, attempts=1)
            except IntegrityError:
                raise LeaseHeld(kind, object_id) from None
        elif row.held and row.expires_at > now:
            raise LeaseHeld(kind, object_id)
        else:  # a retry after a crash
            row.attempts += 1
            row.expires_at = expires
            row.held = True
            row.save(update_fields=["attempts", "expires_at", "held"])
    heartbeat = _Heartbeat(row.pk)
    heartbeat.start()
    try:
        yield Lease(id=row.pk, attempts=row.attempts)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
        JobLease.objects.filter(pk=row.pk).delete()


class LeaseHeld(Exception):
    """Another worker is running this job now."""


def lease_live(*, kind: str, object_ids) -> set[str]:
    """Of these jobs, the ones a live worker holds now."""
    from consentsvc.models import JobLease

    return set(
        JobLease.objects.filter(
            kind=kind, object_id__in=[str(i) for i in object_ids], held=True, expires_at__gt=timezone.now()
        ).values_list("object_id", flat=True)
    )


def _import_job_modules() -> None:
    for module in settings.JOB_MODULES:
        importlib.import_module(module)


def jobs_recover(*, now=None) -> int:
    """Hand every lease that ran out to its kind's recovery; return how many."""
    from consentsvc.models import JobLease

    _import_job_modules()
    now = now or timezone.now()
    recovered = 0
    expired = JobLease.objects.filter(held=True, expires_at__lte=now)
    for lease_id in list(expired.values_list("pk", flat=True)):
        with transaction.atomic():
            row = JobLease.objects.select_for_update().filter(pk=lease_id, held=True, expires_at__lte=now).first()
            if row is None:
                continue
            recover = _RECOVERY.get(row.kind)
            retried = False
            if recover is None:
                log.warning("no recovery for job kind %s", row.kind)
            else:
                retried = recover(row.object_id, row.attempts)
            if retried:
                row.held = False
                row.save(update_fields=["held"])
            else:
                row.delete()
            recovered += 1
    # Attempt counts of retried jobs that never ran again (their pass was dropped meanwhile).
    JobLease.objects.filter(held=False, expires_at__lte=now - timedelta(days=1)).delete()
    return recovered


# --------------------------------------------------------------------------- periodic jobs


@task()
def recover() -> int:
    return jobs_recover()


@task()
def housekeeping() -> None:
    """Purges after the withdrawal grace period, expired support cases and exports, expired API
    tokens, and the records of jobs finished a day ago."""
    from django.core.management import call_command

    from consentsvc.management.commands.housekeeping import JOBS

    for command in JOBS:
        call_command(command, verbosity=0)
    jobs_forget_finished(before=timezone.now() - timedelta(days=1))


def jobs_forget_finished(*, before) -> int:
    """The database backend keeps a row per job: drop the finished ones (failed ones stay a week)."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    done, _ = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=before).delete()
    failed, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lt=before - timedelta(days=6)
    ).delete()
    return done + failed


@task()
def audit_checkpoint() -> None:
    """Sign the audit head if it moved: within AUDIT_CHECKPOINT_SECONDS of any new event."""
    from django.core.management import call_command

    call_command("audit_checkpoint", "--if-new", verbosity=0)


def periodic_schedule() -> list[tuple[str, float, object]]:
    return [
        ("recover", RECOVER_SECONDS, recover),
        ("housekeeping", settings.HOUSEKEEPING_SECONDS, housekeeping),
        ("audit-checkpoint", max(1, settings.AUDIT_CHECKPOINT_SECONDS // 2), audit_checkpoint),
    ]


def periodic_tick() -> list[str]:
    """Queue every periodic job that is due (once per interval across all workers)."""
    queued = []
    for name, every, job in periodic_schedule():
        if cache.add(f"jobs:periodic:{name}", 1, timeout=max(1, int(every))):
            job.enqueue()
            queued.append(name)
    return queued


class Ticker(threading.Thread):
    """The schedule, ticking beside a worker."""

    def __init__(self, every: float = 5.0):
        super().__init__(name="jobs-periodic", daemon=True)
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            close_old_connections()
            try:
                periodic_tick()
            except Exception:
                log.exception("periodic jobs could not be queued")
            self.stopped.wait(self.every)
        connection.close()

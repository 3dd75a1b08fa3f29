"""The one job mechanism: Django's tasks API (the django-tasks backport), with what it lacks.

Every background job is a function decorated with `@job` (a django-tasks Task) and queued with
`enqueue`, after the transaction that asked for it commits. Backends (settings.TASKS, from
TASKS_BACKEND): the database (django-tasks-db, the embedded default: jobs survive a restart with
no broker), Redis through RQ (django-tasks-rq, for scale), or immediate (tests: a job runs as soon
as the transaction that asked for it commits). `manage.py jobs_worker` runs the jobs of whichever
is configured, and the periodic ones.

What the tasks API lacks, kept here once:

- Crash detection. A job declared `@job(recover=...)` works on one row, named by its first
  argument, and holds a lease on it while it runs, kept alive by a heartbeat thread every
  LEASE_SECONDS / 3. A worker that dies stops the heartbeat, so its lease runs out within
  LEASE_SECONDS; the periodic `recover` job hands each expired lease to the job's `recover`
  (queue it again, or give up), so a crashed job is retried within a minute and blocks nothing
  meanwhile.
- Progress: `Progress` saves a running job's progress at most once a second.
- Periodic jobs: settings.JOBS_SCHEDULE maps a job's path to its interval in seconds. Every
  worker looks at the schedule between jobs (`periodic_due`); a key in the shared cache per
  interval makes each periodic job run once per interval whichever worker gets there first.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

from core.models import JobLease
from core.uow import after_commit

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
MAX_ATTEMPTS = 3
WORKER_LOOK_SECONDS = 1.0  # how often an idle worker looks at its queue and at the schedule

# job path -> recover(object_id, attempts) -> retried?: called (outside any transaction) for a lease that ran out.
_RECOVERY: dict[str, Callable[[str, int], bool]] = {}


def job(function: Callable | None = None, *, recover: Callable[[str, int], bool] | None = None) -> Task | Callable:
    """Declare a background job (`@job` or `@job(recover=...)`).

    With `recover`, the job's first parameter is the id of the row it works on: the job runs
    under a lease on it, and if its worker dies, `recover(object_id, attempts)` queues it again
    (returns True; its attempts keep counting) or gives up (False). It is called outside any
    transaction, so it opens its own: the holder's unit of work when it writes account data.
    """

    def declare(function: Callable) -> Task:
        if recover is None:
            return task(function)

        first = next(iter(inspect.signature(function).parameters))

        @functools.wraps(function)
        def leased(*args, **kwargs):
            object_id = args[0] if args else kwargs[first]
            with contextlib.ExitStack() as held:
                try:
                    held.enter_context(lease(kind=path, object_id=object_id))
                except LeaseHeld:  # a live worker is running this very job: nothing to do twice
                    log.info("job %s(%s) is already running", path, object_id)
                    return None
                return function(*args, **kwargs)

        declared = task(leased)
        path = declared.module_path
        _RECOVERY[path] = recover
        return declared

    return declare(function) if function is not None else declare


def backend_defers() -> bool:
    """Whether the configured backend can run a job later (the immediate one cannot)."""
    return task_backends["default"].supports_defer


def enqueue(job: Task, *args, delay: float = 0.0, **kwargs) -> None:
    """Queue `job` once the current transaction commits (at once outside one); with `delay`
    seconds, not before then (a backend that cannot defer runs it at once)."""

    def send() -> None:
        if delay > 0 and backend_defers():
            job.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(*args, **kwargs)
        else:
            job.enqueue(*args, **kwargs)

    after_commit(send)


# --------------------------------------------------------------------------- progress


class Progress:
    """A running job's progress, saved by `save(done, total)` when it changed and at most once
    every `every` seconds (the last value always: call `finish()`)."""

    def __init__(self, save: Callable[[int, int], None], *, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self._save, self._every, self._clock = save, every, clock
        self._saved_at: float | None = None
        self._pending: tuple[int, int] | None = None
        self._last: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if (done, total) == self._last:
            return
        self._pending = (done, total)
        now = self._clock()
        if self._saved_at is None or now - self._saved_at >= self._every:
            self.finish()

    def finish(self) -> None:
        if self._pending is not None:
            self._saved_at = self._clock()
            self._last, self._pending = self._pending, None
            self._save(*self._last)


# --------------------------------------------------------------------------- leases


class _Heartbeat(threading.Thread):
    def __init__(self, lease_id: int):
        super().__init__(name=f"lease-{lease_id}", daemon=True)
        self.lease_id = lease_id
        self.stopped = threading.Event()

    def run(self) -> None:
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


class LeaseHeld(Exception):
    """Another worker is running this job now."""


@contextlib.contextmanager
def lease(*, kind: str, object_id) -> Iterator[Lease]:
    """Hold the lease on one job's row while the block runs. A lease that ran out (its holder
    died) is taken over, counting the attempt."""
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


def lease_live(job: Task, *, object_ids) -> set[str]:
    """Of these rows, the ones a live worker of `job` holds now."""
    return set(
        JobLease.objects.filter(
            kind=job.module_path, object_id__in=[str(i) for i in object_ids], held=True, expires_at__gt=timezone.now()
        ).values_list("object_id", flat=True)
    )


def _recovery(path: str) -> Callable[[str, int], bool] | None:
    if path not in _RECOVERY:
        with contextlib.suppress(ImportError):
            import_string(path)  # declaring the job registers its recovery
    return _RECOVERY.get(path)


def jobs_recover(*, now: datetime | None = None) -> int:
    """Hand every lease that ran out to its job's recovery; return how many.

    Each expired lease is taken for recovery under its row lock (so two workers never recover
    the same job), then its job's `recover` runs outside any transaction: it opens its own (the
    holder's unit of work, when it writes account data). A recovery that raises leaves the lease
    to the next pass."""
    now = now or timezone.now()
    recovered = 0
    expired = JobLease.objects.filter(held=True, expires_at__lte=now)
    for lease_id in list(expired.values_list("pk", flat=True)):
        with transaction.atomic():
            row = JobLease.objects.select_for_update().filter(pk=lease_id, held=True, expires_at__lte=now).first()
            if row is None:
                continue  # renewed, released, or being recovered by another worker
            row.held = False  # from here on it only counts the job's attempts
            row.save(update_fields=["held"])
        recover = _recovery(row.kind)
        if recover is None:
            log.warning("no recovery for job %s", row.kind)
            retried = False
        else:
            try:
                retried = recover(row.object_id, row.attempts)
            except Exception:
                log.exception("the recovery of job %s(%s) failed; the next pass tries again", row.kind, row.object_id)
                JobLease.objects.filter(pk=row.pk, held=False).update(held=True)
                continue
        if not retried:
            JobLease.objects.filter(pk=row.pk, held=False).delete()
        recovered += 1
    # Attempt counts of retried jobs that never ran again (their pass was dropped meanwhile).
    JobLease.objects.filter(held=False, expires_at__lte=now - timedelta(days=1)).delete()
    return recovered


def forget_finished(*, now: datetime) -> int:
    """The database backend keeps a row per job: drop those that succeeded over a day ago and
    those that failed over a week ago (kept to be looked into)."""
    done, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.SUCCESSFUL, finished_at__lt=now - timedelta(days=1)).delete()
    failed, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lt=now - timedelta(days=7)).delete()
    return done + failed


# --------------------------------------------------------------------------- periodic jobs


@job
def recover() -> int:
    """Take back the jobs whose worker died (settings.JOBS_SCHEDULE runs it every few seconds)."""
    return jobs_recover()


def schedule() -> dict[str, float]:
    """The periodic jobs: each job's path and its interval in seconds (settings.JOBS_SCHEDULE)."""
    return {path: float(every) for path, every in settings.JOBS_SCHEDULE.items()}


def periodic_due(*, now: datetime) -> list[str]:
    """Queue every periodic job whose interval has started since it was last queued, and return
    their paths. Intervals are counted from the epoch, so every worker agrees on them, and the
    shared cache lets one worker queue each interval's job; a worker calls this between jobs."""
    queued = []
    for path, every in schedule().items():
        interval = int(now.timestamp() // every)
        if cache.add(f"jobs:periodic:{path}:{interval}", 1, timeout=max(1, int(every * 2))):
            import_string(path).enqueue()
            queued.append(path)
    return queued


def look_seconds() -> float:
    """How often an idle worker looks at its queue and the schedule: every WORKER_LOOK_SECONDS,
    or half the shortest interval, so a periodic job starts at most that long after its interval
    does (a worker busy with a job looks again when the job ends)."""
    return min([WORKER_LOOK_SECONDS, *(every / 2 for every in schedule().values())])

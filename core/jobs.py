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
- Jobs lost from the queue, which no lease can see (a process that died between its commit and
  the send, a broker that lost a message, a queue record deleted). `enqueue` writes the job's
  lease row in the caller's transaction, marked with the moment the job is due (`queued_at`),
  and once it sent the job, the id of its task result in the backend (`result_id`); the worker
  that starts it clears the mark. The same periodic sweep looks at each job still not started
  `lost_after` its due time (`@job(recover=..., lost_after=...)`, LOST_AFTER by default) and asks
  the backend about their tasks, all at once (one query on the database backend, one pipeline on
  Redis): one still waiting in the queue (or running) is left alone, however long the queue, and
  counts no attempt; one the backend no longer knows, or that ended without
  its job starting, was lost. So was one never sent, or sent to a backend that keeps no results
  (then the deadline alone decides). A lost job goes to the same `recover`, counting an attempt
  each time, so a job lost again and again is given up.
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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.base import Task, TaskResult
from django_tasks.exceptions import TaskResultDoesNotExist
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from core.models import JobLease
from core.uow import after_commit

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
MAX_ATTEMPTS = 3
# A job queued but not started this long after it was due was lost, unless its backend says it is still waiting.
LOST_AFTER = timedelta(minutes=10)
WORKER_LOOK_SECONDS = 1.0  # how often an idle worker looks at its queue and at the schedule

# job path -> recover(object_id, attempts) -> retried?: called (outside any transaction) for a lease that ran out.
_RECOVERY: dict[str, Callable[[str, int], bool]] = {}
# job path -> how long after it was due a queued job that no worker started counts as lost.
_LOST_AFTER: dict[str, timedelta] = {}


def job(function: Callable | None = None, *, recover: Callable[[str, int], bool] | None = None,
        lost_after: timedelta = LOST_AFTER) -> Task | Callable:
    """Declare a background job (`@job` or `@job(recover=...)`).

    With `recover`, the job's first parameter is the id of the row it works on: the job runs
    under a lease on it, and if its worker dies, or it was queued (with `enqueue`), no worker
    started it within `lost_after` of its due time and the backend no longer has it waiting,
    `recover(object_id, attempts)` queues it
    again (returns True; its attempts keep counting) or gives up (False: it marks its row failed).
    It is called outside any transaction, so it opens its own: the holder's unit of work when it
    writes account data.
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
        _LOST_AFTER[path] = lost_after
        return declared

    return declare(function) if function is not None else declare


def backend_defers() -> bool:
    """Whether the configured backend can run a job later (the immediate one cannot)."""
    return task_backends["default"].supports_defer


def enqueue(job: Task, *args, delay: float = 0.0, **kwargs) -> None:
    """Queue `job` once the current transaction commits (at once outside one); with `delay`
    seconds, not before then (a backend that cannot defer runs it at once).

    A job with recovery is marked queued on its row's lease, in the current transaction, so a
    send that never happens (the process died after the commit) or a message the queue lost is
    still found by the sweep (`jobs_recover`); once sent, the row keeps the id of the job's task
    result, so the sweep can ask the backend whether it is still waiting."""
    if job.module_path not in _RECOVERY:
        after_commit(lambda: _send(job, args, kwargs, delay))
        return
    first = next(iter(inspect.signature(job.func).parameters))
    object_id = args[0] if args else kwargs[first]
    due = timezone.now() + timedelta(seconds=delay)
    _mark_queued(kind=job.module_path, object_id=object_id, due=due)
    after_commit(lambda: _remember_sent(kind=job.module_path, object_id=object_id, due=due,
                                        sent=_send(job, args, kwargs, delay)))


def _send(job: Task, args: tuple, kwargs: dict, delay: float) -> TaskResult:
    """Hand the job to the configured backend (after the commit that asked for it)."""
    if delay > 0 and backend_defers():
        return job.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(*args, **kwargs)
    return job.enqueue(*args, **kwargs)


def _remember_sent(*, kind: str, object_id, due: datetime, sent: TaskResult | None) -> None:
    """The job's lease row, still queued for `due`, keeps the id of the task result it was sent as
    (a row already started, or queued again meanwhile, is left as it is)."""
    if sent is not None:
        JobLease.objects.filter(kind=kind, object_id=str(object_id), queued_at=due).update(
            result_id=str(sent.id))


def _mark_queued(*, kind: str, object_id, due: datetime) -> None:
    """The job's lease row says it is queued, due at `due` (the row is made if the job has none)."""
    rows = JobLease.objects.filter(kind=kind, object_id=str(object_id))
    if rows.update(queued_at=due, result_id=""):
        return
    try:
        with transaction.atomic():
            JobLease.objects.create(kind=kind, object_id=str(object_id), expires_at=due, attempts=0, held=False,
                                    queued_at=due)
    except IntegrityError:  # made meanwhile by another enqueue or a worker taking the lease
        rows.update(queued_at=due, result_id="")


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
    """Hold the lease on one job's row while the block runs, clearing its queued mark. A lease
    that ran out (its holder died) is taken over, counting the attempt. If the job was queued
    again while it ran (to run later), the row stays, marked queued, when the block ends."""
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
        else:  # started from the queue, or a retry after a crash
            row.attempts += 1
            row.expires_at = expires
            row.held = True
            row.queued_at, row.result_id = None, ""
            row.save(update_fields=["attempts", "expires_at", "held", "queued_at", "result_id"])
    heartbeat = _Heartbeat(row.pk)
    heartbeat.start()
    try:
        yield Lease(id=row.pk, attempts=row.attempts)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
        released = JobLease.objects.filter(pk=row.pk)
        if not released.filter(queued_at__isnull=True).delete()[0]:
            released.update(held=False, attempts=0)  # queued again meanwhile: it ended without a crash


def _recovery(path: str) -> Callable[[str, int], bool] | None:
    if path not in _RECOVERY:
        with contextlib.suppress(ImportError):
            import_string(path)  # declaring the job registers its recovery
    return _RECOVERY.get(path)


def jobs_recover(*, now: datetime | None = None) -> int:
    """Hand every lease that ran out, and every job lost from the queue, to its job's recovery;
    return how many.

    Each expired lease is taken for recovery under its row lock (so two workers never recover
    the same job), then its job's `recover` runs outside any transaction: it opens its own (the
    holder's unit of work, when it writes account data). A recovery that raises leaves the lease
    to the next pass."""
    now = now or timezone.now()
    recovered = _recover_expired_leases(now=now) + _recover_lost_from_queue(now=now)
    # Attempt counts of retried jobs that never ran again (their pass was dropped meanwhile).
    JobLease.objects.filter(held=False, queued_at__isnull=True, expires_at__lte=now - timedelta(days=1)).delete()
    return recovered


def _hand_back(row: JobLease, *, undo: Callable[[], None]) -> bool:
    """Call the recovery of `row`'s job (outside any transaction); False if it raised (then `undo`
    puts the row back for the next pass). A job given up loses its row, unless queued again."""
    recover = _recovery(row.kind)
    if recover is None:
        log.warning("no recovery for job %s", row.kind)
        retried = False
    else:
        try:
            retried = recover(row.object_id, row.attempts)
        except Exception:
            log.exception("the recovery of job %s(%s) failed; the next pass tries again", row.kind, row.object_id)
            undo()
            return False
    if not retried:
        JobLease.objects.filter(pk=row.pk, held=False, queued_at__isnull=True).delete()
    return True


@dataclass(frozen=True)
class _Sent:
    """What the sweep needs to know of a task its backend still has: the job it runs, its status,
    and when a worker claimed it (RUNNING)."""

    path: str
    status: str
    claimed: datetime | None


def _sent_tasks(kinds: dict[str, str]) -> dict[str, _Sent]:
    """The tasks the backends still have among the task result ids of `kinds` (result id -> its
    job's path). An id is left out where its backend no longer knows it, or cannot tell (it keeps
    no results, or the job is no longer declared). One look-up per backend: one query on the
    database backend, one pipeline on Redis (RQ), not one per task."""
    told: dict[str, _Sent] = {}
    by_backend: dict[str, list[str]] = {}
    for result_id, kind in kinds.items():
        with contextlib.suppress(ImportError):  # a job no longer declared
            backend = import_string(kind).get_backend()
            if backend.supports_get_result:
                by_backend.setdefault(backend.alias, []).append(result_id)
    for alias, ids in by_backend.items():
        told.update(_sent_on(task_backends[alias], ids))
    return told


def _sent_on(backend, ids: list[str]) -> dict[str, _Sent]:
    if isinstance(backend, DatabaseBackend):
        uuids = {}
        for result_id in ids:
            with contextlib.suppress(ValueError):  # not an id this backend made: it does not know it
                uuids[uuid.UUID(result_id)] = result_id
        rows = DBTaskResult.objects.filter(pk__in=list(uuids)).values_list("pk", "task_path", "status", "started_at")
        return {uuids[pk]: _Sent(path, status, started_at) for pk, path, status, started_at in rows}
    if type(backend).__module__.startswith("django_tasks_rq."):  # imported only then: django_rq needs its app
        import django_rq
        from django_tasks_rq.backend import RQ_STATUS_TO_RESULT_STATUS, Job

        found = Job.fetch_many(ids, connection=django_rq.get_connection())
        return {result_id: _Sent(job.func_name, RQ_STATUS_TO_RESULT_STATUS.get(job.get_status(refresh=False),
                                                                                TaskResultStatus.READY),
                                 job.started_at)
                for result_id, job in zip(ids, found, strict=True) if job is not None}
    sent = {}  # another backend: one question a task
    for result_id in ids:
        with contextlib.suppress(TaskResultDoesNotExist):
            result = backend.get_result(result_id)
            sent[result_id] = _Sent(result.task.module_path, result.status,
                                    result.last_attempted_at or result.started_at)
    return sent


def _still_queued(kind: str, sent: _Sent | None, *, now: datetime, lost_after: timedelta) -> bool:
    """Whether the backend still has the job's task waiting in its queue, or a worker claimed it
    less than `lost_after` ago (its job takes its lease, clearing the mark, as it starts). Not if
    it no longer knows the task or cannot tell (`sent` is None: then the deadline alone decides),
    the task is another job's, it ended without its job starting (the job's mark is still there),
    or a worker claimed it long ago and died before the job started."""
    if sent is None or sent.path != kind:
        return False
    if sent.status == TaskResultStatus.READY:
        return True
    if sent.status == TaskResultStatus.RUNNING:
        return sent.claimed is not None and sent.claimed > now - lost_after
    return False


def _recover_lost_from_queue(*, now: datetime) -> int:
    """Jobs queued but not started by a worker `lost_after` their due time, and no longer waiting
    in the backend's queue: each goes to its job's recovery, counting an attempt (queue it again,
    or give up and mark its row failed). A job the backend still has waiting is left alone."""
    recovered = 0
    queued = JobLease.objects.filter(held=False, queued_at__lte=now - min([LOST_AFTER, *_LOST_AFTER.values()]))
    overdue = []
    for lease_id, kind, queued_at, result_id in list(queued.values_list("pk", "kind", "queued_at", "result_id")):
        _recovery(kind)  # declaring the job registers its deadline
        if queued_at <= now - _LOST_AFTER.get(kind, LOST_AFTER):
            overdue.append((lease_id, kind, queued_at, result_id))
    sent_ids = {result_id: kind for _, kind, _, result_id in overdue if result_id}
    try:
        sent = _sent_tasks(sent_ids) if sent_ids else {}
    except Exception:  # the backend is unreachable: the next pass asks again
        log.warning("could not ask the tasks backend about %d jobs; the next pass asks again", len(sent_ids),
                    exc_info=True)
        sent, overdue = {}, [row for row in overdue if not row[3]]  # a job never sent needs no answer
    for lease_id, kind, queued_at, result_id in overdue:
        if result_id and _still_queued(kind, sent.get(result_id), now=now,
                                       lost_after=_LOST_AFTER.get(kind, LOST_AFTER)):
            continue  # a long queue, not a lost job
        with transaction.atomic():
            row = JobLease.objects.select_for_update().filter(
                pk=lease_id, held=False, queued_at=queued_at, result_id=result_id).first()
            if row is None:
                continue  # started, or queued again, or being recovered by another worker
            row.queued_at, row.result_id = None, ""
            row.attempts += 1
            row.save(update_fields=["queued_at", "result_id", "attempts"])
        log.warning("job %s(%s) was lost from the queue; handing it to its recovery", row.kind, row.object_id)

        def undo(row=row, queued_at=queued_at, result_id=result_id) -> None:
            JobLease.objects.filter(pk=row.pk, held=False, queued_at__isnull=True).update(
                queued_at=queued_at, result_id=result_id, attempts=row.attempts - 1)

        recovered += _hand_back(row, undo=undo)
    return recovered


def _recover_expired_leases(*, now: datetime) -> int:
    recovered = 0
    expired = JobLease.objects.filter(held=True, expires_at__lte=now)
    for lease_id in list(expired.values_list("pk", flat=True)):
        with transaction.atomic():
            row = JobLease.objects.select_for_update().filter(pk=lease_id, held=True, expires_at__lte=now).first()
            if row is None:
                continue  # renewed, released, or being recovered by another worker
            row.held = False  # from here on it only counts the job's attempts
            row.queued_at, row.result_id = None, ""
            row.save(update_fields=["held", "queued_at", "result_id"])
        recovered += _hand_back(
            row, undo=lambda row=row: JobLease.objects.filter(pk=row.pk, held=False).update(held=True))
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
    """Take back the jobs whose worker died and the jobs lost from the queue (settings.JOBS_SCHEDULE
    runs it every few seconds)."""
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

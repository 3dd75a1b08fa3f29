"""Jobs lost from the queue, which no lease can see, are found by core.jobs' one sweep.

A job with recovery is marked queued on its lease row in the transaction that queues it; the
worker that starts it clears the mark. Here the queue loses the send (the process died after its
commit, or the broker lost the message): `jobs_recover(now=...)`, the periodic sweep of
JOBS_SCHEDULE, finds each kind's job once it is LOST_AFTER past due, sends it again through its
own recovery, and gives up (failing the job's row) after MAX_ATTEMPTS. No app keeps a detector
of its own: support's 10-minute export resend, the verifier's STALE_AFTER and suggestions'
claim-time check are gone. A job merely waiting in a backed-up queue is not lost: the sweep asks
the backend (here the database one) about the task the lease row names, and leaves a waiting one
alone; only one the backend no longer knows, or that ended without the job starting, is lost.
"""

import base64
import os
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from audit import jobs as verification_jobs
from audit.models import AuditVerification
from core import jobs
from core.models import JobLease
from core.uow import Actor
from suggestions import jobs as suggestion_jobs
from suggestions.models import SuggestionJob
from support import rights
from support.models import DataExport
from tests.conftest import make_user, unit_of
from tests.suggestions.conftest import COLOURS, a_day_out, grant

pytestmark = pytest.mark.django_db

REDIS = "redis://127.0.0.1:6379/13"  # a database of its own (tests/test_jobs.py empties 11)


@pytest.fixture(autouse=True)
def _vault(settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def lossy_queue(monkeypatch):
    """A queue that loses every job sent to it (`.sent` records them); `.mend()` fixes it."""

    class Queue:
        sent: list[str] = []

        def mend(self):
            monkeypatch.setattr(jobs, "_send", real)

    real = jobs._send
    queue = Queue()
    monkeypatch.setattr(jobs, "_send", lambda job, args, kwargs, delay: queue.sent.append(job.module_path))
    return queue


@pytest.fixture
def database_queue(monkeypatch, settings):
    """The database backend's queue, which keeps what it is sent (`.sent` records it too) until a
    worker runs it: nothing runs here, as if the queue were backed up."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    class Queue:
        sent: list[str] = []

    def send(job, args, kwargs, delay):
        queue.sent.append(job.module_path)
        return real(job, args, kwargs, delay)

    real = jobs._send
    queue = Queue()
    monkeypatch.setattr(jobs, "_send", send)
    return queue


def _due(job, object_id):
    """When the lost job was due: the moment its lease row says it was queued for."""
    return JobLease.objects.get(kind=job.module_path, object_id=str(object_id), held=False).queued_at


def _export(alice, lossy_queue, capture):
    with capture(execute=True):
        export = rights.export_request(user=alice)
    assert lossy_queue.sent == ["support.rights.export_build_job"]
    return export, rights.export_build_job, export.pk


def _verification(audrey, lossy_queue, capture):
    with capture(execute=True):
        verification = verification_jobs.verification_request(actor=Actor.auditor(audrey.pk))
    assert lossy_queue.sent == ["audit.jobs.verification_task"]
    return verification, verification_jobs.verification_task, verification.pk


def _suggestion_pass(alice, lossy_queue, capture):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    lossy_queue.sent.clear()
    with capture(execute=True):
        job = suggestion_jobs.suggestion_job_request(user_id=alice.pk)
    assert lossy_queue.sent == ["suggestions.jobs.run_job"]
    return job, suggestion_jobs.run_job, job.pk


KINDS = {"export": _export, "verification": _verification, "suggestion pass": _suggestion_pass}
DONE = {"export": DataExport.Status.READY, "verification": AuditVerification.Status.DONE,
        "suggestion pass": SuggestionJob.Status.DONE}
WAITING = {"export": DataExport.Status.PENDING, "verification": AuditVerification.Status.PENDING,
           "suggestion pass": SuggestionJob.Status.QUEUED}


def _make(kind, alice, audrey, lossy_queue, capture):
    return KINDS[kind](audrey if kind == "verification" else alice, lossy_queue, capture)


@pytest.mark.parametrize("kind", list(KINDS))
def test_it_sends_a_job_lost_from_the_queue_again_once_it_is_overdue(
        kind, alice, audrey, lossy_queue, django_capture_on_commit_callbacks):
    row, job, object_id = _make(kind, alice, audrey, lossy_queue, django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert row.status == WAITING[kind]  # lost: nothing runs it
    due = _due(job, object_id)
    lossy_queue.mend()

    assert jobs.jobs_recover(now=due + jobs.LOST_AFTER / 2) == 0  # not overdue yet: maybe just a long queue
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=due + jobs.LOST_AFTER) == 1
    row.refresh_from_db()
    assert row.status == DONE[kind]  # sent again, and run (the immediate backend)
    assert not JobLease.objects.exists()  # started, finished, released


@pytest.mark.parametrize("kind", list(KINDS))
def test_it_fails_a_job_lost_from_the_queue_every_time_it_is_sent(
        kind, alice, audrey, lossy_queue, django_capture_on_commit_callbacks):
    row, job, object_id = _make(kind, alice, audrey, lossy_queue, django_capture_on_commit_callbacks)
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        due = _due(job, object_id)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.jobs_recover(now=due + jobs.LOST_AFTER) == 1
        if attempt < jobs.MAX_ATTEMPTS:
            assert len(lossy_queue.sent) == attempt + 1  # sent again, and lost again
    row.refresh_from_db()
    assert row.status == "failed"  # given up: the page says so instead of "waiting" for ever
    assert len(lossy_queue.sent) == jobs.MAX_ATTEMPTS
    assert not JobLease.objects.exists()
    assert jobs.jobs_recover(now=due + 10 * jobs.LOST_AFTER) == 0


def test_a_job_started_before_its_deadline_is_not_lost(alice, django_capture_on_commit_callbacks):
    """The worker that starts a job clears its queued mark: nothing is left for the sweep."""
    with django_capture_on_commit_callbacks(execute=True):
        export = rights.export_request(user=alice)
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY
    assert not JobLease.objects.exists()


def test_the_apps_keep_no_crash_detector_of_their_own():
    assert not hasattr(rights, "exports_recover") and not hasattr(rights, "STALE_PENDING")
    assert not hasattr(verification_jobs, "STALE_AFTER")
    assert not hasattr(suggestion_jobs, "CLAIM_GRACE")


def _tasks(job):
    """The job's tasks in the database backend's queue."""
    return DBTaskResult.objects.filter(task_path=job.module_path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_job_still_waiting_in_a_long_queue_is_neither_sent_again_nor_failed(
        kind, alice, audrey, database_queue, django_capture_on_commit_callbacks):
    """A backed-up queue is not a lost job: the backend still has its task waiting (READY)."""
    row, job, object_id = _make(kind, alice, audrey, database_queue, django_capture_on_commit_callbacks)
    due = _due(job, object_id)
    task = _tasks(job).get()
    assert task.status == TaskResultStatus.READY
    for minutes in range(1, 6 * jobs.MAX_ATTEMPTS + 1):  # 3 hours' sweeps, 10 minutes apart
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.jobs_recover(now=due + minutes * jobs.LOST_AFTER) == 0
    assert database_queue.sent == [job.module_path]  # no duplicate sent
    assert list(_tasks(job).values_list("id", flat=True)) == [task.id]
    lease = JobLease.objects.get(kind=job.module_path, object_id=str(object_id))
    assert (lease.queued_at, lease.attempts, lease.result_id) == (due, 0, str(task.id))
    row.refresh_from_db()
    assert row.status == WAITING[kind]  # still waiting its turn, not failed


@pytest.mark.parametrize("how", ["deleted", "ended"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_job_the_backend_no_longer_has_waiting_is_lost(
        kind, how, alice, audrey, database_queue, django_capture_on_commit_callbacks):
    """Its task row deleted from the queue, or ended without the job starting (its mark still
    there): sent again once overdue, each time counting an attempt, then given up."""
    row, job, object_id = _make(kind, alice, audrey, database_queue, django_capture_on_commit_callbacks)
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        due = _due(job, object_id)
        if how == "deleted":
            _tasks(job).delete()
        else:
            _tasks(job).update(status=TaskResultStatus.FAILED)
        assert jobs.jobs_recover(now=due + jobs.LOST_AFTER / 2) == 0  # not overdue yet
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.jobs_recover(now=due + jobs.LOST_AFTER) == 1
        if attempt < jobs.MAX_ATTEMPTS:
            assert len(database_queue.sent) == attempt + 1  # sent again
            waiting = _tasks(job).get(status=TaskResultStatus.READY)
            assert JobLease.objects.get(kind=job.module_path, object_id=str(object_id)).result_id == str(waiting.id)
    row.refresh_from_db()
    assert row.status == "failed"
    assert len(database_queue.sent) == jobs.MAX_ATTEMPTS
    assert not JobLease.objects.exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_task_claimed_by_a_worker_that_died_before_the_job_started_is_lost(
        kind, alice, audrey, database_queue, django_capture_on_commit_callbacks):
    """The backend marked the task RUNNING, but its job never took its lease (the worker died in
    between): RUNNING for longer than the job's deadline without the job's mark cleared is a lost
    job, not a live one. A task claimed only just now is still left alone."""
    row, job, object_id = _make(kind, alice, audrey, database_queue, django_capture_on_commit_callbacks)
    due = _due(job, object_id)
    now = due + 2 * jobs.LOST_AFTER
    _tasks(job).update(status=TaskResultStatus.RUNNING, started_at=now - jobs.LOST_AFTER / 2)
    assert jobs.jobs_recover(now=now) == 0  # claimed recently: its job may be starting
    _tasks(job).update(started_at=now - jobs.LOST_AFTER)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=now) == 1
    assert len(database_queue.sent) == 2  # sent again
    assert JobLease.objects.get(kind=job.module_path, object_id=str(object_id)).attempts == 1


def test_with_a_backend_that_keeps_no_results_the_deadline_alone_decides(
        alice, audrey, lossy_queue, django_capture_on_commit_callbacks):
    """The immediate backend cannot look a task up (NotImplementedError): a job overdue is lost."""
    row, job, object_id = _make("export", alice, audrey, lossy_queue, django_capture_on_commit_callbacks)
    due = _due(job, object_id)
    JobLease.objects.filter(kind=job.module_path).update(result_id=str(uuid.uuid4()))
    lossy_queue.mend()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=due + jobs.LOST_AFTER) == 1
    row.refresh_from_db()
    assert row.status == DONE["export"]


def _exports_waiting(alice, capture, holders: int) -> list[DataExport]:
    """An export for each of `holders` holders (alice first), sent to a queue nobody works."""
    exports = []
    for user in [alice, *(make_user(f"holder{n}") for n in range(1, holders))]:
        with capture(execute=True):
            exports.append(rights.export_request(user=user))
    return exports


def test_the_sweep_asks_the_database_backend_once_however_many_jobs_are_overdue(
        alice, database_queue, django_capture_on_commit_callbacks):
    """One query on the backend's table a pass, not one per overdue job: a queue backed up with
    many jobs costs the sweep no more than one."""
    exports = _exports_waiting(alice, django_capture_on_commit_callbacks, holders=4)
    due = max(_due(rights.export_build_job, export.pk) for export in exports)
    table = DBTaskResult._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert jobs.jobs_recover(now=due + 2 * jobs.LOST_AFTER) == 0  # all still waiting
    assert len([q for q in queries if table in q["sql"]]) == 1
    for export in exports:
        export.refresh_from_db()
        assert export.status == DataExport.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_the_sweep_asks_redis_once_however_many_jobs_are_overdue(alice, settings, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    """On Redis (RQ) the tasks are read in one pipeline: one round trip a pass, not a few per job."""
    import redis

    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError:
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")
    redis.Redis.from_url(REDIS).flushdb()
    settings.RQ_QUEUES = {"default": {"URL": REDIS}}
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_rq"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    exports = _exports_waiting(alice, django_capture_on_commit_callbacks, holders=4)
    due = max(_due(rights.export_build_job, export.pk) for export in exports)
    assert all(JobLease.objects.values_list("result_id", flat=True))  # each sent, with its task's id
    asked = []  # what the sweep asks Redis: each command sent alone, each pipeline (a handshake aside)
    for cls, method in [(redis.Redis, "execute_command"), (redis.client.Pipeline, "execute")]:
        real = getattr(cls, method)
        monkeypatch.setattr(cls, method, lambda self, *args, real=real, method=method, **kwargs:
                            asked.append(method) or real(self, *args, **kwargs))
    assert jobs.jobs_recover(now=due + 2 * jobs.LOST_AFTER) == 0  # all still waiting
    assert asked == ["execute"]
    redis.Redis.from_url(REDIS).flushdb()

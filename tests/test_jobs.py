"""One job mechanism (core.jobs): one decorator, leases kept alive by a heartbeat, a crashed job
retried within a minute and never blocking the holder's next pass, progress saved at most once a
second, periodic jobs from one schedule once per interval, the database worker and the Redis (RQ)
worker running real jobs."""

import io
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from core import jobs
from core.models import JobLease
from suggestions import jobs as suggestion_jobs
from suggestions.models import SuggestionJob
from tests.conftest import unit_of
from tests.suggestions.conftest import COLOURS, a_day_out, grant

ROOT = Path(__file__).resolve().parent.parent
REDIS = "redis://127.0.0.1:6379/11"
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture(autouse=True)
def _vault(settings):
    import base64
    import os

    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"


def crashed_pass(user) -> SuggestionJob:
    """A pass that a worker claimed and then died running: RUNNING, its lease run out."""
    with unit_of(user):
        job = SuggestionJob.objects.create(
            owner=user, trigger="request", run_after=timezone.now(), status=SuggestionJob.Status.RUNNING,
            started_at=timezone.now() - timedelta(minutes=2),
        )
    JobLease.objects.create(kind=suggestion_jobs.run_job.module_path, object_id=str(job.pk),
                            expires_at=timezone.now() - timedelta(seconds=1))
    return job


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_by_its_heartbeat_and_released(monkeypatch):
    # Waits for the heartbeat (every LEASE_SECONDS / 3) rather than sleeping a fixed time: on a busy
    # machine a 0.3 s lease could lapse, or not be renewed yet, before the assertions ran.
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 3)
    with jobs.lease(kind="test", object_id=7) as held:
        first = JobLease.objects.get(pk=held.id).expires_at
        deadline = time.monotonic() + 60
        while (renewed := JobLease.objects.get(pk=held.id).expires_at) <= first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert renewed > first  # renewed while the job runs
        with pytest.raises(jobs.LeaseHeld), jobs.lease(kind="test", object_id=7):
            pass
    assert not JobLease.objects.exists()


@pytest.mark.django_db
def test_a_crashed_pass_is_retried_by_the_periodic_recovery(alice, django_capture_on_commit_callbacks):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    job = crashed_pass(alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover() == 1  # the worker's recover job, every RECOVER_SECONDS
    job.refresh_from_db()
    # Immediate backend here: requeued and run again at once.
    assert job.status == SuggestionJob.Status.DONE and job.created_count >= 1
    # Retried within a minute of the crash: the lease runs out, then the next recover job takes it.
    assert jobs.schedule()["core.jobs.recover"] + jobs.LEASE_SECONDS <= 60


@pytest.mark.django_db
def test_a_pass_whose_worker_died_before_claiming_it_is_sent_again(alice, django_capture_on_commit_callbacks):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
        job = SuggestionJob.objects.create(owner=alice, trigger="request", run_after=timezone.now())  # still queued
    JobLease.objects.create(kind=suggestion_jobs.run_job.module_path, object_id=str(job.pk),
                            expires_at=timezone.now() - timedelta(seconds=1))  # its worker died holding the lease
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=timezone.now()) == 1
    job.refresh_from_db()
    assert job.status == SuggestionJob.Status.DONE and job.created_count >= 1


@pytest.mark.django_db
def test_a_crashed_pass_does_not_block_the_holders_next_pass(alice, django_capture_on_commit_callbacks):
    """The next pass waits only until the sweep finds the dead one (its lease runs out within
    LEASE_SECONDS): the sweep fails it, since the next pass will do the same work."""
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    crashed = crashed_pass(alice)
    with django_capture_on_commit_callbacks(execute=True):
        nxt = suggestion_jobs.suggestion_job_request(user_id=alice.pk)
    nxt.refresh_from_db()
    assert nxt.status == SuggestionJob.Status.QUEUED  # one pass of a holder's at a time
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=timezone.now()) == 1
    crashed.refresh_from_db()
    assert crashed.status == SuggestionJob.Status.FAILED and crashed.error_code == "interrupted"
    assert suggestion_jobs.suggestion_job_run(job_id=nxt.pk).status == SuggestionJob.Status.DONE  # its next look


@pytest.mark.django_db
def test_a_live_pass_still_makes_the_next_one_wait(alice, settings):
    settings.TASKS = DATABASE_TASKS
    grant(alice)
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    with unit_of(alice):
        running = SuggestionJob.objects.create(owner=alice, trigger="request", run_after=timezone.now(),
                                               status=SuggestionJob.Status.RUNNING, started_at=timezone.now())
    JobLease.objects.create(kind=suggestion_jobs.run_job.module_path, object_id=str(running.pk),
                            expires_at=timezone.now() + timedelta(seconds=30))
    with unit_of(alice):
        queued = SuggestionJob.objects.create(owner=alice, trigger="request", run_after=timezone.now())
    assert suggestion_jobs.suggestion_job_run(job_id=queued.pk).status == SuggestionJob.Status.QUEUED


@pytest.mark.django_db
def test_a_pass_that_keeps_crashing_is_given_up(alice, django_capture_on_commit_callbacks):
    grant(alice)
    job = crashed_pass(alice)
    JobLease.objects.filter(object_id=str(job.pk)).update(attempts=jobs.MAX_ATTEMPTS)
    with django_capture_on_commit_callbacks(execute=True):  # the job's row, once the lease's change commits
        jobs.jobs_recover()
    job.refresh_from_db()
    assert job.status == SuggestionJob.Status.FAILED and job.error_code == "interrupted"
    assert not JobLease.objects.exists()


@pytest.mark.django_db
def test_periodic_jobs_come_from_one_schedule_once_per_interval_across_workers(settings):
    settings.TASKS = DATABASE_TASKS
    settings.JOBS_SCHEDULE = {"core.jobs.recover": 15, "audit.jobs.checkpoint": 5}
    from django_tasks_db.models import DBTaskResult

    cache.clear()
    start = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    assert set(jobs.periodic_due(now=start)) == {"core.jobs.recover", "audit.jobs.checkpoint"}
    # Another worker looking in the same intervals queues nothing.
    assert jobs.periodic_due(now=start + timedelta(seconds=4.9)) == []
    assert jobs.periodic_due(now=start + timedelta(seconds=5)) == ["audit.jobs.checkpoint"]
    assert jobs.periodic_due(now=start + timedelta(seconds=9)) == []
    assert set(jobs.periodic_due(now=start + timedelta(seconds=15))) == {"core.jobs.recover", "audit.jobs.checkpoint"}
    queued = list(DBTaskResult.objects.values_list("task_path", flat=True))
    assert sorted(queued) == ["audit.jobs.checkpoint"] * 3 + ["core.jobs.recover"] * 2


def test_the_schedule_in_settings_names_the_periodic_jobs_and_the_loop_commands_are_gone():
    from django.conf import settings

    assert set(settings.JOBS_SCHEDULE) == {
        "core.jobs.recover", "consentsvc.housekeeping.housekeeping", "audit.jobs.checkpoint"}
    for path in settings.JOBS_SCHEDULE:
        assert hasattr(jobs.import_string(path), "enqueue"), path  # each is a job
    # The worker looks at the schedule at least twice per shortest interval.
    assert jobs.look_seconds() <= min(settings.JOBS_SCHEDULE.values()) / 2
    helps = {}
    for command in ("housekeeping", "audit_checkpoint"):
        out = io.StringIO()
        with pytest.raises(SystemExit):
            call_command(command, "--help", stdout=out)
        helps[command] = out.getvalue()
    assert "--every" not in helps["housekeeping"] and "--loop" not in helps["audit_checkpoint"]


def test_progress_is_saved_when_it_moved_and_at_most_once_a_second():
    saved, clock = [], [100.0]
    progress = jobs.Progress(lambda done, total: saved.append(done), every=1.0, clock=lambda: clock[0])
    progress(1, 10)
    progress(1, 10)  # unchanged: no write
    clock[0] += 0.4
    progress(2, 10)  # within the second: held back
    clock[0] += 0.7
    progress(3, 10)
    progress(4, 10)
    progress.finish()  # the last value always
    assert saved == [1, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_a_job_with_recovery_runs_under_a_lease_and_never_twice_at_once():
    from tests import job_samples

    job_samples.SEEN.clear()
    job_samples.leased.call("42")
    assert job_samples.SEEN == [("42", 1)]  # ran holding the lease on row 42
    job_samples.leased.call(object_id="43")  # the row's id passed by name works the same
    assert job_samples.SEEN == [("42", 1), ("43", 1)]
    assert not JobLease.objects.exists()  # released
    with jobs.lease(kind=job_samples.leased.module_path, object_id="42"):  # a live worker runs it
        job_samples.SEEN.clear()
        assert job_samples.leased.call("42") is None
        assert job_samples.SEEN == []  # the second run does nothing


@pytest.mark.django_db
def test_a_lease_that_ran_out_goes_to_its_jobs_recovery_found_from_its_path(monkeypatch):
    # A worker that has not imported the job's module yet: recovery imports it from the lease's path.
    monkeypatch.delitem(sys.modules, "tests.job_samples", raising=False)
    monkeypatch.delitem(jobs._RECOVERY, "tests.job_samples.leased", raising=False)
    JobLease.objects.create(kind="tests.job_samples.leased", object_id="9",
                            expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.jobs_recover(now=timezone.now()) == 1
    job_samples = sys.modules["tests.job_samples"]
    assert job_samples.RECOVERED == [("9", 1)] and not JobLease.objects.exists()  # given up: released


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_takes_back_a_crashed_pass_and_runs_it(alice, settings):
    settings.TASKS = DATABASE_TASKS
    cache.clear()
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    job = crashed_pass(alice)
    # One worker pass: the periodic recover job is queued, run, and queues the pass again; the
    # worker then runs the pass too before it stops.
    call_command("jobs_worker", "--batch", stdout=io.StringIO())
    job.refresh_from_db()
    assert job.status == SuggestionJob.Status.DONE and job.created_count >= 1


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.django_db(transaction=True)
def test_the_redis_worker_runs_a_pass(alice, settings):
    if not _redis_up():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")
    import django_rq
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    settings.RQ_QUEUES = {"default": {"URL": REDIS}}
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_rq"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    job = suggestion_jobs.suggestion_job_request(user_id=alice.pk)  # sent to Redis on commit
    job.refresh_from_db()
    assert job.status == "queued"
    assert django_rq.get_queue("default").count == 1
    call_command("jobs_worker", "--batch", stdout=io.StringIO())
    job.refresh_from_db()
    assert job.status == SuggestionJob.Status.DONE and job.created_count >= 1


def test_the_worker_refuses_the_immediate_backend():
    result = subprocess.run(
        [sys.executable, "manage.py", "jobs_worker", "--batch"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**__import__("os").environ, "DJANGO_ENV": "test", "TASKS_BACKEND": "immediate"},
    )
    assert result.returncode != 0 and "nothing to work on" in result.stderr


@pytest.mark.django_db
def test_the_records_of_finished_jobs_are_forgotten_a_day_or_a_week_on(settings):
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_TASKS
    now = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    rows = {}
    for name, status, age in [("done-old", "SUCCESSFUL", timedelta(days=1, minutes=1)),
                              ("done-new", "SUCCESSFUL", timedelta(hours=23)),
                              ("failed-old", "FAILED", timedelta(days=7, minutes=1)),
                              ("failed-new", "FAILED", timedelta(days=6)),
                              ("waiting", "READY", None)]:
        rows[name] = jobs.recover.enqueue().id
        if age is not None:
            DBTaskResult.objects.filter(id=rows[name]).update(status=getattr(TaskResultStatus, status),
                                                               finished_at=now - age)
    assert jobs.forget_finished(now=now) == 2
    left = {str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)}
    assert left == {rows["done-new"], rows["failed-new"], rows["waiting"]}


@pytest.mark.django_db(transaction=True)
def test_a_recovery_runs_outside_any_transaction_and_one_that_fails_is_tried_again():
    from tests import job_samples

    expired = timezone.now() - timedelta(seconds=1)
    for object_id in ("fine", "broken"):
        JobLease.objects.create(kind=job_samples.outside.module_path, object_id=object_id, expires_at=expired)
    job_samples.IN_TRANSACTION.clear()
    assert jobs.jobs_recover(now=timezone.now()) == 1
    # It can open the holder's unit of work (which refuses to start inside another transaction).
    assert job_samples.IN_TRANSACTION == [False, False]
    # The failed one is still there for the next pass; the other was given up and released.
    assert list(JobLease.objects.values_list("object_id", "held")) == [("broken", True)]

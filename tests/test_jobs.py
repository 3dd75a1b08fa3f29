"""One job mechanism (consentsvc.jobs): leases kept alive by a heartbeat, a crashed job retried
within a minute and never blocking the holder's next pass, periodic jobs once per interval,
the database worker and the Redis (RQ) worker running real jobs."""

import io
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from consentsvc import jobs
from consentsvc.models import JobLease
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
    JobLease.objects.create(kind="suggestions", object_id=str(job.pk), expires_at=timezone.now() - timedelta(seconds=1))
    return job


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_by_its_heartbeat_and_released(monkeypatch):
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 0.3)
    with jobs.lease(kind="test", object_id=7) as held:
        first = JobLease.objects.get(pk=held.id).expires_at
        time.sleep(0.5)
        assert JobLease.objects.get(pk=held.id).expires_at > first  # renewed while the job runs
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
    assert jobs.RECOVER_SECONDS + jobs.LEASE_SECONDS <= 60  # retried within a minute of the crash


@pytest.mark.django_db
def test_a_crashed_pass_does_not_block_the_holders_next_pass(alice, django_capture_on_commit_callbacks):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    crashed = crashed_pass(alice)
    with django_capture_on_commit_callbacks(execute=True):
        nxt = suggestion_jobs.suggestion_job_request(user_id=alice.pk)
    nxt.refresh_from_db()
    assert nxt.status == SuggestionJob.Status.DONE  # not "queued" for 30 minutes behind a dead one
    crashed.refresh_from_db()
    assert crashed.status == SuggestionJob.Status.FAILED and crashed.error_code == "interrupted"


@pytest.mark.django_db
def test_a_live_pass_still_makes_the_next_one_wait(alice, settings):
    settings.TASKS = DATABASE_TASKS
    grant(alice)
    with unit_of(alice):
        SuggestionJob.objects.all().delete()
    with unit_of(alice):
        running = SuggestionJob.objects.create(owner=alice, trigger="request", run_after=timezone.now(),
                                               status=SuggestionJob.Status.RUNNING, started_at=timezone.now())
    JobLease.objects.create(kind="suggestions", object_id=str(running.pk),
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
def test_periodic_jobs_are_queued_once_per_interval_across_workers(settings, monkeypatch):
    settings.TASKS = DATABASE_TASKS
    from django_tasks_db.models import DBTaskResult

    cache.clear()
    assert set(jobs.periodic_tick()) == {"recover", "housekeeping", "audit-checkpoint"}
    assert jobs.periodic_tick() == []  # another worker ticking in the same interval queues nothing
    assert set(DBTaskResult.objects.values_list("task_path", flat=True)) == {
        "consentsvc.jobs.recover", "consentsvc.jobs.housekeeping", "consentsvc.jobs.audit_checkpoint"}


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

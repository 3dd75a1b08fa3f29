"""Support's background jobs go through the job backend once the transaction commits; only
support's own functions can be named as jobs."""

import pytest

from support import jobs

pytestmark = pytest.mark.django_db

CALLS = []


def job(*, export_id):
    CALLS.append(export_id)


def test_it_runs_jobs_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    real = jobs._resolve
    monkeypatch.setattr(jobs, "_resolve", lambda path: job if path == "tests.support.test_jobs.job" else real(path))
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_after_commit(job, export_id="a")
        assert CALLS == []
    assert CALLS == ["a"]


def test_it_queues_jobs_in_the_database_for_the_worker(settings, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_after_commit(job, export_id="b")
    assert CALLS == []  # not run here: a worker will
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "support.jobs.run"
    assert queued.args_kwargs["args"] == ["tests.support.test_jobs.job", {"export_id": "b"}]


def test_it_only_runs_support_jobs_by_name():
    with pytest.raises(ValueError):
        jobs.run.call("os.system", {"command": "true"})

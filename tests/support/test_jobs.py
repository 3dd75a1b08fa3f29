"""Support's background jobs are core.jobs jobs, queued once the transaction that asked for them
commits: an export's build (under a lease on the export: a build whose worker died is built
again) and a notice's email."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core import jobs
from core.models import JobLease
from support import rights
from support.models import DataExport
from tests.conftest import unit_of

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_an_export_is_queued_for_the_worker_after_commit(alice, settings, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_TASKS
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = rights.export_request(user=alice)
    assert not DBTaskResult.objects.exists()  # nothing before commit
    for callback in callbacks:
        callback()
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "support.rights.export_build_job"
    assert queued.args_kwargs["args"] == [str(export.pk)]
    export.refresh_from_db()
    assert export.status == DataExport.Status.PENDING  # not built here: a worker will


def test_an_export_whose_worker_died_is_built_again(alice, django_capture_on_commit_callbacks):
    export = rights.export_request(user=alice)  # not run: no commit callbacks here
    with unit_of(alice):
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.RUNNING)
    JobLease.objects.filter(kind=rights.export_build_job.module_path, object_id=str(export.pk)).update(
        expires_at=timezone.now() - timedelta(seconds=1), held=True, queued_at=None)  # its worker died
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=timezone.now()) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY
    assert not JobLease.objects.exists()


def test_an_export_build_that_keeps_dying_is_given_up(alice):
    export = rights.export_request(user=alice)
    with unit_of(alice):
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.RUNNING)
    JobLease.objects.filter(kind=rights.export_build_job.module_path, object_id=str(export.pk)).update(
        expires_at=timezone.now() - timedelta(seconds=1), attempts=jobs.MAX_ATTEMPTS, held=True, queued_at=None)
    assert jobs.jobs_recover(now=timezone.now()) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.FAILED and export.error_code == "interrupted"  # failed by the sweep
    assert not JobLease.objects.exists()



def test_an_export_whose_worker_died_before_starting_it_is_sent_again(alice, django_capture_on_commit_callbacks):
    export = rights.export_request(user=alice)  # not run: no commit callbacks here; still pending
    JobLease.objects.filter(kind=rights.export_build_job.module_path, object_id=str(export.pk)).update(
        expires_at=timezone.now() - timedelta(seconds=1), held=True, queued_at=None)  # died holding the lease
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=timezone.now()) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY

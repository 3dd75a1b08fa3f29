"""Background jobs go to Celery when a broker is set, to the in-process worker otherwise, inline in tests."""

import pytest

from support import jobs

pytestmark = pytest.mark.django_db

CALLS = []


def job(*, export_id):
    CALLS.append(export_id)


def test_it_runs_jobs_inline_after_commit_in_tests(django_capture_on_commit_callbacks):
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_after_commit(job, export_id="a")
        assert CALLS == []
    assert CALLS == ["a"]


def test_it_sends_jobs_to_celery_when_a_broker_is_set(settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.SUPPORT_TASKS_INLINE = False
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    sent = []
    monkeypatch.setattr(jobs.run, "delay", lambda path, kwargs: sent.append((path, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_after_commit(job, export_id="b")
    assert sent == [("tests.support.test_jobs.job", {"export_id": "b"})]


def test_it_uses_the_in_process_worker_without_a_broker(settings, django_capture_on_commit_callbacks):
    import threading

    from consentsvc import background

    settings.SUPPORT_TASKS_INLINE = False
    settings.CELERY_BROKER_URL = None
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_after_commit(job, export_id="c")
    # The queue has one worker: once a later no-op has run, the job has too.
    worker = background._pool("support").submit(lambda: threading.current_thread().name).result(timeout=30)
    assert CALLS == ["c"]
    assert worker.startswith("support")


def test_it_only_runs_support_jobs_by_name():
    with pytest.raises(ValueError):
        jobs.run("os.system", {"command": "true"})

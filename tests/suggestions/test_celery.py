"""A real Celery worker, consuming from the local Redis, runs a suggestion job end to end.

The worker runs in a thread of this process (celery.contrib.testing), so it shares the test
database; everything between the request and the worker goes through Redis, on a queue of
its own so no other worker can take the job.
"""

import threading
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun

from consentsvc.celery import app
from suggestions import jobs
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant

REDIS = "redis://127.0.0.1:6379/14"

pytestmark = pytest.mark.django_db(transaction=True)


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def celery_on_redis(settings):
    if not _redis_up():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")
    queue = f"test-suggestions-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = REDIS
    saved = {key: app.conf[key] for key in ("broker_url", "task_default_queue", "task_always_eager")}
    app.conf.update(broker_url=REDIS, task_default_queue=queue, task_always_eager=False)
    yield queue
    app.conf.update(saved)


def test_it_runs_a_job_on_a_celery_worker_through_redis(alice, celery_on_redis):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    finished = threading.Event()
    ran = []

    def on_done(sender=None, task_id=None, task=None, args=None, **kwargs):
        if task is not None and task.name == "suggestions.run_job":
            from django.db import connections

            connections.close_all()  # the worker thread's own connection, before the test database goes
            ran.append(args)
            finished.set()

    task_postrun.connect(on_done, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[celery_on_redis], loglevel="WARNING",
                          shutdown_timeout=10):
            job = jobs.suggestion_job_request(user_id=alice.pk)  # sent to Redis on commit
            assert finished.wait(timeout=45), "the worker did not run the job"
    finally:
        task_postrun.disconnect(on_done)
    assert ran == [[job.pk]] or ran == [(job.pk,)]
    job.refresh_from_db()
    assert job.status == SuggestionJob.Status.DONE and job.progress == 100
    assert job.created_count >= 3
    assert Suggestion.objects.filter(owner=alice, job=job).count() == job.created_count

"""A job's commit racing a withdrawal on the account lock: either the output commits first and the
withdrawal deletes it, or the withdrawal commits first and the output is refused. Never kept."""

import threading
import time

from django.db import connection, connections
from django.db.models.signals import post_save

from core import uow
from suggestions import jobs, services
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant, withdraw
from tests.threads import POSTGRES_THREADS, run, someone_waits_for_a_lock
from vault.models import DerivedOutput

pytestmark = POSTGRES_THREADS


def release_when_someone_waits(go_on: threading.Event, timeout=10.0) -> threading.Thread:
    """In the background: once another session is blocked on a lock, let the holder go on."""

    def body():
        deadline = time.monotonic() + timeout
        try:
            with connection.cursor() as cursor:
                while time.monotonic() < deadline and not someone_waits_for_a_lock(cursor):
                    time.sleep(0.02)
        finally:
            go_on.set()
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def blob_files(settings):
    root = settings.STORAGES["default"]["OPTIONS"]["location"]
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_it_refuses_an_output_that_waits_behind_a_withdrawal(alice, settings, monkeypatch):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    inside, go_on, results, threads = threading.Event(), threading.Event(), {}, []

    def hold(unit, ended):
        inside.set()
        go_on.wait(10)

    def withdraw_meanwhile(*, user_id, plan):
        if not threads:
            threads.append(run(lambda: withdraw(alice), results, "withdraw"))
            assert inside.wait(10)  # the withdrawal holds the account lock now
            threads.append(release_when_someone_waits(go_on))  # ...until our output_store waits for it

    uow.subscribe(name="test-hold-suggestions", message=uow.ConsentEnded, phase=uow.Phase.IN_UNIT, handler=hold,
                  before=("vault", "suggestions"))
    monkeypatch.setattr(services, "_between_read_and_commit", withdraw_meanwhile)
    try:
        job = jobs.suggestions_generate_now(user_id=alice.pk)
    finally:
        go_on.set()
        uow.unsubscribe(name="test-hold-suggestions")
        for thread in threads:
            thread.join(10)
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    assert job.status == SuggestionJob.Status.DISCARDED and job.created_count == 0
    assert not DerivedOutput.objects.exists() and not Suggestion.objects.exists()
    assert blob_files(settings) == []


def test_it_deletes_an_output_that_committed_just_before_a_withdrawal(alice, settings):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    inside, go_on, results, threads = threading.Event(), threading.Event(), {}, []

    def hold_commit(sender, instance, created, **kwargs):
        if created and not threads:  # inside the job's commit, under the account lock
            inside.set()
            threads.append(run(lambda: withdraw(alice), results, "withdraw"))
            threads.append(release_when_someone_waits(go_on))
            go_on.wait(10)

    post_save.connect(hold_commit, sender=Suggestion, dispatch_uid="test-hold-commit")
    try:
        job = jobs.suggestions_generate_now(user_id=alice.pk)
    finally:
        go_on.set()
        post_save.disconnect(sender=Suggestion, dispatch_uid="test-hold-commit")
        for thread in threads:
            thread.join(10)
    assert inside.is_set()
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    # The first output committed; the withdrawal then deleted it, and the rest were refused.
    assert job.status == SuggestionJob.Status.DISCARDED and job.created_count == 1
    assert not DerivedOutput.objects.exists() and not Suggestion.objects.exists()
    assert blob_files(settings) == []

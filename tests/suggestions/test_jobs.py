"""Jobs: discarded when consent goes between read and commit, debounced after uploads, run by
the management command, by the in-process runner, and idempotent whoever runs them."""

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from core import jobs as core_jobs
from core.models import JobLease
from suggestions import jobs, services
from suggestions.models import Suggestion, SuggestionJob
from tests.conftest import unit_of
from tests.suggestions.conftest import COLOURS, a_day_out, grant, photo, upload, withdraw
from vault.models import DerivedOutput


def _in_another_thread(work) -> None:
    """Run work on its own thread and database connection, and wait for it."""
    failure = []

    def target():
        from django.db import connection

        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            failure.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and not failure, failure


def _blob_files(settings) -> list:
    root = settings.STORAGES["default"]["OPTIONS"]["location"]
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.django_db(transaction=True)
def test_it_discards_the_output_when_consent_is_withdrawn_between_read_and_commit(alice, settings, monkeypatch):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    moments = []

    def withdraw_now(*, user_id, plan):
        moments.append(plan.kind)
        if len(moments) == 1:
            _in_another_thread(lambda: withdraw(alice))

    monkeypatch.setattr(services, "_between_read_and_commit", withdraw_now)
    job = jobs.suggestions_generate_now(user_id=alice.pk)
    assert job.status == SuggestionJob.Status.DISCARDED
    assert job.error_code == "consent_required" and job.created_count == 0 and job.discarded_count == 1
    assert moments == [moments[0]]  # it stopped at the first refusal
    assert not Suggestion.objects.filter(owner=alice).exists()
    assert not DerivedOutput.objects.filter(owner=alice).exists()
    assert _blob_files(settings) == []  # the media was shredded and the refused output's blob deleted
    refused = AuditEvent.objects.get(action="output.stored", subject_id=alice.pk)
    assert refused.outcome == "denied" and refused.details["code"] == "consent_required"
    reads = AuditEvent.objects.filter(action="media.read", subject_id=alice.pk)
    assert reads.exists() and {e.purpose for e in reads} == {"sharing_suggestions"}


@pytest.mark.django_db(transaction=True)
def test_it_drops_one_suggestion_when_a_source_is_excluded_between_read_and_commit(alice, monkeypatch):
    from vault import services as vault_services

    grant(alice)
    ids = a_day_out(alice, COLOURS[:6])
    seen = []

    def exclude_one(*, user_id, plan):
        seen.append(plan.kind)
        if len(seen) == 1:
            _in_another_thread(lambda: vault_services.media_set_excluded(user_id=alice.pk, item_id=ids[0],
                                                                         excluded=True))

    monkeypatch.setattr(services, "_between_read_and_commit", exclude_one)
    job = jobs.suggestions_generate_now(user_id=alice.pk)
    assert job.status == SuggestionJob.Status.DONE
    assert job.discarded_count == 1 and job.created_count == len(seen) - 1 >= 1
    for output in DerivedOutput.objects.filter(owner=alice):
        assert ids[0] not in set(output.sources.values_list("pk", flat=True))


@pytest.mark.django_db
def test_it_queues_one_debounced_pass_for_a_burst_of_uploads(alice, settings, django_capture_on_commit_callbacks,
                                                             monkeypatch):
    settings.SUGGESTIONS_DEBOUNCE_SECONDS = 60
    grant(alice)
    # The product's clock stands still: the debounce is measured exactly, however slow the uploads are.
    start = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: start)
    day = dt.datetime(2025, 6, 14, 10, tzinfo=dt.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        upload(alice, photo(COLOURS[0], when=day))
    job = SuggestionJob.objects.get(owner=alice)
    assert job.trigger == "upload" and job.status == "queued"
    assert job.run_after == start + dt.timedelta(seconds=60)
    with django_capture_on_commit_callbacks(execute=True):
        upload(alice, photo(COLOURS[1], when=day + dt.timedelta(minutes=5), mark=1))
        upload(alice, photo(COLOURS[2], when=day + dt.timedelta(minutes=9), mark=2))
    assert SuggestionJob.objects.filter(owner=alice).count() == 1  # one pass for the burst
    assert SuggestionJob.objects.get(pk=job.pk).run_after >= job.run_after
    # Not due yet: a runner that gets it early puts it back.
    assert jobs.suggestion_job_run(job_id=job.pk).status == "queued"
    # A request brings it forward and runs it.
    with django_capture_on_commit_callbacks(execute=True):
        asked = jobs.suggestion_job_request(user_id=alice.pk)
    assert asked.pk == job.pk
    job.refresh_from_db()
    assert job.status == "done" and job.created_count >= 1


@pytest.mark.django_db
def test_it_caps_the_debounce_so_a_steady_stream_still_gets_a_pass(alice, settings):
    settings.SUGGESTIONS_DEBOUNCE_SECONDS = 60
    grant(alice)
    job = jobs.suggestions_schedule_after_upload(user_id=alice.pk)
    with unit_of(alice):
        SuggestionJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=30))
    pushed = jobs.suggestions_schedule_after_upload(user_id=alice.pk)
    assert pushed.pk == job.pk
    assert pushed.run_after <= timezone.now()  # ten debounce periods after the first upload: due now


@pytest.mark.django_db
def test_it_queues_nothing_for_uploads_without_consent_and_cancels_on_withdrawal(alice):
    assert jobs.suggestions_schedule_after_upload(user_id=alice.pk) is None
    grant(alice)
    job = jobs.suggestions_schedule_after_upload(user_id=alice.pk)
    withdraw(alice)
    job.refresh_from_db()
    assert job.status == "skipped" and job.error_code == "consent_required"


@pytest.mark.django_db
def test_it_runs_a_job_only_once(alice, django_capture_on_commit_callbacks):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.suggestion_job_request(user_id=alice.pk)
    made = Suggestion.objects.filter(owner=alice).count()
    again = jobs.suggestion_job_run(job_id=job.pk)
    assert again.status == "done" and Suggestion.objects.filter(owner=alice).count() == made
    event = AuditEvent.objects.get(action="suggestions.generated", object_id=str(job.pk))
    assert event.details == {"status": "done", "created": made, "discarded": 0, "code": ""}


@pytest.mark.django_db
def test_it_waits_while_another_pass_of_the_holder_runs(alice):
    grant(alice)
    with unit_of(alice):
        running = SuggestionJob.objects.create(owner=alice, status="running", started_at=timezone.now(),
                                               run_after=timezone.now())
    lease = JobLease.objects.create(kind=jobs.run_job.module_path, object_id=str(running.pk),
                                    expires_at=timezone.now() + dt.timedelta(seconds=30))
    queued = jobs.suggestion_job_request(user_id=alice.pk)
    assert jobs.suggestion_job_run(job_id=queued.pk).status == "queued"
    # Its worker died: its lease runs out, and core.jobs' sweep fails it (the queued pass does its work).
    assert core_jobs.jobs_recover(now=lease.expires_at) == 1
    running.refresh_from_db()
    assert running.status == "failed" and running.error_code == "interrupted"
    assert jobs.suggestion_job_run(job_id=queued.pk).status == "done"


@pytest.mark.django_db
def test_it_generates_from_the_command_for_one_or_all_holders(alice, bob, sam):
    grant(alice)
    grant(bob)
    a_day_out(alice, COLOURS[:4])
    a_day_out(bob, COLOURS[4:8])
    out = io.StringIO()
    call_command("suggestions_generate", "--all", stdout=out, stderr=io.StringIO())
    assert "2 holders" in out.getvalue()
    assert Suggestion.objects.filter(owner=alice).exists() and Suggestion.objects.filter(owner=bob).exists()
    assert set(SuggestionJob.objects.values_list("trigger", flat=True)) == {"command"}
    out = io.StringIO()
    call_command("suggestions_generate", "--user", "alice", stdout=out, stderr=io.StringIO())
    assert "done, 0 made" in out.getvalue()  # idempotent
    with pytest.raises(Exception, match="No user"):
        call_command("suggestions_generate", "--user", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_it_runs_jobs_on_the_database_worker(alice, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    job = jobs.suggestion_job_request(user_id=alice.pk)  # queued in the database on commit
    job.refresh_from_db()
    assert job.status == "queued"
    call_command("jobs_worker", "--batch", stdout=io.StringIO())  # the worker bin/serve runs beside gunicorn
    job.refresh_from_db()
    assert job.status == "done" and job.created_count >= 1

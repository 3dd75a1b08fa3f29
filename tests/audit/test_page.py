import json

import pytest
from django.test import Client
from django.urls import reverse

from audit.services import audit_checkpoint_create
from core import actions
from core.uow import Actor

HELD = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # queued jobs wait

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def trail(many_events):
    many_events(15)
    audit_checkpoint_create()


def test_it_shows_auditors_the_trail_chart_exports_and_status(trail, audrey):
    response = _client(audrey).get(reverse("audit:trail"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'class="seg-allowed"' in html and 'class="seg-denied"' in html
    assert "/api/v1/audit/export/?format=csv" in html and "/api/v1/audit/export/?format=jsonl" in html
    assert "signature valid" in html and "last 15 link to the head" in html
    assert response.context["page"].paginator.count == 15
    assert response.context["chart"]["totals"] == {"allowed": 10, "denied": 5, "error": 0}


def test_it_filters_the_page_and_keeps_filters_in_export_links(trail, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"outcome": "denied", "subject": 3})
    page = response.context["page"]
    assert {(e.outcome, e.subject_id) for e in page.object_list} == {("denied", 3)}
    assert "format=csv&amp;subject=3&amp;outcome=denied" in response.content.decode()


def test_it_shows_form_errors_without_failing(trail, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"since": "2024-02-01", "until": "2024-01-01"})
    assert response.status_code == 200
    assert "must not be after" in response.content.decode()


def test_it_does_not_verify_inside_the_request_and_shows_the_jobs_result(
        trail, audrey, settings, monkeypatch, django_capture_on_commit_callbacks):
    from django_tasks import task_backends

    from audit import jobs as verification_jobs

    settings.TASKS = HELD  # the job backend holds the job instead of running it
    ran = []
    real_verify = verification_jobs.audit_verify
    monkeypatch.setattr(verification_jobs, "audit_verify", lambda **kw: ran.append(1) or real_verify(**kw))
    client = _client(audrey)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("audit:trail") + "?outcome=denied")
    assert response.status_code == 302 and response["Location"] == "/audit/?outcome=denied"
    queued = task_backends["default"].results
    assert ran == [] and [r.task.module_path for r in queued] == ["audit.jobs.verification_task"]
    waiting = client.get(reverse("audit:trail")).content.decode()
    assert "is waiting to start" in waiting and 'http-equiv="refresh"' in waiting

    queued[0].task.call(*queued[0].args, **queued[0].kwargs)  # what the worker does
    assert ran == [1]
    html = client.get(reverse("audit:trail")).content.decode()
    assert 'data-result="ok"' in html and "15 events and 1 signed checkpoints check out" in html
    assert 'http-equiv="refresh"' not in html


def test_it_shows_the_progress_of_a_running_verification(audrey):
    from django.utils import timezone

    from audit.models import AuditVerification

    AuditVerification.objects.create(requested_at=timezone.now(), status="running", total=200, checked=80)
    html = _client(audrey).get(reverse("audit:trail")).content.decode()
    assert "Checked 80 of 200 events (40%)" in html and 'value="40"' in html
    assert "disabled" in html.split("Verify the whole chain")[0].rsplit("<button", 1)[1]


def test_it_runs_one_verification_at_a_time(audrey, settings, monkeypatch):
    """However old the waiting one: one lost from the queue is core.jobs' sweep's to send again
    (tests/core/test_jobs_lost.py), not the next request's to replace."""
    from datetime import timedelta

    from django.utils import timezone

    from audit import jobs as verification_jobs
    from audit.models import AuditVerification

    settings.TASKS = HELD
    first = verification_jobs.verification_request(actor=Actor.auditor(audrey.pk))
    assert verification_jobs.verification_request(actor=Actor.auditor(audrey.pk)).pk == first.pk
    AuditVerification.objects.filter(pk=first.pk).update(requested_at=timezone.now() - timedelta(hours=2))
    assert verification_jobs.verification_request(actor=Actor.auditor(audrey.pk)).pk == first.pk
    assert AuditVerification.objects.count() == 1


def test_a_verification_whose_worker_died_is_run_again(trail, audrey, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from audit.models import AuditVerification
    from core import jobs
    from core.models import JobLease

    now = timezone.now()
    lost = AuditVerification.objects.create(requested_at=now, started_at=now, status="running", total=15, checked=3)
    JobLease.objects.create(kind="audit.jobs.verification_task", object_id=str(lost.pk),
                            expires_at=now - timedelta(seconds=1))  # its worker stopped: the heartbeat too
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover(now=timezone.now()) == 1
    lost.refresh_from_db()
    assert lost.status == "done" and lost.ok and lost.checked == 15
    html = _client(audrey).get(reverse("audit:trail")).content.decode()
    assert 'data-result="ok"' in html


def test_it_shows_a_failed_verification(trail, audrey, django_capture_on_commit_callbacks):
    from django.db import connection

    from audit import triggers

    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = 4")
    client = _client(audrey)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("audit:trail"))  # the job runs after commit (inline under tests)
    html = client.get(reverse("audit:trail")).content.decode()
    assert 'data-result="bad"' in html and "First bad event: seq 4" in html


def test_it_shows_a_job_that_could_not_run(audrey, monkeypatch, django_capture_on_commit_callbacks):
    from audit import jobs as verification_jobs

    def broken(**kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(verification_jobs, "audit_verify", broken)
    client = _client(audrey)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("audit:trail"))
    html = client.get(reverse("audit:trail")).content.decode()
    assert "Could not run" in html and "RuntimeError" in html and "disk gone" not in html


# --- people by name, categories, presets, sentences -------------------------------------------------


@pytest.fixture
def people_events(alice, bob, sam, audrey):
    from audit.services import EventInput, audit_append_many

    audit_append_many(events=[
        EventInput(action="consent.given", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk,
                   purpose="camera_roll_cloud_processing"),
        EventInput(action="media.read", actor_kind="service", actor_id="gateway", subject_id=alice.pk,
                   object_type="media_item", object_id=41, purpose="sharing_suggestions"),
        EventInput(action="consent.given", actor_kind="holder", actor_id=bob.pk, subject_id=bob.pk,
                   purpose="suggestion_prompts"),
        EventInput(action="support.case_opened", actor_kind="support", actor_id=sam.pk, subject_id=alice.pk,
                   object_type="support_case", object_id=7, details={"case_id": 7}),
        EventInput(action="support.revoke", actor_kind="support", actor_id=sam.pk, subject_id=alice.pk,
                   object_type="support_case", object_id=7, purpose="camera_roll_cloud_processing",
                   details={"case_id": 7, "changed": True}),
        EventInput(action="export.requested", actor_kind="holder", actor_id=bob.pk, subject_id=bob.pk,
                   object_type="data_export", object_id="e1"),
        EventInput(action="media.read", actor_kind="service", actor_id="gateway", subject_id=bob.pk,
                   object_type="media_item", object_id=42, purpose="advertising", outcome="denied"),
    ])
    return {"alice": alice, "bob": bob, "sam": sam}


def _actions(response) -> list[str]:
    return [row["event"].action for row in response.context["rows"]]


def test_it_filters_by_username_and_shows_the_name(people_events, audrey):
    alice = people_events["alice"]
    response = _client(audrey).get(reverse("audit:trail"), {"subject": "ALICE"})
    assert {row["event"].subject_id for row in response.context["rows"]} == {alice.pk}
    assert len(response.context["rows"]) == 4
    html = response.content.decode()
    assert f"about <strong>alice</strong> (account {alice.pk})" in html
    assert f"format=csv&amp;subject={alice.pk}" in html


def test_it_filters_by_the_actors_email(people_events, audrey):
    sam = people_events["sam"]
    sam.email = "sam@example.org"
    sam.save(update_fields=["email"])
    response = _client(audrey).get(reverse("audit:trail"), {"actor": "Sam@Example.org"})
    assert _actions(response) == ["support.revoke", "support.case_opened"]
    assert f"actor={sam.pk}" in response.content.decode()


def test_it_filters_by_an_actor_kind(people_events, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"actor": "service"})
    assert _actions(response) == ["media.read", "media.read"]
    sam = people_events["sam"]
    response = _client(audrey).get(reverse("audit:trail"), {"actor": f"support:{sam.pk}"})
    assert _actions(response) == ["support.revoke", "support.case_opened"]


def test_it_says_when_a_name_matches_no_account_and_shows_nothing(people_events, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"subject": "nobody-here"})
    assert response.status_code == 200
    assert "No single account" in response.content.decode()
    assert response.context["rows"] == []


@pytest.mark.parametrize(("category", "expected"), [
    ("consent", {"consent.given"}),
    ("media", {"media.read"}),
    ("support", {"support.case_opened", "support.revoke"}),
    ("exports", {"export.requested"}),
    ("audit", set()),
])
def test_it_filters_by_category(category, expected, people_events, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"category": category})
    assert set(_actions(response)) == expected
    assert f"category={category}" in response.content.decode()


def test_it_combines_category_exact_action_and_outcome(people_events, audrey):
    client = _client(audrey)
    assert _actions(client.get(reverse("audit:trail"), {"action": "support.revoke"})) == ["support.revoke"]
    assert _actions(client.get(reverse("audit:trail"), {"category": "media", "outcome": "denied"})) == ["media.read"]


def test_it_turns_a_date_preset_into_dates_for_the_page_and_the_export(people_events, audrey, monkeypatch):
    from datetime import UTC, timedelta

    from audit import filters
    from audit.models import AuditEvent

    # "Today" is the filters', set from the events' own day: not a fixed date the wall clock reaches one day,
    # nor the wall clock, which may pass midnight between the events and the page.
    events_day = max(AuditEvent.objects.values_list("time", flat=True)).astimezone(UTC).date()
    later = events_day + timedelta(days=100)
    monkeypatch.setattr(filters, "today_utc", lambda: later)
    response = _client(audrey).get(reverse("audit:trail"), {"period": "7d"})
    assert f"since={later - timedelta(days=6)}" in response.content.decode()
    assert response.context["rows"] == []  # every event is from 100 days before
    assert len(_client(audrey).get(reverse("audit:trail"), {"period": "today"}).context["rows"]) == 0
    monkeypatch.setattr(filters, "today_utc", lambda: events_day)
    assert len(_client(audrey).get(reverse("audit:trail"), {"period": "today"}).context["rows"]) == 7


def test_it_says_what_happened_in_a_sentence_with_raw_fields_behind_a_disclosure(people_events, audrey):
    html = _client(audrey).get(reverse("audit:trail")).content.decode()
    assert "Support agent sam revoked Camera Roll Sharing Suggestions for alice (case 7)" in html
    assert "Holder alice turned on Camera Roll Sharing Suggestions" in html
    assert "read bob&#x27;s item 42 for advertising — refused" in html
    assert "<details class=\"audit-raw\">" in html and "<code>support.revoke</code>" in html


def test_it_exports_a_category_that_the_offline_verifier_accepts(people_events, audrey, api):
    import importlib.util
    import io
    from pathlib import Path

    from core import signing

    path = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
    spec = importlib.util.spec_from_file_location("verify_audit_export_page", path)
    verifier = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verifier)
    response = api(audrey).get("/api/v1/audit/export/", {"format": "jsonl", "category": "support"})
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    key = verifier.load_public_key(signing.public_key_pem("AUDIT_SIGNING_KEY").encode())
    summary = verifier.verify(io.BytesIO(data), key)
    assert summary["events"] == 2
    header = json.loads(data.splitlines()[0])
    written = header["filters"]["actions"]
    assert written == actions.names_in("support") and "support.revoke" in written
    bad = api(audrey).get("/api/v1/audit/export/", {"format": "csv", "category": "nope"})
    assert bad.status_code == 400


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_it_refuses_holders_and_support(who, trail, request):
    client = _client(request.getfixturevalue(who))
    assert client.get(reverse("audit:trail")).status_code == 403
    assert client.post(reverse("audit:trail")).status_code == 403


def test_it_sends_anonymous_people_to_log_in(trail):
    response = _client().get(reverse("audit:trail"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/audit/")


def test_it_works_on_an_empty_trail(audrey):
    response = _client(audrey).get(reverse("audit:trail"))
    assert response.status_code == 200
    assert "none yet" in response.content.decode()


def test_it_shows_details_that_have_an_items_key(audrey):
    from audit.services import audit_append

    audit_append(action="media.erased", actor_kind="support", actor_id=3, subject_id=4,
                 details={"items": 2, "outputs": 0, "source_ids": [5, 6]})
    response = _client(audrey).get(reverse("audit:trail"))
    assert response.status_code == 200
    assert "items=2 outputs=0 source_ids=[5,6]" in response.content.decode()
    assert "erased the photos in the cloud of account #4: 2 photos" in response.content.decode()

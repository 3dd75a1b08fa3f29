import pytest
from django.test import Client
from django.urls import reverse

from audit.services import audit_checkpoint_create

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
    assert "format=csv&amp;outcome=denied&amp;subject=3" in response.content.decode()


def test_it_shows_form_errors_without_failing(trail, audrey):
    response = _client(audrey).get(reverse("audit:trail"), {"since": "2024-02-01", "until": "2024-01-01"})
    assert response.status_code == 200
    assert "must not be after" in response.content.decode()


def test_it_runs_a_full_verification_on_request(trail, audrey):
    response = _client(audrey).post(reverse("audit:trail"))
    assert response.status_code == 200
    assert response.context["verification"].ok
    assert "15 events and 1 signed checkpoints check out" in response.content.decode()


def test_it_shows_a_failed_verification(trail, audrey):
    from django.db import connection

    from audit import triggers

    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = 4")
    response = _client(audrey).post(reverse("audit:trail"))
    assert "First bad event: seq 4" in response.content.decode()


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

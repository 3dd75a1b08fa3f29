"""A period whose start comes after its end is refused alike by the pages and their APIs: a
clear error with a stable code (period_reversed), never an empty list that looks like no activity."""

from datetime import UTC

import pytest

from audit.models import AuditEvent
from tests.api_schema import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", [
    {"since": "2026-11-02", "until": "2026-11-01"},
    {"since": "2026-11-01T12:00:00Z", "until": "2026-11-01T11:00:00Z"},
])
def test_the_audit_events_api_refuses_a_reversed_period(audrey, api, query):
    assert_error(api(audrey).get("/api/v1/audit/events/", query), 400, "period_reversed")


def test_the_audit_events_api_takes_a_single_day(audrey, api):
    response = api(audrey).get("/api/v1/audit/events/", {"since": "2026-11-01", "until": "2026-11-01"})
    assert response.status_code == 200


def test_the_access_history_api_refuses_a_reversed_period(alice, api):
    response = api(alice).get("/api/v1/me/access-log/", {"since": "2026-11-02", "until": "2026-11-01"})
    assert_error(response, 400, "period_reversed")


def test_the_access_history_api_takes_a_single_day(alice, api):
    response = api(alice).get("/api/v1/me/access-log/", {"since": "2026-11-01", "until": "2026-11-01"})
    assert response.status_code == 200


def test_the_pages_refuse_it_too(client, audrey, alice):
    client.force_login(audrey)
    page = client.get("/audit/", {"since": "2026-11-02", "until": "2026-11-01"})
    assert "must not be after" in page.content.decode()


def test_a_bare_until_date_includes_that_whole_day(audrey, api, many_events):
    many_events(3)
    day = AuditEvent.objects.order_by("seq").first().time.astimezone(UTC).date().isoformat()
    response = api(audrey).get("/api/v1/audit/events/", {"since": day, "until": day})
    assert response.status_code == 200 and len(response.json()["results"]) >= 3

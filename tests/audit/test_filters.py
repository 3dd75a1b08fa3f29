"""The auditors' page (/audit/) and their API read a query with one FilterSet (audit.filters): a query
string selects the same events on each, and a query one refuses the other refuses with the same code."""

from datetime import UTC, timedelta
from urllib.parse import parse_qsl

import pytest
from django.test import Client

from audit.models import AuditEvent
from audit.services import EventInput, audit_append_many
from tests.api_schema import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(alice, bob, sam):
    audit_append_many(events=[
        EventInput(action="consent.given", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk,
                   purpose="camera_roll_cloud_processing"),
        EventInput(action="media.read", actor_kind="service", actor_id="gateway", subject_id=alice.pk,
                   object_type="media_item", object_id=41, purpose="sharing_suggestions"),
        EventInput(action="consent.given", actor_kind="holder", actor_id=bob.pk, subject_id=bob.pk,
                   purpose="suggestion_prompts"),
        EventInput(action="support.revoke", actor_kind="support", actor_id=sam.pk, subject_id=alice.pk,
                   object_type="support_case", object_id=7, purpose="camera_roll_cloud_processing",
                   details={"case_id": 7, "changed": True}),
        EventInput(action="media.read", actor_kind="service", actor_id="gateway", subject_id=bob.pk,
                   object_type="media_item", object_id=42, purpose="advertising", outcome="denied"),
    ])
    first = AuditEvent.objects.order_by("seq").first()
    return {"alice": alice, "bob": bob, "sam": sam, "time": first.time.astimezone(UTC)}


def _page(user, query):
    client = Client()
    client.force_login(user)
    response = client.get("/audit/", query)
    assert response.status_code == 200
    return response


def _page_seqs(user, query) -> list[int]:
    return sorted(row["event"].seq for row in _page(user, query).context["rows"])


def _api_seqs(client, query) -> list[int]:
    response = client.get("/api/v1/audit/events/", query)
    assert response.status_code == 200, response.json()
    return sorted(event["seq"] for event in response.json()["results"])


QUERIES = {
    "nothing": lambda t: {},
    "outcome": lambda t: {"outcome": "denied"},
    "category": lambda t: {"category": "media"},
    "action": lambda t: {"action": "consent.given"},
    "subject id": lambda t: {"subject": str(t["alice"].pk)},
    "actor kind": lambda t: {"actor": "service"},
    "actor kind and id": lambda t: {"actor": f"support:{t['sam'].pk}"},
    "actor id": lambda t: {"actor": str(t["bob"].pk)},
    "one day": lambda t: {"since": t["time"].date().isoformat(), "until": t["time"].date().isoformat()},
    "a bare until": lambda t: {"until": t["time"].date().isoformat()},
    "the day before": lambda t: {"until": (t["time"].date() - timedelta(days=1)).isoformat()},
    "date-times": lambda t: {"since": (t["time"] - timedelta(minutes=1)).isoformat(),
                             "until": (t["time"] + timedelta(hours=1)).isoformat()},
    "after the events": lambda t: {"since": (t["time"] + timedelta(hours=1)).isoformat()},
    "combined": lambda t: {"category": "media", "outcome": "denied", "subject": str(t["bob"].pk)},
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_page_and_the_api_select_the_same_events(name, trail, audrey, api):
    query = QUERIES[name](trail)
    assert _page_seqs(audrey, query) == _api_seqs(api(audrey), query)


@pytest.mark.parametrize("name", ["subject id", "actor kind and id", "one day", "date-times", "combined"])
def test_the_pages_export_links_select_what_the_page_shows(name, trail, audrey, api):
    """The export links carry the page's filters as the API's parameters (a preset as dates, names as ids)."""
    query = QUERIES[name](trail)
    response = _page(audrey, query)
    exported = dict(parse_qsl(response.context["export_query"]))
    assert _api_seqs(api(audrey), exported) == _page_seqs(audrey, query)


def test_a_named_person_on_the_page_is_their_id_on_the_api(trail, audrey, api):
    alice = trail["alice"]
    assert _page_seqs(audrey, {"subject": "alice"}) == _api_seqs(api(audrey), {"subject": alice.pk})
    assert len(_page_seqs(audrey, {"subject": "alice"})) == 3


INVALID = {
    "a word for a date": ({"since": "soon"}, "invalid_request", ["since"]),
    "a date that is no day": ({"until": "2026-02-30"}, "invalid_request", ["until"]),
    "an unknown category": ({"category": "nope"}, "invalid_request", ["category"]),
    "an unknown outcome": ({"outcome": "maybe"}, "invalid_request", ["outcome"]),
    "no action name": ({"action": ".media"}, "invalid_request", ["action"]),
    "a subject that is no id": ({"subject": "0"}, "invalid_request", ["subject"]),
    "reversed days": ({"since": "2026-11-02", "until": "2026-11-01"}, "period_reversed", []),
    "reversed date-times": ({"since": "2026-11-01T12:00:00Z", "until": "2026-11-01T11:00:00Z"},
                            "period_reversed", []),
    "an empty period": ({"since": "2026-11-01T12:00:00Z", "until": "2026-11-01T12:00:00Z"}, "period_reversed", []),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_the_page_and_the_api_refuse_the_same_queries_with_the_same_codes(name, trail, audrey, api):
    query, code, fields = INVALID[name]
    response = api(audrey).get("/api/v1/audit/events/", query)
    assert_error(response, 400, code)
    assert list(response.json()["error"].get("fields", {})) == fields

    page = _page(audrey, query)
    errors = page.context["form"].errors.as_data()
    assert sorted(errors) == (fields or ["__all__"])
    if code == "period_reversed":
        assert [e.code for e in errors["__all__"]] == ["period_reversed"]
        assert "&#x27;From&#x27; must not be after &#x27;To&#x27;." in page.content.decode()
    assert page.context["rows"] == []  # a query that does not parse shows nothing, never everything


def test_the_export_refuses_a_reversed_period_too(trail, audrey, api):
    """It once took it and wrote an empty export, recorded in the trail."""
    response = api(audrey).get("/api/v1/audit/export/", {"format": "csv", "since": "2026-11-02",
                                                          "until": "2026-11-01"})
    assert_error(response, 400, "period_reversed")
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


@pytest.mark.parametrize("query", [{"since": "2026-11-02", "until": "2026-11-01"}, {"category": "nope"}])
def test_a_refused_query_reads_nothing_of_the_trail(query, trail, audrey, api):
    """The query is checked before the chain head and the untrusted rows are read for the list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(audrey)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/audit/events/", query).status_code == 400
    assert not [q["sql"] for q in queries.captured_queries if "audit_" in q["sql"]]

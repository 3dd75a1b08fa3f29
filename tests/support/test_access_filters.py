"""The holder's access history page (/me/access/) and its API read a query with one FilterSet
(support.filters): the same lines for the same query, the same refusals, and no filter reaches another
account's events."""

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from support.filters import AccessLogFilterSet
from tests.api_schema import assert_error
from tests.support.conftest import grant, open_case, upload

pytestmark = pytest.mark.django_db

TOO_BIG = str(2**63)


@pytest.fixture
def histories(alice, bob, sam):
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    grant(bob)
    upload(bob, 1)
    open_case(sam, bob, ticket="5522")
    return {"alice": set(AuditEvent.objects.filter(subject_id=alice.pk).values_list("seq", flat=True)),
            "bob": set(AuditEvent.objects.filter(subject_id=bob.pk).values_list("seq", flat=True))}


def _page(user, query):
    client = Client()
    client.force_login(user)
    response = client.get("/me/access/", query)
    assert response.status_code == 200
    return response


def _page_lines(user, query) -> list[list[int]]:
    return [entry.seqs for entry in _page(user, query).context["history"].entries]


def _api_lines(client, query) -> list[list[int]]:
    response = client.get("/api/v1/me/access-log/", query)
    assert response.status_code == 200, response.json()
    return [line["seqs"] for line in response.json()["results"]]


def _queries(histories) -> dict:
    # The day of alice's newest event (the events' own clock, not the wall clock's).
    newest = AuditEvent.objects.filter(seq__in=histories["alice"]).order_by("-seq").first()
    today = timezone.localdate(newest.time).isoformat()
    return {
        "nothing": {},
        "photos": {"category": "photos"},
        "support": {"category": "support"},
        "other": {"category": "other"},
        "you": {"actor": "you"},
        "support agents": {"actor": "support"},
        "today": {"since": today, "until": today},
        "a bare until": {"until": today},
        "older than the newest": {"before": str(max(histories["alice"]))},
        "combined": {"category": "support", "actor": "support", "since": today},
    }


@pytest.mark.parametrize("name", ["nothing", "photos", "support", "other", "you", "support agents", "today",
                                  "a bare until", "older than the newest", "combined"])
def test_the_page_and_the_api_show_the_same_lines(name, histories, alice, api):
    query = _queries(histories)[name]
    assert _page_lines(alice, query) == _api_lines(api(alice), query)


INVALID = {
    "a word for a date": ({"since": "soon"}, "invalid_request", ["since"]),
    "an unknown category": ({"category": "nonsense"}, "invalid_request", ["category"]),
    "an unknown actor": ({"actor": "everyone"}, "invalid_request", ["actor"]),
    "no event": ({"before": "0"}, "invalid_request", ["before"]),
    "past any event": ({"before": TOO_BIG}, "invalid_request", ["before"]),
    "reversed": ({"since": "2026-11-02", "until": "2026-11-01"}, "period_reversed", []),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_the_page_and_the_api_refuse_the_same_queries_with_the_same_codes(name, histories, alice, api):
    query, code, fields = INVALID[name]
    response = api(alice).get("/api/v1/me/access-log/", query)
    assert_error(response, 400, code)
    assert list(response.json()["error"].get("fields", {})) == fields

    errors = _page(alice, query).context["form"].errors.as_data()
    assert sorted(errors) == (fields or ["__all__"])
    if code == "period_reversed":
        assert [e.code for e in errors["__all__"]] == ["period_reversed"]
        assert "The start date is after the end date." in _page(alice, query).content.decode()


def _every_query(histories, other) -> list[dict]:
    """Each filter, with the other account's ids wherever a parameter could take one."""
    queries = list(_queries(histories).values())
    queries += [{"before": str(max(histories["bob"]) + 1)}, {"before": str(min(histories["bob"]))},
                {"subject": str(other.pk)}, {"user": str(other.pk)}, {"user_id": str(other.pk)},
                {"subject_id": str(other.pk)}, {"actor": str(other.pk)}, {"holder": str(other.pk)}]
    return queries


def test_no_filter_reaches_another_accounts_events(histories, alice, bob, api):
    client = api(alice)
    for query in _every_query(histories, bob):
        response = client.get("/api/v1/me/access-log/", query)  # a refused query (400) shows nothing
        api_lines = [line["seqs"] for line in response.json().get("results", [])]
        for lines in (_page_lines(alice, query), api_lines):
            seen = {seq for line in lines for seq in line}
            assert seen <= histories["alice"], query
            assert not seen & histories["bob"], query
    assert histories["bob"]  # there was something of bob's to find


def test_the_filtersets_events_are_the_holders_own_whatever_the_query(histories, alice, bob):
    from audit.selectors import audit_events_for_subject

    for query in _every_query(histories, bob):
        filterset = AccessLogFilterSet(query, queryset=audit_events_for_subject(subject_id=alice.pk))
        if filterset.is_valid():
            assert set(filterset.qs.values_list("seq", flat=True)) <= histories["alice"], query

"""The audit API's errors are the ones /api/schema/ documents (found by schemathesis)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.canonical import ACTION_FILTER_PATTERN, CODE_PATTERN
from audit.services import audit_checkpoint_create
from tests.api_schema import assert_conforms, assert_error, body_of

pytestmark = pytest.mark.django_db


def test_it_documents_that_there_may_be_no_checkpoint_yet(audrey, api):
    response = api(audrey).get("/api/v1/audit/checkpoints/latest/")
    assert_error(response, 404, "audit_no_checkpoint")
    assert_conforms(response, "GET", "/api/v1/audit/checkpoints/latest/")


@pytest.mark.parametrize(("path", "query", "code"), [
    ("/api/v1/audit/proofs/inclusion/", {"seq": 50}, "audit_proof_out_of_range"),
    ("/api/v1/audit/proofs/inclusion/", {"seq": 0}, "invalid_request"),
    ("/api/v1/audit/proofs/inclusion/", {"seq": 1, "tree_size": 2**70}, "audit_proof_out_of_range"),
    ("/api/v1/audit/proofs/consistency/", {"first": 50}, "audit_proof_out_of_range"),
    ("/api/v1/audit/proofs/consistency/", {"first": 2, "second": 1}, "audit_proof_out_of_range"),
])
def test_it_documents_proofs_out_of_range(many_events, audrey, api, path, query, code):
    many_events(4)
    audit_checkpoint_create()
    response = api(audrey).get(path, query)
    assert_error(response, 400, code)
    assert_conforms(response, "GET", path)


@pytest.mark.parametrize(("query", "status"), [({"page": 0}, 404), ({"since": "soon"}, 400), ({"subject": 2**70}, 200)])
def test_it_documents_bad_event_filters_and_pages(many_events, audrey, api, query, status):
    many_events(3)
    response = api(audrey).get("/api/v1/audit/events/", query)
    assert response.status_code == status
    assert_conforms(response, "GET", "/api/v1/audit/events/")


@pytest.mark.parametrize(("field", "value"), [
    ("actor", "+"), ("actor", "-holder"), ("actor", ":12"), ("actor", "a" * 129),
    ("action", "."), ("action", ".media"), ("action", "a" * 65),
])
def test_it_refuses_export_filters_the_trail_could_not_record(many_events, audrey, api, field, value):
    """The export records its filters in its own audit event: a filter the trail refuses was a 500."""
    many_events(2)
    response = api(audrey).get("/api/v1/audit/export/", {"format": "csv", field: value})
    assert_error(response, 400, "invalid_request")
    assert list(response.json()["error"]["fields"]) == [field]
    assert_conforms(response, "GET", "/api/v1/audit/export/")


@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actor=st.from_regex(CODE_PATTERN, fullmatch=True), action=st.from_regex(ACTION_FILTER_PATTERN, fullmatch=True))
def test_it_exports_with_any_filter_it_accepts(many_events, audrey, api, actor, action):
    many_events(1)
    response = api(audrey).get("/api/v1/audit/export/", {"format": "jsonl", "actor": actor, "action": action})
    assert response.status_code == 200, response.content
    body_of(response)

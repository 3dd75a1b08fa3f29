"""The support and holder's-rights API answers what /api/schema/ documents (found by schemathesis)."""

import pytest

from support import rights
from tests.api_schema import assert_conforms, assert_error
from tests.support.conftest import grant, open_case, upload

pytestmark = pytest.mark.django_db

# Path ids no account can have: past a BigAutoField's range (SQLite could not even bind them), or not positive.
IMPOSSIBLE_IDS = [2**63, 830267048731848782905344, 0]


def test_it_documents_the_access_log_as_a_page(api, alice):
    grant(alice)
    response = api(alice).get("/api/v1/me/access-log/")
    assert response.status_code == 200
    assert set(response.json()) == {"next", "results"} and len(response.json()["results"]) >= 1
    assert_conforms(response, "GET", "/api/v1/me/access-log/")


def test_it_documents_a_page_past_the_start_of_the_access_log(api, alice):
    grant(alice)
    response = api(alice).get("/api/v1/me/access-log/", {"before": 1})
    assert response.json() == {"next": None, "results": []}
    assert_conforms(response, "GET", "/api/v1/me/access-log/")


@pytest.mark.parametrize("before", [0, -1, "x", 2**63])
def test_it_refuses_a_page_start_that_is_not_an_event(api, alice, before):
    response = api(alice).get("/api/v1/me/access-log/", {"before": before})
    assert_error(response, 400, "invalid_request")
    assert_conforms(response, "GET", "/api/v1/me/access-log/")


def test_it_documents_the_list_of_exports(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rights.export_request(user=alice)
    response = api(alice).get("/api/v1/me/export/")
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    assert_conforms(response, "GET", "/api/v1/me/export/")


def test_it_documents_the_counts_cloud_media_erasure_answers_with(api, alice):
    grant(alice)
    upload(alice, 2)
    response = api(alice).delete("/api/v1/me/cloud-media/")
    assert response.status_code == 200 and response.json()["erased"]["items"] == 2
    assert_conforms(response, "DELETE", "/api/v1/me/cloud-media/")


def test_it_documents_the_agents_list_of_cases(api, sam, alice):
    open_case(sam, alice)
    response = api(sam).get("/api/v1/support/cases/")
    assert [case["subject"] for case in response.json()["results"]] == [alice.pk]
    assert_conforms(response, "GET", "/api/v1/support/cases/")


@pytest.mark.parametrize("subject_id", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/support/subjects/{subject_id}/", None),
    ("POST", "/api/v1/support/subjects/{subject_id}/revoke/", {"purpose": "face_analysis", "reason": "asked"}),
    ("POST", "/api/v1/support/subjects/{subject_id}/erase/", {"reason": "asked"}),
])
def test_it_answers_404_not_500_for_a_subject_id_no_account_can_have(api, sam, alice, subject_id, method, path,
                                                                       body):
    open_case(sam, alice)
    client = api(sam)
    url = path.format(subject_id=subject_id)
    response = client.get(url) if method == "GET" else client.post(url, body, format="json")
    assert_error(response, 404, "not_found")
    assert_conforms(response, method, path)


@pytest.mark.parametrize("subject", IMPOSSIBLE_IDS)
def test_it_answers_404_when_opening_a_case_on_an_impossible_account(api, sam, subject):
    response = api(sam).post("/api/v1/support/cases/", {"subject": subject, "reason": "asked", "ticket": "1"},
                             format="json")
    assert_error(response, 404, "not_found")
    assert_conforms(response, "POST", "/api/v1/support/cases/")

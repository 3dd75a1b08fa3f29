"""The consent read path and the toggle stay cheap: the state comes from one row per holder and
purpose (kept in the ledger entry's transaction), never from scanning the ledger."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import purposes, selectors
from consent.models import ConsentEntry, ConsentState

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def put(client, purpose, granted):
    return client.put(f"/api/v1/consent/{purpose}/", {"granted": granted, "notice_version": "1"}, format="json")


def test_it_answers_the_state_in_three_queries_however_long_the_ledger(api, alice, django_assert_max_num_queries):
    client = api(alice)
    for _ in range(20):
        put(client, CAMERA, True)
        put(client, CAMERA, False)
    put(client, CAMERA, True)
    assert ConsentEntry.objects.filter(subject=alice).count() == 41
    # Authentication (the token, the holder's role) and the notices with the holder's state rows.
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/consent/")
    granted = {p["purpose"]: p["granted"] for p in response.json()["purposes"]}
    assert granted == {purposes.SUGGESTION_PROMPTS: False, CAMERA: True, purposes.FACE_ANALYSIS: False}


def test_the_selector_alone_is_one_query(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.consent_state(user_id=alice.pk)


def _work(captured) -> list[str]:
    """The statements of a request, without the savepoints the test's own transaction adds."""
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))]


def test_it_turns_on_in_at_most_eight_queries(api, alice):
    client = api(alice)
    put(client, CAMERA, True)
    put(client, CAMERA, False)  # the account's lock row and state row exist from here on
    with CaptureQueriesContext(connection) as captured:
        response = put(client, CAMERA, True)
    assert response.status_code == 200 and response.json()["purpose"]["granted"] is True
    # token, role, account lock, notices with states, ledger entry (its trigger moves the state
    # row), and the audit append (head, event, head).
    assert len(_work(captured)) <= 8, "\n".join(_work(captured))


def test_it_turns_off_in_at_most_eight_queries_plus_what_the_withdrawal_sets_off(api, alice):
    client = api(alice)
    put(client, CAMERA, True)
    with CaptureQueriesContext(connection) as captured:
        response = put(client, CAMERA, False)
    assert response.status_code == 200 and response.json()["purpose"]["granted"] is False
    work = _work(captured)
    cascade = [sql for sql in work if sql.startswith(("SELECT \"vault_", "DELETE FROM \"vault_",
                                                      "UPDATE \"suggestions_", "DELETE FROM \"suggestions_"))]
    # The deferred handlers: outputs and keys looked up, schedule cleared, queued passes and
    # suggestion rows dropped (with nothing held, nothing more).
    assert len(cascade) <= 5, "\n".join(cascade)
    assert len(work) - len(cascade) <= 8, "\n".join(work)


def test_it_keeps_the_state_row_on_the_newest_entry(alice):
    from tests.vault.conftest import grant, withdraw

    grant(alice)
    withdraw(alice)
    state = ConsentState.objects.get(subject=alice, purpose=CAMERA)
    newest = ConsentEntry.objects.filter(subject=alice, purpose=CAMERA).order_by("-id").first()
    assert state.entry_id == newest.pk and state.event == "withdrawn" and state.since == newest.created_at


# An upload's statements before its consent was read from the trail (measured with
# CaptureQueriesContext on the second upload of a holder, as below): the budget is one more.
UPLOAD_STATEMENTS_BEFORE = {"sqlite": 15, "postgresql": 14}


def test_an_upload_costs_at_most_one_statement_more_than_before_consent_came_from_the_trail(api, alice, settings):
    from tests.vault.conftest import grant, jpeg_bytes, new_master_key
    from tests.vault.test_api_media import upload

    settings.VAULT_MASTER_KEYS = new_master_key("k1")
    grant(alice)
    client = api(alice)
    assert upload(client, jpeg_bytes()).status_code == 201  # the account's key exists from here on
    with CaptureQueriesContext(connection) as captured:
        response = upload(client, jpeg_bytes(color=(1, 2, 3)))
    assert response.status_code == 201
    assert len(_work(captured)) <= UPLOAD_STATEMENTS_BEFORE[connection.vendor] + 1, "\n".join(_work(captured))


def test_the_state_costs_three_queries_with_every_purpose_granted(api, alice, django_assert_max_num_queries):
    from tests.vault.conftest import grant

    grant(alice, CAMERA, purposes.SUGGESTION_PROMPTS, purposes.FACE_ANALYSIS)
    client = api(alice)
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/consent/")
    assert all(p["granted"] for p in response.json()["purposes"])

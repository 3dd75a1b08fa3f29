"""A locked-out username gets the one error shape from the API, the page from the site (found by schemathesis)."""

import pytest
from django.test import Client

from tests.api_schema import assert_conforms, assert_error
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_answers_a_locked_out_token_request_in_the_error_shape(api, alice, settings):
    client = api()
    wrong = client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert_error(wrong, 400, "invalid_credentials")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    locked = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert_error(locked, 429, "login_locked")
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME * 3600
    assert "token" not in locked.json()
    assert_conforms(locked, "POST", "/api/v1/auth/token/")


def test_it_still_shows_the_page_to_a_locked_out_browser(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    locked = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert "Too many attempts" in locked.content.decode()


def test_it_lists_login_locked_among_the_error_codes(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "login_locked" in schema["components"]["schemas"]["ErrorCode"]["enum"]

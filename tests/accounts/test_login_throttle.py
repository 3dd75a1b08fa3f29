"""The web sign-in form is throttled per client address like the token endpoint, and shares its
count (a red-team finding: 25 sign-ins with different usernames from one address all answered 200)."""

import pytest
from django.test import Client

from core import clientip

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    """All requests of a test in one throttle window, at a fixed time."""
    from core.api import throttling

    monkeypatch.setattr(throttling, "_now", lambda: 1_800_000_000.0)


def sign_in(client: Client, username: str, *, peer: str = "203.0.113.7", forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/accounts/login/", {"username": username, "password": "wrong-password"}, **extra)


def test_it_throttles_sign_ins_with_different_usernames_from_one_address(settings):
    client = Client()
    answers = [sign_in(client, f"user{n}").status_code for n in range(25)]
    assert answers[:10] == [200] * 10  # the form again, with its error
    assert answers[10:] == [429] * 15
    throttled = sign_in(client, "someone-else")
    assert throttled["Content-Type"].startswith("text/html")
    assert "Too many sign-in attempts" in throttled.content.decode()
    assert 0 < int(throttled["Retry-After"]) <= 60
    # Another address is not affected.
    assert sign_in(client, "user0", peer="203.0.113.8").status_code == 200


def test_rotating_x_forwarded_for_gains_nothing():
    client = Client()
    answers = [sign_in(client, f"user{n}", forwarded_for=f"198.51.100.{n}").status_code for n in range(11)]
    assert answers == [200] * 10 + [429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(settings):
    settings.TRUSTED_PROXIES_PARSED = clientip.parse("10.0.0.0/8")
    client = Client()
    answers = [sign_in(client, f"user{n}", peer="10.1.2.3", forwarded_for="192.0.2.50").status_code for n in range(11)]
    assert answers == [200] * 10 + [429]
    assert sign_in(client, "user0", peer="10.1.2.3", forwarded_for="192.0.2.51").status_code == 200


def test_the_form_and_the_token_endpoint_share_one_count():
    client = Client()
    for n in range(5):
        assert sign_in(client, f"user{n}").status_code == 200
    for n in range(5):
        answer = client.post("/api/v1/auth/token/", {"username": f"api{n}", "password": "wrong-password"},
                             content_type="application/json", REMOTE_ADDR="203.0.113.7")
        assert answer.status_code == 400
    assert sign_in(client, "user9").status_code == 429
    answer = client.post("/api/v1/auth/token/", {"username": "api9", "password": "wrong-password"},
                         content_type="application/json", REMOTE_ADDR="203.0.113.7")
    assert answer.status_code == 429


def test_a_correct_password_still_signs_in_under_the_limit(alice):
    from tests.conftest import PASSWORD

    client = Client()
    for n in range(9):
        sign_in(client, f"user{n}")
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD},
                       REMOTE_ADDR="203.0.113.7").status_code == 302

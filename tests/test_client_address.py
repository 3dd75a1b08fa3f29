"""The client's address comes from the connection unless TRUSTED_PROXIES says otherwise, so a
client rotating X-Forwarded-For is throttled like any other (a red-team finding)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from core import clientip
from tests.api_schema import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    """All requests of a test in one throttle window (a minute boundary mid-test opens a new one)."""
    from core.api import throttling

    now = throttling._now()
    monkeypatch.setattr(throttling, "_now", lambda: now)


def attempt(client: APIClient, forwarded_for: str | None, peer: str = "203.0.113.7"):
    extra = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"}, format="json", **extra)


def test_it_throttles_a_client_that_rotates_x_forwarded_for(settings):
    settings.AXES_ENABLED = False  # the throttle alone, not the per-username lock-out
    client = APIClient()
    answers = [attempt(client, f"198.51.100.{n}").status_code for n in range(15)]
    assert answers[:10] == [400] * 10
    assert answers[10:] == [429] * 5
    assert_error(attempt(client, "192.0.2.1"), 429, "throttled")
    # Another real client (another connection address) is not affected.
    assert attempt(client, None, peer="203.0.113.8").status_code == 400


def test_it_throttles_per_forwarded_client_behind_a_trusted_proxy(settings):
    settings.AXES_ENABLED = False
    settings.TRUSTED_PROXIES_PARSED = clientip.parse("10.0.0.0/8")
    client = APIClient()
    # Behind the proxy, the proxy appends the real peer; whatever the client puts before it is ignored.
    answers = [attempt(client, f"198.51.100.{n}, 192.0.2.50", peer="10.1.2.3").status_code for n in range(11)]
    assert answers[-1] == 429 and answers[:10] == [400] * 10
    assert attempt(client, "192.0.2.51", peer="10.1.2.3").status_code == 400  # another real client


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ("", "203.0.113.7", "1.2.3.4", "203.0.113.7"),  # no proxy: the header is ignored
        ("1", "10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("1", "10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # forged entries sit to the left
        ("2", "10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.1", "1.2.3.4"),
        ("2", "10.0.0.2", "1.2.3.4", "10.0.0.2"),  # fewer hops than proxies: trust nothing
        ("10.0.0.0/8", "10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.1", "1.2.3.4"),
        ("10.0.0.0/8", "203.0.113.7", "1.2.3.4", "203.0.113.7"),  # not from a proxy: header ignored
        ("10.0.0.0/8, 2001:db8::/32", "2001:db8::1", "[2001:db8:1::5]:443", "2001:db8:1::5"),
        ("10.0.0.0/8", "10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("1", "10.0.0.1", "1.2.3.4:5678", "1.2.3.4"),
    ],
)
def test_it_works_out_the_client_address(trusted, peer, forwarded, client):
    assert clientip.resolve(peer=peer, forwarded_for=forwarded, proxies=clientip.parse(trusted)) == client


def test_it_refuses_a_malformed_trusted_proxies_setting():
    with pytest.raises(ImproperlyConfigured):
        clientip.parse("10.0.0.0/8, the proxy")


def test_it_locks_out_by_the_connection_address_not_the_header(settings, alice):
    from tests.conftest import PASSWORD

    client = APIClient()
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json",
                    REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    locked = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json",
                         REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert_error(locked, 429, "login_locked")


SPOOFABLE = {  # headers django-ipware reads by default, which no proxy of ours sets
    "HTTP_X_REAL_IP": "6.6.6.1", "HTTP_CLIENT_IP": "6.6.6.2", "HTTP_FORWARDED": "for=6.6.6.3",
    "HTTP_CF_CONNECTING_IP": "6.6.6.4", "HTTP_TRUE_CLIENT_IP": "6.6.6.5", "HTTP_X_CLUSTER_CLIENT_IP": "6.6.6.6",
    "HTTP_X_FORWARDED": "6.6.6.7", "HTTP_FORWARDED_FOR": "6.6.6.8", "HTTP_FLY_CLIENT_IP": "6.6.6.9",
}


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "client"), [
    ("", "203.0.113.7", None, "203.0.113.7"),
    ("1", "10.0.0.1", None, "10.0.0.1"),
    ("1", "10.0.0.1", "1.2.3.4", "1.2.3.4"),
    ("10.0.0.0/8", "10.0.0.2", None, "10.0.0.2"),
    ("10.0.0.0/8", "10.0.0.2", "1.2.3.4", "1.2.3.4"),
    # A private client: django-ipware's default would look on through the other headers for a public one.
    ("1", "10.0.0.1", "192.168.1.5", "192.168.1.5"),
    ("10.0.0.0/8", "10.0.0.2", "192.168.1.5", "192.168.1.5"),
])
def test_it_reads_no_other_forwarding_header(settings, trusted, peer, forwarded, client):
    from django.test import RequestFactory

    settings.TRUSTED_PROXIES_PARSED = clientip.parse(trusted)
    extra = {"REMOTE_ADDR": peer, **SPOOFABLE}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert clientip.client_ip(RequestFactory().get("/", **extra)) == client


def test_it_throttles_a_client_that_rotates_other_forwarding_headers(settings):
    settings.AXES_ENABLED = False
    client = APIClient()
    answers = [
        client.post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"}, format="json",
                    REMOTE_ADDR="203.0.113.7", **{name: f"198.51.100.{n}" for name in SPOOFABLE}).status_code
        for n in range(11)
    ]
    assert answers == [400] * 10 + [429]


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "client"), [
    ("10.0.0.0/8", "::ffff:10.0.0.2", "1.2.3.4", "1.2.3.4"),  # an IPv4-mapped peer is the IPv4 proxy
    ("1", "10.0.0.1", "::ffff:1.2.3.4", "1.2.3.4"),
    ("1", "10.0.0.1", "6.6.6.6, not-an-ip, 1.2.3.4", "1.2.3.4"),
    ("2", "10.0.0.2", "not-an-ip, 10.0.0.1", "10.0.0.2"),  # one valid hop for two proxies: trust nothing
    ("10.0.0.0/8", "10.0.0.2", "10.0.0.1, 10.0.0.3", "10.0.0.1"),  # every hop trusted: the last one speaks
])
def test_it_works_out_the_client_address_from_odd_headers(trusted, peer, forwarded, client):
    assert clientip.resolve(peer=peer, forwarded_for=forwarded, proxies=clientip.parse(trusted)) == client

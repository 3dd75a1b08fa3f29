"""X-Forwarded-Proto is believed from TRUSTED_PROXIES only, as X-Forwarded-For is (a red-team
finding: any client could say it came over HTTPS and skip the redirect to HTTPS)."""

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from consentsvc.middleware import forwarded_proto_middleware
from core import clientip

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _behind_tls(settings):
    """As production sets it: HTTPS is what the proxy says it was, and plain HTTP is redirected."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True


def get(peer: str, proto: str | None):
    extra = {"REMOTE_ADDR": peer}
    if proto is not None:
        extra["HTTP_X_FORWARDED_PROTO"] = proto
    return Client().get("/accounts/login/", **extra)


@pytest.mark.parametrize(("trusted", "peer"), [("", "203.0.113.7"), ("10.0.0.0/8", "203.0.113.7"),
                                               ("10.0.0.0/8, 2001:db8::/32", "2001:db9::1")])
def test_a_client_that_is_not_a_trusted_proxy_cannot_claim_https(settings, trusted, peer):
    settings.TRUSTED_PROXIES_PARSED = clientip.parse(trusted)
    answer = get(peer, "https")
    assert answer.status_code == 301
    assert answer["Location"] == "https://testserver/accounts/login/"


@pytest.mark.parametrize(("trusted", "peer"), [("10.0.0.0/8", "10.1.2.3"), ("1", "203.0.113.7"),
                                               ("10.0.0.0/8, 2001:db8::/32", "2001:db8::1")])
def test_a_trusted_proxy_is_believed(settings, trusted, peer):
    settings.TRUSTED_PROXIES_PARSED = clientip.parse(trusted)
    assert get(peer, "https").status_code == 200
    assert get(peer, "http").status_code == 301  # and believed when it says plain HTTP
    assert get(peer, None).status_code == 301


def test_what_the_views_see(settings):
    seen = []

    def view(request):
        seen.append((request.is_secure(), request.build_absolute_uri("/s/x/").split(":")[0]))
        return HttpResponse()

    handler = forwarded_proto_middleware(view)
    settings.TRUSTED_PROXIES_PARSED = clientip.parse("10.0.0.0/8")
    handler(RequestFactory().get("/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_PROTO="https"))
    handler(RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_PROTO="https"))
    assert seen == [(False, "http"), (True, "https")]  # the scheme of links built for it (share links)


@pytest.mark.parametrize(("trusted", "redirect", "warned"), [("", True, True), ("1", True, False),
                                                             ("10.0.0.0/8", True, False), ("", False, False)])
def test_the_deploy_check_warns_when_https_cannot_be_believed_from_anyone(settings, trusted, redirect, warned):
    from consentsvc.checks import check_forwarded_proto_trust

    settings.TRUSTED_PROXIES_PARSED = clientip.parse(trusted)
    settings.SECURE_SSL_REDIRECT = redirect
    assert [m.id for m in check_forwarded_proto_trust(None)] == (["consentsvc.W001"] if warned else [])

"""Styled 403, 404 and 500 pages with DEBUG=False: the navigation, and a way back."""

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client
from django.urls import path

from accounts.models import User
from consentsvc import urls as project_urls

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


def _forbidden(request):
    raise PermissionDenied


def _suspicious(request):
    raise SuspiciousOperation("a hostile request")


urlpatterns = [
    path("boom/", _boom), path("api/v1/boom/", _boom), path("api/v1/forbidden/", _forbidden), path("odd/", _suspicious),
    *project_urls.urlpatterns,
]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def production_like(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]


def _signed_in(username):
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username=username))
    return client


def test_it_shows_a_styled_404_with_navigation_for_an_unknown_url(production_like, alice):
    response = _signed_in("alice").get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is nothing here" in body and "/no/such/page/" in body
    assert 'href="/static/css/app.css"' in body
    assert 'href="/media/"' in body  # the holder's navigation
    assert 'href="/">Go to your home page' in body


def test_it_offers_a_visitor_a_way_to_log_in_on_the_404(production_like, client):
    body = client.get("/no/such/page/").content.decode()
    assert "There is nothing here" in body and 'href="/accounts/login/"' in body


def test_it_keeps_json_404_under_the_api(production_like, client):
    response = client.get("/api/v1/no/such/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_shows_a_styled_403_naming_the_account_and_the_way_back(production_like, alice):
    response = _signed_in("alice").get("/audit/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "This page is not for your account" in body and "alice" in body
    assert 'href="/settings/camera-roll/"' in body  # the holder's navigation
    assert 'href="/">Go to your home page' in body


def test_it_shows_a_styled_500_with_navigation(production_like, settings, audrey):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    response = _signed_in("audrey").get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "a bug" not in body
    assert 'href="/audit/"' in body


def broken_roles(request):
    raise RuntimeError("database gone")


def test_it_draws_the_500_page_even_when_the_navigation_cannot_be_drawn(production_like, settings, audrey):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    engine = settings.TEMPLATES[0]
    processors = [p if p != "accounts.context_processors.roles" else "tests.test_error_pages.broken_roles"
                  for p in engine["OPTIONS"]["context_processors"]]
    assert "tests.test_error_pages.broken_roles" in processors
    settings.TEMPLATES = [{**engine, "OPTIONS": {**engine["OPTIONS"], "context_processors": processors}}]
    response = _signed_in("audrey").get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_it_keeps_json_500_under_the_api(production_like, settings):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    response = Client(raise_request_exception=False).get("/api/v1/boom/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_it_keeps_json_403_under_the_api(production_like, settings):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    response = Client().get("/api/v1/forbidden/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_it_shows_a_styled_400_without_the_reason(production_like, settings, bob):
    settings.ROOT_URLCONF = "tests.test_error_pages"
    response = _signed_in("bob").get("/odd/")
    assert response.status_code == 400
    body = response.content.decode()
    assert "That request could not be understood" in body and "hostile" not in body
    assert 'href="/media/"' in body

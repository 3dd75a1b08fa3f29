"""API tokens: stored hashed, one per device, dead after sign-out, a password change, an erase,
expiry or idleness; the holder sees and signs out their devices. Tried as an attacker would."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import ApiToken
from support import rights
from tests.api_schema import assert_conforms, assert_error
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-password-77"


def sign_in(user, name="alice-phone") -> str:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD, "name": name}, format="json"
    )
    assert response.status_code == 200, response.content
    assert_conforms(response, "POST", "/api/v1/auth/token/")
    return response.json()["token"]


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_it_keeps_only_a_digest_of_the_token(alice):
    secret = sign_in(alice)
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest, name FROM accounts_api_token")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert secret not in repr(rows) and rows[0][1] == "alice-phone"
    assert with_token(secret).get("/api/v1/consent/").status_code == 200


def test_it_gives_each_device_its_own_token(alice):
    phone, laptop = sign_in(alice, "phone"), sign_in(alice, "laptop")
    assert phone != laptop
    assert with_token(phone).get("/api/v1/consent/").status_code == 200
    assert with_token(laptop).get("/api/v1/consent/").status_code == 200


def test_it_refuses_a_token_after_logout_and_only_that_one(alice):
    phone, laptop = sign_in(alice, "phone"), sign_in(alice, "laptop")
    out = with_token(phone).post("/api/v1/auth/logout/")
    assert out.status_code == 204
    again = with_token(phone).get("/api/v1/consent/")
    assert_error(again, 401, "authentication_failed")
    assert with_token(phone).post("/api/v1/auth/logout/").status_code == 401
    assert with_token(laptop).get("/api/v1/consent/").status_code == 200


def test_it_refuses_every_token_after_a_password_change_on_the_page(alice):
    phone, laptop = sign_in(alice, "phone"), sign_in(alice, "laptop")
    browser = Client()
    browser.force_login(alice)
    changed = browser.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    for secret in (phone, laptop):
        assert_error(with_token(secret).get("/api/v1/consent/"), 401, "authentication_failed")
    assert not ApiToken.objects.filter(user=alice).exists()


def test_it_refuses_every_token_after_a_password_change_by_any_other_path(alice):
    secret = sign_in(alice)
    alice.set_password(NEW_PASSWORD)  # the admin, `changepassword`, a reset: no view hook involved
    alice.save()
    assert_error(with_token(secret).get("/api/v1/consent/"), 401, "authentication_failed")
    assert not ApiToken.objects.filter(user=alice).exists()  # the dead row went on first use


def test_it_keeps_devices_signed_in_after_an_erase(alice):
    # An erase turns the feature off (the phone sees it and stops); signing out is the devices page's job.
    secret = sign_in(alice)
    rights.cloud_media_erase(user=alice)
    assert with_token(secret).get("/api/v1/consent/").status_code == 200


def test_it_refuses_an_expired_token_and_pushes_expiry_back_with_use(alice, settings):
    secret = sign_in(alice)
    token = ApiToken.objects.get(user=alice)
    # Used again after a while: its idle expiry moves on.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - dt.timedelta(hours=1))
    assert with_token(secret).get("/api/v1/consent/").status_code == 200
    token.refresh_from_db()
    assert token.expires_at > timezone.now() + dt.timedelta(days=settings.API_TOKEN_IDLE_DAYS) - dt.timedelta(
        minutes=1
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_error(with_token(secret).get("/api/v1/consent/"), 401, "authentication_failed")
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_it_refuses_tokens_that_are_not_ours(alice):
    secret = sign_in(alice)
    for forged in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "x" * 500, "é", ""):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {forged}")
        assert client.get("/api/v1/consent/").status_code == 401
    inactive = with_token(secret)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert inactive.get("/api/v1/consent/").status_code == 401


def test_it_refuses_the_token_of_a_user_who_lost_the_holder_role(alice):
    from accounts.services import role_revoke

    secret = sign_in(alice)
    role_revoke(user=alice, role="holder")
    assert with_token(secret).get("/api/v1/consent/").status_code == 403


def test_it_lists_the_holders_devices_and_signs_one_out(alice, bob):
    phone, laptop = sign_in(alice, "Pixel of Alice"), sign_in(alice, "work laptop")
    sign_in(bob, "bob-phone")
    browser = Client()
    browser.force_login(alice)
    page = browser.get("/settings/devices/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Pixel of Alice" in text and "work laptop" in text and "bob-phone" not in text
    pixel = ApiToken.objects.get(user=alice, name="Pixel of Alice")
    bobs = ApiToken.objects.get(user=bob)
    # Someone else's device cannot be signed out from here.
    assert browser.post("/settings/devices/", {"token": bobs.pk}).status_code == 302
    assert ApiToken.objects.filter(pk=bobs.pk).exists()
    assert browser.post("/settings/devices/", {"token": pixel.pk}).status_code == 302
    assert_error(with_token(phone).get("/api/v1/consent/"), 401, "authentication_failed")
    assert with_token(laptop).get("/api/v1/consent/").status_code == 200
    assert "Pixel of Alice" not in browser.get("/settings/devices/").content.decode()


def test_it_sends_anonymous_people_to_log_in_from_the_devices_page(client):
    response = client.get("/settings/devices/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_names_the_calling_device_in_the_request_context(alice):
    seen = []
    secret = sign_in(alice, "alice-laptop")

    from rest_framework.views import APIView

    class Probe(APIView):
        def get(self, request):
            seen.append(tokens.calling_token())
            from rest_framework.response import Response

            return Response({})

    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get("/probe/", HTTP_AUTHORIZATION=f"Token {secret}")
    middleware = tokens.CallingTokenMiddleware(lambda req: Probe.as_view()(req))
    assert middleware(request).status_code == 200
    assert seen[0].name == "alice-laptop" and seen[0].id == ApiToken.objects.get(user=alice).pk
    assert tokens.calling_token() is None  # forgotten once the request ended


def test_it_logs_a_session_out_on_the_api_logout(alice):
    browser = APIClient(enforce_csrf_checks=False)
    browser.force_login(alice)
    assert browser.post("/api/v1/auth/logout/").status_code == 204
    assert browser.get("/api/v1/consent/").status_code in (401, 403)


def test_it_answers_logout_without_credentials_with_401(api):
    assert_error(api().post("/api/v1/auth/logout/"), 401, "not_authenticated")


def test_it_authenticates_with_one_query_for_token_user_and_roles(alice, django_assert_num_queries):
    secret = sign_in(alice)
    request_token = tokens.token_authenticate(secret=secret)
    assert request_token is not None
    with django_assert_num_queries(1):
        token = tokens.token_authenticate(secret=secret)
        assert token.user.username == "alice"
        from accounts.roles import is_holder

        assert is_holder(token.user)


def test_it_spends_one_query_per_api_request_on_who_is_calling(alice):
    """Token, user and roles in one query; no session, group or lock-out lookups on top."""
    from django.test.utils import CaptureQueriesContext

    client = with_token(sign_in(alice))
    client.get("/api/v1/consent/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/consent/").status_code == 200
    overhead = [q["sql"] for q in queries.captured_queries
                if any(table in q["sql"] for table in ("accounts_", "auth_", "django_session", "axes_", "guardian_"))]
    assert len(overhead) == 1 and "accounts_api_token" in overhead[0], overhead

import pytest
from django.core.management import call_command
from django.test import Client

from accounts import roles
from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_signs_up_a_holder_with_password_rules(client):
    weak = client.post("/accounts/signup/", {"username": "carol", "password1": "123", "password2": "123"})
    assert weak.status_code == 200 and not User.objects.filter(username="carol").exists()
    response = client.post("/accounts/signup/", {"username": "carol", "password1": "Quiet-harbour-71",
                                                 "password2": "Quiet-harbour-71"})
    assert response.status_code == 302
    assert roles.is_holder(User.objects.get(username="carol"))


def test_it_issues_a_token_for_good_credentials_only(api, alice):
    good = api().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert good.status_code == 200 and len(good.json()["token"]) >= 43  # 256 random bits
    bad = api().post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_credentials"


def test_it_locks_out_after_repeated_failed_logins(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    locked = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()


def test_it_grants_and_revokes_roles_by_command(alice):
    call_command("grant_role", "alice", "auditor")
    assert roles.is_auditor(User.objects.get(pk=alice.pk))
    call_command("grant_role", "alice", "auditor", "--revoke")
    assert not roles.is_auditor(User.objects.get(pk=alice.pk))


def test_it_creates_demo_accounts_once(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.filter(username__in=["alice", "bob", "audrey", "sam"]).count() == 4
    assert roles.is_support(User.objects.get(username="sam"))
    assert "password" in capsys.readouterr().out


def test_it_answers_api_404s_in_the_error_shape(api, alice):
    response = api(alice).get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_serves_the_schema_and_offline_docs(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in docs and "cdn" not in docs.lower()

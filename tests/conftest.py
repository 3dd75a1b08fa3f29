"""Fixtures every test folder shares: the four people of the product and API clients for them."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import services
from accounts.roles import AUDITOR, HOLDER, SUPPORT

PASSWORD = "a-long-test-password-42"


def make_user(username: str, role: str = HOLDER):
    return services.user_create(username=username, password=PASSWORD, role=role)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def audrey(db):
    return make_user("audrey", AUDITOR)


@pytest.fixture
def sam(db):
    return make_user("sam", SUPPORT)


def api_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated with that user's token; api() is anonymous."""
    return api_for


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Each test writes blobs under its own temporary folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "blobs", "file_permissions_mode": 0o600},
        },
    }

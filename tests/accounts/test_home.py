"""Each role lands on its own home after login and at `/`; the navigation shows that role's pages only."""

import pytest
from django.test import Client

from accounts import services
from accounts.roles import AUDITOR, SUPPORT
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _login(username: str) -> tuple[Client, str]:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client, response["Location"]


@pytest.mark.parametrize(("who", "home"), [
    ("alice", "/settings/camera-roll/"), ("audrey", "/audit/"), ("sam", "/support/"),
])
def test_it_lands_each_role_on_its_own_home_after_login_and_at_root(who, home, alice, audrey, sam):
    client, after_login = _login(who)
    landed = client.get(after_login, follow=True)
    assert landed.redirect_chain[-1][0] == home
    assert landed.status_code == 200
    root = client.get("/")
    assert root.status_code == 302 and root["Location"] == home


def test_it_sends_visitors_at_root_somewhere_they_can_use(client):
    response = client.get("/", follow=True)
    assert response.status_code == 200


def test_it_shows_only_the_links_of_the_role(alice, audrey, sam):
    holder_page = _login("alice")[0].get("/settings/camera-roll/").content.decode()
    assert 'href="/media/"' in holder_page and 'href="/audit/"' not in holder_page
    assert 'href="/support/"' not in holder_page
    audit_page = _login("audrey")[0].get("/audit/").content.decode()
    assert 'href="/audit/"' in audit_page
    assert 'href="/media/"' not in audit_page and 'href="/support/"' not in audit_page
    assert 'name="role"' not in audit_page  # one role: no switcher
    support_page = _login("sam")[0].get("/support/").content.decode()
    assert 'href="/support/"' in support_page
    assert 'href="/media/"' not in support_page and 'href="/audit/"' not in support_page


def test_it_lets_a_user_with_several_roles_switch(db):
    user = make_user("pat", AUDITOR)
    services.role_grant(user=user, role=SUPPORT)
    client, after_login = _login("pat")
    assert client.get(after_login)["Location"] == "/audit/"
    page = client.get("/audit/").content.decode()
    assert 'name="role"' in page and 'value="support"' in page
    switched = client.post("/accounts/role/", {"role": "support"})
    assert switched.status_code == 302 and switched["Location"] == "/support/"
    assert client.get("/")["Location"] == "/support/"
    nav = client.get("/support/").content.decode().split("<main")[0]
    assert 'href="/support/"' in nav and 'href="/audit/"' not in nav
    # Opening a page of the other role makes it the one the navigation shows.
    client.get("/audit/")
    assert client.get("/")["Location"] == "/audit/"


def test_it_refuses_to_switch_to_a_role_the_user_does_not_hold(alice):
    client, _ = _login("alice")
    response = client.post("/accounts/role/", {"role": "auditor"})
    assert response.status_code == 403
    assert client.get("/")["Location"] == "/settings/camera-roll/"


def test_it_asks_anonymous_to_log_in_before_switching(client):
    response = client.post("/accounts/role/", {"role": "auditor"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_does_not_switch_on_get(alice):
    client, _ = _login("alice")
    assert client.get("/accounts/role/").status_code == 405


def test_it_tells_a_user_without_a_role_what_to_do(db):
    from accounts.models import User

    User.objects.create_user(username="norole", password=PASSWORD)
    client, _ = _login("norole")
    response = client.get("/")
    assert response.status_code == 403
    assert "no role" in response.content.decode()

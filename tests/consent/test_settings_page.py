import pytest
from django.test import Client

from consent import purposes
from consent.models import ConsentEntry

pytestmark = pytest.mark.django_db
URL = "/settings/camera-roll/"


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_it_shows_three_toggles_all_off_to_the_holder(alice):
    response = logged_in(alice).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('name="action" value="on"') == 3
    assert "Camera Roll Sharing Suggestions" in html
    assert "No changes yet." in html


def test_it_turns_on_and_off_with_plain_form_posts(alice):
    client = logged_in(alice)
    response = client.post(URL, {"purpose": purposes.CAMERA_ROLL, "action": "on", "notice_version": "1"}, follow=True)
    assert "Camera Roll Sharing Suggestions is on." in response.content.decode()
    assert 'aria-label="Turn off Camera Roll Sharing Suggestions"' in response.content.decode()
    response = client.post(URL, {"purpose": purposes.CAMERA_ROLL, "action": "off"}, follow=True)
    assert "Access stopped at once" in response.content.decode()
    assert list(ConsentEntry.objects.values_list("event", "method")) == [("withdrawn", "web"), ("given", "web")]


def test_it_explains_a_refusal_without_saving_anything(alice):
    response = logged_in(alice).post(URL, {"purpose": purposes.ADVERTISING, "action": "on", "notice_version": "1"},
                                     follow=True)
    assert "never granted" in response.content.decode()
    assert not ConsentEntry.objects.exists()


def test_it_requires_a_csrf_token(alice):
    client = logged_in(alice, enforce_csrf_checks=True)
    response = client.post(URL, {"purpose": purposes.CAMERA_ROLL, "action": "on", "notice_version": "1"})
    assert response.status_code == 403
    assert not ConsentEntry.objects.exists()


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("staff", ["audrey", "sam"])
def test_it_refuses_staff(request, staff):
    user = request.getfixturevalue(staff)
    assert logged_in(user).get(URL).status_code == 403
    assert logged_in(user).post(URL, {"purpose": purposes.CAMERA_ROLL, "action": "on",
                                      "notice_version": "1"}).status_code == 403


def test_it_shows_each_holder_only_their_own_history(alice, bob):
    logged_in(bob).post(URL, {"purpose": purposes.CAMERA_ROLL, "action": "on", "notice_version": "1"})
    html = logged_in(alice).get(URL).content.decode()
    assert "No changes yet." in html

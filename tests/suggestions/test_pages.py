"""The /suggestions/ page and its forms: the owner's, nobody else's; works without JavaScript."""

import pytest
from django.test import Client

from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import grant

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_it_explains_how_to_turn_the_feature_on_when_it_is_off(alice):
    page = browser(alice).get("/suggestions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="feature-off"' in html
    assert "Camera Roll Sharing Suggestions" in html and 'href="/settings/camera-roll/"' in html
    assert "Make suggestions now" not in html


def test_it_says_nothing_is_there_yet_when_the_feature_is_on(alice):
    grant(alice)
    html = browser(alice).get("/suggestions/").content.decode()
    assert 'id="nothing-yet"' in html and "Make suggestions now" in html


def test_it_shows_cards_with_previews_and_buttons(made, alice):
    html = browser(alice).get("/suggestions/").content.decode()
    for suggestion in made:
        assert f'id="suggestion-{suggestion.pk}"' in html
        assert f'src="/suggestions/{suggestion.pk}/preview/"' in html
        assert f'action="/suggestions/{suggestion.pk}/dismiss/"' in html
    assert "Saturday in Lisbon" in html


def test_it_shows_no_card_of_another_holder(made, bob):
    grant(bob)
    html = browser(bob).get("/suggestions/").content.decode()
    assert "suggestion-" not in html and "Saturday in Lisbon" not in html


@pytest.mark.parametrize("who", ["audrey", "sam"])
def test_it_refuses_the_page_to_staff(who, request):
    assert browser(request.getfixturevalue(who)).get("/suggestions/").status_code == 403


def test_it_sends_anonymous_people_to_log_in():
    response = browser().get("/suggestions/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_serves_previews_to_the_owner_only(made, alice, bob, audrey):
    target = f"/suggestions/{made[0].pk}/preview/"
    response = browser(alice).get(target)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert browser(bob).get(target).status_code == 404
    assert browser(audrey).get(target).status_code == 403
    assert browser().get(target).status_code == 302


def test_it_accepts_and_dismisses_from_the_page(made, alice):
    client = browser(alice)
    assert client.post(f"/suggestions/{made[0].pk}/accept/").status_code == 302
    assert Suggestion.objects.get(pk=made[0].pk).status == "accepted"
    assert client.post(f"/suggestions/{made[1].pk}/dismiss/").status_code == 302
    assert Suggestion.objects.get(pk=made[1].pk).status == "dismissed"
    html = client.get("/suggestions/").content.decode()
    assert "Shared" in html and f'id="suggestion-{made[1].pk}"' not in html
    assert client.get(f"/suggestions/{made[0].pk}/accept/").status_code == 405


@pytest.mark.parametrize("action", ["accept", "dismiss"])
def test_it_refuses_page_decisions_to_others(made, action, bob, sam):
    target = f"/suggestions/{made[0].pk}/{action}/"
    assert browser(bob).post(target).status_code == 404
    assert browser(sam).post(target).status_code == 403
    assert browser().post(target).status_code == 302
    assert Suggestion.objects.get(pk=made[0].pk).status == "new"


def test_it_starts_a_pass_from_the_page_and_shows_progress(alice, bob, audrey, django_capture_on_commit_callbacks):
    grant(alice)
    client = browser(alice)
    response = client.post("/suggestions/generate/")
    assert response.status_code == 302
    job = SuggestionJob.objects.get(owner=alice)
    html = client.get("/suggestions/").content.decode()
    assert 'http-equiv="refresh"' in html and "Working on it" in html
    assert browser(bob).post("/suggestions/generate/").status_code == 302  # bob: feature off, told so
    assert not SuggestionJob.objects.filter(owner=bob).exists()
    assert browser(audrey).post("/suggestions/generate/").status_code == 403
    assert browser().post("/suggestions/generate/").status_code == 302
    assert SuggestionJob.objects.count() == 1 and job.status == "queued"


def test_it_keeps_the_button_usable_while_a_pass_after_uploads_waits_out_its_debounce(
        alice, django_capture_on_commit_callbacks):
    from tests.suggestions.conftest import COLOURS, a_day_out

    grant(alice)
    with django_capture_on_commit_callbacks(execute=True):
        a_day_out(alice, COLOURS[:1])
    job = SuggestionJob.objects.get(owner=alice)
    assert job.status == "queued" and job.trigger == "upload"
    html = browser(alice).get("/suggestions/").content.decode()
    assert "Working on it" not in html and 'http-equiv="refresh"' not in html
    assert "New photos arrived" in html
    assert "Make suggestions now</button>" in html and "disabled>Make suggestions now" not in html

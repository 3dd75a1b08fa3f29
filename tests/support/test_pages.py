"""The /support/ console and the holder's /me/ pages: plain forms, allowed and denied for every role."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from consent import purposes
from consent.selectors import consent_active_entry
from support.models import SupportCase
from tests.support.conftest import grant, open_case, upload
from vault.selectors import media_summary

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _get(request, who):
    return client_for(None if who == "anonymous" else request.getfixturevalue(who))


# --- the support console -----------------------------------------------------


def test_it_finds_an_account_and_offers_to_open_a_case(sam, alice):
    page = client_for(sam).get("/support/", {"q": "alice"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Open a case" in html and f'value="{alice.pk}"' in html


def test_it_finds_an_account_by_id(sam, alice):
    html = client_for(sam).get("/support/", {"q": str(alice.pk)}).content.decode()
    assert f'data-account="{alice.pk}"' in html


def test_it_opens_a_case_revokes_and_closes_from_the_console(sam, alice):
    grant(alice)
    client = client_for(sam)
    opened = client.post("/support/cases/open/", {"subject": alice.pk, "ticket": "4411", "reason": "phoned in"})
    assert opened.status_code == 302 and opened.url == f"/support/subjects/{alice.pk}/"
    page = client.get(opened.url)
    assert page.status_code == 200
    assert "Camera Roll Sharing Suggestions" in page.content.decode()
    revoked = client.post(f"/support/subjects/{alice.pk}/revoke/",
                          {"purpose": CAMERA, "reason": "asked to", "confirm": "yes"})
    assert revoked.status_code == 302
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    case = SupportCase.objects.get()
    assert client.post(f"/support/cases/{case.pk}/close/").status_code == 302
    assert client.get(f"/support/subjects/{alice.pk}/").status_code == 404


def test_it_asks_for_the_username_before_erasing(sam, alice):
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    client = client_for(sam)
    confirm = client.get(f"/support/subjects/{alice.pk}/erase/")
    assert confirm.status_code == 200 and "Erase now" in confirm.content.decode()
    wrong = client.post(f"/support/subjects/{alice.pk}/erase/", {"reason": "asked", "confirm": "bob"})
    assert wrong.status_code == 200 and "nothing was erased" in wrong.content.decode()
    assert media_summary(user_id=alice.pk)["items"] == 2
    unticked = client.post(f"/support/subjects/{alice.pk}/erase/",
                           {"reason": "asked", "confirm": "alice", "destroys": "photos:2"})
    assert unticked.status_code == 200 and media_summary(user_id=alice.pk)["items"] == 2
    done = client.post(f"/support/subjects/{alice.pk}/erase/",
                       {"reason": "asked", "confirm": "alice", "destroys": "photos:2", "understood": "on"})
    assert done.status_code == 302
    assert media_summary(user_id=alice.pk)["items"] == 0


SUPPORT_PAGES = [
    ("get", "/support/subjects/{id}/", {}),
    ("post", "/support/subjects/{id}/revoke/", {"purpose": CAMERA, "reason": "r"}),
    ("get", "/support/subjects/{id}/erase/", {}),
    ("post", "/support/subjects/{id}/erase/", {"reason": "r", "confirm": "alice"}),
]


@pytest.mark.parametrize("method,url,data", SUPPORT_PAGES)
@pytest.mark.parametrize("state", ["none", "closed", "expired"])
def test_it_answers_404_on_case_pages_without_a_live_case(sam, alice, case_in_state, method, url, data, state):
    grant(alice)
    case_in_state(state, sam, alice)
    response = getattr(client_for(sam), method)(url.format(id=alice.pk), data)
    assert response.status_code == 404
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None


@pytest.mark.parametrize("method,url,data", [*SUPPORT_PAGES, ("get", "/support/", {}),
                                             ("post", "/support/cases/open/", {"subject": 1})])
@pytest.mark.parametrize("who", ["alice", "bob", "audrey", "anonymous"])
def test_it_keeps_everyone_but_support_out_of_the_console(request, sam, alice, method, url, data, who):
    grant(alice)
    open_case(sam, alice)
    response = getattr(_get(request, who), method)(url.format(id=alice.pk), data)
    if who == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    else:
        assert response.status_code == 403
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None


def test_it_answers_404_when_closing_someone_elses_case_from_the_console(sam, sue, alice):
    case = open_case(sam, alice)
    assert client_for(sue).post(f"/support/cases/{case.pk}/close/").status_code == 404
    assert client_for(alice).post(f"/support/cases/{case.pk}/close/").status_code == 403


# --- the holder's pages --------------------------------------------------------


HOLDER_PAGES = [
    ("get", "/me/access/"), ("get", "/me/data/"), ("post", "/me/data/export/"), ("get", "/me/data/erase/"),
    ("post", "/me/data/erase/"),
]


@pytest.mark.parametrize("method,url", HOLDER_PAGES)
@pytest.mark.parametrize("who", ["sam", "audrey", "anonymous"])
def test_it_keeps_staff_and_strangers_off_the_holder_pages(request, method, url, who):
    response = getattr(_get(request, who), method)(url, {"confirm": "on"})
    if who == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    else:
        assert response.status_code == 403


def test_it_shows_the_holder_their_own_access_history_only(alice, bob):
    grant(alice)
    grant(bob, purposes.SUGGESTION_PROMPTS)
    html = client_for(alice).get("/me/access/").content.decode()
    assert "You turned on Camera Roll Sharing Suggestions" in html
    assert "Suggestion prompts" not in html
    assert "<svg" in html and 'class="bar"' in html


def test_it_filters_the_access_history(alice):
    grant(alice)
    upload(alice, 3)
    client = client_for(alice)
    html = client.get("/me/access/", {"category": "consent"}).content.decode()
    assert "turned on" in html and "uploaded" not in html
    html = client.get("/me/access/", {"category": "photos"}).content.decode()
    assert "Your phone uploaded 3 photos" in html and "turned on" not in html
    bad = client.get("/me/access/", {"since": "2026-05-04", "until": "2026-05-01"})
    assert bad.status_code == 200 and "start date is after" in bad.content.decode()


def test_it_shows_what_is_held_and_the_erase_button(alice):
    grant(alice)
    upload(alice, 2)
    html = client_for(alice).get("/me/data/").content.decode()
    assert 'data-testid="held-items">2<' in html and "Erase all photos in the cloud" in html


def test_it_erases_the_holders_cloud_media_after_confirmation(alice):
    grant(alice)
    upload(alice, 2)
    client = client_for(alice)
    unconfirmed = client.post("/me/data/erase/", {})
    assert unconfirmed.status_code == 200 and media_summary(user_id=alice.pk)["items"] == 2
    done = client.post("/me/data/erase/", {"confirm": "on"})
    assert done.status_code == 302 and done.url == "/me/data/"
    assert media_summary(user_id=alice.pk)["items"] == 0
    # The erase's own event first; then the withdrawal it made (its shred found nothing left).
    event = AuditEvent.objects.filter(action="media.erased").order_by("seq").first()
    assert (event.actor_kind, event.subject_id) == ("holder", alice.pk)

"""Sharing that works: the holder chooses the name the recipient sees; the recipient's page shows the title, the
date, that name and the expiry, and nothing else of the account; the new link comes with Copy and Share buttons."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from suggestions import sharing
from suggestions.models import ShareLink
from tests.suggestions.conftest import titled

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def text_of(html: str) -> str:
    body = html.split("<main", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_recipient_sees_the_title_the_date_the_chosen_name_and_the_expiry(made, alice, monkeypatch):
    suggestion = titled(alice, pk=made[0].pk)[0]
    shared_at = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    made_link = sharing.share_link_create(user_id=alice.pk, suggestion_id=suggestion.pk, display_name="  Al  ",
                                          now=shared_at)
    # The recipient opens it a day later by the page's clock (on the wall clock's own day, a week after
    # 6 December 2026, the link would have expired).
    monkeypatch.setattr(timezone, "now", lambda: shared_at + dt.timedelta(days=1))
    page = Client().get(f"/s/{made_link.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"<h1>{suggestion.title}</h1>" in html and suggestion.title == "Saturday in Lisbon"
    assert "14 June 2025" in html
    assert "Shared by <strong>Al</strong>" in html
    assert "13 December 2026, 09:30" in html
    # nothing else of the account: not the username, not the email, no other suggestion, no count of photos
    visible = text_of(html)
    assert "alice" not in html.lower() and "@" not in visible
    for other in titled(alice)[1:]:
        assert other.title not in html
    assert "photo" not in visible.lower()


def test_without_a_chosen_name_the_page_says_someone(made, alice):
    made_link = sharing.share_link_create(user_id=alice.pk, suggestion_id=made[0].pk)
    html = Client().get(f"/s/{made_link.token}/").content.decode()
    assert "Shared by <strong>someone</strong>" in html and "alice" not in html.lower()


def test_the_page_is_a_404_for_a_revoked_or_unknown_link(made, alice):
    made_link = sharing.share_link_create(user_id=alice.pk, suggestion_id=made[0].pk, display_name="Al")
    sharing.share_link_revoke(user_id=alice.pk, link_id=made_link.link.pk)
    assert Client().get(f"/s/{made_link.token}/").status_code == 404
    assert Client().get("/s/" + "x" * 43 + "/").status_code == 404


def test_the_holder_chooses_the_name_on_the_page_and_gets_copy_and_share_buttons(made, alice):
    client = browser(alice)
    html = client.get("/suggestions/").content.decode()
    assert f'id="share-name-{made[0].pk}" name="display_name"' in html
    response = client.post(f"/suggestions/{made[0].pk}/share/", {"display_name": "Alice F."}, follow=True)
    html = response.content.decode()
    link = ShareLink.objects.get(suggestion=made[0])
    assert link.display_name == "Alice F."
    assert 'class="copy-link" hidden>Copy link</button>' in html and 'class="share-sheet secondary" hidden>' in html
    assert re.search(r'<input id="share-url-\d+" type="url" readonly value="http://testserver/s/[\w-]{40,}/"', html)
    # the next link starts with the same name
    assert f'id="share-name-{made[1].pk}" name="display_name" value="Alice F."' in html
    event = AuditEvent.objects.get(action="share_link.created", object_id=str(link.pk))
    assert event.details["named"] is True and "Alice" not in str(event.details)


def test_a_name_too_long_or_not_printable_is_refused_with_a_clear_error(made, alice, api):
    client = browser(alice)
    response = client.post(f"/suggestions/{made[0].pk}/share/", {"display_name": "x" * 61}, follow=True)
    assert "at most 60 printable characters" in response.content.decode()
    refused = api(alice).post(f"/api/v1/suggestions/{made[0].pk}/share-links/", {"display_name": "A\x00"},
                              format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_display_name"
    not_text = api(alice).post(f"/api/v1/suggestions/{made[0].pk}/share-links/", {"display_name": 5}, format="json")
    assert not_text.status_code == 400
    assert not ShareLink.objects.filter(suggestion=made[0]).exists()
    named = api(alice).post(f"/api/v1/suggestions/{made[0].pk}/share-links/", {"display_name": "Al"}, format="json")
    assert named.status_code == 201 and named.json()["display_name"] == "Al"


def test_only_the_owner_makes_a_link_with_a_name(made, alice, bob, audrey, sam):
    target = f"/suggestions/{made[0].pk}/share/"
    assert browser(bob).post(target, {"display_name": "Mallory"}).status_code == 404
    assert browser(audrey).post(target, {"display_name": "Mallory"}).status_code == 403
    assert browser(sam).post(target, {"display_name": "Mallory"}).status_code == 403
    assert browser().post(target, {"display_name": "Mallory"}).status_code == 302
    assert not ShareLink.objects.filter(suggestion=made[0]).exists()

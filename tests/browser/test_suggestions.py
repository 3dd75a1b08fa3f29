"""/suggestions/ without JavaScript: previews load, Mark as shared marks a suggestion shared, Dismiss removes it;
with the feature off, the page says how to turn it on and links to the settings page."""

import re

import pytest
from playwright.sync_api import expect

from suggestions import render
from suggestions.models import Suggestion
from tests.browser.conftest import image_widths, log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def small_outputs(monkeypatch):
    monkeypatch.setattr(render, "COLLAGE_SIZE", 320)
    monkeypatch.setattr(render, "RECAP_SIZE", 160)
    monkeypatch.setattr(render, "STYLIZED_SIZE", 320)


def test_it_makes_shares_and_dismisses_suggestions_with_previews_that_load(new_page, vault_keys):
    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:3])  # queues a pass that waits for more uploads (run inline: until asked)

    page = new_page(javascript=False)
    log_in(page, "alice", PASSWORD)
    page.goto("/suggestions/")
    expect(page.locator("#nothing-yet")).to_be_visible()
    expect(page.locator(".job-state")).to_contain_text("New photos arrived")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    page.get_by_role("button", name="Make suggestions now").click()
    expect(page.locator(".messages")).to_contain_text("Making suggestions from your photos.")
    made = list(Suggestion.objects.filter(owner=alice).order_by("id"))
    assert len(made) >= 2
    expect(page.locator(".job-state")).to_contain_text(f"{len(made)} new")

    cards = page.locator(".suggestion-grid .suggestion")
    expect(cards).to_have_count(len(made))
    expect(page.locator(f"#suggestion-{made[0].pk} h2")).to_contain_text("Saturday in Lisbon")
    assert all(width > 0 for width in image_widths(page.locator(".suggestion .preview img")))
    snap(page, "suggestions")

    shared, dismissed = (page.locator(f"#suggestion-{s.pk}") for s in made[:2])
    shared.get_by_role("button", name="Mark as shared").click()
    expect(page.locator(".messages")).to_contain_text("Marked as shared.")
    expect(shared.locator(".badge")).to_have_text("Shared")
    expect(shared.get_by_role("button", name="Mark as shared")).to_have_count(0)
    expect(shared.get_by_role("link", name="Download")).to_have_count(1)

    dismissed.get_by_role("button", name="Dismiss").click()
    expect(page.locator(".messages")).to_contain_text("Dismissed and deleted.")
    expect(dismissed).to_have_count(0)
    expect(cards).to_have_count(len(made) - 1)
    assert Suggestion.objects.get(pk=made[0].pk).status == "accepted"
    assert Suggestion.objects.get(pk=made[1].pk).status == "dismissed"


def test_it_explains_how_to_turn_suggestions_on_when_they_are_off(new_page):
    make_user("bob")
    page = new_page(javascript=False)
    log_in(page, "bob", PASSWORD)
    page.goto("/suggestions/")
    off = page.locator("#feature-off")
    expect(off).to_contain_text("Suggestions are off")
    expect(off).to_contain_text("only while Camera Roll Sharing Suggestions is on")
    expect(page.get_by_role("button", name="Make suggestions now")).to_have_count(0)
    snap(page, "suggestions-off")

    off.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/$"))
    expect(page.get_by_role("button", name="Turn on Camera Roll Sharing Suggestions")).to_be_visible()

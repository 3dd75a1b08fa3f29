"""Turning Camera Roll Sharing Suggestions off asks first and tells the truth: how many photos and suggestions
are destroyed, a link to download a copy, "Keep it on" as the safe choice; afterwards the page shows the new
state without a reload. Without JavaScript the same question is a page."""

import re

import pytest
from playwright.sync_api import expect

from suggestions.jobs import suggestions_generate_now
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant
from vault.models import DerivedOutput, MediaItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROW = ".toggle-row[data-purpose=camera_roll_cloud_processing]"
TURN_OFF = "Turn off Camera Roll Sharing Suggestions"


@pytest.fixture
def alice_with_photos(vault_keys):
    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    suggestions_generate_now(user_id=alice.pk)
    return alice


def test_it_asks_in_a_dialog_then_destroys_and_shows_the_new_state_without_a_reload(new_page, alice_with_photos):
    alice = alice_with_photos
    outputs = DerivedOutput.objects.filter(owner=alice).count()
    assert outputs > 0
    page = new_page()
    log_in(page, "alice", PASSWORD)
    page.goto("/settings/camera-roll/")
    expect(page.locator("#held [data-testid=held-items]")).to_have_text("4")
    page.evaluate("window.sameDocument = true")

    page.get_by_role("button", name=TURN_OFF).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"4 photos and {outputs} suggestions will be destroyed now")
    expect(dialog.get_by_role("link", name="Download everything first")).to_have_attribute(
        "href", "/me/data/#export-heading")
    expect(dialog.get_by_role("link", name="Keep it on")).to_be_focused()
    snap(page, "turn-off-dialog")

    # "Keep it on" changes nothing.
    dialog.get_by_role("link", name="Keep it on").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(ROW).locator(".badge")).to_have_text("On")
    assert MediaItem.objects.filter(owner=alice).count() == 4

    page.get_by_role("button", name=TURN_OFF).click()
    page.get_by_role("dialog").get_by_role("button", name="Turn off and destroy 4 photos").click()
    expect(page.locator(ROW).locator(".badge")).to_have_text("Off")
    expect(page.locator(".messages")).to_contain_text(
        f"Access stopped at once: 4 photos and {outputs} suggestions were destroyed.")
    expect(page.locator("#held [data-testid=held-items]")).to_have_text("0")
    expect(page.locator("#consent-history tbody tr").first).to_contain_text("Turned off")
    expect(page.locator("#consent-history tbody tr").first).to_contain_text("on the web")
    assert page.evaluate("window.sameDocument") is True  # no reload happened
    snap(page, "turn-off-done")
    assert MediaItem.objects.filter(owner=alice).count() == 0
    assert DerivedOutput.objects.filter(owner=alice).count() == 0

    # Nothing left to destroy: turning on and off again is one click each.
    page.get_by_role("button", name="Turn on Camera Roll Sharing Suggestions").click()
    expect(page.locator(ROW).locator(".badge")).to_have_text("On")
    page.get_by_role("button", name=TURN_OFF).click()
    expect(page.locator(ROW).locator(".badge")).to_have_text("Off")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_it_asks_on_a_page_without_javascript(new_page, alice_with_photos):
    alice = alice_with_photos
    outputs = DerivedOutput.objects.filter(owner=alice).count()
    page = new_page(javascript=False)
    log_in(page, "alice", PASSWORD)
    page.goto("/settings/camera-roll/")
    page.get_by_role("button", name=TURN_OFF).click()
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/turn-off/camera_roll_cloud_processing/$"))
    question = page.locator("#turn-off-confirm")
    expect(question).to_contain_text(f"4 photos and {outputs} suggestions will be destroyed now")
    snap(page, "turn-off-page")
    question.get_by_role("link", name="Keep it on").click()
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/$"))
    assert MediaItem.objects.filter(owner=alice).count() == 4

    page.get_by_role("button", name=TURN_OFF).click()
    page.get_by_role("button", name="Turn off and destroy 4 photos").click()
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/$"))
    expect(page.locator(ROW).locator(".badge")).to_have_text("Off")
    expect(page.locator(".messages")).to_contain_text("4 photos and")
    expect(page.locator("#held [data-testid=held-items]")).to_have_text("0")
    assert MediaItem.objects.filter(owner=alice).count() == 0

"""Support's revoke and erase confirmations in Chromium, at phone and desktop widths: they give the
counts of what is destroyed, the button names them, and nothing happens until the agent ticks them;
the holder's notice then says what was destroyed, under which case, and how to turn it on again."""

import pytest
from playwright.sync_api import expect

from accounts.roles import SUPPORT
from consent import purposes
from consent import selectors as consent_selectors
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.support.conftest import open_case, upload
from tests.vault.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_revoke_confirmation_states_and_asks_for_the_counts(new_page, vault_keys, viewport):
    alice = make_user("alice")
    sam = make_user("sam", SUPPORT)
    grant(alice)
    upload(alice, 3)
    open_case(sam, alice)
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "sam", PASSWORD)
    page.goto(f"/support/subjects/{alice.pk}/")
    page.select_option("#id_purpose", purposes.CAMERA_ROLL)
    page.fill("#id_reason", "Alice phoned: she wants it off")
    page.get_by_role("button", name="Continue").click()

    expect(page.locator("#revoke-destroys")).to_contain_text("It destroys, now and for good: 3 photos.")
    expect(page.locator("#revoke-counts li[data-what=photos]")).to_have_text("3 photos")
    button = page.get_by_role("button", name="Turn off and destroy 3 photos")
    assert no_sideways_scroll(page)
    snap(page, f"support-revoke-confirm-{viewport['width']}")
    button.click()  # not ticked: the browser refuses to send it
    expect(page.locator("#revoke-confirm")).to_be_visible()
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purposes.CAMERA_ROLL) is not None
    page.get_by_label("I have told the holder: this destroys 3 photos.").check()
    button.click()
    expect(page.locator(".messages")).to_contain_text("Destroyed: 3 photos.")
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purposes.CAMERA_ROLL) is None

    holder = new_page()
    holder.set_viewport_size(viewport)
    log_in(holder, "alice", PASSWORD)
    holder.goto("/settings/camera-roll/")
    notice = holder.locator(".support-notice")
    expect(notice).to_contain_text("This destroyed 3 photos; it cannot be brought back.")
    expect(notice).to_contain_text("(ticket 4411)")
    expect(notice).to_contain_text("To turn Camera Roll Sharing Suggestions on again")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_erase_confirmation_states_and_asks_for_the_counts(new_page, vault_keys, viewport):
    alice = make_user("alice")
    sam = make_user("sam", SUPPORT)
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "sam", PASSWORD)
    page.goto(f"/support/subjects/{alice.pk}/erase/")
    expect(page.locator("#erase-destroys")).to_contain_text("This destroys, now and for good: 2 photos.")
    expect(page.locator("#erase-confirm")).to_contain_text("Camera Roll Sharing Suggestions off")
    assert no_sideways_scroll(page)
    snap(page, f"support-erase-confirm-{viewport['width']}")
    page.fill("#id_reason", "asked by email")
    page.fill("#id_confirm", "alice")
    page.get_by_label("I have told the holder: this destroys 2 photos.").check()
    page.get_by_role("button", name="Erase now").click()
    expect(page.locator(".messages")).to_contain_text("Erased for alice: 2 photos.")

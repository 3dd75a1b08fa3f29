"""The holder's erase page in a real browser, at phone and desktop widths: it says that erasing turns
Camera Roll Sharing Suggestions off and that the phone stays signed in, and afterwards the settings
page shows the feature off while the devices page still lists the phone."""

import pytest
from playwright.sync_api import expect

from accounts.tokens import token_create
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.support.conftest import upload
from tests.vault.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_the_erase_page_says_what_happens_and_it_happens(new_page, vault_keys, viewport):
    alice = make_user("alice")
    grant(alice)
    upload(alice, 2)
    token_create(user=alice, name="alice-phone")
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "alice", PASSWORD)
    page.goto("/me/data/erase/")

    expect(page.locator("#erase-turns-off")).to_contain_text("turns Camera Roll Sharing Suggestions off")
    expect(page.locator("#erase-devices")).to_contain_text("Your phone stays signed in")
    expect(page.locator("main")).not_to_contain_text("starts over")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    snap(page, f"me-erase-{viewport['width']}")

    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Erase now").click()
    expect(page.locator("body")).to_contain_text("Camera Roll Sharing Suggestions is off: your phone stays signed in")
    page.goto("/settings/devices/")
    expect(page.locator("main")).to_contain_text("alice-phone")

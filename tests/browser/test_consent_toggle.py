import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOGGLE_ROW = ".toggle-row[data-purpose=camera_roll_cloud_processing]"


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_it_turns_camera_roll_sharing_on_and_off(new_page, javascript):
    make_user("alice")
    page = new_page(javascript=javascript)
    log_in(page, "alice", PASSWORD)
    page.goto("/settings/camera-roll/")
    row = page.locator(TOGGLE_ROW)
    expect(row.locator(".badge")).to_have_text("Off")

    page.get_by_role("button", name="Turn on Camera Roll Sharing Suggestions").click()
    expect(row.locator(".badge")).to_have_text("On")
    page.reload()
    expect(row.locator(".badge")).to_have_text("On")

    page.get_by_role("button", name="Turn off Camera Roll Sharing Suggestions").click()
    expect(row.locator(".badge")).to_have_text("Off")
    history = page.locator("#consent-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("Turned off")
    expect(history.nth(1)).to_contain_text("Turned on")
    expect(history.nth(0)).to_contain_text("Camera Roll Sharing Suggestions")

"""/settings/exclusions/: alice leaves out a date range and a place, sees both listed, and removes one."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from vault import selectors as vault_selectors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_adds_lists_and_removes_exclusions(new_page, vault_keys):
    alice = make_user("alice")
    page = new_page()
    log_in(page, "alice", PASSWORD)
    page.goto("/settings/exclusions/")
    rows = page.locator("#exclusions tbody tr:not(.empty)")
    expect(page.locator("#exclusions")).to_contain_text("None yet.")

    dates = page.locator("section", has=page.get_by_role("heading", name="Leave out a date range"))
    dates.get_by_label("From").fill("2025-06-20")
    dates.get_by_label("To (inclusive)").fill("2025-06-14")
    dates.get_by_role("button", name="Add date range").click()
    expect(dates.locator(".errorlist")).to_contain_text("The end date is before the start date.")
    expect(rows).to_have_count(0)

    dates.get_by_label("From").fill("2025-06-14")
    dates.get_by_label("To (inclusive)").fill("2025-06-20")
    dates.get_by_role("button", name="Add date range").click()
    expect(page.locator(".messages")).to_contain_text("Photos taken on those days are kept out of suggestions.")

    place = page.locator("section", has=page.get_by_role("heading", name="Leave out a place"))
    place.get_by_label("Name").fill("Home")
    place.get_by_label("Latitude").fill("38.7223")
    place.get_by_label("Longitude").fill("-9.1393")
    place.get_by_label("Radius (metres)").fill("300")
    place.get_by_role("button", name="Add place").click()
    expect(page.locator(".messages")).to_contain_text("Photos taken there are kept out of suggestions.")

    expect(rows).to_have_count(2)
    date_row = rows.filter(has_text="Dates")
    expect(date_row).to_contain_text("14 Jun 2025 – 20 Jun 2025")
    expect(rows.filter(has_text="Place")).to_contain_text("Home · within 300 m of 38.72230, -9.13930")
    snap(page, "exclusions")

    date_row.get_by_role("button", name="Remove").click()
    expect(page.locator(".messages")).to_contain_text("Exclusion removed.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Home")
    assert [e.kind for e in vault_selectors.exclusion_list(user_id=alice.pk)] == ["place"]

"""The access history chart in a real browser: thirty day columns, the empty ones drawn as a mark on the
axis that can be seen and pointed at, each titled with its day, and the numbers day by day beneath."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_it_draws_every_one_of_thirty_days_and_names_the_empty_ones(new_page, vault_keys, viewport):
    alice = make_user("alice")
    grant(alice)  # one event today; the 29 days before it are empty
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "alice", PASSWORD)
    page.goto("/me/access/")

    days = page.locator("#access-chart g.day")
    expect(days).to_have_count(30)
    today = timezone.localdate()
    last = days.nth(29)
    assert last.get_attribute("data-day") == today.isoformat() and int(last.get_attribute("data-count")) >= 1
    empty = page.locator("#access-chart g.day.empty")
    expect(empty).to_have_count(29)
    for index in (0, 14, 28):
        day = empty.nth(index)
        assert day.get_attribute("data-count") == "0"
        assert float(day.locator("rect.bar").get_attribute("height")) == 0
        mark = day.locator("rect.empty-mark").bounding_box()
        assert mark is not None and mark["width"] > 0 and mark["height"] > 0  # drawn, not a gap
        assert day.locator("title").text_content().endswith(": no events")
    # An empty day's whole column is there to point at (its title is the tooltip).
    column = empty.nth(0).locator("rect.slot").bounding_box()
    bar = days.nth(29).locator("rect.bar").bounding_box()
    assert column["height"] >= bar["height"] > 0 and column["width"] >= bar["width"]
    empty.nth(0).locator("rect.slot").hover()

    page.get_by_text("The numbers, day by day").click()
    rows = page.locator("#access-chart-days tbody tr")
    expect(rows).to_have_count(30)
    expect(page.locator("#access-chart-days tbody tr td:nth-child(2)", has_text="none")).to_have_count(29)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    snap(page, f"me-access-chart-{viewport['width']}")

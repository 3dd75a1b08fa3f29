"""The access history chart in a real browser: thirty day columns, the empty ones drawn as a mark on the
axis that can be seen and pointed at, each titled with its day, and the numbers day by day beneath; a
history whose events all fall on one day is drawn by the hour of that day. And the history pages back
in time.

The product's clock is the `midday` fixture's (the live server runs in this process, so it reads the
same clock): events set up "today" and the chart's today are one day even when the tests run near midnight."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.services import EventInput, audit_append_many
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.vault.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]


def events_on(user, moment, count: int, monkeypatch) -> None:
    """`count` uploads about `user` stamped at `moment` (then the clock is the `midday` one again)."""
    with monkeypatch.context() as stamped:
        stamped.setattr(timezone, "now", lambda: moment)
        audit_append_many(events=[EventInput(action="media.uploaded", actor_kind="holder", actor_id=user.pk,
                                             subject_id=user.pk, object_type="media", object_id=n,
                                             details={"method": "web"}) for n in range(count)])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_it_draws_every_one_of_thirty_days_and_names_the_empty_ones(new_page, vault_keys, viewport, monkeypatch,
                                                                     midday):
    alice = make_user("alice")
    grant(alice)  # events today and 5 days ago; the 28 other days are empty
    events_on(alice, midday - timedelta(days=5), 3, monkeypatch)
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "alice", PASSWORD)
    page.goto("/me/access/")

    days = page.locator("#access-chart g.day")
    expect(days).to_have_count(30)
    today = timezone.localdate(midday)
    last = days.nth(29)
    assert last.get_attribute("data-day") == today.isoformat() and int(last.get_attribute("data-count")) >= 1
    empty = page.locator("#access-chart g.day.empty")
    expect(empty).to_have_count(28)
    for index in (0, 14, 27):
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
    expect(page.locator("#access-chart-days tbody tr td:nth-child(2)", has_text="none")).to_have_count(28)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    snap(page, f"me-access-chart-{viewport['width']}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_it_draws_one_busy_day_by_the_hour(new_page, vault_keys, viewport, monkeypatch, midday):
    alice = make_user("alice")
    start = timezone.localtime(midday).replace(hour=9, minute=5, second=0, microsecond=0)  # earlier that day
    events_on(alice, start, 150, monkeypatch)
    events_on(alice, start + timedelta(hours=4), 60, monkeypatch)
    page = new_page()
    page.set_viewport_size(viewport)
    log_in(page, "alice", PASSWORD)
    page.goto("/me/access/")

    expect(page.locator("#chart-heading")).to_have_text(f"Events per hour on {start:%a} {start.day} {start:%b %Y}")
    hours = page.locator("#access-chart g.hour")
    expect(hours).to_have_count(24)
    expect(page.locator("#access-chart g.day")).to_have_count(0)
    nine, one = hours.nth(9), hours.nth(13)
    assert (nine.get_attribute("data-count"), one.get_attribute("data-count")) == ("150", "60")
    assert nine.locator("title").text_content().endswith("09:00–10:00: 150 events")
    tall = nine.locator("rect.bar").bounding_box()
    short = one.locator("rect.bar").bounding_box()
    assert tall["height"] > short["height"] > 0  # both seen, in proportion
    # The day's uploads on the web are one line with a count, not 210.
    expect(page.locator("#access-log li.access-entry")).to_have_count(1)
    expect(page.locator("#access-log li.access-entry")).to_contain_text("You added 210 photos on the web")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    snap(page, f"me-access-busy-day-{viewport['width']}")

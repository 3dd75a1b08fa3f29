"""People you can browse, in Chromium at 390 and 1280 px: name people from the grid of faces, open a person's page
and see the photos they are in, then a suggestion that says who is in it ("Ana and Ben in Lisbon")."""

import pytest
from playwright.sync_api import expect

from consent import purposes
from suggestions import people, render
from suggestions.jobs import suggestions_generate_now
from tests.browser.conftest import axe_violations, image_widths, log_in, small_targets, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import a_day_with_friends, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(autouse=True)
def small_outputs(monkeypatch):
    monkeypatch.setattr(render, "COLLAGE_SIZE", 320)
    monkeypatch.setattr(render, "RECAP_SIZE", 160)
    monkeypatch.setattr(render, "RECAP_VIDEO_SIZE", 160)
    monkeypatch.setattr(render, "STYLIZED_SIZE", 320)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_it_names_people_from_the_grid_browses_a_person_and_suggests_with_them(new_page, vault_keys, axe_source,
                                                                                 size):
    alice = make_user("alice")
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = a_day_with_friends(alice)
    suggestions_generate_now(user_id=alice.pk)
    found = people.people_list(user_id=alice.pk)
    obama = next(p for p in found if ids["obama"] in p.item_ids)
    biden = next(p for p in found if ids["biden"] in p.item_ids)

    page = new_page()
    page.set_viewport_size(SIZES[size])
    log_in(page, "alice", PASSWORD)
    page.goto("/people/")
    faces = page.locator(".people-grid .person img")
    expect(faces).to_have_count(2)
    assert all(width > 0 for width in image_widths(faces))
    page.fill(f"#name-{obama.id}", "Ana")
    page.fill(f"#name-{biden.id}", "Ben")
    page.get_by_role("button", name="Save names").first.click()
    expect(page.locator(".messages")).to_contain_text("Saved 2 names")
    expect(page.locator(f"#person-{obama.id} .person-name")).to_have_text("Ana")
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    snap(page, f"people-{size}")
    assert axe_violations(page, axe_source) == [] and small_targets(page) == []

    page.locator(f"#person-{obama.id} a.face-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ana")
    photos = page.locator(".person-photos img")
    expect(photos).to_have_count(2)
    assert all(width > 0 for width in image_widths(photos))
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    snap(page, f"person-{size}")
    assert axe_violations(page, axe_source) == [] and small_targets(page) == []
    # merging and hiding stay, on the person's page
    expect(page.get_by_role("button", name="Merge")).to_be_visible()
    expect(page.get_by_role("button", name="Hide from People")).to_be_visible()

    page.goto("/people/")
    page.get_by_role("button", name="Make suggestions now").click()
    page.goto("/suggestions/")
    expect(page.get_by_role("heading", name="Ana and Ben in Lisbon", exact=True)).to_have_count(1)

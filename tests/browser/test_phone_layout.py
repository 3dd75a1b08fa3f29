"""Every holder page fits a phone (390×844): no sideways scroll, a top bar that takes at most a quarter of
the first screen, tables read as cards; each page is also photographed at 1280 px to compare."""

import re

import pytest
from playwright.sync_api import expect

from support import rights
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant
from vault import services as vault_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

HOLDER_PAGES = [
    ("/settings/camera-roll/", "camera-roll"),
    ("/media/", "media"),
    ("/media/trash/", "trash"),
    ("/suggestions/", "suggestions"),
    ("/settings/exclusions/", "exclusions"),
    ("/me/access/", "access"),
    ("/me/data/", "data"),
    ("/me/data/erase/", "erase"),
    ("/settings/camera-roll/turn-off/camera_roll_cloud_processing/", "turn-off"),
    ("/accounts/password/", "password"),
]


@pytest.fixture
def busy_holder(vault_keys):
    """alice with photos, suggestions made from them, an exclusion, an export and a consent history."""
    from suggestions.jobs import suggestions_generate_now

    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    suggestions_generate_now(user_id=alice.pk)
    vault_services.exclusion_create_place(user_id=alice.pk, name="A place with a rather long name indeed",
                                          lat=38.7223, lon=-9.1393, radius_m=250)
    rights.export_request(user=alice)
    from vault import trash
    from vault.models import MediaItem

    trash.media_trash(user_id=alice.pk, item_ids=[MediaItem.objects.filter(owner=alice).first().pk])
    return alice


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at 390"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_it_fits_every_holder_page_on_a_phone(new_page, busy_holder, javascript):
    page = new_page(javascript=javascript)
    page.set_viewport_size(PHONE)
    log_in(page, "alice", PASSWORD)
    suffix = "" if javascript else "-nojs"
    for path, name in HOLDER_PAGES:
        response = page.goto(path)
        assert response.ok, (path, response.status)
        _fits(page)
        header = page.locator("header.topbar").bounding_box()
        assert header["height"] <= PHONE["height"] / 4, (path, header)
        snap(page, f"phone-{name}{suffix}")
    # A consent receipt, read as a page.
    page.goto("/settings/camera-roll/")
    page.locator("#consent-history").get_by_role("link", name="receipt").first.click()
    expect(page.get_by_role("link", name="Download signed receipt")).to_be_visible()
    _fits(page)
    snap(page, f"phone-receipt{suffix}")
    # Tables are cards on a phone: each cell says what it is.
    page.goto("/settings/camera-roll/")
    cell = page.locator("#consent-history tbody tr").first.locator("td").first
    assert cell.evaluate("td => getComputedStyle(td, '::before').content") == '"When"'


def test_it_opens_and_closes_the_menu_with_its_button(new_page, busy_holder):
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in(page, "alice", PASSWORD)
    page.goto("/media/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name="Access history")).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("link", name="Access history")).to_be_visible()
    snap(page, "phone-menu-open")
    _fits(page)
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Access history")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Access history").click()
    expect(page).to_have_url(re.compile(r"/me/access/$"))


def test_it_keeps_the_desktop_layout_with_the_menu_in_view(new_page, busy_holder):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    for path, name in HOLDER_PAGES:
        page.goto(path)
        expect(page.get_by_role("link", name="Access history")).to_be_visible()
        snap(page, f"desktop-{name}")


def test_it_shows_visitors_a_landing_page_and_sends_holders_to_their_settings(new_page, busy_holder):
    page = new_page()
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(viewport)
        page.goto("/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("camera roll")
        expect(page.locator("main").get_by_role("link", name="Create an account")).to_be_visible()
        expect(page.locator("main").get_by_role("link", name="Log in")).to_be_visible()
        expect(page.locator("main")).to_contain_text("advertising")
        if viewport is PHONE:
            _fits(page)
        snap(page, f"{name}-landing")
    log_in(page, "alice", PASSWORD)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/settings/camera-roll/$"))

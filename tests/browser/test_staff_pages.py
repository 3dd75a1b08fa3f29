"""Staff pages in Chromium: each role lands on its own page; the auditor filters by a person and by a
category; support finds a holder by the start of a username; error pages are styled with DEBUG=False.
Every staff page fits a phone (390 px) without sideways scrolling and is photographed at 1280 and 390 px."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts import services as account_services
from accounts.roles import AUDITOR, SUPPORT
from audit.services import EventInput, audit_append_many
from core.uow import Actor
from support import services as support_services
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.support.conftest import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{page.url} is {width} px wide at {viewport}"


@pytest.fixture
def people():
    alice, alicia, bob = make_user("alice"), make_user("alicia"), make_user("bob")
    audrey, sam = make_user("audrey", AUDITOR), make_user("sam", SUPPORT)
    grant(alice)
    grant(bob)
    case = support_services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Phoned in", ticket="4411")
    support_services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)
    return {"alice": alice, "alicia": alicia, "bob": bob, "audrey": audrey, "sam": sam}


@pytest.mark.parametrize(("who", "home", "heading"), [
    ("alice", "/settings/camera-roll/", "Camera Roll Sharing Suggestions"),
    ("audrey", "/audit/", "Audit trail"),
    ("sam", "/support/", "Support console"),
])
def test_it_lands_each_role_on_a_page_of_its_own(new_page, people, who, home, heading):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, who, PASSWORD)
    expect(page).to_have_url(re.compile(re.escape(home) + "$"))
    response = page.goto("/")
    assert response.status == 200 and response.url.endswith(home)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    nav = page.get_by_role("navigation", name="Main")
    links = nav.get_by_role("link").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    if who == "alice":
        assert home in links and "/audit/" not in links and "/support/" not in links, links
    else:
        assert links == [home], links
    snap(page, f"desktop-home-{who}")


def test_it_lets_an_auditor_filter_by_a_username_and_by_a_category(new_page, people):
    alice, sam = people["alice"], people["sam"]
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, "audrey", PASSWORD)

    page.fill("#id_subject", "alice")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-testid=resolved]")).to_contain_text(f"about alice (account {alice.pk})")
    rows = page.locator("table.audit-events tbody tr")
    expect(rows).to_have_count(3)  # consent given, case opened, case closed
    actions = rows.evaluate_all("trs => trs.map(tr => tr.dataset.action)")
    assert sorted(actions) == ["consent.given", "support.case_closed", "support.case_opened"]
    expect(rows.first).to_contain_text("Support agent sam closed the case about alice (case")
    expect(page.get_by_role("link", name="Export CSV", exact=True)).to_have_attribute(
        "href", re.compile(f"subject={alice.pk}"))
    # The raw fields are there, folded away until asked for.
    raw = rows.first.locator("details.audit-raw")
    expect(raw.locator("dl")).to_be_hidden()
    raw.locator("summary").click()
    expect(raw.locator("dl")).to_be_visible()
    expect(raw.locator("dl")).to_contain_text(f"support:{sam.pk}")
    snap(page, "desktop-audit-by-username")

    page.goto("/audit/")
    page.select_option("#id_category", "consent")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.audit-events tbody tr")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("trs => trs.map(tr => tr.dataset.action)") == ["consent.given", "consent.given"]
    expect(page.locator("table.audit-events")).to_contain_text("Holder bob turned on Camera Roll Sharing Suggestions")
    expect(page.get_by_role("link", name="Export JSON Lines (verifiable)")).to_have_attribute(
        "href", re.compile("category=consent"))
    _fits(page)
    page.set_viewport_size(PHONE)
    _fits(page)
    snap(page, "phone-audit-by-category")


def test_it_shows_the_verification_jobs_result_on_the_page(new_page, people):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, "audrey", PASSWORD)
    expect(page.locator("[data-result=none]")).to_be_visible()
    page.get_by_role("button", name="Verify the whole chain").click()
    # The job runs after the request (inline in tests, a worker thread otherwise); the page then shows it.
    page.goto("/audit/")
    expect(page.locator("#verification [data-result=ok]")).to_contain_text("events and")
    expect(page.locator("#verification [data-result=ok]")).to_contain_text("check out")
    snap(page, "desktop-audit-verified")


def test_it_lets_support_find_a_holder_by_the_start_of_a_username(new_page, people):
    page = new_page(javascript=False)
    page.set_viewport_size(DESKTOP)
    log_in(page, "sam", PASSWORD)
    page.fill("#id_q", "ali")
    page.get_by_role("button", name="Find").click()
    rows = page.locator(".account-row")
    expect(rows).to_have_count(2)
    expect(rows.locator("h3")).to_have_text(["alice", "alicia"])
    snap(page, "desktop-support-search")
    page.set_viewport_size(PHONE)
    _fits(page)
    snap(page, "phone-support-search")


def test_it_shows_a_user_with_two_roles_a_switcher(new_page, people):
    account_services.role_grant(user=people["audrey"], role=SUPPORT)
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in(page, "audrey", PASSWORD)
    expect(page).to_have_url(re.compile("/audit/$"))
    page.select_option("#role-switch", "support")
    page.locator(".role-switch").get_by_role("button", name="Switch").click()
    expect(page).to_have_url(re.compile("/support/$"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Support"])
    page.goto("/")
    expect(page).to_have_url(re.compile("/support/$"))


def test_it_shows_a_styled_404_for_an_unknown_url_with_debug_off(new_page, people):
    assert settings.DEBUG is False  # as in production: Django's own debug page would show otherwise
    page = new_page()
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        response = page.goto("/no/such/page/")
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("There is nothing here")
        expect(page.locator("main").get_by_role("link", name="Log in")).to_be_visible()
        _fits(page)
        snap(page, f"{name}-404-visitor")
    log_in(page, "sam", PASSWORD)
    page.set_viewport_size(DESKTOP)
    response = page.goto("/audit/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is not for your account")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Support")).to_be_visible()
    snap(page, "desktop-403-support")
    response = page.goto("/no/such/page/")
    assert response.status == 404
    page.locator("main").get_by_role("link", name="Go to your home page").click()
    expect(page).to_have_url(re.compile("/support/$"))


def test_it_keeps_a_raw_field_dump_off_the_phone_layout(new_page, people):
    audit_append_many(events=[EventInput(action="media.read", actor_kind="service", actor_id="gateway",
                                         subject_id=people["alice"].pk, object_type="media_item",
                                         object_id="a" * 60, purpose="sharing_suggestions",
                                         details={"sources": list(range(40))})])
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in(page, "audrey", PASSWORD)
    page.locator("table.audit-events details.audit-raw summary").first.click()
    _fits(page)
    snap(page, "phone-audit")
    page.set_viewport_size(DESKTOP)
    _fits(page)
    snap(page, "desktop-audit")

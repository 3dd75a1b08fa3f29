"""One vocabulary: the tabs are named after what they hold (Settings, Photos), the words of
docs/glossary.md's retired list appear on no page of a holder, a support agent or an auditor, "Mark as
shared" says what it does, and the settings card is right after every change and says what to do next.
At 390 and 1280 px, with JavaScript (the toggle redraws the card without a reload)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts import tokens
from accounts.roles import AUDITOR, SUPPORT
from core.uow import Actor
from support import services as support_services
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant, photo
from vault import services as vault_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"


def retired_words() -> list[str]:
    text = GLOSSARY.read_text(encoding="utf-8").split("## Retired words", 1)[1]
    words = [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
    assert words
    return words


def _open_menu(page) -> None:
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") == "false":
        menu.click()


@pytest.mark.parametrize("size", SIZES)
def test_it_names_tabs_after_what_they_hold_and_keeps_the_settings_card_fresh(new_page, vault_keys, size):
    alice = make_user("alice")
    page = new_page()
    page.set_viewport_size(SIZES[size])
    log_in(page, "alice", PASSWORD)
    _open_menu(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(
        ["Settings", "Photos", "Suggestions", "Exclusions", "Access history", "My data"])
    expect(nav.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Settings")).to_have_attribute("href", "/settings/camera-roll/")
    expect(nav.get_by_role("link", name="Photos")).to_have_attribute("href", "/media/")

    held = page.locator("#held")
    expect(held).to_contain_text("Nothing is uploaded until you turn on Camera Roll Sharing Suggestions")
    expect(page.locator("#next-step")).to_have_count(0)
    page.get_by_role("button", name="Turn on Camera Roll Sharing Suggestions").click()
    expect(page.locator(".messages")).to_contain_text("Camera Roll Sharing Suggestions is on.")
    # Redrawn without a reload: no longer "nothing until you turn on", and what to do next.
    expect(held).not_to_contain_text("until you turn on")
    expect(held).to_contain_text("0 photos and videos yet")
    next_step = page.locator("#next-step")
    expect(next_step).to_contain_text("Install the phone client")
    expect(next_step.get_by_role("link", name="add photos from this browser")).to_have_attribute("href", "/media/")
    snap(page, f"{size}-settings-next-step")
    page.reload()
    expect(held).to_contain_text("0 photos and videos yet")
    expect(next_step).to_contain_text("Install the phone client")

    tokens.token_create(user=alice, name="Pixel")
    vault_services.media_upload(user_id=alice.pk, data=photo((10, 120, 200)), method="api")
    page.reload()
    expect(held.get_by_test_id("held-items")).to_have_text("1")
    expect(next_step).to_contain_text("Your phone is signed in")
    expect(next_step.get_by_role("link", name="what was suggested")).to_have_attribute("href", "/suggestions/")

    _open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Photos").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your photos in the cloud")


@pytest.mark.parametrize("size", SIZES)
def test_it_uses_the_glossarys_words_on_holder_support_and_auditor_pages(new_page, vault_keys, size):
    from suggestions.jobs import suggestions_generate_now

    alice, bob = make_user("alice"), make_user("bob")
    sam = make_user("sam", SUPPORT)
    make_user("audrey", AUDITOR)
    grant(alice)
    grant(bob)
    a_day_out(alice, COLOURS[:4])
    suggestions_generate_now(user_id=alice.pk)
    vault_services.media_upload(user_id=bob.pk, data=photo((200, 10, 10)), method="api")
    case = support_services.case_open(actor=Actor.support(sam.pk), user_id=bob.pk, reason="Phoned in", ticket="77")
    support_services.support_erase(actor=Actor.support(sam.pk), user_id=bob.pk, reason="Asked to")
    support_services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Phoned in", ticket="78")
    assert case.pk
    retired = retired_words()
    pages = {
        "alice": ["/settings/camera-roll/", "/media/", "/media/trash/", "/suggestions/", "/settings/exclusions/",
                  "/me/access/", "/me/data/", "/me/data/erase/"],
        "sam": ["/support/", f"/support/subjects/{alice.pk}/", f"/support/subjects/{alice.pk}/erase/"],
        "audrey": ["/audit/"],
    }
    for who, paths in pages.items():
        page = new_page()
        page.set_viewport_size(SIZES[size])
        log_in(page, who, PASSWORD)
        for path in paths:
            page.goto(path)
            text = page.locator("body").inner_text().lower()
            found = [word for word in retired if word.lower() in text]
            assert not found, (who, path, found)
            if path == "/suggestions/":
                button = page.get_by_role("button", name="Mark as shared").first
                expect(button).to_have_accessible_description(re.compile("nothing is sent"))
                snap(page, f"{size}-suggestions-mark-as-shared")
        if who == "audrey":
            expect(page.locator("table.audit-events")).to_contain_text("erased the photos in the cloud of bob")
